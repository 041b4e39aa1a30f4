#pragma once
// What the engine needs of a GPU, whichever vendor's: load a compiled kernel, launch it
// with one by-value parameter block, ask its occupancy, allocate and clear workspace,
// synchronize. cuda_driver.h and hip_driver.h have the same shapes; the adaptors here
// (gpu_kernel_cuda.cpp, gpu_kernel_hip.cpp) put one interface over both, so the launch
// path (runtime/api) is written once. A test implements it to see what the engine
// launches without a GPU.
#include <cstddef>
#include <memory>
#include <string>

#include "compiler/support/result.h"
#include "compiler/target/target.h"
#include "runtime/driver/cuda_driver.h"
#include "runtime/driver/hip_driver.h"

namespace attnjit {

// A stream of the engine's GPU: a CUstream on CUDA, a hipStream_t on HIP; null is the
// vendor's default stream. Converts from either, so callers pass what their framework
// has.
class GpuStream {
 public:
  GpuStream(std::nullptr_t = nullptr) {}
  GpuStream(cuda::CUstream stream) : handle_(stream) {}
  GpuStream(hip::hipStream_t stream) : handle_(stream) {}
  void* handle() const { return handle_; }
  cuda::CUstream cuda() const { return static_cast<cuda::CUstream>(handle_); }
  hip::hipStream_t hip() const { return static_cast<hip::hipStream_t>(handle_); }

 private:
  void* handle_ = nullptr;
};

// A kernel loaded on the device (a module or code object and one function in it).
class GpuKernel {
 public:
  virtual ~GpuKernel() = default;
  virtual const std::string& entry() const = 0;
  // Launches `grid` blocks of `block_x` threads with `shared_bytes` of dynamic shared
  // memory (LDS on AMD); the kernel's single parameter is the struct at `params`.
  // Throws std::runtime_error with the runtime's reason.
  virtual void launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
                      unsigned shared_bytes, GpuStream stream, const void* params,
                      size_t params_size) const = 0;
  // Blocks of this size and dynamic shared memory resident on one multiprocessor (an SM,
  // or a compute unit on AMD) at once.
  virtual int blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const = 0;
};

// Device memory the engine owns (split-KV workspace, counters).
class GpuBuffer {
 public:
  virtual ~GpuBuffer() = default;
  virtual void* data() const = 0;
  virtual size_t size() const = 0;
  // Sets every byte (synchronously with respect to the host; see GpuRuntime::synchronize).
  virtual void fill_bytes(unsigned char value) = 0;
};

// One device of one vendor's runtime.
class GpuRuntime {
 public:
  virtual ~GpuRuntime() = default;
  virtual Vendor vendor() const = 0;
  virtual std::string device_name() const = 0;  // "NVIDIA H200", "AMD Instinct MI300X"
  virtual std::string arch() const = 0;         // "sm_90", "gfx942:sramecc+:xnack-"
  // The target kernels are built for on it, or why none runs there.
  virtual Result<const Target*, std::string> target() const = 0;
  virtual int multiprocessor_count() const = 0;  // SMs, or compute units
  // Loads `binary` (one of the target's formats: CUBIN or PTX on CUDA, HSACO on HIP) and
  // finds `entry` in it. An error names the kernel and the runtime's reason.
  virtual Result<std::unique_ptr<GpuKernel>, std::string> load(const std::string& binary,
                                                               const std::string& entry,
                                                               BinaryFormat format) = 0;
  // Throws std::runtime_error when the memory cannot be had.
  virtual std::unique_ptr<GpuBuffer> allocate(size_t bytes) = 0;
  // Waits for all work on the device, the default stream's fills included.
  virtual void synchronize() = 0;
};

std::shared_ptr<GpuRuntime> cuda_gpu_runtime(std::shared_ptr<cuda::Driver> driver);
std::shared_ptr<GpuRuntime> hip_gpu_runtime(std::shared_ptr<hip::Driver> driver);

// The runtime of find_gpu(ordinal)'s device (runtime/driver/gpu_device.h: CUDA first,
// then HIP); its error names both vendors' reasons.
Result<std::shared_ptr<GpuRuntime>, std::string> open_gpu_runtime(int ordinal = 0);

// The CUDA objects under cuda_gpu_runtime()'s: for what only CUDA has (the Hopper
// path's tensor maps and its kernel); null for any other implementation.
std::shared_ptr<cuda::Driver> cuda_driver_of(const GpuRuntime& runtime);
const cuda::LoadedKernel* cuda_kernel_of(const GpuKernel& kernel);

}  // namespace attnjit
