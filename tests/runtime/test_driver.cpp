// The driver wrapper must load lazily and fail with a readable reason on machines
// without the NVIDIA driver (this CPU-only test suite runs on such machines). On a
// GPU host the same test checks the device queries instead.
#include <dlfcn.h>

#include <algorithm>

#include "catch.h"
#include "runtime/driver/cuda_driver.h"

namespace {
bool driver_library_present() {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) return false;
  dlclose(library);
  return true;
}
}  // namespace

TEST_CASE("Driver::open explains a missing driver instead of crashing", "[runtime][driver]") {
  auto opened = attnjit::cuda::Driver::open();
  if (!driver_library_present()) {
    REQUIRE_FALSE(opened.ok());
    INFO("error: " << opened.error());
    CHECK(opened.error().find("libcuda") != std::string::npos);
    CHECK(opened.error().find("no NVIDIA driver") != std::string::npos);
    // The failure is remembered, and asking again is just as safe.
    auto again = attnjit::cuda::Driver::open();
    REQUIRE_FALSE(again.ok());
    CHECK(again.error() == opened.error());
    return;
  }
  if (!opened.ok()) {
    // A driver without a usable device (containers without GPUs): still a clear text.
    INFO("error: " << opened.error());
    CHECK_FALSE(opened.error().empty());
    return;
  }
  const auto& driver = *opened.value();
  CHECK(driver.arch().rfind("sm_", 0) == 0);
  CHECK(driver.arch() == attnjit::cuda_arch_name(driver.capability()));
  // The target kernels are built for is one whose CUBIN this device runs (sm_90 on an
  // H200; a device no target serves says so).
  auto target = driver.target();
  INFO("device " << driver.arch() << ": " << (target.ok() ? "" : target.error()));
  if (target.ok()) {
    const auto runnable = driver.runnable_targets(attnjit::BinaryFormat::cubin);
    CHECK(std::find(runnable.begin(), runnable.end(), *target) != runnable.end());
    CHECK((*target)->runs_on(attnjit::Vendor::cuda, driver.capability(), attnjit::BinaryFormat::cubin));
    if (attnjit::find_target(driver.arch())) CHECK((*target)->name == driver.arch());
  } else {
    CHECK(target.error().find(driver.arch()) != std::string::npos);
  }
  CHECK_FALSE(driver.device_name().empty());
  CHECK(driver.attribute(attnjit::cuda::kMultiprocessorCount) > 0);
  CHECK(attnjit::cuda::Driver::open().value() == opened.value());  // one per process
}

TEST_CASE("Driver::open rejects a device ordinal that does not exist", "[runtime][driver]") {
  auto opened = attnjit::cuda::Driver::open(4096);
  REQUIRE_FALSE(opened.ok());
  CHECK_FALSE(opened.error().empty());
}
