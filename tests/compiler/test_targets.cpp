// The target table: every architecture the project names is a row of it, sm_90 and
// sm_90a are different targets, shared-memory limits, and which targets a device runs.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/spec/kernel_spec.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/support/embedded_files.h"
#include "compiler/target/target.h"

namespace {

using namespace attnjit;
namespace fs = std::filesystem;

std::vector<std::string> names(const std::vector<const Target*>& targets) {
  std::vector<std::string> out;
  for (const Target* t : targets) out.emplace_back(t->name);
  return out;
}

std::string device_target_name(ComputeCapability cc) {
  const Target* t = device_target(Vendor::cuda, cc);
  return t ? std::string(t->name) : "none";
}

}  // namespace

TEST_CASE("the target table lists the CUDA targets once each", "[targets]") {
  CHECK(target_names() == "sm_80, sm_86, sm_89, sm_90, sm_90a, gfx90a, gfx942");
  std::set<std::string_view> seen;
  int cuda_rows = 0;
  for (const Target& t : all_targets()) {
    INFO(t.name);
    CHECK(seen.insert(t.name).second);
    CHECK(find_target(t.name) == &t);
    if (t.vendor != Vendor::cuda) continue;
    ++cuda_rows;
    CHECK(t.default_format() == BinaryFormat::cubin);
    CHECK(t.wave_size == 32);
    // The CUBIN option names the target itself; PTX its virtual architecture.
    REQUIRE(t.binary(BinaryFormat::cubin) != nullptr);
    REQUIRE(t.binary(BinaryFormat::ptx) != nullptr);
    CHECK(t.binary(BinaryFormat::cubin)->arch_option == t.name);
    CHECK(t.binary(BinaryFormat::ptx)->arch_option == "compute_" + std::string(t.name.substr(3)));
    CHECK(t.binary(BinaryFormat::hsaco) == nullptr);
    // Every kind has its mainloop, with kernels, on every CUDA target today.
    for (KernelKind k : {KernelKind::prefill, KernelKind::paged, KernelKind::merge,
                         KernelKind::cache_write}) {
      CHECK(t.has_mainloop(kernel_mainloop(k, t)));
      CHECK(mainloop_has_kernels(t.vendor, kernel_mainloop(k, t)));
    }
    CHECK_FALSE(t.has_mainloop(Mainloop::mfma));
    // The name is the device spelling of the capability, plus "a" when arch-specific.
    CHECK(cuda_arch_name(t.capability) + (t.arch_specific ? "a" : "") == t.name);
    CHECK(vendor_of_arch(t.name) == Vendor::cuda);
  }
  CHECK(cuda_rows == 5);
  CHECK(find_target("sm_75") == nullptr);
  CHECK(find_target("sm_87") == nullptr);
  CHECK(find_target("gfx908") == nullptr);
  CHECK(find_target("") == nullptr);
  CHECK(kernel_mainloop(KernelKind::prefill, *find_target("sm_90")) == Mainloop::mma_sync);
  CHECK(kernel_mainloop(KernelKind::cache_write, *find_target("sm_90")) == Mainloop::simt);
}

TEST_CASE("the AMD rows: HSACO, 64 KiB of LDS, wave64, MFMA without kernels yet", "[targets]") {
  const std::map<std::string, ComputeCapability> versions = {{"gfx90a", {9, 0, 10}},
                                                             {"gfx942", {9, 4, 2}}};
  int amd_rows = 0;
  for (const Target& t : all_targets()) {
    if (t.vendor != Vendor::hip) continue;
    INFO(t.name);
    ++amd_rows;
    CHECK(t.capability == versions.at(std::string(t.name)));
    CHECK(amd_arch_name(t.capability) == t.name);
    CHECK_FALSE(t.arch_specific);
    CHECK(t.binaries.size() == 1);
    CHECK(t.default_format() == BinaryFormat::hsaco);
    REQUIRE(t.binary(BinaryFormat::hsaco) != nullptr);
    CHECK(t.binary(BinaryFormat::hsaco)->arch_option == t.name);
    CHECK(t.binary(BinaryFormat::cubin) == nullptr);
    CHECK(t.binary(BinaryFormat::ptx) == nullptr);
    CHECK(t.max_shared_bytes == 65536);
    CHECK(t.wave_size == 64);
    CHECK(t.mainloops == std::vector<Mainloop>{Mainloop::simt, Mainloop::mfma});
    CHECK(kernel_mainloop(KernelKind::prefill, t) == Mainloop::mfma);
    CHECK(kernel_mainloop(KernelKind::paged, t) == Mainloop::mfma);
    CHECK(kernel_mainloop(KernelKind::merge, t) == Mainloop::simt);
    // HIP has kernels on both its mainloops (simt: merge, cache_write; mfma: prefill).
    for (Mainloop m : t.mainloops) CHECK(mainloop_has_kernels(Vendor::hip, m));
    CHECK(vendor_of_arch(t.name) == Vendor::hip);
    // An HSACO runs on exactly its processor.
    CHECK(t.runs_on(Vendor::hip, t.capability, BinaryFormat::hsaco));
    CHECK_FALSE(t.runs_on(Vendor::cuda, t.capability, BinaryFormat::hsaco));
    CHECK_FALSE(t.runs_on(Vendor::hip, t.capability, BinaryFormat::cubin));
    CHECK(device_target(Vendor::hip, t.capability) == &t);
  }
  CHECK(amd_rows == 2);
  CHECK(mainloop_name(Mainloop::mfma) == std::string("mfma"));
  CHECK(device_target(Vendor::hip, {9, 0, 8}) == nullptr);   // gfx908
  CHECK(device_target(Vendor::hip, {9, 4, 0}) == nullptr);   // gfx940
  CHECK(device_target(Vendor::hip, {11, 0, 0}) == nullptr);  // gfx1100
  CHECK(runnable_targets(Vendor::hip, {9, 4, 2}, BinaryFormat::hsaco).size() == 1);
  // A name the table lacks still says its vendor when it parses.
  CHECK(vendor_of_arch("gfx999") == Vendor::hip);
  CHECK(vendor_of_arch("sm_87") == Vendor::cuda);
}

TEST_CASE("sm_90a is a target of its own", "[targets]") {
  const Target* plain = find_target("sm_90");
  const Target* specific = find_target("sm_90a");
  REQUIRE(plain != nullptr);
  REQUIRE(specific != nullptr);
  CHECK(plain != specific);
  CHECK(plain->capability == specific->capability);
  CHECK_FALSE(plain->arch_specific);
  CHECK(specific->arch_specific);
  CHECK(specific->binary(BinaryFormat::cubin)->arch_option == "sm_90a");
  CHECK(specific->binary(BinaryFormat::ptx)->arch_option == "compute_90a");
  CHECK(vendor_of_arch("sm_90a") == Vendor::cuda);
  // An arch-specific binary runs on exactly its capability, in either format.
  for (BinaryFormat f : {BinaryFormat::cubin, BinaryFormat::ptx}) {
    CHECK(specific->runs_on(Vendor::cuda, {9, 0}, f));
    CHECK_FALSE(specific->runs_on(Vendor::cuda, {9, 1}, f));
    CHECK_FALSE(specific->runs_on(Vendor::cuda, {10, 0}, f));
  }
  CHECK(plain->runs_on(Vendor::cuda, {10, 0}, BinaryFormat::ptx));
  // A spec for one names its target in the readable key: the two never share an entry.
  KernelSpec a, b;
  a.arch = "sm_90";
  b.arch = "sm_90a";
  CHECK(a.uri() != b.uri());
}

TEST_CASE("shared-memory limits come from the table", "[targets][config]") {
  const std::map<std::string, int> expected = {
      {"sm_80", 166912}, {"sm_86", 101376}, {"sm_89", 101376}, {"sm_90", 232448},
      {"sm_90a", 232448}, {"gfx90a", 65536}, {"gfx942", 65536}};
  for (const Target& t : all_targets()) {
    INFO(t.name);
    CHECK(t.max_shared_bytes == expected.at(std::string(t.name)));
    CHECK(shared_memory_limit(std::string(t.name)) == t.max_shared_bytes);
  }
  // An arch the table lacks gets the smallest limit of its vendor, never a larger one
  // (and never another vendor's: AMD's 64 KiB says nothing about sm_87).
  CHECK(shared_memory_limit("sm_87") == 101376);
  CHECK(shared_memory_limit("gfx908") == 65536);
}

TEST_CASE("a device runs the targets its capability allows", "[targets]") {
  using V = std::vector<std::string>;
  // CUBIN: same major, the device's minor at least the target's.
  CHECK(names(runnable_targets(Vendor::cuda, {9, 0}, BinaryFormat::cubin)) == V{"sm_90", "sm_90a"});
  CHECK(names(runnable_targets(Vendor::cuda, {8, 6}, BinaryFormat::cubin)) == V{"sm_80", "sm_86"});
  CHECK(names(runnable_targets(Vendor::cuda, {8, 7}, BinaryFormat::cubin)) == V{"sm_80", "sm_86"});
  CHECK(names(runnable_targets(Vendor::cuda, {8, 9}, BinaryFormat::cubin)) ==
        V{"sm_80", "sm_86", "sm_89"});
  CHECK(names(runnable_targets(Vendor::cuda, {10, 0}, BinaryFormat::cubin)).empty());
  CHECK(names(runnable_targets(Vendor::cuda, {7, 5}, BinaryFormat::cubin)).empty());
  // PTX: the driver compiles any older target's PTX; arch-specific PTX only for itself.
  CHECK(names(runnable_targets(Vendor::cuda, {9, 0}, BinaryFormat::ptx)) ==
        V{"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"});
  CHECK(names(runnable_targets(Vendor::cuda, {10, 0}, BinaryFormat::ptx)) ==
        V{"sm_80", "sm_86", "sm_89", "sm_90"});
  CHECK(names(runnable_targets(Vendor::cuda, {8, 0}, BinaryFormat::ptx)) == V{"sm_80"});
  // Another vendor's device runs none of them.
  CHECK(runnable_targets(Vendor::hip, {9, 0}, BinaryFormat::cubin).empty());
  CHECK(runnable_targets(Vendor::cuda, {9, 0}, BinaryFormat::hsaco).empty());

  // What the engine builds for a device: the newest plain target whose CUBIN it runs.
  CHECK(device_target_name({8, 0}) == "sm_80");
  CHECK(device_target_name({8, 6}) == "sm_86");
  CHECK(device_target_name({8, 7}) == "sm_86");
  CHECK(device_target_name({8, 9}) == "sm_89");
  CHECK(device_target_name({9, 0}) == "sm_90");
  CHECK(device_target_name({7, 5}) == "none");
  CHECK(device_target_name({10, 0}) == "none");
  CHECK(device_target(Vendor::hip, {9, 0}) == nullptr);
}

TEST_CASE("architecture names parse to a capability", "[targets]") {
  auto parsed = [](const char* name) {
    auto arch = parse_arch_name(name);
    return arch ? fmt::format("{}.{}{}", arch->capability.major, arch->capability.minor,
                              arch->arch_specific ? "a" : "")
                : std::string("invalid");
  };
  CHECK(parsed("sm_80") == "8.0");
  CHECK(parsed("sm_87") == "8.7");
  CHECK(parsed("sm_90a") == "9.0a");
  CHECK(parsed("sm_100") == "10.0");
  CHECK(parsed("sm_120a") == "12.0a");
  for (const char* bad : {"", "sm_", "sm_9", "sm_1000", "sm_9x", "sm_90aa", "SM_90", "sm90",
                          "compute_90", "sm_+9", "sm_ 90"})
    CHECK(parsed(bad) == "invalid");
  CHECK(cuda_arch_name({8, 7}) == "sm_87");
  CHECK(cuda_arch_name({10, 0}) == "sm_100");
}

TEST_CASE("AMD processor names parse to a GFX version", "[targets]") {
  auto parsed = [](const char* name) {
    auto arch = parse_arch_name(name);
    if (!arch) return std::string("invalid");
    CHECK(arch->vendor == Vendor::hip);
    CHECK_FALSE(arch->arch_specific);
    return fmt::format("{}.{}.{}", arch->capability.major, arch->capability.minor,
                       arch->capability.stepping);
  };
  CHECK(parsed("gfx90a") == "9.0.10");
  CHECK(parsed("gfx942") == "9.4.2");
  CHECK(parsed("gfx908") == "9.0.8");
  CHECK(parsed("gfx90c") == "9.0.12");
  CHECK(parsed("gfx1100") == "11.0.0");
  CHECK(parsed("gfx1201") == "12.0.1");
  // The spelling is checked, not AMD's product list: gfx999 parses and is no target,
  // so the engine and the CLI refuse it naming the targets there are.
  CHECK(parsed("gfx999") == "9.9.9");
  CHECK(find_target("gfx999") == nullptr);
  for (const char* bad : {"gfx", "gfx9", "gfx90", "gfx09a", "gfx90A", "gfx9a0", "gfx90g",
                          "gfx10000", "GFX942", "gfx942:xnack+", "gfx 942", "gfx-942", "gfx94+"})
    CHECK(parsed(bad) == "invalid");
  CHECK(amd_arch_name({9, 0, 10}) == "gfx90a");
  CHECK(amd_arch_name({11, 0, 0}) == "gfx1100");
}

TEST_CASE("every config file and its arch field name a target", "[targets][config]") {
  int configs = 0;
  for (const EmbeddedFile& f : embedded_files()) {
    const std::string_view prefix = "configs/", suffix = ".json";
    if (!f.name.starts_with(prefix) || !f.name.ends_with(suffix) ||
        f.name.find('/', prefix.size()) != std::string_view::npos)
      continue;
    const std::string name(f.name.substr(prefix.size(), f.name.size() - prefix.size() - suffix.size()));
    INFO(f.name);
    CHECK(find_target(name) != nullptr);
    auto table = TuningTable::parse(std::string(f.text), name);
    REQUIRE(table.ok());
    CHECK(table->arch() == name);
    ++configs;
  }
  CHECK(configs >= 4);
}

// Any sm_NN or compute_NN in the project's code, configs and templates is a target, or
// one of the device names below that text mentions on purpose as lacking a row.
TEST_CASE("every architecture the sources name is in the table", "[targets]") {
  const std::map<std::string, std::string> not_targets = {
      {"sm_75", "below the sm_80 floor"},
      {"sm_87", "a device served by sm_86 binaries"},
      {"sm_100", "a newer device no target runs on yet"},
  };
  std::set<std::string> option_spellings;
  for (const Target& t : all_targets())
    for (const TargetBinary& b : t.binaries) option_spellings.emplace(b.arch_option);

  const std::regex arch_token(R"(\b(sm|compute)_[0-9]+[a-z]?\b)");
  const fs::path root = ATTNJIT_SOURCE_DIR;
  int files = 0;
  std::set<std::string> unknown;
  for (const char* dir : {"compiler", "runtime", "tools", "configs", "templates"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = entry.path().extension().string();
      if (ext != ".cpp" && ext != ".h" && ext != ".cuh" && ext != ".json" && ext != ".attn") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string text{std::istreambuf_iterator<char>(in), {}};
      ++files;
      for (std::sregex_iterator it(text.begin(), text.end(), arch_token), end; it != end; ++it) {
        const std::string token = it->str();
        if (find_target(token) || option_spellings.count(token) || not_targets.count(token)) continue;
        unknown.insert(token + " in " + fs::relative(entry.path(), root).string());
      }
    }
  }
  CHECK(files > 50);
  for (const std::string& u : unknown) FAIL_CHECK("not a target: " << u);
}
