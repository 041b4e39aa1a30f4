// The HIP runtime through dlopen. Every entry point is bound by name at open time, so a
// machine without ROCm gets one clear error from Driver::open and never a crash or a
// link failure. Loading libamdhip64 needs no GPU; hipInit then fails cleanly without
// the kernel driver (/dev/kfd), which the error says.
#include "runtime/driver/hip_driver.h"
#include "runtime/driver/buffer_range.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace attnjit::hip {

namespace {
constexpr hipError_t kSuccess = 0;
// hipGetDeviceProperties as exported by name fills the pre-ROCm-6 hipDeviceProp_t
// (ROCm 6 reaches its new layout through the separate hipGetDevicePropertiesR0600 and
// keeps this symbol for binaries built before). attnjit reads one field of it, the
// architecture name, at its offset in that layout (measured with ROCm 5.2's header),
// into a buffer larger than any release's struct; target_for_arch_name() then checks
// that what it read is an AMD architecture name, so a layout change is an error.
constexpr size_t kPropertiesBytes = 4096;
constexpr size_t kGcnArchNameOffset = 396;
constexpr size_t kGcnArchNameBytes = 256;
}  // namespace

struct RuntimeApi {
  void* library = nullptr;  // never dlclose'd: the runtime stays loaded until exit
  std::string library_name;

  hipError_t (*hipInit)(unsigned flags) = nullptr;
  hipError_t (*hipGetDeviceCount)(int* count) = nullptr;
  hipError_t (*hipDeviceGet)(hipDevice_t* device, int ordinal) = nullptr;
  hipError_t (*hipDeviceGetAttribute)(int* value, int attribute, hipDevice_t device) = nullptr;
  hipError_t (*hipDeviceGetName)(char* name, int length, hipDevice_t device) = nullptr;
  hipError_t (*hipGetDeviceProperties)(void* properties, int device) = nullptr;
  hipError_t (*hipSetDevice)(int device) = nullptr;
  hipError_t (*hipDeviceSynchronize)() = nullptr;
  hipError_t (*hipModuleLoadData)(hipModule_t* module, const void* image) = nullptr;
  hipError_t (*hipModuleUnload)(hipModule_t module) = nullptr;
  hipError_t (*hipModuleGetFunction)(hipFunction_t* function, hipModule_t module,
                                     const char* name) = nullptr;
  hipError_t (*hipModuleLaunchKernel)(hipFunction_t function, unsigned grid_x, unsigned grid_y,
                                      unsigned grid_z, unsigned block_x, unsigned block_y,
                                      unsigned block_z, unsigned shared_bytes, hipStream_t stream,
                                      void** kernel_params, void** extra) = nullptr;
  hipError_t (*hipModuleOccupancyMaxActiveBlocksPerMultiprocessor)(int* blocks,
                                                                   hipFunction_t function,
                                                                   int block_size,
                                                                   size_t dynamic_shared_bytes) =
      nullptr;
  hipError_t (*hipStreamCreate)(hipStream_t* stream) = nullptr;
  hipError_t (*hipStreamDestroy)(hipStream_t stream) = nullptr;
  hipError_t (*hipStreamSynchronize)(hipStream_t stream) = nullptr;
  hipError_t (*hipMalloc)(void** pointer, size_t bytes) = nullptr;
  hipError_t (*hipFree)(void* pointer) = nullptr;
  hipError_t (*hipMemcpyHtoD)(void* destination, void* source, size_t bytes) = nullptr;
  hipError_t (*hipMemcpyDtoH)(void* destination, void* source, size_t bytes) = nullptr;
  hipError_t (*hipMemsetD8)(void* destination, unsigned char value, size_t count) = nullptr;
  const char* (*hipGetErrorName)(hipError_t rc) = nullptr;
  const char* (*hipGetErrorString)(hipError_t rc) = nullptr;

  // "hipErrorNoDevice (no ROCm-capable device is detected)".
  std::string describe(hipError_t rc) const {
    const char* name = hipGetErrorName ? hipGetErrorName(rc) : nullptr;
    const char* text = hipGetErrorString ? hipGetErrorString(rc) : nullptr;
    std::string described = name ? name : fmt::format("HIP error {}", rc);
    if (text && (!name || std::strcmp(text, name) != 0)) described += fmt::format(" ({})", text);
    return described;
  }
};

namespace {

template <typename Fn>
void bind(void* library, const char* name, Fn* slot, std::string* missing) {
  *slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (!*slot) *missing += std::string(missing->empty() ? "" : ", ") + name;
}

// Said after a failed hipInit or an empty device list: the usual reason on a machine
// with ROCm's libraries but no AMD GPU (or a container not given one).
std::string kernel_driver_note() {
  return access("/dev/kfd", F_OK) == 0 ? ""
                                        : " (no /dev/kfd: no AMD GPU kernel driver on this machine)";
}

// The library and hipInit are process-wide; both results (success or the reason for
// failure) are computed once.
Result<std::shared_ptr<const RuntimeApi>, std::string> initialized_runtime() {
  static const Result<std::shared_ptr<const RuntimeApi>, std::string> api =
      []() -> Result<std::shared_ptr<const RuntimeApi>, std::string> {
    auto loaded = load_runtime(runtime_library_names());
    if (!loaded) return loaded;
    if (hipError_t rc = loaded.value()->hipInit(0); rc != kSuccess)
      return fail(fmt::format("hipInit failed: {}{}", loaded.value()->describe(rc),
                              kernel_driver_note()));
    return loaded;
  }();
  return api;
}

}  // namespace

const std::vector<std::string>& runtime_library_names() {
  static const std::vector<std::string> names = {"libamdhip64.so.7", "libamdhip64.so.6",
                                                 "libamdhip64.so.5", "libamdhip64.so"};
  return names;
}

Result<std::shared_ptr<const RuntimeApi>, std::string> load_runtime(
    const std::vector<std::string>& names) {
  auto api = std::make_shared<RuntimeApi>();
  std::string tried, first_error;
  for (const std::string& name : names) {
    tried += (tried.empty() ? "" : ", ") + name;
    api->library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (api->library) {
      api->library_name = name;
      break;
    }
    const char* why = dlerror();
    if (first_error.empty()) first_error = why ? why : "not found";
  }
  if (!api->library)
    return fail(fmt::format("the HIP runtime is not installed (no ROCm on this machine): "
                            "none of {} opens: {}",
                            tried, first_error));

  std::string missing;
  void* lib = api->library;
  bind(lib, "hipInit", &api->hipInit, &missing);
  bind(lib, "hipGetDeviceCount", &api->hipGetDeviceCount, &missing);
  bind(lib, "hipDeviceGet", &api->hipDeviceGet, &missing);
  bind(lib, "hipDeviceGetAttribute", &api->hipDeviceGetAttribute, &missing);
  bind(lib, "hipDeviceGetName", &api->hipDeviceGetName, &missing);
  bind(lib, "hipGetDeviceProperties", &api->hipGetDeviceProperties, &missing);
  bind(lib, "hipSetDevice", &api->hipSetDevice, &missing);
  bind(lib, "hipDeviceSynchronize", &api->hipDeviceSynchronize, &missing);
  bind(lib, "hipModuleLoadData", &api->hipModuleLoadData, &missing);
  bind(lib, "hipModuleUnload", &api->hipModuleUnload, &missing);
  bind(lib, "hipModuleGetFunction", &api->hipModuleGetFunction, &missing);
  bind(lib, "hipModuleLaunchKernel", &api->hipModuleLaunchKernel, &missing);
  bind(lib, "hipModuleOccupancyMaxActiveBlocksPerMultiprocessor",
       &api->hipModuleOccupancyMaxActiveBlocksPerMultiprocessor, &missing);
  bind(lib, "hipStreamCreate", &api->hipStreamCreate, &missing);
  bind(lib, "hipStreamDestroy", &api->hipStreamDestroy, &missing);
  bind(lib, "hipStreamSynchronize", &api->hipStreamSynchronize, &missing);
  bind(lib, "hipMalloc", &api->hipMalloc, &missing);
  bind(lib, "hipFree", &api->hipFree, &missing);
  bind(lib, "hipMemcpyHtoD", &api->hipMemcpyHtoD, &missing);
  bind(lib, "hipMemcpyDtoH", &api->hipMemcpyDtoH, &missing);
  bind(lib, "hipMemsetD8", &api->hipMemsetD8, &missing);
  bind(lib, "hipGetErrorName", &api->hipGetErrorName, &missing);
  bind(lib, "hipGetErrorString", &api->hipGetErrorString, &missing);
  if (!missing.empty())
    return fail(fmt::format("{} is no usable HIP runtime: it lacks {}", api->library_name, missing));
  return std::shared_ptr<const RuntimeApi>(std::move(api));
}

Result<const Target*, std::string> target_for_arch_name(const std::string& gcn_arch_name) {
  // "gfx942:sramecc+:xnack-": the processor, then target features.
  const std::string processor = gcn_arch_name.substr(0, gcn_arch_name.find(':'));
  const std::optional<ArchName> parsed = parse_arch_name(processor);
  if (!parsed || parsed->vendor != Vendor::hip)
    return fail(fmt::format("the HIP device reports architecture '{}', which is no AMD GPU "
                            "architecture name; attnjit builds for {}",
                            gcn_arch_name, target_names()));
  if (const Target* target = device_target(Vendor::hip, parsed->capability)) return target;
  return fail(fmt::format("no target runs on {} ({}); attnjit builds for {}", processor,
                          gcn_arch_name, target_names()));
}

// ----------------------------------------------------------------------------- Driver

Result<std::shared_ptr<Driver>, std::string> Driver::open_with(std::shared_ptr<const RuntimeApi> api,
                                                               int ordinal) {
  int count = 0;
  if (hipError_t rc = api->hipGetDeviceCount(&count); rc != kSuccess)
    return fail(fmt::format("no HIP device: hipGetDeviceCount failed: {}{}", api->describe(rc),
                            kernel_driver_note()));
  if (count == 0) return fail("no HIP device" + kernel_driver_note());
  if (ordinal < 0 || ordinal >= count)
    return fail(fmt::format("HIP device {} requested, but this machine has {} (0..{})", ordinal,
                            count, count - 1));
  hipDevice_t device = 0;
  if (hipError_t rc = api->hipDeviceGet(&device, ordinal); rc != kSuccess)
    return fail(fmt::format("hipDeviceGet({}) failed: {}", ordinal, api->describe(rc)));
  std::vector<char> properties(kPropertiesBytes, 0);
  if (hipError_t rc = api->hipGetDeviceProperties(properties.data(), device); rc != kSuccess)
    return fail(fmt::format("reading the properties of HIP device {} failed: {}", ordinal,
                            api->describe(rc)));
  const char* arch_field = properties.data() + kGcnArchNameOffset;
  std::string gcn_arch_name(arch_field, strnlen(arch_field, kGcnArchNameBytes));
  char name[256] = {};
  if (hipError_t rc = api->hipDeviceGetName(name, sizeof(name) - 1, device); rc != kSuccess)
    return fail(fmt::format("reading the name of HIP device {} failed: {}", ordinal,
                            api->describe(rc)));
  if (hipError_t rc = api->hipSetDevice(device); rc != kSuccess)
    return fail(fmt::format("selecting HIP device {} failed: {}", ordinal, api->describe(rc)));
  return std::make_shared<Driver>(std::move(api), device, std::move(gcn_arch_name), name);
}

Result<std::shared_ptr<Driver>, std::string> Driver::open(int ordinal) {
  // One Driver per ordinal per process, as cuda::Driver::open.
  static std::mutex mutex;
  static std::map<int, Result<std::shared_ptr<Driver>, std::string>> opened;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = opened.find(ordinal);
  if (found != opened.end()) return found->second;
  auto api = initialized_runtime();
  if (!api) return opened.emplace(ordinal, fail(api.error())).first->second;
  return opened.emplace(ordinal, open_with(*api, ordinal)).first->second;
}

Driver::Driver(std::shared_ptr<const RuntimeApi> api, hipDevice_t device, std::string gcn_arch_name,
               std::string device_name)
    : api_(std::move(api)),
      device_(device),
      gcn_arch_name_(std::move(gcn_arch_name)),
      device_name_(std::move(device_name)) {}

Result<const Target*, std::string> Driver::target() const {
  auto target = target_for_arch_name(gcn_arch_name_);
  if (!target) return fail(device_name_ + ": " + target.error());
  return target;
}

int Driver::attribute(DeviceAttribute a) const {
  int value = 0;
  check(api_->hipDeviceGetAttribute(&value, a, device_),
        fmt::format("reading device attribute {}", static_cast<int>(a)).c_str());
  return value;
}

void Driver::make_current() const { check(api_->hipSetDevice(device_), "selecting the device"); }

void Driver::check(hipError_t rc, const char* what) const {
  if (rc != kSuccess)
    throw std::runtime_error(fmt::format("HIP runtime: {} failed: {}", what, api_->describe(rc)));
}

// ----------------------------------------------------------------------- LoadedKernel

Result<std::unique_ptr<LoadedKernel>, std::string> LoadedKernel::load(std::shared_ptr<Driver> driver,
                                                                      const std::string& hsaco,
                                                                      const std::string& entry) {
  const RuntimeApi& api = driver->api();
  try {
    driver->make_current();  // a module belongs to the device current at load time
  } catch (const std::exception& e) {
    return fail(std::string(e.what()));
  }
  hipModule_t module = nullptr;
  if (hipError_t rc = api.hipModuleLoadData(&module, hsaco.data()); rc != kSuccess)
    return fail(fmt::format("loading the HSACO module of {} on {} failed: {}", entry,
                            driver->gcn_arch_name(), api.describe(rc)));
  hipFunction_t function = nullptr;
  if (hipError_t rc = api.hipModuleGetFunction(&function, module, entry.c_str()); rc != kSuccess) {
    api.hipModuleUnload(module);
    return fail(fmt::format("kernel '{}' not found in its module: {}", entry, api.describe(rc)));
  }
  int max_shared_bytes = 0;
  if (hipError_t rc = api.hipDeviceGetAttribute(&max_shared_bytes, kMaxSharedMemoryPerBlock,
                                                driver->device());
      rc != kSuccess) {
    api.hipModuleUnload(module);
    return fail(fmt::format("reading the LDS limit of {} failed: {}", driver->gcn_arch_name(),
                            api.describe(rc)));
  }
  return std::unique_ptr<LoadedKernel>(
      new LoadedKernel(std::move(driver), module, function, entry, max_shared_bytes));
}

LoadedKernel::LoadedKernel(std::shared_ptr<Driver> d, hipModule_t m, hipFunction_t f, std::string entry,
                           int max_shared_bytes)
    : driver_(std::move(d)),
      module_(m),
      function_(f),
      entry_(std::move(entry)),
      max_shared_bytes_(max_shared_bytes) {}

LoadedKernel::~LoadedKernel() {
  if (module_) driver_->api().hipModuleUnload(module_);
}

void LoadedKernel::launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
                          unsigned shared_bytes, hipStream_t stream, const void* params,
                          size_t params_size) const {
  if (!params || params_size == 0)
    throw std::invalid_argument("launching " + entry_ + ": empty parameter block");
  check_shared_bytes(shared_bytes);
  driver_->make_current();
  // One by-value struct parameter: its address is the kernel's single parameter, and
  // the runtime copies as many bytes as the code object's metadata says it takes.
  void* kernel_params[] = {const_cast<void*>(params)};
  const hipError_t rc = driver_->api().hipModuleLaunchKernel(
      function_, grid_x, grid_y, grid_z, block_x, 1, 1, shared_bytes, stream, kernel_params, nullptr);
  if (rc != kSuccess)
    driver_->check(rc, fmt::format("launching {} (grid {}x{}x{}, block {}, {} bytes LDS)", entry_,
                                   grid_x, grid_y, grid_z, block_x, shared_bytes)
                           .c_str());
}

// Dynamic LDS needs no opt-in on AMD (CUDA's above 48 KiB does): any amount up to the
// device's limit launches. Beyond it the launch would fail with an unspecific error, so
// it is refused here naming the numbers.
void LoadedKernel::check_shared_bytes(unsigned shared_bytes) const {
  if (max_shared_bytes_ > 0 && shared_bytes > static_cast<unsigned>(max_shared_bytes_))
    throw std::runtime_error(fmt::format("HIP runtime: {} asks for {} bytes of dynamic LDS; {} "
                                         "allows {} per block",
                                         entry_, shared_bytes, driver_->gcn_arch_name(),
                                         max_shared_bytes_));
}

int LoadedKernel::blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const {
  check_shared_bytes(shared_bytes);
  driver_->make_current();
  int blocks = 0;
  driver_->check(driver_->api().hipModuleOccupancyMaxActiveBlocksPerMultiprocessor(
                     &blocks, function_, static_cast<int>(block_threads), shared_bytes),
                 ("reading the occupancy of " + entry_).c_str());
  return blocks;
}

// ---------------------------------------------------------------------------- Stream

Stream::Stream(std::shared_ptr<Driver> driver) : driver_(std::move(driver)) {
  driver_->make_current();
  driver_->check(driver_->api().hipStreamCreate(&stream_), "creating a stream");
}

Stream::~Stream() {
  if (stream_) driver_->api().hipStreamDestroy(stream_);
}

void Stream::synchronize() const {
  driver_->check(driver_->api().hipStreamSynchronize(stream_), "synchronizing a stream");
}

// ----------------------------------------------------------------------- DeviceBuffer

DeviceBuffer::DeviceBuffer(std::shared_ptr<Driver> driver, size_t bytes)
    : driver_(std::move(driver)), bytes_(bytes) {
  if (bytes_ == 0) return;  // an empty buffer needs no memory
  driver_->make_current();
  driver_->check(driver_->api().hipMalloc(&ptr_, bytes_),
                 fmt::format("allocating {} bytes of device memory", bytes_).c_str());
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) driver_->api().hipFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : driver_(std::move(other.driver_)),
      ptr_(std::exchange(other.ptr_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) driver_->api().hipFree(ptr_);
    driver_ = std::move(other.driver_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  check_buffer_range(offset, bytes, bytes_, "upload of");
  if (bytes == 0) return;
  driver_->make_current();
  driver_->check(driver_->api().hipMemcpyHtoD(static_cast<char*>(ptr_) + offset,
                                              const_cast<void*>(host), bytes),
                 "copying host to device");
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  check_buffer_range(offset, bytes, bytes_, "download of");
  if (bytes == 0) return;
  driver_->make_current();
  driver_->check(driver_->api().hipMemcpyDtoH(host, static_cast<char*>(ptr_) + offset, bytes),
                 "copying device to host");
}

void DeviceBuffer::fill_bytes(unsigned char value) {
  if (bytes_ == 0) return;
  driver_->make_current();
  driver_->check(driver_->api().hipMemsetD8(ptr_, value, bytes_), "filling device memory");
}

void synchronize(const Driver& driver) {
  driver.make_current();
  driver.check(driver.api().hipDeviceSynchronize(), "synchronizing the device");
}

}  // namespace attnjit::hip
