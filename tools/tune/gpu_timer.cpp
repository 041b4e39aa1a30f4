#include "tools/tune/gpu_timer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include <fmt/format.h>


namespace attnjit::tune {

namespace {

constexpr const char* kDelayEntry = "attnjit_tune_delay";

struct DelayParams {
  unsigned long long nanoseconds;
};

// The spin covers the host's time to queue a launch several times over, and never less
// than this (the global timer ticks in microseconds on some GPUs) ...
constexpr double kMinDelayNs = 20'000;
// ... nor more than this: a host that slow is not waiting on the GPU.
constexpr double kMaxDelayNs = 5'000'000;
constexpr double kDelayPerHostNs = 3;

}  // namespace

GeneratedSource delay_kernel_source() {
  GeneratedSource src;
  src.entry = kDelayEntry;
  src.uri = "tune.delay";
  src.text = fmt::format(R"(// attnjit tune: keeps the GPU busy while the host queues a timed launch.
struct AttnjitTuneDelay {{
  unsigned long long nanoseconds;
}};

__device__ __forceinline__ unsigned long long global_ns() {{
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}}

extern "C" __global__ void {}(const AttnjitTuneDelay p) {{
  const unsigned long long start = global_ns();
  while (global_ns() - start < p.nanoseconds) {{
  }}
}}
)",
                         kDelayEntry);
  return src;
}

Result<Artifact, std::string> build_delay_kernel(Engine& engine, const Target& target) {
  auto backend = engine.backend(target);
  if (!backend) return fail(backend.error());
  auto compiled = (*backend)->compile(delay_kernel_source(), target, CompileOptions{});
  if (!compiled) return fail("compiling the timing kernel: " + compiled.error().describe());
  return *compiled;
}

Result<std::unique_ptr<GpuTimer>, std::string> GpuTimer::create(std::shared_ptr<cuda::Driver> gpu,
                                                                Engine& engine) {
  auto target = gpu->target();
  if (!target) return fail(target.error());
  auto compiled = build_delay_kernel(engine, **target);
  if (!compiled) return fail(compiled.error());
  auto loaded = cuda::LoadedKernel::load(gpu, compiled->binary, compiled->entry, false);
  if (!loaded) return fail("loading the timing kernel: " + loaded.error());
  return std::unique_ptr<GpuTimer>(new GpuTimer(std::move(gpu), std::move(*loaded)));
}

GpuTimer::GpuTimer(std::shared_ptr<cuda::Driver> gpu, std::unique_ptr<cuda::LoadedKernel> delay)
    : gpu_(std::move(gpu)), delay_(std::move(delay)), events_(gpu_) {}

float GpuTimer::sample(const std::function<void(int)>& launch, int run) {
  const DelayParams p{delay_ns_};
  delay_->launch(1, 1, 1, 32, 0, nullptr, &p, sizeof(p));
  events_.start(nullptr);
  launch(run);
  return events_.stop_ms(nullptr);
}

Measured GpuTimer::time(const std::function<void(int)>& launch, const TimingSettings& settings) {
  gpu_->make_current();
  // The first runs load kernels and size workspaces: untimed. Their wall time (the
  // launch returns once queued, and the GPU is idle before it) bounds the host's cost
  // of queueing a launch, which sizes the spin.
  double host_ns = 0;
  int run = 0;
  for (int i = 0; i < 2; ++i) {
    cuda::synchronize(*gpu_);
    const auto started = std::chrono::steady_clock::now();
    launch(run++);
    const auto queued = std::chrono::steady_clock::now();
    host_ns = std::chrono::duration<double, std::nano>(queued - started).count();
  }
  cuda::synchronize(*gpu_);
  delay_ns_ = static_cast<unsigned long long>(
      std::clamp(kDelayPerHostNs * host_ns, kMinDelayNs, kMaxDelayNs));

  double warm_ms = 0;
  std::vector<float> warm;
  while (static_cast<int>(warm.size()) < settings.warmup_runs || warm_ms < settings.warmup_ms) {
    warm.push_back(sample(launch, run++));
    warm_ms += warm.back();
    if (warm.size() >= 1000) break;  // a launch of nanoseconds: enough
  }
  std::sort(warm.begin(), warm.end());
  const double estimate = std::max<double>(warm[warm.size() / 2], 1e-6);
  const int runs = std::clamp(static_cast<int>(std::ceil(settings.target_ms / estimate)),
                              settings.min_runs, settings.max_runs);
  std::vector<float> ms;
  for (int i = 0; i < runs; ++i) ms.push_back(sample(launch, run++));
  std::sort(ms.begin(), ms.end());
  Measured m;
  m.runs = runs;
  m.min_ms = ms.front();
  // The middle value, or the mean of the two middle ones.
  m.median_ms = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
  return m;
}

}  // namespace attnjit::tune
