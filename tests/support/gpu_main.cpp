// GPU test runner: without a usable GPU it prints why, lists the cases it did not run
// and exits 77, which ctest counts as "skipped" rather than hiding it.
#if defined(ATTNJIT_CATCH3)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include <cstdio>
#include <string>

#include "runtime/api/engine.h"
#include "runtime/driver/gpu_device.h"

int main(int argc, char** argv) {
  std::string why;
  if (!attnjit::Engine::gpu_available(&why)) {
    std::printf("SKIPPED: GPU tests need a CUDA device: %s\n", why.c_str());
    return 77;
  }
  // They hold their buffers in CUDA memory (cuda::DeviceBuffer): a HIP device, which the
  // engine launches on, is not theirs yet.
  auto gpu = attnjit::find_gpu();
  if (gpu && gpu->vendor != attnjit::Vendor::cuda) {
    std::printf("SKIPPED: GPU tests need a CUDA device: %s (%s) is a HIP device\n",
                gpu->name.c_str(), gpu->arch.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
