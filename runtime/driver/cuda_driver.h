#pragma once
// The CUDA driver API, opened with dlopen (libcuda.so.1) on first use. Only the
// handful of entry points attnjit needs, with the driver's own ABI types spelled
// locally so no toolkit header is required to build.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit::cuda {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUevent = struct CUevent_st*;
using CUdeviceptr = unsigned long long;

// Device attribute ids used by attnjit (values from the driver ABI).
enum DeviceAttribute : int {
  kMultiprocessorCount = 16,
  kL2CacheSize = 38,  // bytes
  kComputeCapabilityMajor = 75,
  kComputeCapabilityMinor = 76,
  kMaxSharedMemoryPerBlockOptin = 97,
};

struct DriverApi;  // dlsym'd entry points (cuda_driver.cpp)

// One process-wide handle: the library, the primary context of device 0 made current.
class Driver {
 public:
  // Loads libcuda, initialises it and retains device `ordinal`'s primary context (the
  // context the CUDA runtime and frameworks such as PyTorch use). Error text says
  // whether the library, the driver or the device is missing.
  static Result<std::shared_ptr<Driver>, std::string> open(int ordinal = 0);

  const DriverApi& api() const { return *api_; }
  CUdevice device() const { return device_; }
  ComputeCapability capability() const;  // {9, 0}
  // The device's own name, "sm_90", "sm_87": not necessarily a target (see target()).
  std::string arch() const;
  // The targets whose binaries of `format` this device runs (runnable_targets()): for
  // 9.0, CUBIN: sm_90, sm_90a; PTX: sm_80 ... sm_90a.
  std::vector<const Target*> runnable_targets(BinaryFormat format) const;
  // The target kernels are built for on this device (device_target(): sm_86 on an
  // sm_87 device); an error naming the device and the targets when none runs on it.
  Result<const Target*, std::string> target() const;
  int attribute(DeviceAttribute a) const;
  std::string device_name() const;
  // The CUDA version the driver supports, as cuDriverGetVersion says: 13000 for 13.0.
  int driver_version() const;
  void make_current() const;  // binds the primary context to the calling thread

  // cuTensorMapEncodeTiled (CUDA 12+) with the driver ABI's plain values (enums as
  // ints; runtime/driver/tensor_map.h builds and checks them): fills the 128-byte `map`.
  // True, or the driver's reason.
  Result<bool, std::string> encode_tiled_tensor_map(void* map, int data_type, unsigned rank,
                                                    void* address, const unsigned long long* dims,
                                                    const unsigned long long* strides,
                                                    const unsigned* box,
                                                    const unsigned* element_strides,
                                                    int interleave, int swizzle,
                                                    int l2_promotion, int oob_fill) const;

  // Throws std::runtime_error with `what` and the driver's error name when rc != 0.
  void check(CUresult rc, const char* what) const;

  Driver(std::shared_ptr<const DriverApi> api, CUdevice device, CUcontext context);
  ~Driver();

 private:
  std::shared_ptr<const DriverApi> api_;
  CUdevice device_;
  CUcontext context_;
};

// A loaded module and one function in it. Unloads on destruction.
class LoadedKernel {
 public:
  static Result<std::unique_ptr<LoadedKernel>, std::string> load(
      std::shared_ptr<Driver> driver, const std::string& binary, const std::string& entry,
      bool is_ptx);
  ~LoadedKernel();

  // Launches with one by-value parameter block (the kernel takes a single struct).
  void launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
              unsigned shared_bytes, CUstream stream, const void* params,
              size_t params_size) const;
  const std::string& entry() const { return entry_; }
  int registers_per_thread() const;
  // Thread blocks of this size and dynamic shared memory that fit on one SM at once.
  int blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const;

 private:
  void allow_shared_bytes(unsigned shared_bytes) const;
  LoadedKernel(std::shared_ptr<Driver> d, CUmodule m, CUfunction f, std::string entry);
  std::shared_ptr<Driver> driver_;
  CUmodule module_;
  CUfunction function_;
  std::string entry_;
  mutable unsigned configured_shared_bytes_ = 0;
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

  void* data() const { return reinterpret_cast<void*>(ptr_); }
  size_t size() const { return bytes_; }
  void upload(const void* host, size_t bytes, size_t offset = 0);
  void download(void* host, size_t bytes, size_t offset = 0) const;
  void fill_bytes(unsigned char value);  // e.g. 0xFF poisons fp16/bf16/f32 with NaN

 private:
  std::shared_ptr<Driver> driver_;
  CUdeviceptr ptr_ = 0;
  size_t bytes_ = 0;
};

// Event-based timing on a stream.
class EventTimer {
 public:
  explicit EventTimer(std::shared_ptr<Driver> driver);
  ~EventTimer();
  void start(CUstream stream = nullptr);
  float stop_ms(CUstream stream = nullptr);  // synchronizes on the stop event

 private:
  std::shared_ptr<Driver> driver_;
  CUevent begin_ = nullptr, end_ = nullptr;
};

void synchronize(const Driver& driver);

}  // namespace attnjit::cuda
