#include "tools/tune/config_merge.h"

#include "compiler/spec/hopper_geometry.h"
#include "tools/tune/plan.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace attnjit::tune {

namespace {

using Json = nlohmann::ordered_json;

// Lines of the written file stay within this many columns where the values allow.
constexpr size_t kLineWidth = 100;
constexpr int kIndent = 2;

std::string scalar(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// `j` on one line, with a space after each ',' and ':'.
std::string inline_text(const Json& j) {
  if (j.is_object()) {
    std::string out = "{";
    for (auto it = j.begin(); it != j.end(); ++it)
      out += fmt::format("{}{}: {}", out.size() > 1 ? ", " : "", scalar(Json(it.key())),
                         inline_text(*it));
    return out + "}";
  }
  if (j.is_array()) {
    std::string out = "[";
    for (const Json& e : j) out += (out.size() > 1 ? ", " : "") + inline_text(e);
    return out + "]";
  }
  return scalar(j);
}

// The config layout of configs/*.json: a value on one line when it fits, otherwise one
// member per line. `column` is where the value starts.
void format_into(const Json& j, int indent, size_t column, bool top, std::string& out) {
  const std::string one_line = inline_text(j);
  if (!j.is_structured() || j.empty() || (!top && column + one_line.size() <= kLineWidth)) {
    out += one_line;
    return;
  }
  const std::string pad(indent + kIndent, ' ');
  out += j.is_object() ? "{\n" : "[\n";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!first) out += ",\n";
    first = false;
    out += pad;
    std::string key;
    if (j.is_object()) key = scalar(Json(it.key())) + ": ";
    out += key;
    format_into(*it, indent + kIndent, pad.size() + key.size(), false, out);
  }
  out += '\n';
  out.append(static_cast<size_t>(indent), ' ');
  out += j.is_object() ? '}' : ']';
}

Json tile_json(const TileConfig& t) {
  Json c = Json::object();
  c["BLOCK_M"] = t.block_m;
  c["BLOCK_N"] = t.block_n;
  c["num_warps"] = t.warps;
  c["num_stages"] = t.stages;
  if (t.num_splits > 0) c["num_splits"] = t.num_splits;
  if (t.min_blocks_per_sm > 0) c["min_blocks_per_sm"] = t.min_blocks_per_sm;
  for (const HopperScheduleSwitch& s : hopper_schedule_switches())  // sm_90a's tiles: the ones that are on
    if (t.*s.member) c[s.name] = true;
  return c;
}

Json bucket_json(const TuningBucket& b) {
  Json j = Json::object();
  if (b.head_dim_min > 0) j["head_dim_min"] = b.head_dim_min;
  if (b.head_dim_max != TuningBucket{}.head_dim_max) j["head_dim_max"] = b.head_dim_max;
  if (b.causal_only) j["causal"] = true;
  if (b.sliding_window_only) j["sliding_window"] = true;
  if (b.score_transform_only) j["score_transform"] = true;
  if (b.kv_8bit_only) j["kv_8bit"] = true;
  j["config"] = tile_json(b.config);
  return j;
}

Json meta_json(const Meta& m) {
  Json j = Json::object();
  j["attnjit_version"] = m.attnjit_version;
  j["device"] = m.device;
  j["sm_count"] = m.sm_count;
  j["driver_version"] = m.driver_version;
  j["compiler"] = m.compiler;
  j["date"] = m.date;
  j["tuned"] = m.tuned;
  return j;
}

// A set of split cost constants, each to four significant digits (a fit is no more
// precise than its timings).
Json split_cost_json(const SplitCostModel& m) {
  Json j = Json::object();
  for (const SplitCostField& f : split_cost_fields())
    j[f.name] = std::stod(fmt::format("{:.4g}", m.*f.member));
  return j;
}

}  // namespace

std::string driver_version_name(int version) {
  return fmt::format("{}.{}", version / 1000, version % 1000 / 10);
}

std::string meta_device(const std::string& config_text) {
  const Json root = Json::parse(config_text, nullptr, false);
  if (!root.is_object() || !root.contains("_meta") || !root["_meta"].is_object()) return "";
  const Json& device = root["_meta"].value("device", Json());
  return device.is_string() ? device.get<std::string>() : "";
}

Result<std::string, std::string> merge_config(const std::string& base_text,
                                              const std::string& base_name,
                                              const std::string& arch,
                                              const std::vector<TunedEntry>& entries,
                                              const Meta& meta, const TuningTable& fallback,
                                              bool base_is_file, bool force,
                                              const SplitCostUpdate& split_costs) {
  // The base must load as a config: then every shape checked below is known.
  auto loaded = TuningTable::parse(base_text, base_name);
  if (!loaded) return fail(loaded.error());
  Json root = Json::parse(base_text);
  if (base_is_file && loaded->arch() != arch)
    return fail(fmt::format("{} is a config for {}, not {}: choose another --out",
                            printable(base_name), loaded->arch(), arch));
  if (root.contains("_meta") && !force) {
    const std::string device = meta_device(base_text);
    if (device != meta.device)
      return fail(fmt::format(
          "{} was tuned on {}, not on this {}: pass --force to overwrite its entries",
          printable(base_name), device.empty() ? "an unnamed device" : printable(device, 100),
          meta.device));
  }
  root["arch"] = arch;

  for (const TunedEntry& e : entries) {
    const std::string kind = tune_kind_name(e.kind);
    if (!root.contains(kind)) {
      const KindTuning* defaults = fallback.kind(kind);
      if (!defaults)
        return fail(fmt::format("neither {} nor the built-in table has a \"{}\" table",
                                printable(base_name), kind));
      root[kind] = Json::object();
      root[kind]["default"] = tile_json(defaults->default_config);
    }
    Json& table = root[kind];
    if (!table.contains("buckets")) table["buckets"] = Json::array();
    Json& buckets = table["buckets"];
    TuningBucket written = e.conditions;
    written.config = e.tile;
    if (e.bucket < 0) {
      buckets.push_back(bucket_json(written));
      continue;
    }
    const KindTuning* base_kind = loaded->kind(kind);
    if (!base_kind || static_cast<size_t>(e.bucket) >= base_kind->buckets.size() ||
        static_cast<size_t>(e.bucket) >= buckets.size() ||
        !same_conditions(base_kind->buckets[e.bucket], written))
      return fail(fmt::format("{}: {}.buckets[{}] is not the bucket that was tuned ({}); was the "
                              "file changed during the run?",
                              printable(base_name), kind, e.bucket, inline_text(bucket_json(written))));
    buckets[e.bucket]["config"] = tile_json(e.tile);
  }

  if (!split_costs.empty()) {
    if (!root.contains("split_cost") || !root["split_cost"].is_object())
      root["split_cost"] = Json::object();
    if (split_costs.kv_16bit) root["split_cost"][kSplitCost16BitKey] = split_cost_json(*split_costs.kv_16bit);
    if (split_costs.kv_8bit) root["split_cost"][kSplitCost8BitKey] = split_cost_json(*split_costs.kv_8bit);
  }

  // Earlier runs' lines stay in "tuned" (their entries stay in the file too), marked
  // with their device when it was another one (--force).
  Meta written = meta;
  if (root.contains("_meta") && root["_meta"].contains("tuned") && root["_meta"]["tuned"].is_array()) {
    const std::string device = meta_device(base_text);
    std::vector<std::string> earlier;
    for (const Json& line : root["_meta"]["tuned"])
      if (line.is_string())
        earlier.push_back(device == meta.device || device.empty()
                              ? line.get<std::string>()
                              : fmt::format("on {}: {}", device, line.get<std::string>()));
    written.tuned.insert(written.tuned.begin(), earlier.begin(), earlier.end());
  }

  // "_meta" right after "arch", the rest in the base's order.
  Json out = Json::object();
  out["arch"] = root["arch"];
  out["_meta"] = meta_json(written);
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it.key() != "arch" && it.key() != "_meta") out[it.key()] = *it;

  std::string text;
  format_into(out, 0, 0, true, text);
  text += "\n";
  if (auto check = TuningTable::parse(text, base_name); !check)
    return fail("the merged config does not load (a bug in attnjit tune): " + check.error());
  return text;
}

}  // namespace attnjit::tune
