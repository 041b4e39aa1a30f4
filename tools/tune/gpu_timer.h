#pragma once
// Timing launches on the GPU (docs/tune.md "How it measures"). Each run is one sample
// between two CUDA events, and the events bracket only GPU work: a short spin kernel
// goes first and keeps the GPU busy while the host records the start event and
// queues the launch, so the host's own cost (argument checks, kernel lookup) never
// shows as idle GPU time inside the sample. Warm-up runs come first; the result is
// the median (and minimum) of many samples.
#include <functional>
#include <memory>
#include <string>

#include "compiler/codegen/codegen.h"
#include "compiler/support/result.h"
#include "runtime/api/engine.h"
#include "runtime/driver/cuda_driver.h"

namespace attnjit::tune {

struct TimingSettings {
  int warmup_runs = 3;      // at least this many untimed runs ...
  double warmup_ms = 25;    // ... and at least this much GPU time
  double target_ms = 200;   // timed runs: about this much GPU time in all ...
  int min_runs = 10;        // ... but never fewer runs than this
  int max_runs = 100;       // ... nor more
};

struct Measured {
  double median_ms = 0, min_ms = 0;
  int runs = 0;
};

// The spin kernel: waits `nanoseconds` by the GPU's global timer.
GeneratedSource delay_kernel_source();
// It compiled for `target` by the backend `engine` compiles that target's kernels with
// (the one compiler the tuner uses); an error says why not.
Result<Artifact, std::string> build_delay_kernel(Engine& engine, const Target& target);

class GpuTimer {
 public:
  // Compiles the spin kernel for the GPU with `engine`'s backend and loads it.
  static Result<std::unique_ptr<GpuTimer>, std::string> create(std::shared_ptr<cuda::Driver> gpu,
                                                                Engine& engine);

  // Times `launch(run)` (`run` counts from 0, so a caller can rotate its inputs) on the
  // default stream. Throws what `launch` or the driver throws.
  Measured time(const std::function<void(int run)>& launch, const TimingSettings& settings = {});

 private:
  GpuTimer(std::shared_ptr<cuda::Driver> gpu, std::unique_ptr<cuda::LoadedKernel> delay);
  // One sample: the spin kernel, then the events around one launch.
  float sample(const std::function<void(int)>& launch, int run);

  std::shared_ptr<cuda::Driver> gpu_;
  std::unique_ptr<cuda::LoadedKernel> delay_;
  cuda::EventTimer events_;
  unsigned long long delay_ns_ = 0;
};

}  // namespace attnjit::tune
