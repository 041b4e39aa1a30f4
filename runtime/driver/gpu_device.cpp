#include "runtime/driver/gpu_device.h"

#include "runtime/driver/cuda_driver.h"
#include "runtime/driver/hip_driver.h"

namespace attnjit {

Result<GpuDevice, std::string> find_gpu(int ordinal) {
  auto cuda_driver = cuda::Driver::open(ordinal);
  if (cuda_driver) {
    const cuda::Driver& d = **cuda_driver;
    GpuDevice device;
    device.vendor = Vendor::cuda;
    device.ordinal = ordinal;
    device.name = d.device_name();
    device.arch = d.arch();
    device.target = d.target();
    return device;
  }
  auto hip_driver = hip::Driver::open(ordinal);
  if (hip_driver) {
    const hip::Driver& d = **hip_driver;
    GpuDevice device;
    device.vendor = Vendor::hip;
    device.ordinal = ordinal;
    device.name = d.device_name();
    device.arch = d.gcn_arch_name();
    device.target = d.target();
    return device;
  }
  return fail("no usable GPU: CUDA: " + cuda_driver.error() + "; HIP: " + hip_driver.error());
}

}  // namespace attnjit
