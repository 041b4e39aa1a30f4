#pragma once
// The device inputs a candidate is timed on, for one variant and shape: random values
// (normal in the element type, never all zeros; int8 codes spread over the range;
// positive scales), a paged cache behind a shuffled block table, and the variant's
// runtime values. Inputs smaller than the L2 cache come in several copies that the
// runs take in turn, so no run finds the previous run's inputs in L2.
#include <cstdint>
#include <memory>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/engine.h"
#include "runtime/driver/cuda_driver.h"
#include "tools/tune/shapes.h"

namespace attnjit::tune {

// Copies are made until they hold this many times the L2 cache ...
inline constexpr double kL2Multiple = 2.0;
// ... but never more than this many.
inline constexpr int kMaxCopies = 32;

class TimingInputs {
 public:
  // Allocates and fills the copies on `gpu`. `kind` chooses the call (prefill, or
  // paged for both paged kinds). Throws std::runtime_error when the GPU is out of
  // memory or the shape does not fit the variant.
  TimingInputs(std::shared_ptr<cuda::Driver> gpu, const ir::Variant& v, TuneKind kind,
               const Shape& shape, uint64_t seed);

  // Runs the variant's call on copy run % copies(); a paged call with `num_splits`
  // (PagedArgs::num_splits: 0 the heuristic, N segments, kStreamSplit).
  void launch(Engine& engine, const ir::Variant& v, int run, int num_splits = 0) const;
  // The paged call's shapes as the launch planner takes them (the paged kinds).
  PagedCall paged_call() const;
  int copies() const { return static_cast<int>(copies_.size()); }
  size_t bytes_per_copy() const { return bytes_per_copy_; }

 private:
  struct Copy {
    std::vector<cuda::DeviceBuffer> buffers;
    PrefillArgs prefill;
    PagedArgs paged;
  };
  Copy make_copy(const ir::Variant& v, uint64_t seed);
  Copy make_prefill_copy(const ir::Variant& v, uint64_t seed);
  Copy make_paged_copy(const ir::Variant& v, uint64_t seed);

  std::shared_ptr<cuda::Driver> gpu_;
  TuneKind kind_;
  Shape shape_;
  std::vector<Copy> copies_;
  size_t bytes_per_copy_ = 0;
};

}  // namespace attnjit::tune
