#pragma once
// The HIP runtime (AMD), opened with dlopen (libamdhip64) on first use: the AMD
// counterpart of cuda_driver.h, with the same shape (Driver, LoadedKernel, DeviceBuffer)
// and the same rule: a machine without the library, the kernel driver (/dev/kfd) or a
// device gets an error value naming what is missing, never a crash or a link failure.
// The runtime's ABI types are spelled locally, so no ROCm header is needed to build.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit::hip {

using hipError_t = int;
using hipDevice_t = int;
using hipModule_t = struct ihipModule_t*;
using hipFunction_t = struct ihipModuleSymbol_t*;
using hipStream_t = struct ihipStream_t*;

// Device attribute ids used by attnjit (hipDeviceAttribute_t, whose values have been
// the same since ROCm 5.0).
enum DeviceAttribute : int {
  kMultiprocessorCount = 63,        // compute units
  kMaxSharedMemoryPerBlock = 74,    // bytes of LDS
  kWarpSize = 87,                   // wavefront lanes
};

struct RuntimeApi;  // dlsym'd entry points (hip_driver.cpp)

// The library names tried, in order: ROCm's runtime, unversioned last.
const std::vector<std::string>& runtime_library_names();
// Loads the first of `names` that opens and binds every entry point. Errors name the
// libraries tried, or the entry points one lacks. Driver::open() uses
// runtime_library_names(); a test passes others (a missing one, one that is no HIP).
Result<std::shared_ptr<const RuntimeApi>, std::string> load_runtime(
    const std::vector<std::string>& names);

// The target kernels are built for on a device whose architecture HIP names
// `gcn_arch_name`: "gfx942:sramecc+:xnack-" -> gfx942 (the target features after ':'
// do not change which code object runs there). An error names the device and the
// targets when the name is no AMD architecture or no target runs on it ("gfx1100").
Result<const Target*, std::string> target_for_arch_name(const std::string& gcn_arch_name);

// One process-wide handle per device ordinal: the library, hipInit, the device made
// current on the calling thread before each use (HIP's current device is per thread).
class Driver {
 public:
  // Loads libamdhip64, initializes it and selects device `ordinal`. The error says
  // whether the library, the kernel driver or the device is missing.
  static Result<std::shared_ptr<Driver>, std::string> open(int ordinal = 0);
  // The same with an already loaded runtime (load_runtime()); not cached.
  static Result<std::shared_ptr<Driver>, std::string> open_with(
      std::shared_ptr<const RuntimeApi> api, int ordinal);

  const RuntimeApi& api() const { return *api_; }
  hipDevice_t device() const { return device_; }
  // The device's architecture with its target features, "gfx942:sramecc+:xnack-".
  const std::string& gcn_arch_name() const { return gcn_arch_name_; }
  // Its marketing name, "AMD Instinct MI300X".
  const std::string& device_name() const { return device_name_; }
  // The target kernels are built for on this device (target_for_arch_name()).
  Result<const Target*, std::string> target() const;
  int attribute(DeviceAttribute a) const;
  void make_current() const;  // hipSetDevice on the calling thread

  // Throws std::runtime_error with `what` and the runtime's error name when rc != 0.
  void check(hipError_t rc, const char* what) const;

  Driver(std::shared_ptr<const RuntimeApi> api, hipDevice_t device, std::string gcn_arch_name,
         std::string device_name);

 private:
  std::shared_ptr<const RuntimeApi> api_;
  hipDevice_t device_;
  std::string gcn_arch_name_;
  std::string device_name_;
};

// A loaded code object (HSACO) and one kernel in it. Unloads on destruction.
class LoadedKernel {
 public:
  static Result<std::unique_ptr<LoadedKernel>, std::string> load(std::shared_ptr<Driver> driver,
                                                                 const std::string& hsaco,
                                                                 const std::string& entry);
  ~LoadedKernel();
  LoadedKernel(const LoadedKernel&) = delete;
  LoadedKernel& operator=(const LoadedKernel&) = delete;

  // Launches with one by-value parameter block (the kernel takes a single struct), as
  // cuda::LoadedKernel::launch does.
  // `shared_bytes` is dynamic LDS (the templates' `extern __shared__` buffer), refused
  // beyond the device's limit.
  void launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
              unsigned shared_bytes, hipStream_t stream, const void* params,
              size_t params_size) const;
  const std::string& entry() const { return entry_; }
  // Workgroups of this size and dynamic LDS resident on one compute unit at once
  // (hipModuleOccupancyMaxActiveBlocksPerMultiprocessor).
  int blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const;

 private:
  LoadedKernel(std::shared_ptr<Driver> d, hipModule_t m, hipFunction_t f, std::string entry,
               int max_shared_bytes);
  void check_shared_bytes(unsigned shared_bytes) const;
  std::shared_ptr<Driver> driver_;
  hipModule_t module_;
  hipFunction_t function_;
  std::string entry_;
  int max_shared_bytes_;  // the device's LDS per block
};

// A stream owned by the host program (hipStreamCreate / hipStreamDestroy).
class Stream {
 public:
  explicit Stream(std::shared_ptr<Driver> driver);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  hipStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  std::shared_ptr<Driver> driver_;
  hipStream_t stream_ = nullptr;
};

// Device memory owned by the host program (tests, CLI, benchmark).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::shared_ptr<Driver> driver, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&&) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&&) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  void upload(const void* host, size_t bytes, size_t offset = 0);
  void download(void* host, size_t bytes, size_t offset = 0) const;
  void fill_bytes(unsigned char value);

 private:
  std::shared_ptr<Driver> driver_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

void synchronize(const Driver& driver);  // hipDeviceSynchronize

}  // namespace attnjit::hip
