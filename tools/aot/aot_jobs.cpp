#include "tools/aot/aot_jobs.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/codegen/codegen.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/spec_record.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/support/diagnostics.h"
#include "compiler/support/json_nesting.h"
#include "compiler/support/text_file.h"
#include "compiler/target/target.h"
#include "runtime/api/engine.h"
#include "runtime/plan/launch_plan.h"

namespace attnjit::aot {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxManifestBytes = size_t(1) << 20;
constexpr int kMaxManifestDepth = 8;
// A recorded kernel is a few KiB (its variant's DSL text): room for many thousands.
constexpr size_t kMaxRecordBytes = size_t(64) << 20;

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return list.empty() || std::find(list.begin(), list.end(), item) != list.end();
}

bool wanted(const std::vector<KernelKind>& kinds, KernelKind kind) {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

Result<Job, std::string> make_job(const std::string& file, KernelSpec spec, BinaryFormat format) {
  auto source = render_kernel(spec);
  if (!source)
    return fail(fmt::format("{}: variant {} on {}: generating {}: {}", file, spec.variant.name,
                            spec.arch, spec.uri(), source.error()));
  Job job;
  job.variant_file = file;
  job.key = aot_key(*source, spec.arch, format);
  job.format = format;
  job.spec = std::move(spec);
  return job;
}

// The jobs of a file of recorded kernels, one per line (blank lines skipped).
Result<std::vector<Job>, std::string> recorded_jobs(const std::string& file) {
  auto text = read_text_file(file, kMaxRecordBytes);
  if (!text) return fail(fmt::format("{}: cannot read: {}", printable(file), text.error()));
  std::vector<Job> jobs;
  size_t line_number = 0;
  for (size_t at = 0; at < text->size();) {
    size_t end = text->find('\n', at);
    if (end == std::string::npos) end = text->size();
    const std::string_view line(text->data() + at, end - at);
    at = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto record = decode_kernel_record(line);
    if (!record) return fail(fmt::format("{}:{}: {}", printable(file), line_number, record.error()));
    auto job = make_job(file, std::move(record->spec), record->format);
    if (!job) return fail(job.error());
    jobs.push_back(std::move(*job));
  }
  return jobs;
}

// The jobs of one variant on one target, from the planner's list.
Result<std::vector<Job>, std::string> jobs_of(const VariantSet& set, const ir::Variant& variant,
                                              const std::string& arch, const TileLookup& tiles,
                                              const TuningTable* wgmma_table,
                                              const std::vector<KernelKind>& kinds) {
  auto specs = kernels_a_variant_can_need(variant, arch, tiles, wgmma_table);
  if (!specs)
    return fail(fmt::format("{}: variant {} on {}: {}", set.path, variant.name, arch, specs.error()));
  std::vector<Job> jobs;
  for (KernelSpec& spec : *specs) {
    if (!wanted(kinds, spec.kind)) continue;
    // The list of an sm_90 target holds sm_90a's wgmma kernel: each in its own target's format.
    const BinaryFormat format = find_target(spec.arch)->default_format();
    auto job = make_job(set.path, std::move(spec), format);
    if (!job) return fail(job.error());
    jobs.push_back(std::move(*job));
  }
  return jobs;
}

Result<std::vector<std::string>, std::string> string_list(const json& doc, const char* field) {
  std::vector<std::string> out;
  auto it = doc.find(field);
  if (it == doc.end()) return out;
  if (!it->is_array()) return fail(fmt::format("\"{}\" must be an array of strings", field));
  for (const json& item : *it) {
    if (!item.is_string()) return fail(fmt::format("\"{}\" must be an array of strings", field));
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The tile table of `mainloop`'s kernels on `arch`: the inputs' config file of the arch
// that tiles them (tuning_arch(): sm_90a's mma.sync kernels take sm_90's), else the
// embedded one.
Result<TuningTable, std::string> table_for(const BuildInputs& inputs, const std::string& arch,
                                           Mainloop mainloop) {
  const std::string name = tuning_arch(arch, mainloop);
  auto found = inputs.config_files.find(name);
  return found != inputs.config_files.end() ? TuningTable::load_file(found->second)
                                            : TuningTable::embedded(name, mainloop);
}

}  // namespace

Result<std::vector<Job>, std::string> list_jobs(const BuildInputs& inputs) {
  std::vector<Job> jobs;
  for (const std::string& arch : inputs.archs) {
    if (!find_target(arch))
      return fail(fmt::format("unsupported arch '{}' (supported: {})", arch, target_names()));
    auto table = table_for(inputs, arch, attention_mainloop(arch));
    if (!table) return fail(table.error());
    // A 9.0 device's prefill calls take sm_90a's wgmma kernel by default.
    std::optional<TuningTable> wgmma_table;
    if (runs_wgmma_kernels(arch)) {
      auto loaded = table_for(inputs, wgmma_arch(), Mainloop::wgmma);
      if (!loaded) return fail(loaded.error());
      wgmma_table = std::move(*loaded);
    }
    const TuningTable* wgmma = wgmma_table ? &*wgmma_table : nullptr;
    for (const VariantSet& set : inputs.variant_sets) {
      for (const ir::Variant& variant : set.module.variants) {
        auto add = [&](const TileLookup& tiles) -> Result<bool, std::string> {
          auto more = jobs_of(set, variant, arch, tiles, wgmma, inputs.kinds);
          if (!more) return fail(more.error());
          for (Job& job : *more) jobs.push_back(std::move(job));
          return true;
        };
        if (auto added = add(table_tiles(variant, arch, *table)); !added) return fail(added.error());
        for (const TileOverride& o : inputs.tile_overrides) {
          if (!contains(o.variants, variant.name) || !contains(o.archs, arch)) continue;
          if (std::string why = validate_tile_for(arch, o.tile, kv_elements_of(variant));
              !why.empty())
            return fail(fmt::format("{}: variant {}: tile override {},{},{},{}: {}", set.path,
                                    variant.name, o.tile.block_m, o.tile.block_n, o.tile.warps,
                                    o.tile.stages, why));
          if (auto added = add(table_tiles(variant, arch, *table, o.tile)); !added)
            return fail(added.error());
        }
      }
    }
  }
  for (const std::string& file : inputs.kernel_files) {
    auto recorded = recorded_jobs(file);
    if (!recorded) return fail(recorded.error());
    for (Job& job : *recorded) jobs.push_back(std::move(job));
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.key < b.key; });
  // A key names the source, so equal keys are the same kernel (a variant listed in two
  // files, or an override equal to the config's tile): built once.
  jobs.erase(std::unique(jobs.begin(), jobs.end(),
                         [](const Job& a, const Job& b) { return a.key == b.key; }),
             jobs.end());
  return jobs;
}

std::vector<Job> shard(const std::vector<Job>& jobs, int index, int count) {
  std::vector<Job> out;
  for (size_t i = static_cast<size_t>(index); i < jobs.size(); i += static_cast<size_t>(count))
    out.push_back(jobs[i]);
  return out;
}

Result<std::pair<int, int>, std::string> parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  int index = -1, count = 0;
  auto number = [](std::string_view digits, int* out) {
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *out);
    return ec == std::errc() && end == digits.data() + digits.size() && !digits.empty();
  };
  if (slash == std::string::npos || !number(std::string_view(text).substr(0, slash), &index) ||
      !number(std::string_view(text).substr(slash + 1), &count) || count < 1 || count > 4096 ||
      index < 0 || index >= count)
    return fail(fmt::format("'{}' is not I/N with 0 <= I < N <= 4096 (e.g. 0/4)", printable(text, 40)));
  return std::make_pair(index, count);
}

Result<Manifest, std::string> read_manifest(const std::filesystem::path& path) {
  const std::string name = printable(path.string());
  auto text = read_text_file(path.string(), kMaxManifestBytes);
  if (!text) return fail(fmt::format("{}: cannot read the manifest: {}", name, text.error()));
  if (std::string where = json_too_deep_at(*text, kMaxManifestDepth); !where.empty())
    return fail(fmt::format("{}: nested deeper than a manifest is, at {}", name, where));
  const json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return fail(fmt::format("{}: not a JSON object", name));
  auto bad = [&](const std::string& what) { return fail(fmt::format("{}: {}", name, what)); };
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "variants" && it.key() != "arch" && it.key() != "kinds" &&
        it.key() != "configs" && it.key() != "tiles" && it.key() != "kernels")
      return bad(fmt::format(
          "unknown field \"{}\" (known: variants, kernels, arch, kinds, configs, tiles)",
                             printable(it.key(), 40)));
  Manifest m;
  const std::filesystem::path base = path.parent_path();
  auto relative = [&](const std::string& file) { return (base / file).lexically_normal().string(); };

  auto variants = string_list(doc, "variants");
  if (!variants) return bad(variants.error());
  for (const std::string& f : *variants) m.variant_files.push_back(relative(f));
  auto kernels = string_list(doc, "kernels");
  if (!kernels) return bad(kernels.error());
  for (const std::string& f : *kernels) m.kernel_files.push_back(relative(f));
  auto archs = string_list(doc, "arch");
  if (!archs) return bad(archs.error());
  for (const std::string& a : *archs) {
    if (!find_target(a)) return bad(fmt::format("\"arch\": unsupported arch '{}' (supported: {})",
                                                printable(a, 40), target_names()));
    m.archs.push_back(a);
  }
  auto kinds = string_list(doc, "kinds");
  if (!kinds) return bad(kinds.error());
  for (const std::string& k : *kinds) {
    KernelKind kind;
    if (!parse_kernel_kind(k, &kind))
      return bad(fmt::format("\"kinds\": unknown kernel kind '{}'", printable(k, 40)));
    m.kinds.push_back(kind);
  }
  if (auto it = doc.find("configs"); it != doc.end()) {
    if (!it->is_object()) return bad("\"configs\" must map an arch to a config file");
    for (auto c = it->begin(); c != it->end(); ++c) {
      if (!find_target(c.key()))
        return bad(fmt::format("\"configs\": unsupported arch '{}'", printable(c.key(), 40)));
      if (!c->is_string()) return bad(fmt::format("\"configs\": \"{}\" must be a file name", c.key()));
      m.config_files[c.key()] = relative(c->get<std::string>());
    }
  }
  if (auto it = doc.find("tiles"); it != doc.end()) {
    if (!it->is_array()) return bad("\"tiles\" must be an array of objects");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      if (!item.is_object() || !item.contains("tile") || !item["tile"].is_string())
        return bad(fmt::format("\"tiles\"[{}] must be an object with \"tile\": \"BM,BN,W,S\"", i));
      TileOverride o;
      auto tile = parse_tile_override(item["tile"].get<std::string>());
      if (!tile) return bad(fmt::format("\"tiles\"[{}]: {}", i, tile.error()));
      o.tile = *tile;
      auto names = string_list(item, "variants");
      if (!names) return bad(fmt::format("\"tiles\"[{}]: {}", i, names.error()));
      o.variants = *names;
      auto tile_archs = string_list(item, "arch");
      if (!tile_archs) return bad(fmt::format("\"tiles\"[{}]: {}", i, tile_archs.error()));
      o.archs = *tile_archs;
      for (auto f = item.begin(); f != item.end(); ++f)
        if (f.key() != "tile" && f.key() != "variants" && f.key() != "arch")
          return bad(fmt::format("\"tiles\"[{}]: unknown field \"{}\"", i, printable(f.key(), 40)));
      m.tile_overrides.push_back(std::move(o));
    }
  }
  return m;
}

}  // namespace attnjit::aot
