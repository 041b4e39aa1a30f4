// The HIP runtime wrapper on machines without an AMD GPU (this suite runs on such
// machines; ROCm's libamdhip64 may be installed without /dev/kfd): every way of not
// having a GPU is an error value naming what is missing, never a crash. The device
// name -> target mapping is checked on the names HIP reports.
#include <dlfcn.h>
#include <unistd.h>

#include <string>

#include "catch.h"
#include "runtime/api/engine.h"
#include "runtime/driver/gpu_device.h"
#include "runtime/driver/hip_driver.h"

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The name of the HIP runtime library this machine has, or "".
std::string installed_runtime() {
  for (const std::string& name : attnjit::hip::runtime_library_names()) {
    if (void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      dlclose(library);
      return name;
    }
  }
  return "";
}

bool amd_kernel_driver_present() { return access("/dev/kfd", F_OK) == 0; }

}  // namespace

TEST_CASE("hip::load_runtime names the libraries it could not open", "[runtime][hip_driver]") {
  auto loaded = attnjit::hip::load_runtime({"libattnjit-no-such-hip.so.1", "libattnjit-nor-this.so"});
  REQUIRE_FALSE(loaded.ok());
  INFO(loaded.error());
  CHECK(contains(loaded.error(), "the HIP runtime is not installed"));
  CHECK(contains(loaded.error(), "libattnjit-no-such-hip.so.1, libattnjit-nor-this.so"));
}

TEST_CASE("hip::load_runtime refuses a library that is no HIP runtime", "[runtime][hip_driver]") {
  // The C math library opens on every Linux machine and has none of HIP's entry points.
  auto loaded = attnjit::hip::load_runtime({"libm.so.6"});
  REQUIRE_FALSE(loaded.ok());
  INFO(loaded.error());
  CHECK(contains(loaded.error(), "libm.so.6 is no usable HIP runtime: it lacks hipInit, "));
  CHECK(contains(loaded.error(), "hipModuleLaunchKernel"));
}

TEST_CASE("hip::Driver::open without an AMD GPU is an error value", "[runtime][hip_driver]") {
  const std::string library = installed_runtime();
  auto opened = attnjit::hip::Driver::open();
  if (opened.ok()) {
    // An AMD GPU host: the device maps to a target or says why not.
    const attnjit::hip::Driver& driver = **opened;
    INFO(driver.gcn_arch_name());
    CHECK(driver.gcn_arch_name().rfind("gfx", 0) == 0);
    auto target = driver.target();
    if (target.ok()) CHECK((*target)->vendor == attnjit::Vendor::hip);
    CHECK(driver.attribute(attnjit::hip::kWarpSize) > 0);
    return;
  }
  INFO(opened.error());
  if (library.empty()) {
    CHECK(contains(opened.error(), "the HIP runtime is not installed"));
  } else if (!amd_kernel_driver_present()) {
    // ROCm's runtime is installed but the machine has no AMD GPU: hipInit fails cleanly.
    CHECK(contains(opened.error(), "hipInit failed: hip"));
    CHECK(contains(opened.error(), "no /dev/kfd"));
  } else {
    CHECK_FALSE(opened.error().empty());
  }
  // The failure is remembered, and asking again is just as safe.
  auto again = attnjit::hip::Driver::open();
  REQUIRE_FALSE(again.ok());
  CHECK(again.error() == opened.error());
}

TEST_CASE("hip::Driver::open_with a runtime that finds no device says so",
          "[runtime][hip_driver]") {
  if (installed_runtime().empty() || amd_kernel_driver_present()) {
    SUCCEED("needs ROCm's runtime installed on a machine without an AMD GPU");
    return;
  }
  auto runtime = attnjit::hip::load_runtime(attnjit::hip::runtime_library_names());
  REQUIRE(runtime.ok());
  // Without hipInit (open_with does not call it): hipGetDeviceCount reports no device.
  auto opened = attnjit::hip::Driver::open_with(*runtime, 0);
  REQUIRE_FALSE(opened.ok());
  INFO(opened.error());
  CHECK(contains(opened.error(), "no HIP device"));
  CHECK(contains(opened.error(), "no /dev/kfd"));
}

TEST_CASE("HIP device architecture names map to targets through the table",
          "[runtime][hip_driver]") {
  using attnjit::hip::target_for_arch_name;
  // With target features, as hipDeviceProp_t::gcnArchName reports them.
  auto mi300 = target_for_arch_name("gfx942:sramecc+:xnack-");
  REQUIRE(mi300.ok());
  CHECK((*mi300)->name == "gfx942");
  auto mi200 = target_for_arch_name("gfx90a");
  REQUIRE(mi200.ok());
  CHECK((*mi200)->name == "gfx90a");
  auto mi200_xnack = target_for_arch_name("gfx90a:xnack+");
  REQUIRE(mi200_xnack.ok());
  CHECK((*mi200_xnack)->name == "gfx90a");

  // AMD processors no target is for: named, with the targets there are.
  for (const char* device : {"gfx1100", "gfx908:sramecc+:xnack-", "gfx940", "gfx999"}) {
    auto target = target_for_arch_name(device);
    REQUIRE_FALSE(target.ok());
    INFO(target.error());
    CHECK(contains(target.error(), "no target runs on "));
    CHECK(contains(target.error(), std::string(device).substr(0, std::string(device).find(':'))));
    CHECK(contains(target.error(), "gfx90a, gfx942"));
  }
  // Not an AMD architecture at all (a layout change would read such bytes): refused.
  for (const char* device : {"", "sm_90", "gfx", "gfx9", "GFX942", "gfx942garbage", ":gfx942"}) {
    auto target = target_for_arch_name(device);
    REQUIRE_FALSE(target.ok());
    INFO(target.error());
    CHECK(contains(target.error(), "which is no AMD GPU architecture name"));
  }
}

TEST_CASE("find_gpu tries CUDA, then HIP, and names both reasons", "[runtime][hip_driver]") {
  auto gpu = attnjit::find_gpu();
  std::string why;
  const bool available = attnjit::Engine::gpu_available(&why);
  if (gpu.ok()) {
    // A GPU host: the engine launches on a device of either vendor.
    CHECK(available);
    CHECK(why.empty());
    attnjit::Engine engine;
    CHECK(engine.gpu()->vendor() == gpu->vendor);
    if (gpu->vendor == attnjit::Vendor::hip)
      CHECK_THROWS_WITH(engine.driver(), Catch::Matchers::Contains("is a HIP device"));
    return;
  }
  INFO(gpu.error());
  CHECK(gpu.error().rfind("no usable GPU: CUDA: ", 0) == 0);
  CHECK(contains(gpu.error(), "; HIP: "));
  CHECK_FALSE(available);
  CHECK(why == gpu.error());
  attnjit::Engine engine;
  CHECK_THROWS_WITH(engine.device_target(), Catch::Matchers::Contains("; HIP: "));
  CHECK_THROWS_WITH(engine.driver(), Catch::Matchers::Contains("no usable GPU: CUDA: "));
  CHECK_THROWS_WITH(engine.gpu(), Catch::Matchers::Contains("no usable GPU: CUDA: "));
}
