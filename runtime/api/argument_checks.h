#pragma once
// The pieces every argument validator shares: validate_prefill (prefill_args.cpp),
// validate_paged / validate_cache_write / validate_merge (paged_args.cpp) and
// validate_variant_values (variant_values.cpp). They live here once so that the
// messages (`<where>: argument '<name>': expected ..., got ...`) read the same for every
// kernel kind and a fix to one check reaches every validator.
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/numeric.h"
#include "runtime/api/tensor.h"

namespace attnjit {

namespace ir { struct Variant; }

// The DSL's builtins are bounded (compiler/ir/numeric.h) and its integer arithmetic is
// checked against those bounds; the launch checks enforce them. Every tensor extent is
// at most INT_MAX (ArgumentChecks::rank), so batches, lengths and token counts are; and
// per-sequence tables (cu_seqlens, seq_lens) are int32, non-decreasing or non-negative.
static_assert(ir::kMaxSequenceLength == INT_MAX && ir::kMaxBatch == INT_MAX,
              "the builtins' bounds are those of int extents and int32 tables");

// Kernels load head_dim rows with 16-byte vector loads (cp.async), so every row start
// must be 16-byte aligned.
inline constexpr int64_t kRowAlignmentBytes = 16;

// "cpu" or "cuda", as messages name a device.
const char* device_name(DeviceKind d);

// "[2, 128, 8]": a shape as messages show it.
std::string shape_text(const std::vector<int64_t>& shape);

// "variant NAME", or "variant <unnamed>" for a variant without a name.
std::string variant_name(const ir::Variant& v);
// "(variant NAME)": the tag appended to expectations that come from the variant.
std::string variant_tag(const ir::Variant& v);

// Throws ArgumentError `<where>: argument '<name>': expected <expected>, got <got>`, the
// one message format of every argument check.
[[noreturn]] void fail_argument(const std::string& where, const std::string& name,
                                const std::string& expected, const std::string& got);

// A named tensor argument and the names of its dimensions (for messages).
struct TensorArg {
  const char* name;
  const TensorView* view;
  std::vector<const char*> dims;
};

// The checks of single tensor arguments, bound to the caller's `where` (the message
// prefix) and the device every tensor must be on. Each throws ArgumentError (through
// fail) on the first problem it finds. `where` must outlive the object.
class ArgumentChecks {
 public:
  ArgumentChecks(DeviceKind device, const std::string& where) : device_(device), where_(where) {}

  [[noreturn]] void fail(const std::string& name, const std::string& expected,
                         const std::string& got) const {
    fail_argument(where_, name, expected, got);
  }

  // Given (`what` is the expectation, e.g. "a data pointer") or, with `why`, not given.
  void present(const char* name, const TensorView& t, const std::string& what) const;
  void absent(const char* name, const TensorView& t, const std::string& why) const;

  // On the expected device.
  void device(const std::string& name, const TensorView& t) const;
  void device(const TensorArg& a) const { device(a.name, *a.view); }

  // Of dtype `want`; `why` follows the dtype in the message (" (variant x)" or "").
  void dtype(const std::string& name, const TensorView& t, DType want,
             const std::string& why) const;

  // Rank a.dims.size() and one stride per dimension (or none); `hint` follows the
  // expected rank in the message.
  void rank_and_strides(const TensorArg& a, const char* hint = "") const;
  // rank_and_strides, then sizes that fit the kernels' int (sizes travel as int, and
  // ragged offsets are int32 already).
  void rank(const TensorArg& a, const char* hint = "") const;

  // Extent `want` along dimension `dim`; `why` follows the number in the message.
  void extent(const TensorArg& a, int dim, int64_t want, const std::string& why) const;
  // The same shape as `as`.
  void same_shape(const TensorArg& a, const TensorArg& as) const;

  // head_dim rows read with 16-byte vector accesses: innermost stride 1 (rows, where the
  // innermost extent is above 1), then an aligned pointer and every other stride (in
  // bytes) a multiple of 16 (row_alignment).
  void rows(const TensorArg& a) const;
  void unit_inner_stride(const TensorArg& a) const;
  void row_alignment(const TensorArg& a) const;

  // Written or read one element at a time: natural alignment and positive strides.
  void elementwise(const TensorArg& a) const;
  // Read as a plain int array by the kernel: stride 1, naturally aligned.
  void int_array(const TensorArg& a) const;
  // Only read at computed offsets: any strides, natural alignment.
  void aligned_only(const TensorArg& a) const;

  // A host scale: finite and positive when `used`, else the default 1 (a scale that
  // would be silently ignored is a caller bug, not a no-op).
  void scale(const char* name, float value, bool used, const std::string& why_unused) const;

 private:
  DeviceKind device_;
  const std::string& where_;
};

}  // namespace attnjit
