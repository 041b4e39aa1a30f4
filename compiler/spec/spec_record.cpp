#include "compiler/spec/spec_record.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/ir/print.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/support/json_nesting.h"

namespace attnjit {
namespace {

using json = nlohmann::ordered_json;

const char* split_name(KvSplit split) {
  switch (split) {
    case KvSplit::none: return "none";
    case KvSplit::segments: return "segments";
    case KvSplit::stream: return "stream";
  }
  return "none";
}

}  // namespace

std::string encode_kernel_record(const KernelSpec& spec, BinaryFormat format) {
  const TileConfig& t = spec.tile;
  json j;
  j["kind"] = kernel_kind_name(spec.kind);
  j["arch"] = spec.arch;
  j["format"] = binary_format_name(format);
  j["split"] = split_name(spec.kv_split);
  j["tile"] = {t.block_m, t.block_n, t.warps, t.stages, t.num_splits, t.min_blocks_per_sm};
  // waves_per_eu only when set, so records of tiles without it read as before.
  if (t.waves_per_eu > 0) j["tile"].push_back(t.waves_per_eu);
  // Only a spec that names its mainloop records it, so older records read the same.
  if (spec.mainloop) j["mainloop"] = mainloop_name(*spec.mainloop);
  // Likewise the wgmma schedule switches that are on, by name.
  if (has_hopper_schedule(t)) {
    json on = json::array();
    for (const HopperScheduleSwitch& s : hopper_schedule_switches())
      if (t.*s.member) on.push_back(s.name);
    j["schedule"] = on;
  }
  j["variant"] = ir::print_dsl(spec.variant);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<RecordedKernel, std::string> decode_kernel_record(std::string_view line) {
  if (std::string where = json_too_deep_at(line, 3); !where.empty())
    return fail(fmt::format("nested too deeply at {}", where));
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail(std::string("not a JSON object"));
  auto text = [&](const char* field) -> const json* {
    auto it = j.find(field);
    return it != j.end() && it->is_string() ? &*it : nullptr;
  };
  RecordedKernel r;
  const json* kind = text("kind");
  if (!kind || !parse_kernel_kind(kind->get<std::string>(), &r.spec.kind))
    return fail(std::string("\"kind\" is not a kernel kind"));
  const json* arch = text("arch");
  if (!arch || !find_target(arch->get<std::string>()))
    return fail(fmt::format("\"arch\" is not a target ({})", target_names()));
  r.spec.arch = arch->get<std::string>();
  const json* format = text("format");
  bool format_ok = false;
  for (BinaryFormat f : {BinaryFormat::cubin, BinaryFormat::ptx, BinaryFormat::hsaco})
    if (format && format->get<std::string>() == binary_format_name(f)) r.format = f, format_ok = true;
  if (!format_ok || !find_target(r.spec.arch)->binary(r.format))
    return fail(fmt::format("\"format\" is not a binary of {}", r.spec.arch));
  const json* split = text("split");
  bool split_ok = false;
  for (KvSplit s : {KvSplit::none, KvSplit::segments, KvSplit::stream})
    if (split && split->get<std::string>() == split_name(s)) r.spec.kv_split = s, split_ok = true;
  if (!split_ok) return fail(std::string("\"split\" is not none, segments or stream"));
  auto tile = j.find("tile");
  if (tile == j.end() || !tile->is_array() || (tile->size() != 6 && tile->size() != 7))
    return fail(std::string(
        "\"tile\" must be [BLOCK_M, BLOCK_N, warps, stages, splits, min_blocks[, waves_per_eu]]"));
  int values[7] = {};
  for (size_t i = 0; i < tile->size(); ++i) {
    const json& v = (*tile)[i];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 4096)
      return fail(std::string("\"tile\" values must be whole numbers from 0 to 4096"));
    values[i] = v.get<int>();
  }
  r.spec.tile.block_m = values[0];
  r.spec.tile.block_n = values[1];
  r.spec.tile.warps = values[2];
  r.spec.tile.stages = values[3];
  r.spec.tile.num_splits = values[4];
  r.spec.tile.min_blocks_per_sm = values[5];
  r.spec.tile.waves_per_eu = values[6];
  if (j.contains("mainloop")) {
    const json* mainloop = text("mainloop");
    bool mainloop_ok = false;
    for (Mainloop m : {Mainloop::simt, Mainloop::mma_sync, Mainloop::mfma, Mainloop::wgmma})
      if (mainloop && mainloop->get<std::string>() == mainloop_name(m)) r.spec.mainloop = m, mainloop_ok = true;
    if (!mainloop_ok) return fail(std::string("\"mainloop\" is not a mainloop"));
  }
  if (j.contains("schedule")) {
    const json& on = j["schedule"];
    if (!on.is_array()) return fail(fmt::format("\"schedule\" must be a list of {}", hopper_schedule_names()));
    for (const json& name : on) {
      const HopperScheduleSwitch* s = name.is_string() ? find_hopper_schedule_switch(name.get<std::string>()) : nullptr;
      if (!s) return fail(fmt::format("\"schedule\" must be a list of {}", hopper_schedule_names()));
      r.spec.tile.*s->member = true;
    }
  }
  const json* dsl = text("variant");
  if (!dsl) return fail(std::string("\"variant\" must be the variant's DSL text"));
  auto module = compile_variants(SourceFile{"<recorded variant>", dsl->get<std::string>()});
  if (!module || module->variants.size() != 1)
    return fail(std::string("\"variant\" is not one valid variant"));
  r.spec.variant = module->variants.front();
  return r;
}

}  // namespace attnjit
