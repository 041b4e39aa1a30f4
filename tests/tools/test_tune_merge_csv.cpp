// Writing tune results: the JSON merge (untuned keys kept, _meta, the device refusal)
// and the CSV.
#include <nlohmann/json.hpp>

#include "catch.h"
#include "compiler/support/embedded_files.h"
#include "temp_dir.h"
#include "tools/tune/base_config.h"
#include "tools/tune/config_merge.h"
#include "tools/tune/plan.h"
#include "tools/tune/results_csv.h"
#include "tune_test_support.h"

using namespace attnjit;
using namespace attnjit::tune;

namespace {

std::string builtin_text(const std::string& arch) {
  auto text = embedded_file("configs/" + arch + ".json");
  REQUIRE(text.has_value());
  return std::string(*text);
}

TuningTable load(const std::string& text) {
  auto table = TuningTable::parse(text, "merged.json");
  INFO(text);
  REQUIRE(table.ok());
  return *table;
}

Meta meta_on(const std::string& device) {
  Meta m;
  m.attnjit_version = "0.1.0";
  m.device = device;
  m.sm_count = 132;
  m.driver_version = "13.0";
  m.compiler = "NVRTC 13.0";
  m.date = "2025-01-02T03:04:05Z";
  m.tuned = {"prefill bucket 2 (head_dim <= 64): 128x64 w4 s2 -> 64x64 w4 s3"};
  return m;
}

Result<std::string, std::string> merge(const std::string& base, const std::vector<TunedEntry>& e,
                                       const std::string& device, bool is_file, bool force) {
  return merge_config(base, "base.json", "sm_90", e, meta_on(device), load(builtin_text("sm_90")),
                      is_file, force);
}

// Every (kind, feature) combination a config can tell apart, for "nothing else changed".
struct Probe {
  const char* kind;
  int head_dim;
  bool causal, window, score, kv8;
};
std::vector<Probe> probes() {
  std::vector<Probe> out;
  for (const char* kind : {"prefill", "paged", "paged_decode"})
    for (int d : {32, 64, 96, 128, 160, 256})
      for (int bits = 0; bits < 16; ++bits)
        out.push_back({kind, d, (bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0});
  return out;
}
std::optional<TileConfig> pick(const TuningTable& t, const Probe& p) {
  return t.pick(p.kind, p.head_dim, p.causal, p.window, p.score, p.kv8);
}

const TileConfig kTuned{64, 64, 4, 3, 0, 2};

}  // namespace

TEST_CASE("the loader accepts a _meta object and nothing else in its place", "[tune][config]") {
  const std::string with_meta =
      R"({"arch": "sm_90", "_meta": {"device": "X", "anything": [1, {"a": 2}]},
          "prefill": {"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}}})";
  CHECK(TuningTable::parse(with_meta, "t.json").ok());
  auto scalar = TuningTable::parse(
      R"({"arch": "sm_90", "_meta": 3, "prefill": {"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}}})",
      "t.json");
  REQUIRE_FALSE(scalar.ok());
  CHECK(scalar.error() == "t.json: _meta: expected an object, got number 3");
  // The shipped configs still load, with or without a _meta added.
  for (const char* arch : {"sm_80", "sm_86", "sm_89", "sm_90"}) {
    CHECK(TuningTable::embedded(arch).ok());
    auto merged = merge_config(builtin_text(arch), "b", arch, {}, meta_on("GPU"),
                               load(builtin_text(arch)), false, false);
    REQUIRE(merged.ok());
    CHECK(TuningTable::parse(*merged, "m").ok());
  }
}

TEST_CASE("pick_bucket names the entry pick uses", "[tune][config]") {
  const TuningTable t = load(builtin_text("sm_90"));
  CHECK(t.pick_bucket("prefill", 64, false) == 2);
  CHECK(t.pick_bucket("prefill", 128, true) == -1);
  CHECK(t.pick_bucket("prefill", 128, true, true) == 0);
  CHECK_FALSE(t.pick_bucket("merge", 64, false).has_value());
  for (const Probe& p : probes()) {
    const std::optional<int> b = t.pick_bucket(p.kind, p.head_dim, p.causal, p.window, p.score, p.kv8);
    REQUIRE(b.has_value());
    const KindTuning* kind = t.kind(p.kind);
    REQUIRE(kind != nullptr);
    CHECK(pick(t, p) == (*b < 0 ? kind->default_config : kind->buckets[*b].config));
  }
}

TEST_CASE("merging replaces the tuned bucket and keeps every other key", "[tune][config]") {
  const TuningTable before = load(builtin_text("sm_90"));
  TunedEntry e;
  e.kind = TuneKind::prefill;
  e.bucket = 2;
  e.conditions = before.kind("prefill")->buckets[2];
  e.tile = kTuned;
  auto merged = merge(builtin_text("sm_90"), {e}, "NVIDIA H200", false, false);
  REQUIRE(merged.ok());
  const TuningTable after = load(*merged);
  for (const Probe& p : probes()) {
    INFO(p.kind << " d" << p.head_dim << " " << p.causal << p.window << p.score << p.kv8);
    const bool tuned = std::string(p.kind) == "prefill" &&
                       before.pick_bucket(p.kind, p.head_dim, p.causal, p.window, p.score, p.kv8) == 2;
    CHECK(pick(after, p) == (tuned ? kTuned : pick(before, p)));
  }
  // The written JSON: the tuned config with its register cap, and _meta's fields.
  const auto json = nlohmann::json::parse(*merged);
  CHECK(json["prefill"]["buckets"][2]["config"] ==
        nlohmann::json::parse(R"({"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4, "num_stages": 3,
                                  "min_blocks_per_sm": 2})"));
  CHECK(json["prefill"]["buckets"][2]["head_dim_max"] == 64);
  const auto& meta = json["_meta"];
  CHECK(meta["device"] == "NVIDIA H200");
  CHECK(meta["sm_count"] == 132);
  CHECK(meta["attnjit_version"] == "0.1.0");
  CHECK(meta["driver_version"] == "13.0");
  CHECK(meta["compiler"] == "NVRTC 13.0");
  CHECK(meta["date"] == "2025-01-02T03:04:05Z");
  CHECK(meta["tuned"].size() == 1);
  // Every top-level key of the base is still there, in order, with _meta after arch.
  std::vector<std::string> keys;
  for (auto it = json.begin(); it != json.end(); ++it) keys.push_back(it.key());
  CHECK(keys.size() == 6);
  CHECK(json.contains("paged"));
  CHECK(json.contains("paged_decode"));
  CHECK(json.contains("split_cost"));
  CHECK(merged->rfind("{\n  \"arch\": \"sm_90\",\n  \"_meta\": {", 0) == 0);
  // The same merge twice writes the same bytes.
  CHECK(merge(builtin_text("sm_90"), {e}, "NVIDIA H200", false, false).value() == *merged);
}

TEST_CASE("a new bucket goes after the others and serves only its variants", "[tune][config]") {
  const TuningTable before = load(builtin_text("sm_90"));
  TunedEntry e;
  e.kind = TuneKind::prefill;
  e.bucket = -1;
  e.conditions = new_bucket_conditions(Features{128, true, false, false, false});
  e.tile = kTuned;
  auto merged = merge(builtin_text("sm_90"), {e}, "NVIDIA H200", false, false);
  REQUIRE(merged.ok());
  const TuningTable after = load(*merged);
  CHECK(after.kind("prefill")->buckets.size() == before.kind("prefill")->buckets.size() + 1);
  for (const Probe& p : probes()) {
    INFO(p.kind << " d" << p.head_dim << " " << p.causal << p.window << p.score << p.kv8);
    const bool was_default =
        before.pick_bucket(p.kind, p.head_dim, p.causal, p.window, p.score, p.kv8) == -1;
    const bool tuned = std::string(p.kind) == "prefill" && was_default && p.head_dim == 128 &&
                       p.causal;
    CHECK(pick(after, p) == (tuned ? kTuned : pick(before, p)));
  }
}

TEST_CASE("a kind the base lacks is added with the built-in default", "[tune][config]") {
  const std::string prefill_only =
      R"({"arch": "sm_90", "prefill": {"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}}})";
  TunedEntry e;
  e.kind = TuneKind::paged_decode;
  e.conditions = new_bucket_conditions(Features{128, true, false, false, false});
  e.tile = TileConfig{16, 32, 4, 3, 4, 0};
  auto merged = merge(prefill_only, {e}, "GPU", true, false);
  REQUIRE(merged.ok());
  const TuningTable after = load(*merged);
  const TuningTable builtin = load(builtin_text("sm_90"));
  REQUIRE(after.kind("paged_decode") != nullptr);
  CHECK(after.kind("paged_decode")->default_config == builtin.kind("paged_decode")->default_config);
  CHECK(after.pick("paged_decode", 128, true) == e.tile);
  CHECK(after.pick("prefill", 64, false) == TileConfig{128, 64, 8, 2});
  CHECK(after.kind("paged") == nullptr);
}

TEST_CASE("a config tuned on another device is not overwritten without --force", "[tune][config]") {
  auto first = merge(builtin_text("sm_90"), {}, "NVIDIA A100-SXM4-80GB", false, false);
  REQUIRE(first.ok());
  CHECK(meta_device(*first) == "NVIDIA A100-SXM4-80GB");
  // Another device: refused, and the message says how to go on.
  auto refused = merge(*first, {}, "NVIDIA H200", true, false);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().find("was tuned on NVIDIA A100-SXM4-80GB, not on this NVIDIA H200") !=
        std::string::npos);
  CHECK(refused.error().find("--force") != std::string::npos);
  // With --force it is, and _meta names the new device; the earlier run's lines stay,
  // marked with their device.
  auto forced = merge(*first, {}, "NVIDIA H200", true, true);
  REQUIRE(forced.ok());
  CHECK(meta_device(*forced) == "NVIDIA H200");
  const auto tuned = nlohmann::json::parse(*forced)["_meta"]["tuned"];
  REQUIRE(tuned.size() == 2);
  CHECK(tuned[0] == "on NVIDIA A100-SXM4-80GB: " + meta_on("x").tuned[0]);
  CHECK(tuned[1] == meta_on("x").tuned[0]);
  // The same device needs no --force, and a second run's lines follow the first's.
  auto again = merge(*first, {}, "NVIDIA A100-SXM4-80GB", true, false);
  REQUIRE(again.ok());
  CHECK(nlohmann::json::parse(*again)["_meta"]["tuned"].size() == 2);
  // A file without _meta (a shipped config) is no other device's.
  CHECK(merge(builtin_text("sm_90"), {}, "NVIDIA H200", true, false).ok());
  // A file for another arch is refused whatever --force says.
  auto other_arch = merge_config(builtin_text("sm_80"), "sm_80.json", "sm_90", {}, meta_on("GPU"),
                                 load(builtin_text("sm_90")), true, true);
  REQUIRE_FALSE(other_arch.ok());
  CHECK(other_arch.error().find("is a config for sm_80, not sm_90") != std::string::npos);
}

TEST_CASE("a bucket that no longer matches is not overwritten", "[tune][config]") {
  TunedEntry e;
  e.kind = TuneKind::prefill;
  e.bucket = 2;
  e.conditions = new_bucket_conditions(Features{128, true, false, false, false});
  e.tile = kTuned;
  auto merged = merge(builtin_text("sm_90"), {e}, "GPU", false, false);
  REQUIRE_FALSE(merged.ok());
  CHECK(merged.error().find("is not the bucket that was tuned") != std::string::npos);
}

TEST_CASE("the base config is the --out file when it exists", "[tune][config]") {
  attnjit::testing::TempDir dir;
  const std::string missing = (dir.path() / "sm_90.json").string();
  auto builtin = load_base_config(missing, "sm_90");
  REQUIRE(builtin.ok());
  CHECK_FALSE(builtin->is_file);
  CHECK(builtin->name == "<embedded sm_90.json>");
  // An arch without its own table starts from the one the engine falls back to.
  auto fallback = load_base_config(missing, "sm_89");
  REQUIRE(fallback.ok());
  CHECK(fallback->name == "<embedded sm_89.json>");
  auto sm87 = load_base_config(missing, "sm_87");
  REQUIRE(sm87.ok());
  CHECK(sm87->name == "<embedded sm_86.json>");

  const std::string file = dir.write("mine.json", builtin_text("sm_90"));
  auto from_file = load_base_config(file, "sm_90");
  REQUIRE(from_file.ok());
  CHECK(from_file->is_file);
  CHECK(from_file->name == file);
  const std::string broken = dir.write("broken.json", "{\"arch\": ");
  auto bad = load_base_config(broken, "sm_90");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("invalid JSON") != std::string::npos);
  CHECK(driver_version_name(12040) == "12.4");
  CHECK(driver_version_name(13000) == "13.0");
}

namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) fields.emplace_back();
    else fields.back() += c;
  }
  return fields;
}

std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    rows.push_back(split_csv_line(text.substr(at, end - at)));
    at = end + 1;
  }
  return rows;
}

}  // namespace

TEST_CASE("the CSV has a row per candidate, variant and shape", "[tune]") {
  Task task;
  task.kind = TuneKind::prefill;
  task.bucket = 2;
  task.conditions.head_dim_max = 64;
  task.variants = attnjit::testing::variants_from(
      "variant a { heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }\n"
      "variant b { heads = 8 / 8; head_dim = 32; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }");
  const std::vector<Shape> shapes = {{4, 1024, 1024}, {1, 4096, 4096}};

  Candidate base;
  base.tile = TileConfig{128, 64, 4, 2};
  base.baseline = true;
  base.builds = {KernelBuild{KernelBuild::Status::ok, "", 12.5, true, 168, 0, {}},
                 KernelBuild{KernelBuild::Status::ok, "", 10.0, false, 128, 16, {}}};
  base.checks = {{CheckOutcome::Status::pass, "PASS rel_l2 1e-3"}, {CheckOutcome::Status::pass, "PASS"}};
  for (size_t v = 0; v < 2; ++v)
    for (const Shape& s : shapes) base.timings.push_back(Timing{v, s, 0.5, 0.45, 40, ""});
  base.score = 1;
  base.chosen = true;
  Candidate wrong;
  wrong.tile = TileConfig{64, 32, 4, 3, 0, 2};
  wrong.builds = base.builds;
  wrong.checks = {{CheckOutcome::Status::fail, "FAIL rel_l2 0.5 > bound 0.01, \"worst\" at 3"}, {}};
  Candidate pruned;
  pruned.tile = TileConfig{256, 128, 8, 3};
  pruned.pruned = "shared memory of 278528 bytes, over the limit";
  task.candidates = {base, wrong, pruned};

  const std::string text = results_csv({task});
  const auto rows = csv_rows(text);
  REQUIRE(rows.size() == 1 + 4 + 2 + 2);  // header, baseline's 2x2 timings, 2 + 2 untimed
  CHECK(rows[0] == csv_columns());
  for (const auto& row : rows) CHECK(row.size() == csv_columns().size());
  auto column = [&](const std::string& name) {
    return static_cast<size_t>(std::find(csv_columns().begin(), csv_columns().end(), name) -
                               csv_columns().begin());
  };
  // The baseline: timed, chosen, cached on variant a, compiled on b.
  CHECK(rows[1][column("variant")] == "a");
  CHECK(rows[1][column("shape")] == "4x1024");
  CHECK(rows[1][column("median_us")] == "500.000");
  CHECK(rows[1][column("min_us")] == "450.000");
  CHECK(rows[1][column("runs")] == "40");
  CHECK(rows[1][column("chosen")] == "yes");
  CHECK(rows[1][column("baseline")] == "yes");
  CHECK(rows[1][column("compile")] == "cached");
  CHECK(rows[1][column("registers")] == "168");
  CHECK(rows[1][column("score")] == "1.0000");
  CHECK(rows[3][column("variant")] == "b");
  CHECK(rows[3][column("compile")] == "ok");
  CHECK(rows[3][column("stack_bytes")] == "16");
  CHECK(rows[1][column("bucket")] == "head_dim <= 64");
  // The wrong one: its FAIL (with the verdict's commas and quotes intact), not chosen.
  CHECK(rows[5][column("check")] == "FAIL");
  CHECK(rows[5][column("check_detail")] == "FAIL rel_l2 0.5 > bound 0.01, \"worst\" at 3");
  CHECK(rows[5][column("min_blocks_per_sm")] == "2");
  CHECK(rows[5][column("chosen")] == "");
  CHECK(rows[5][column("shape")] == "");
  CHECK(rows[6][column("check")] == "");
  // The pruned one: its reason, nothing compiled.
  CHECK(rows[7][column("pruned")] == "shared memory of 278528 bytes, over the limit");
  CHECK(rows[7][column("compile")] == "");
  CHECK(rows[7][column("BLOCK_M")] == "256");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"x\"") == "\"say \"\"x\"\"\"");
  CHECK(csv_field("plain") == "plain");
}
