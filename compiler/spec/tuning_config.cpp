// Loading and checking the per-arch tile tables (configs/sm_*.json).
#include "compiler/spec/tuning_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/support/embedded_files.h"
#include "compiler/support/json_nesting.h"
#include "compiler/support/text_file.h"
#include "compiler/target/target.h"

namespace attnjit {

namespace {

using nlohmann::json;

// Kernel kinds a table may configure (kernel_spec.h's KernelKind, spelled as in JSON).
// "paged_decode" is the paged kind's tile when a launch's query chunks are all short
// (every chunk's packed rows, tokens x query heads per KV head, fit one small tile).
const std::vector<std::string> kKinds = {"prefill", "paged", "paged_decode"};
// "num_splits" (paged kinds only) fixes the split-KV segment count instead of the
// launch-time heuristic. "min_blocks_per_sm" asks the compiler for registers enough
// for that many resident blocks per SM (CUDA's __launch_bounds__ minimum);
// "waves_per_eu" (AMD targets) for that many resident waves per SIMD. The wgmma main
// loop's schedule switches (hopper_schedule_switches()) follow.
const std::vector<std::string> kConfigKeys = [] {
  std::vector<std::string> keys = {"BLOCK_M",    "BLOCK_N",           "num_warps",   "num_stages",
                                   "num_splits", "min_blocks_per_sm", "waves_per_eu"};
  for (const HopperScheduleSwitch& s : hopper_schedule_switches()) keys.emplace_back(s.name);
  return keys;
}();
const std::vector<std::string> kKindKeys = {"default", "buckets"};
const std::string kMetaKey = "_meta";
const std::string kSplitCostKey = "split_cost";
const std::vector<std::string> kBucketKeys = {"head_dim_min",    "head_dim_max", "causal",
                                              "sliding_window", "score_transform", "kv_8bit",
                                              "config"};


// A load error: where in the document (a JSON path) and what is wrong. Thrown inside
// this file only; parse() turns it into a Result.
struct ConfigError {
  std::string path;
  std::string message;
};

[[noreturn]] void error_at(const std::string& path, std::string message) {
  throw ConfigError{path.empty() ? "top level" : path, std::move(message)};
}

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// A config file is read whole into memory: real ones are a few kilobytes.
constexpr size_t kMaxConfigBytes = 1024 * 1024;
// Arrays and objects nest five levels in a real config (root, kind, buckets, bucket,
// config). Deeper text is refused before it is parsed, so that no recursion over the
// value (nlohmann's serializer and destructor, this loader) can run out of stack.
constexpr int kMaxJsonDepth = 32;
// What a message shows of a JSON value or key from the file, in characters.
constexpr size_t kMaxShownJson = 60;

// The JSON text of `j`, or enough of it to fill `limit` characters: a huge value is
// not serialized whole just to be cut.
void dump_into(const json& j, std::string& out, size_t limit) {
  if (out.size() > limit) return;
  if (j.is_array() || j.is_object()) {
    out += j.is_array() ? '[' : '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out.size() <= limit; ++it) {
      if (!first) out += ',';
      first = false;
      if (j.is_object()) out += json(it.key()).dump(-1, ' ', false, json::error_handler_t::replace) + ':';
      dump_into(*it, out, limit);
    }
    out += j.is_array() ? ']' : '}';
    return;
  }
  out += j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// `string "64"`, `number 64.5`, ... for "got ..." parts of messages.
std::string describe(const json& j) {
  std::string text;
  dump_into(j, text, kMaxShownJson);
  return fmt::format("{} {}", j.type_name(), printable(text, kMaxShownJson));
}

// A key from the file, as messages quote it.
std::string shown_key(const std::string& key) { return printable(key, kMaxShownJson); }

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      const size_t next = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = row[j];
      row[j] = next;
    }
  }
  return row[b.size()];
}

[[noreturn]] void unknown_key(const std::string& path, const std::string& key,
                              const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const std::string& k : known) {
    const size_t d = edit_distance(key, k);
    // Close enough to be a typo: a couple of edits, more for long names.
    const size_t tolerance = std::max<size_t>(2, std::max(key.size(), k.size()) / 3);
    if (d <= tolerance && d < best_distance) best = k, best_distance = d;
  }
  if (!best.empty())
    error_at(path, fmt::format("unknown key \"{}\" (did you mean \"{}\"?)", shown_key(key), best));
  std::string list;
  for (const std::string& k : known) list += (list.empty() ? "\"" : ", \"") + k + "\"";
  error_at(path, fmt::format("unknown key \"{}\" (expected one of {})", shown_key(key), list));
}

void expect_object(const json& j, const std::string& path) {
  if (!j.is_object()) error_at(path, "expected an object, got " + describe(j));
}

void check_keys(const json& j, const std::string& path, const std::vector<std::string>& known) {
  for (const auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end()) unknown_key(path, key, known);
}

const json& require(const json& j, const std::string& path, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end()) error_at(path, fmt::format("missing required key \"{}\"", key));
  return *it;
}

int read_int(const json& j, const std::string& path, int min_value) {
  if (!j.is_number_integer()) error_at(path, "expected an integer, got " + describe(j));
  const bool too_big = j.is_number_unsigned() ? j.get<uint64_t>() > INT_MAX
                                              : j.get<int64_t>() > INT_MAX;
  if (too_big) error_at(path, fmt::format("expected an integer up to {}, got {}", INT_MAX, j.dump()));
  const int64_t v = j.get<int64_t>();
  if (v < min_value)
    error_at(path, fmt::format("expected {}, got {}",
                               min_value == 1 ? "a positive integer" : "a non-negative integer", v));
  return static_cast<int>(v);
}

// `smem_head_dim` > 0 also checks the shared memory footprint at that head_dim, for
// 8-bit K/V when the entry serves only them.
TileConfig read_config(const json& j, const std::string& path, int smem_head_dim, bool kv_8bit,
                       const std::string& arch, Mainloop mainloop) {
  expect_object(j, path);
  check_keys(j, path, kConfigKeys);
  TileConfig c;
  c.block_m = read_int(require(j, path, "BLOCK_M"), join_path(path, "BLOCK_M"), 1);
  c.block_n = read_int(require(j, path, "BLOCK_N"), join_path(path, "BLOCK_N"), 1);
  c.warps = read_int(require(j, path, "num_warps"), join_path(path, "num_warps"), 1);
  c.stages = read_int(require(j, path, "num_stages"), join_path(path, "num_stages"), 1);
  if (j.contains("num_splits")) {
    if (path.rfind("prefill", 0) == 0)
      error_at(join_path(path, "num_splits"), "num_splits applies to the paged kinds only");
    c.num_splits = read_int(j["num_splits"], join_path(path, "num_splits"), 1);
  }
  if (j.contains("min_blocks_per_sm")) {
    c.min_blocks_per_sm =
        read_int(j["min_blocks_per_sm"], join_path(path, "min_blocks_per_sm"), 1);
    if (c.min_blocks_per_sm > 32)
      error_at(join_path(path, "min_blocks_per_sm"),
               fmt::format("expected at most 32 (resident blocks per SM), got {}",
                           c.min_blocks_per_sm));
  }
  // Its range and which main loops take it are tile rules (validate_tile below).
  if (j.contains("waves_per_eu"))
    c.waves_per_eu = read_int(j["waves_per_eu"], join_path(path, "waves_per_eu"), 1);
  for (const HopperScheduleSwitch& s : hopper_schedule_switches()) {
    if (!j.contains(s.name)) continue;
    const std::string key_path = join_path(path, s.name);
    if (mainloop != Mainloop::wgmma)
      error_at(key_path, fmt::format("{} is a switch of the wgmma main loop (sm_90a's prefill tiles), not of {}",
                                     s.name, mainloop_name(mainloop)));
    if (!j[s.name].is_boolean()) error_at(key_path, "expected true or false, got " + describe(j[s.name]));
    c.*s.member = j[s.name].get<bool>();
  }
  const std::string problem = validate_tile(c, config_kv_elements(smem_head_dim, kv_8bit),
                                            shared_memory_limit(arch), mainloop);
  if (!problem.empty()) error_at(path, problem);
  return c;
}

// An optional true/false bucket condition.
void read_flag(const json& j, const std::string& path, const std::string& key, bool* out) {
  if (!j.contains(key)) return;
  const json& value = j[key];
  if (!value.is_boolean())
    error_at(join_path(path, key), "expected true or false, got " + describe(value));
  *out = value.get<bool>();
}

TuningBucket read_bucket(const json& j, const std::string& path, const std::string& arch,
                         Mainloop mainloop) {
  expect_object(j, path);
  check_keys(j, path, kBucketKeys);
  TuningBucket b;
  if (j.contains("head_dim_min"))
    b.head_dim_min = read_int(j["head_dim_min"], join_path(path, "head_dim_min"), 0);
  if (j.contains("head_dim_max")) {
    b.head_dim_max = read_int(j["head_dim_max"], join_path(path, "head_dim_max"), 0);
    if (b.head_dim_max < b.head_dim_min)
      error_at(join_path(path, "head_dim_max"),
               fmt::format("expected a value >= head_dim_min ({}), got {}", b.head_dim_min,
                           b.head_dim_max));
  }
  read_flag(j, path, "causal", &b.causal_only);
  read_flag(j, path, "sliding_window", &b.sliding_window_only);
  read_flag(j, path, "score_transform", &b.score_transform_only);
  read_flag(j, path, "kv_8bit", &b.kv_8bit_only);
  // A bounded bucket's config must fit shared memory at its largest head_dim.
  const int smem_head_dim = j.contains("head_dim_max") ? b.head_dim_max : 0;
  b.config = read_config(require(j, path, "config"), join_path(path, "config"), smem_head_dim,
                         b.kv_8bit_only, arch, mainloop);
  return b;
}

KindTuning read_kind(const json& j, const std::string& path, const std::string& arch,
                     Mainloop mainloop) {
  expect_object(j, path);
  check_keys(j, path, kKindKeys);
  KindTuning kind;
  // The default serves head dims the buckets leave out, unknown here: the
  // shared-memory check happens again when a tile is picked for a real head_dim.
  kind.default_config =
      read_config(require(j, path, "default"), join_path(path, "default"), 0, false, arch, mainloop);
  if (j.contains("buckets")) {
    const json& buckets = j["buckets"];
    const std::string bpath = join_path(path, "buckets");
    if (!buckets.is_array()) error_at(bpath, "expected an array, got " + describe(buckets));
    for (size_t i = 0; i < buckets.size(); ++i)
      kind.buckets.push_back(read_bucket(buckets[i], fmt::format("{}[{}]", bpath, i), arch, mainloop));
  }
  return kind;
}

// One set of the split cost model: every field, each in its range.
SplitCostModel read_split_cost_model(const json& j, const std::string& path) {
  expect_object(j, path);
  std::vector<std::string> names;
  for (const SplitCostField& f : split_cost_fields()) names.emplace_back(f.name);
  check_keys(j, path, names);
  SplitCostModel model;
  for (const SplitCostField& f : split_cost_fields()) {
    const json& value = require(j, path, f.name);
    const std::string field_path = join_path(path, f.name);
    if (!value.is_number()) error_at(field_path, "expected a number, got " + describe(value));
    const double v = value.get<double>();
    if (std::string why = split_cost_value_problem(f, v); !why.empty()) error_at(field_path, why);
    model.*f.member = v;
  }
  return model;
}

SplitCosts read_split_costs(const json& j, const std::string& path) {
  expect_object(j, path);
  check_keys(j, path, {kSplitCost16BitKey, kSplitCost8BitKey});
  SplitCosts costs = kDefaultSplitCosts;
  if (j.contains(kSplitCost16BitKey))
    costs.kv_16bit = read_split_cost_model(j[kSplitCost16BitKey], join_path(path, kSplitCost16BitKey));
  if (j.contains(kSplitCost8BitKey))
    costs.kv_8bit = read_split_cost_model(j[kSplitCost8BitKey], join_path(path, kSplitCost8BitKey));
  return costs;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string strip_exception_id(const std::string& what) {
  const size_t close = what.find("] ");
  return what.rfind("[json.exception.", 0) == 0 && close != std::string::npos
             ? what.substr(close + 2)
             : what;
}

}  // namespace

namespace {

// The plain target of an arch-specific one's capability (sm_90a -> sm_90), or null.
const Target* plain_twin(const Target& target) {
  for (const Target& t : all_targets())
    if (!t.arch_specific && t.vendor == target.vendor && t.capability == target.capability) return &t;
  return nullptr;
}

}  // namespace

std::string tuning_arch(const std::string& arch, Mainloop mainloop) {
  const Target* target = find_target(arch);
  if (!target || !target->arch_specific) return arch;
  const Target* twin = plain_twin(*target);
  return twin && twin->has_mainloop(mainloop) ? std::string(twin->name) : arch;
}

Mainloop own_mainloop(const std::string& arch) {
  const Target* target = find_target(arch);
  if (target && target->arch_specific)
    if (const Target* twin = plain_twin(*target))
      for (Mainloop m : target->mainloops)
        if (!twin->has_mainloop(m)) return m;
  return attention_mainloop(arch);
}

std::optional<Mainloop> config_mainloop(const std::string& arch, const std::string& kind) {
  const Mainloop own = own_mainloop(arch);
  if (own == attention_mainloop(arch)) return own;
  // Today the one such main loop: wgmma, which builds the prefill kind only.
  if (kind == kernel_kind_name(KernelKind::prefill)) return own;
  return std::nullopt;
}

int shared_memory_limit(const std::string& arch) {
  if (const Target* target = find_target(arch)) return target->max_shared_bytes;
  // Another vendor's limits say nothing about this arch: the smallest of its own.
  const Vendor vendor = vendor_of_arch(arch);
  int smallest = INT_MAX;
  for (const Target& t : all_targets())
    if (t.vendor == vendor) smallest = std::min(smallest, t.max_shared_bytes);
  return smallest;
}

Result<TileConfig, std::string> parse_tile_override(const std::string& text,
                                                    std::optional<Mainloop> mainloop) {
  const std::string usage = fmt::format(
      "expected BLOCK_M,BLOCK_N,WARPS,STAGES (e.g. 128,64,8,2), got \"{}\"", text);
  static const char* kFields[] = {"BLOCK_M", "BLOCK_N", "WARPS", "STAGES"};
  int values[4];
  std::stringstream in(text);
  std::string part;
  int n = 0;
  TileConfig c;
  bool schedule = false;
  while (std::getline(in, part, ',')) {
    if (n == 4) {
      // After the numbers: the wgmma main loop's schedule switches to turn on.
      const HopperScheduleSwitch* on = find_hopper_schedule_switch(part);
      if (!on && (part.empty() || std::isdigit(static_cast<unsigned char>(part[0])))) return fail(usage);
      if (!on)
        return fail(fmt::format("unknown schedule switch \"{}\" (expected {}; in \"{}\")", printable(part, 40),
                                hopper_schedule_names(), printable(text, 120)));
      c.*on->member = true;
      schedule = true;
      continue;
    }
    int v = 0;
    const char* end = part.data() + part.size();
    auto [ptr, ec] = std::from_chars(part.data(), end, v);
    if (part.empty() || ec != std::errc() || ptr != end || v <= 0)
      return fail(fmt::format("{}: expected a positive integer, got \"{}\" (in \"{}\")",
                              kFields[n], part, text));
    values[n++] = v;
  }
  if (n != 4 || (!text.empty() && text.back() == ',')) return fail(usage);
  c.block_m = values[0], c.block_n = values[1], c.warps = values[2], c.stages = values[3];
  // Structure only: the head_dim (and with it shared memory) is checked once known.
  if (mainloop) {
    if (std::string problem = tile_rule_problem(c, 0, *mainloop); !problem.empty()) return fail(problem);
    return c;
  }
  // Before the target is known: schedule switches belong to the wgmma main loop, its
  // rules then; otherwise a tile some attention main loop takes (reported with the
  // mma.sync loop's reason). The target's own rules check it once it is known.
  if (schedule) {
    if (std::string problem = tile_rule_problem(c, 0, Mainloop::wgmma); !problem.empty()) return fail(problem);
    return c;
  }
  const std::string problem = tile_rule_problem(c, 0, Mainloop::mma_sync);
  if (!problem.empty() && !tile_rule_problem(c, 0, Mainloop::mfma).empty() &&
      !tile_rule_problem(c, 0, Mainloop::wgmma).empty())
    return fail(problem);
  return c;
}

Result<TuningTable, std::string> TuningTable::parse(const std::string& json_text,
                                                    const std::string& raw_source_name) {
  const std::string source_name = printable(raw_source_name);
  if (std::string where = json_too_deep_at(json_text, kMaxJsonDepth); !where.empty())
    return fail(fmt::format("{}: invalid JSON: arrays and objects nested deeper than {} levels at {}",
                            source_name, kMaxJsonDepth, where));
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    // nlohmann quotes the text it stopped at, which may be a long string.
    return fail(fmt::format("{}: invalid JSON: {}", source_name,
                            printable(strip_exception_id(e.what()), 300)));
  }
  try {
    TuningTable table;
    expect_object(root, "");
    const json& arch = require(root, "", "arch");
    if (!arch.is_string() || !parse_arch_name(arch.get<std::string>()))
      error_at("arch", "expected an arch name like \"sm_90\" or \"sm_90a\", got " + describe(arch));
    table.arch_ = arch.get<std::string>();

    std::vector<std::string> top_keys = kKinds;
    top_keys.insert(top_keys.begin(), "arch");
    top_keys.push_back(kSplitCostKey);
    top_keys.push_back(kMetaKey);
    check_keys(root, "", top_keys);
    // Provenance written by `attnjit tune` (device, versions, date): read by the tuner,
    // ignored here beyond its type.
    if (root.contains(kMetaKey)) expect_object(root[kMetaKey], kMetaKey);
    if (root.contains(kSplitCostKey))
      table.split_costs_ = read_split_costs(root[kSplitCostKey], kSplitCostKey);
    for (const std::string& kind : kKinds) {
      if (!root.contains(kind)) continue;
      const std::optional<Mainloop> mainloop = config_mainloop(table.arch_, kind);
      if (!mainloop)
        error_at(kind, fmt::format("{}'s file tiles only the main loop its plain twin lacks ({}); its {} "
                                   "kernels take the tiles of {}'s file",
                                   table.arch_, mainloop_name(own_mainloop(table.arch_)), kind,
                                   tuning_arch(table.arch_, Mainloop::mma_sync)));
      table.kinds_[kind] = read_kind(root[kind], kind, table.arch_, *mainloop);
    }
    if (table.kinds_.empty())
      error_at("", fmt::format("expected at least one kernel kind (\"{}\"), got none",
                               fmt::join(kKinds, "\", \"")));
    return table;
  } catch (const ConfigError& e) {
    return fail(fmt::format("{}: {}: {}", source_name, e.path, e.message));
  }
}

Result<TuningTable, std::string> TuningTable::load_file(const std::string& path) {
  auto text = read_text_file(path, kMaxConfigBytes);
  if (!text) return fail(fmt::format("{}: cannot read file: {}", printable(path), text.error()));
  return parse(*text, path);
}

Result<TuningTable, std::string> TuningTable::embedded(const std::string& arch,
                                                       std::optional<Mainloop> mainloop) {
  const std::optional<ArchName> wanted = parse_arch_name(arch);
  if (!wanted)
    return fail(fmt::format("no tuning config for \"{}\": expected an arch like \"sm_90\"", arch));
  // sm_90a's mma.sync kernels: sm_90's table.
  const Mainloop wanted_mainloop = mainloop.value_or(attention_mainloop(arch));
  const std::string file_arch = tuning_arch(arch, wanted_mainloop);
  if (file_arch != arch) return embedded(file_arch);
  if (own_mainloop(arch) != wanted_mainloop)
    return fail(fmt::format("{}'s config tiles its {} kernels, not {} ones", arch, mainloop_name(own_mainloop(arch)),
                            mainloop_name(wanted_mainloop)));
  const auto file_of = [](std::string_view name) { return fmt::format("configs/{}.json", name); };
  auto load = [&](const std::string& name) -> std::optional<Result<TuningTable, std::string>> {
    auto text = embedded_file(file_of(name));
    if (!text) return std::nullopt;
    return parse(std::string(*text), "<embedded " + name + ".json>");
  };
  if (auto exact = load(arch)) return *exact;
  // A table of an arch-specific main loop has no stand-in: another arch's tiles are
  // for another main loop.
  if (wanted_mainloop != attention_mainloop(arch))
    return fail(fmt::format("no tuning config for {}'s {} kernels is embedded", arch, mainloop_name(wanted_mainloop)));

  // Otherwise the newest target of no higher capability whose table is embedded
  // (sm_90a -> sm_90, sm_87 -> sm_86, sm_100 -> sm_90): a newer GPU of the same family
  // runs an older tiling.
  const Target* best = nullptr;
  std::vector<std::string> available;
  for (const Target& t : all_targets()) {
    if (t.vendor != wanted->vendor || !embedded_file(file_of(t.name))) continue;
    available.emplace_back(t.name);
    // An "a" table may rely on arch-specific features; only plain ones stand in.
    if (t.arch_specific || t.capability > wanted->capability) continue;
    if (!best || t.capability > best->capability) best = &t;
  }
  if (!best) {
    std::sort(available.begin(), available.end());
    return fail(fmt::format("no tuning config for {} or an older arch; embedded configs: {}", arch,
                            available.empty() ? "none" : fmt::format("{}", fmt::join(available, ", "))));
  }
  return *load(std::string(best->name));
}

const KindTuning* TuningTable::kind(const std::string& name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::optional<int> TuningTable::pick_bucket(const std::string& kind, int head_dim, bool causal,
                                            bool sliding_window, bool score_transform,
                                            bool kv_8bit) const {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) return std::nullopt;
  const std::vector<TuningBucket>& buckets = it->second.buckets;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const TuningBucket& b = buckets[i];
    if (head_dim < b.head_dim_min || head_dim > b.head_dim_max) continue;
    if (b.causal_only && !causal) continue;
    if (b.sliding_window_only && !sliding_window) continue;
    if (b.score_transform_only && !score_transform) continue;
    if (b.kv_8bit_only && !kv_8bit) continue;
    return static_cast<int>(i);
  }
  return -1;
}

std::optional<TileConfig> TuningTable::pick(const std::string& kind, int head_dim, bool causal,
                                            bool sliding_window, bool score_transform,
                                            bool kv_8bit) const {
  const std::optional<int> bucket =
      pick_bucket(kind, head_dim, causal, sliding_window, score_transform, kv_8bit);
  if (!bucket) return std::nullopt;
  const KindTuning& k = kinds_.at(kind);
  return *bucket < 0 ? k.default_config : k.buckets[*bucket].config;
}

}  // namespace attnjit
