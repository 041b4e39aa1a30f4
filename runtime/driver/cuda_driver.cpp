// The CUDA driver API through dlopen. Every entry point is bound by name at open time,
// so a machine without the NVIDIA driver gets one clear error from Driver::open and
// never a crash or a link failure.
#include "runtime/driver/cuda_driver.h"
#include "runtime/driver/buffer_range.h"

#include <dlfcn.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace attnjit::cuda {

// Driver ABI constants attnjit uses (values from cuda.h; spelled here so no toolkit
// header is needed).
namespace {
constexpr CUresult kSuccess = 0;
constexpr int kFuncAttributeNumRegisters = 4;          // CU_FUNC_ATTRIBUTE_NUM_REGS
constexpr int kFuncAttributeMaxDynamicSharedBytes = 8;  // ..._MAX_DYNAMIC_SHARED_SIZE_BYTES
// Dynamic shared memory above this needs the opt-in attribute on every architecture.
constexpr unsigned kDefaultSharedLimitBytes = 48 * 1024;
}  // namespace

struct DriverApi {
  void* library = nullptr;  // never dlclose'd: the driver stays loaded until exit

  CUresult (*cuInit)(unsigned flags) = nullptr;
  CUresult (*cuDriverGetVersion)(int* version) = nullptr;
  CUresult (*cuDeviceGetCount)(int* count) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice* device, int ordinal) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int* value, int attribute, CUdevice device) = nullptr;
  CUresult (*cuDeviceGetName)(char* name, int length, CUdevice device) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext* context, CUdevice device) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext context) = nullptr;
  CUresult (*cuCtxSynchronize)() = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule* module, const void* image) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule module) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction* function, CUmodule module,
                                  const char* name) = nullptr;
  CUresult (*cuFuncSetAttribute)(CUfunction function, int attribute, int value) = nullptr;
  CUresult (*cuFuncGetAttribute)(int* value, int attribute, CUfunction function) = nullptr;
  CUresult (*cuOccupancyMaxActiveBlocksPerMultiprocessor)(int* blocks, CUfunction function,
                                                          int block_size,
                                                          size_t dynamic_shared_bytes) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction function, unsigned grid_x, unsigned grid_y,
                             unsigned grid_z, unsigned block_x, unsigned block_y,
                             unsigned block_z, unsigned shared_bytes, CUstream stream,
                             void** kernel_params, void** extra) = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr* pointer, size_t bytes) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr pointer) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr destination, const void* source,
                           size_t bytes) = nullptr;
  CUresult (*cuMemcpyDtoH)(void* destination, CUdeviceptr source, size_t bytes) = nullptr;
  CUresult (*cuMemsetD8)(CUdeviceptr destination, unsigned char value,
                         size_t count) = nullptr;
  CUresult (*cuEventCreate)(CUevent* event, unsigned flags) = nullptr;
  CUresult (*cuEventDestroy)(CUevent event) = nullptr;
  CUresult (*cuEventRecord)(CUevent event, CUstream stream) = nullptr;
  CUresult (*cuEventSynchronize)(CUevent event) = nullptr;
  CUresult (*cuEventElapsedTime)(float* milliseconds, CUevent begin, CUevent end) = nullptr;
  CUresult (*cuGetErrorName)(CUresult rc, const char** name) = nullptr;
  CUresult (*cuGetErrorString)(CUresult rc, const char** text) = nullptr;
  // CUDA 12 and later only; optional, so older drivers still open (tensor maps then
  // fail with a message instead).
  CUresult (*cuTensorMapEncodeTiled)(void* map, int data_type, unsigned rank, void* address,
                                     const unsigned long long* dims,
                                     const unsigned long long* strides, const unsigned* box,
                                     const unsigned* element_strides, int interleave,
                                     int swizzle, int l2_promotion, int oob_fill) = nullptr;

  // "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)".
  std::string describe(CUresult rc) const {
    const char* name = nullptr;
    const char* text = nullptr;
    if (cuGetErrorName) cuGetErrorName(rc, &name);
    if (cuGetErrorString) cuGetErrorString(rc, &text);
    std::string described = name ? name : fmt::format("CUDA error {}", rc);
    if (text) described += fmt::format(" ({})", text);
    return described;
  }
};

namespace {

// Binds the first of `names` the library exports: versioned ("_v2") entry points come
// first, because the unversioned names keep the old ABI for old binaries.
template <typename Fn>
void bind(void* library, std::initializer_list<const char*> names, Fn* slot,
          std::string* missing) {
  for (const char* name : names) {
    *slot = reinterpret_cast<Fn>(dlsym(library, name));
    if (*slot) return;
  }
  *missing += std::string(missing->empty() ? "" : ", ") + *names.begin();
}

Result<std::shared_ptr<const DriverApi>, std::string> load_driver_api() {
  auto api = std::make_shared<DriverApi>();
  std::string first_error;
  for (const char* name : {"libcuda.so.1", "libcuda.so"}) {
    api->library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (api->library) break;
    const char* why = dlerror();
    if (first_error.empty()) first_error = why ? why : "not found";
  }
  if (!api->library)
    return fail("libcuda.so.1 not found (no NVIDIA driver on this machine): " + first_error);

  std::string missing;
  void* lib = api->library;
  bind(lib, {"cuInit"}, &api->cuInit, &missing);
  bind(lib, {"cuDriverGetVersion"}, &api->cuDriverGetVersion, &missing);
  bind(lib, {"cuDeviceGetCount"}, &api->cuDeviceGetCount, &missing);
  bind(lib, {"cuDeviceGet"}, &api->cuDeviceGet, &missing);
  bind(lib, {"cuDeviceGetAttribute"}, &api->cuDeviceGetAttribute, &missing);
  bind(lib, {"cuDeviceGetName"}, &api->cuDeviceGetName, &missing);
  bind(lib, {"cuDevicePrimaryCtxRetain"}, &api->cuDevicePrimaryCtxRetain, &missing);
  bind(lib, {"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"},
       &api->cuDevicePrimaryCtxRelease, &missing);
  bind(lib, {"cuCtxSetCurrent"}, &api->cuCtxSetCurrent, &missing);
  bind(lib, {"cuCtxSynchronize"}, &api->cuCtxSynchronize, &missing);
  bind(lib, {"cuModuleLoadData"}, &api->cuModuleLoadData, &missing);
  bind(lib, {"cuModuleUnload"}, &api->cuModuleUnload, &missing);
  bind(lib, {"cuModuleGetFunction"}, &api->cuModuleGetFunction, &missing);
  bind(lib, {"cuFuncSetAttribute"}, &api->cuFuncSetAttribute, &missing);
  bind(lib, {"cuFuncGetAttribute"}, &api->cuFuncGetAttribute, &missing);
  bind(lib, {"cuOccupancyMaxActiveBlocksPerMultiprocessor"},
       &api->cuOccupancyMaxActiveBlocksPerMultiprocessor, &missing);
  bind(lib, {"cuLaunchKernel"}, &api->cuLaunchKernel, &missing);
  bind(lib, {"cuMemAlloc_v2"}, &api->cuMemAlloc, &missing);
  bind(lib, {"cuMemFree_v2"}, &api->cuMemFree, &missing);
  bind(lib, {"cuMemcpyHtoD_v2"}, &api->cuMemcpyHtoD, &missing);
  bind(lib, {"cuMemcpyDtoH_v2"}, &api->cuMemcpyDtoH, &missing);
  bind(lib, {"cuMemsetD8_v2"}, &api->cuMemsetD8, &missing);
  bind(lib, {"cuEventCreate"}, &api->cuEventCreate, &missing);
  bind(lib, {"cuEventDestroy_v2", "cuEventDestroy"}, &api->cuEventDestroy, &missing);
  bind(lib, {"cuEventRecord"}, &api->cuEventRecord, &missing);
  bind(lib, {"cuEventSynchronize"}, &api->cuEventSynchronize, &missing);
  bind(lib, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, &api->cuEventElapsedTime,
       &missing);
  bind(lib, {"cuGetErrorName"}, &api->cuGetErrorName, &missing);
  bind(lib, {"cuGetErrorString"}, &api->cuGetErrorString, &missing);
  if (!missing.empty())
    return fail("libcuda.so.1 lacks " + missing + " (NVIDIA driver too old?)");
  std::string optional_missing;
  bind(lib, {"cuTensorMapEncodeTiled"}, &api->cuTensorMapEncodeTiled, &optional_missing);
  return std::shared_ptr<const DriverApi>(std::move(api));
}

// The library and cuInit are process-wide; both results (success or the reason for
// failure) are computed once.
Result<std::shared_ptr<const DriverApi>, std::string> initialized_driver_api() {
  static const Result<std::shared_ptr<const DriverApi>, std::string> api =
      []() -> Result<std::shared_ptr<const DriverApi>, std::string> {
    auto loaded = load_driver_api();
    if (!loaded) return loaded;
    if (CUresult rc = loaded.value()->cuInit(0); rc != kSuccess)
      return fail("cuInit failed: " + loaded.value()->describe(rc));
    return loaded;
  }();
  return api;
}

Result<std::shared_ptr<Driver>, std::string> open_device(int ordinal) {
  auto loaded = initialized_driver_api();
  if (!loaded) return fail(loaded.error());
  std::shared_ptr<const DriverApi> api = loaded.value();

  int count = 0;
  if (CUresult rc = api->cuDeviceGetCount(&count); rc != kSuccess)
    return fail("cuDeviceGetCount failed: " + api->describe(rc));
  if (count == 0) return fail(std::string("no CUDA device"));
  if (ordinal < 0 || ordinal >= count)
    return fail(fmt::format("CUDA device {} requested, but this machine has {} (0..{})",
                            ordinal, count, count - 1));

  CUdevice device = 0;
  if (CUresult rc = api->cuDeviceGet(&device, ordinal); rc != kSuccess)
    return fail(fmt::format("cuDeviceGet({}) failed: {}", ordinal, api->describe(rc)));
  CUcontext context = nullptr;
  if (CUresult rc = api->cuDevicePrimaryCtxRetain(&context, device); rc != kSuccess)
    return fail(fmt::format("retaining the primary context of CUDA device {} failed: {}",
                            ordinal, api->describe(rc)));
  auto driver = std::make_shared<Driver>(api, device, context);
  if (CUresult rc = api->cuCtxSetCurrent(context); rc != kSuccess)
    return fail(fmt::format("making CUDA device {} current failed: {}", ordinal,
                            api->describe(rc)));
  return driver;
}

}  // namespace

// ----------------------------------------------------------------------------- Driver

Result<std::shared_ptr<Driver>, std::string> Driver::open(int ordinal) {
  // One Driver per ordinal per process, so every user shares one primary-context
  // retain and one set of loaded modules' context.
  static std::mutex mutex;
  static std::map<int, Result<std::shared_ptr<Driver>, std::string>> opened;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = opened.find(ordinal);
  if (found == opened.end()) return opened.emplace(ordinal, open_device(ordinal)).first->second;
  // Later callers may be on other threads, which start with no current context.
  if (found->second.ok()) {
    const Driver& driver = *found->second.value();
    if (CUresult rc = driver.api().cuCtxSetCurrent(driver.context_); rc != kSuccess)
      return fail("making the primary context current failed: " + driver.api().describe(rc));
  }
  return found->second;
}

Driver::Driver(std::shared_ptr<const DriverApi> api, CUdevice device, CUcontext context)
    : api_(std::move(api)), device_(device), context_(context) {}

Driver::~Driver() {
  // At process exit the driver may already be shutting down; nothing useful can be
  // done with an error here.
  if (context_) api_->cuDevicePrimaryCtxRelease(device_);
}

ComputeCapability Driver::capability() const {
  return {attribute(kComputeCapabilityMajor), attribute(kComputeCapabilityMinor)};
}

std::string Driver::arch() const { return cuda_arch_name(capability()); }

std::vector<const Target*> Driver::runnable_targets(BinaryFormat format) const {
  return attnjit::runnable_targets(Vendor::cuda, capability(), format);
}

Result<const Target*, std::string> Driver::target() const {
  const ComputeCapability cc = capability();
  if (const Target* t = device_target(Vendor::cuda, cc)) return t;
  return fail(fmt::format("no target runs on {} ({}, compute capability {}.{}); attnjit builds for {}",
                          device_name(), cuda_arch_name(cc), cc.major, cc.minor, target_names()));
}

int Driver::attribute(DeviceAttribute a) const {
  int value = 0;
  check(api_->cuDeviceGetAttribute(&value, a, device_),
        fmt::format("reading device attribute {}", static_cast<int>(a)).c_str());
  return value;
}

std::string Driver::device_name() const {
  char name[256] = {};
  check(api_->cuDeviceGetName(name, sizeof(name) - 1, device_), "reading the device name");
  return name;
}

int Driver::driver_version() const {
  int version = 0;
  check(api_->cuDriverGetVersion(&version), "reading the driver version");
  return version;
}

void Driver::make_current() const {
  check(api_->cuCtxSetCurrent(context_), "making the primary context current");
}

Result<bool, std::string> Driver::encode_tiled_tensor_map(
    void* map, int data_type, unsigned rank, void* address, const unsigned long long* dims,
    const unsigned long long* strides, const unsigned* box, const unsigned* element_strides,
    int interleave, int swizzle, int l2_promotion, int oob_fill) const {
  if (!api_->cuTensorMapEncodeTiled)
    return fail(std::string("the NVIDIA driver lacks cuTensorMapEncodeTiled (CUDA 12 or later needed)"));
  const CUresult rc = api_->cuTensorMapEncodeTiled(map, data_type, rank, address, dims, strides, box,
                                                   element_strides, interleave, swizzle,
                                                   l2_promotion, oob_fill);
  if (rc != kSuccess) return fail("cuTensorMapEncodeTiled failed: " + api_->describe(rc));
  return true;
}

void Driver::check(CUresult rc, const char* what) const {
  if (rc != kSuccess)
    throw std::runtime_error(fmt::format("CUDA driver: {} failed: {}", what,
                                         api_->describe(rc)));
}

// ----------------------------------------------------------------------- LoadedKernel

Result<std::unique_ptr<LoadedKernel>, std::string> LoadedKernel::load(
    std::shared_ptr<Driver> driver, const std::string& binary, const std::string& entry,
    bool is_ptx) {
  const DriverApi& api = driver->api();
  try {
    driver->make_current();  // modules belong to the context current at load time
  } catch (const std::exception& e) {
    return fail(std::string(e.what()));
  }
  // PTX must be NUL-terminated, which std::string::c_str() always is; for a CUBIN the
  // driver takes the size from the ELF header.
  CUmodule module = nullptr;
  if (CUresult rc = api.cuModuleLoadData(&module, binary.c_str()); rc != kSuccess)
    return fail(fmt::format("loading the {} module of {} failed: {}", is_ptx ? "PTX" : "CUBIN",
                            entry, api.describe(rc)));
  CUfunction function = nullptr;
  if (CUresult rc = api.cuModuleGetFunction(&function, module, entry.c_str());
      rc != kSuccess) {
    api.cuModuleUnload(module);
    return fail(fmt::format("kernel '{}' not found in its module: {}", entry,
                            api.describe(rc)));
  }
  return std::unique_ptr<LoadedKernel>(
      new LoadedKernel(std::move(driver), module, function, entry));
}

LoadedKernel::LoadedKernel(std::shared_ptr<Driver> d, CUmodule m, CUfunction f,
                           std::string entry)
    : driver_(std::move(d)), module_(m), function_(f), entry_(std::move(entry)) {}

LoadedKernel::~LoadedKernel() {
  if (module_) driver_->api().cuModuleUnload(module_);
}

void LoadedKernel::launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
                          unsigned shared_bytes, CUstream stream, const void* params,
                          size_t params_size) const {
  if (!params || params_size == 0)
    throw std::invalid_argument("launching " + entry_ + ": empty parameter block");
  driver_->make_current();
  allow_shared_bytes(shared_bytes);

  // The kernel takes one by-value struct, so its single kernel parameter is a pointer
  // to that struct; the driver copies sizeof(struct) bytes as the signature says.
  void* kernel_params[] = {const_cast<void*>(params)};
  CUresult rc = driver_->api().cuLaunchKernel(function_, grid_x, grid_y, grid_z, block_x, 1,
                                              1, shared_bytes, stream, kernel_params,
                                              nullptr);
  if (rc != kSuccess)
    driver_->check(rc, fmt::format("launching {} (grid {}x{}x{}, block {}, {} bytes shared)",
                                   entry_, grid_x, grid_y, grid_z, block_x, shared_bytes)
                           .c_str());
}

// Opting in to more than 48 KiB of dynamic shared memory is a per-function attribute;
// set it only when a launch needs more than any launch before it.
void LoadedKernel::allow_shared_bytes(unsigned shared_bytes) const {
  std::atomic_ref<unsigned> configured(configured_shared_bytes_);
  if (shared_bytes > kDefaultSharedLimitBytes && shared_bytes > configured.load()) {
    driver_->check(driver_->api().cuFuncSetAttribute(function_,
                                                     kFuncAttributeMaxDynamicSharedBytes,
                                                     static_cast<int>(shared_bytes)),
                   fmt::format("allowing {} bytes of dynamic shared memory for {}",
                               shared_bytes, entry_)
                       .c_str());
    configured.store(shared_bytes);
  }
}

int LoadedKernel::blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const {
  driver_->make_current();
  allow_shared_bytes(shared_bytes);
  int blocks = 0;
  driver_->check(driver_->api().cuOccupancyMaxActiveBlocksPerMultiprocessor(
                     &blocks, function_, static_cast<int>(block_threads), shared_bytes),
                 ("reading the occupancy of " + entry_).c_str());
  return blocks;
}

int LoadedKernel::registers_per_thread() const {
  int registers = 0;
  driver_->check(
      driver_->api().cuFuncGetAttribute(&registers, kFuncAttributeNumRegisters, function_),
      ("reading the register count of " + entry_).c_str());
  return registers;
}

// ----------------------------------------------------------------------- DeviceBuffer

DeviceBuffer::DeviceBuffer(std::shared_ptr<Driver> driver, size_t bytes)
    : driver_(std::move(driver)), bytes_(bytes) {
  if (bytes_ == 0) return;  // cuMemAlloc rejects 0; an empty buffer needs no memory
  driver_->make_current();
  driver_->check(driver_->api().cuMemAlloc(&ptr_, bytes_),
                 fmt::format("allocating {} bytes of device memory", bytes_).c_str());
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) driver_->api().cuMemFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : driver_(std::move(other.driver_)),
      ptr_(std::exchange(other.ptr_, 0)),
      bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) driver_->api().cuMemFree(ptr_);
    driver_ = std::move(other.driver_);
    ptr_ = std::exchange(other.ptr_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  check_buffer_range(offset, bytes, bytes_, "upload of");
  if (bytes == 0) return;
  driver_->make_current();
  driver_->check(driver_->api().cuMemcpyHtoD(ptr_ + offset, host, bytes),
                 "copying host to device");
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  check_buffer_range(offset, bytes, bytes_, "download of");
  if (bytes == 0) return;
  driver_->make_current();
  driver_->check(driver_->api().cuMemcpyDtoH(host, ptr_ + offset, bytes),
                 "copying device to host");
}

void DeviceBuffer::fill_bytes(unsigned char value) {
  if (bytes_ == 0) return;
  driver_->make_current();
  driver_->check(driver_->api().cuMemsetD8(ptr_, value, bytes_), "filling device memory");
}

// ------------------------------------------------------------------------ EventTimer

EventTimer::EventTimer(std::shared_ptr<Driver> driver) : driver_(std::move(driver)) {
  driver_->make_current();
  driver_->check(driver_->api().cuEventCreate(&begin_, 0), "creating a timing event");
  driver_->check(driver_->api().cuEventCreate(&end_, 0), "creating a timing event");
}

EventTimer::~EventTimer() {
  if (begin_) driver_->api().cuEventDestroy(begin_);
  if (end_) driver_->api().cuEventDestroy(end_);
}

void EventTimer::start(CUstream stream) {
  driver_->check(driver_->api().cuEventRecord(begin_, stream), "recording the start event");
}

float EventTimer::stop_ms(CUstream stream) {
  const DriverApi& api = driver_->api();
  driver_->check(api.cuEventRecord(end_, stream), "recording the stop event");
  driver_->check(api.cuEventSynchronize(end_), "waiting for the stop event");
  float milliseconds = 0;
  driver_->check(api.cuEventElapsedTime(&milliseconds, begin_, end_),
                 "measuring the time between events");
  return milliseconds;
}

void synchronize(const Driver& driver) {
  driver.make_current();
  driver.check(driver.api().cuCtxSynchronize(), "synchronizing the device");
}

}  // namespace attnjit::cuda
