#include "runtime/driver/gpu_kernel.h"

#include "runtime/driver/gpu_device.h"

namespace attnjit {

Result<std::shared_ptr<GpuRuntime>, std::string> open_gpu_runtime(int ordinal) {
  auto gpu = find_gpu(ordinal);
  if (!gpu) return fail(gpu.error());
  // find_gpu() opened the device's driver; opening it again returns the same handle.
  if (gpu->vendor == Vendor::cuda) {
    auto driver = cuda::Driver::open(ordinal);
    if (!driver) return fail(driver.error());
    return cuda_gpu_runtime(*driver);
  }
  auto driver = hip::Driver::open(ordinal);
  if (!driver) return fail(driver.error());
  return hip_gpu_runtime(*driver);
}

}  // namespace attnjit
