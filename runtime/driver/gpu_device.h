#pragma once
// Which GPU this process has, of either vendor: the CUDA driver is asked first, then
// the HIP runtime. The one place that knows the order; the engine asks it which vendor's
// driver to use and which target to build for.
#include <string>

#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit {

struct GpuDevice {
  Vendor vendor = Vendor::cuda;
  int ordinal = 0;
  std::string name;  // "NVIDIA H200", "AMD Instinct MI300X"
  std::string arch;  // as the device names itself: "sm_90", "gfx942:sramecc+:xnack-"
  // The target kernels are built for on it, or the reason none runs there.
  Result<const Target*, std::string> target = fail(std::string("not looked up"));
};

// Device `ordinal` of the first vendor whose runtime opens and has one. The error names
// both vendors' reasons: "no usable GPU: CUDA: libcuda.so.1 not found (...); HIP: hipInit
// failed: ...". Each vendor's driver is opened once per process (cuda::Driver::open,
// hip::Driver::open), so asking again is cheap.
Result<GpuDevice, std::string> find_gpu(int ordinal = 0);

}  // namespace attnjit
