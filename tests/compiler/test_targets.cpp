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
  CHECK(target_names() == "sm_80, sm_86, sm_89, sm_90, sm_90a");
  std::set<std::string_view> seen;
  for (const Target& t : all_targets()) {
    INFO(t.name);
    CHECK(seen.insert(t.name).second);
    CHECK(find_target(t.name) == &t);
    CHECK(t.vendor == Vendor::cuda);
    CHECK(t.default_format() == BinaryFormat::cubin);
    // The CUBIN option names the target itself; PTX its virtual architecture.
    REQUIRE(t.binary(BinaryFormat::cubin) != nullptr);
    REQUIRE(t.binary(BinaryFormat::ptx) != nullptr);
    CHECK(t.binary(BinaryFormat::cubin)->arch_option == t.name);
    CHECK(t.binary(BinaryFormat::ptx)->arch_option == "compute_" + std::string(t.name.substr(3)));
    CHECK(t.binary(BinaryFormat::hsaco) == nullptr);
    // Every kind has its mainloop on every target today.
    for (KernelKind k : {KernelKind::prefill, KernelKind::paged, KernelKind::merge,
                         KernelKind::cache_write})
      CHECK(t.has_mainloop(kernel_mainloop(k)));
    // The name is the device spelling of the capability, plus "a" when arch-specific.
    CHECK(cuda_arch_name(t.capability) + (t.arch_specific ? "a" : "") == t.name);
  }
  CHECK(find_target("sm_75") == nullptr);
  CHECK(find_target("sm_87") == nullptr);
  CHECK(find_target("gfx942") == nullptr);
  CHECK(find_target("") == nullptr);
  CHECK(kernel_mainloop(KernelKind::prefill) == Mainloop::mma_sync);
  CHECK(kernel_mainloop(KernelKind::cache_write) == Mainloop::simt);
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
      {"sm_80", 166912}, {"sm_86", 101376}, {"sm_89", 101376}, {"sm_90", 232448}, {"sm_90a", 232448}};
  for (const Target& t : all_targets()) {
    INFO(t.name);
    CHECK(t.max_shared_bytes == expected.at(std::string(t.name)));
    CHECK(shared_memory_limit(std::string(t.name)) == t.max_shared_bytes);
  }
  // An arch the table lacks gets the smallest limit, never a larger one.
  CHECK(shared_memory_limit("sm_87") == 101376);
  CHECK(shared_memory_limit("gfx90a") == 101376);
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
                          "compute_90", "gfx90a", "sm_+9", "sm_ 90"})
    CHECK(parsed(bad) == "invalid");
  CHECK(cuda_arch_name({8, 7}) == "sm_87");
  CHECK(cuda_arch_name({10, 0}) == "sm_100");
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
