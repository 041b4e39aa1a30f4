#include "tools/tune/plan.h"

#include <fmt/format.h>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine.h"

namespace attnjit::tune {

namespace {

// A bucket's head_dim_max when it has none.
constexpr int kUnbounded = TuningBucket{}.head_dim_max;

// The rule Engine::paged enforces at launch: a block holds whole tokens, each with all
// the query heads of its KV head.
std::string paged_rows_problem(const TileConfig& tile, const ir::Variant& v) {
  if (tile.block_m >= v.group_size()) return "";
  return fmt::format("BLOCK_M {} cannot hold the {} query heads of one KV head of variant {}",
                     tile.block_m, v.group_size(), v.name);
}

}  // namespace

bool same_conditions(const TuningBucket& a, const TuningBucket& b) {
  return a.head_dim_min == b.head_dim_min && a.head_dim_max == b.head_dim_max &&
         a.causal_only == b.causal_only && a.sliding_window_only == b.sliding_window_only &&
         a.score_transform_only == b.score_transform_only && a.kv_8bit_only == b.kv_8bit_only;
}

Features features_of(const ir::Variant& v) {
  Features f;
  f.head_dim = v.head_dim;
  f.causal = v.band.upper_offset.has_value();
  f.sliding_window = v.band.lower_offset.has_value();
  f.score_transform = v.score != nullptr;
  f.kv_8bit = dtype_bytes(v.kv_type) == 1;
  return f;
}

std::optional<int> bucket_of(const TuningTable& table, TuneKind kind, const Features& f) {
  return table.pick_bucket(tune_kind_name(kind), f.head_dim, f.causal, f.sliding_window,
                           f.score_transform, f.kv_8bit);
}

std::optional<TileConfig> tile_of(const TuningTable& table, TuneKind kind, const Features& f) {
  return table.pick(tune_kind_name(kind), f.head_dim, f.causal, f.sliding_window,
                    f.score_transform, f.kv_8bit);
}

TuningBucket new_bucket_conditions(const Features& f) {
  TuningBucket b;
  b.head_dim_min = b.head_dim_max = f.head_dim;
  b.causal_only = f.causal;
  b.sliding_window_only = f.sliding_window;
  b.score_transform_only = f.score_transform;
  b.kv_8bit_only = f.kv_8bit;
  return b;
}

std::string describe_conditions(const TuningBucket& b) {
  std::string text;
  if (b.head_dim_min == b.head_dim_max) text = fmt::format("head_dim {}", b.head_dim_min);
  else if (b.head_dim_max == kUnbounded)
    text = b.head_dim_min > 0 ? fmt::format("head_dim >= {}", b.head_dim_min) : "any head_dim";
  else if (b.head_dim_min == 0) text = fmt::format("head_dim <= {}", b.head_dim_max);
  else text = fmt::format("head_dim {}..{}", b.head_dim_min, b.head_dim_max);
  if (b.causal_only) text += ", causal";
  if (b.sliding_window_only) text += ", sliding_window";
  if (b.score_transform_only) text += ", score_transform";
  if (b.kv_8bit_only) text += ", kv_8bit";
  return text;
}

std::string Task::describe() const {
  const std::string where = new_bucket() ? "new bucket" : fmt::format("bucket {}", bucket);
  return fmt::format("{} {} ({})", tune_kind_name(kind), where, describe_conditions(conditions));
}

Result<std::vector<Task>, std::string> plan_tasks(const std::vector<ir::Variant>& variants,
                                                  const std::vector<TuneKind>& kinds,
                                                  const TuningTable& table,
                                                  const TuningTable& fallback) {
  std::vector<Task> tasks;
  for (const ir::Variant& v : variants) {
    const std::vector<TuneKind> served = kinds_of(v);
    bool any = false;
    for (TuneKind kind : kinds) {
      if (std::find(served.begin(), served.end(), kind) == served.end()) continue;
      any = true;
      const Features f = features_of(v);
      Task task;
      task.kind = kind;
      if (std::optional<int> bucket = bucket_of(table, kind, f)) {
        task.bucket = *bucket;
        task.baseline = *tile_of(table, kind, f);
      } else if (std::optional<TileConfig> tile = tile_of(fallback, kind, f)) {
        task.baseline = *tile;
      } else {
        return fail(fmt::format("neither the config nor the built-in table for {} has a \"{}\" "
                                "table to start from",
                                fallback.arch(), tune_kind_name(kind)));
      }
      task.conditions = task.new_bucket() ? new_bucket_conditions(f)
                                          : table.kind(tune_kind_name(kind))->buckets[task.bucket];
      task.conditions.config = task.baseline;
      auto same = std::find_if(tasks.begin(), tasks.end(), [&](const Task& t) {
        return t.kind == kind && t.bucket == task.bucket &&
               same_conditions(t.conditions, task.conditions);
      });
      if (same != tasks.end()) {
        same->variants.push_back(v);
      } else {
        task.variants.push_back(v);
        tasks.push_back(std::move(task));
      }
    }
    if (!any) {
      std::string wanted;
      for (TuneKind k : kinds) wanted += fmt::format("{}{}", wanted.empty() ? "" : ", ", tune_kind_name(k));
      return fail(fmt::format("variant {} (kv_cache = {}) has no kernel of kind {}", v.name,
                              ir::kv_cache_kind_name(v.kv_cache.kind), wanted));
    }
  }
  return tasks;
}

std::string static_prune_reason(const Task& task, const TileConfig& tile, const std::string& arch) {
  const int smem_limit = shared_memory_limit(arch);
  const Mainloop mainloop = own_mainloop(arch);
  // The loader checks a bounded bucket's config at the bucket's largest head_dim.
  if (task.conditions.head_dim_max != kUnbounded)
    if (std::string why = validate_tile(
            tile, config_kv_elements(task.conditions.head_dim_max, task.conditions.kv_8bit_only),
            smem_limit, mainloop);
        !why.empty())
      return why;
  if (mainloop == Mainloop::wgmma) {
    // The engine's choice with an override tile: the variant must be one the main loop
    // takes, and the tile must pass its rules at the variant's head_dim.
    for (const ir::Variant& v : task.variants) {
      auto spec = choose_wgmma_prefill(v, nullptr, tile);
      if (!spec) return spec.error();
      if (!*spec) return fmt::format("the wgmma main loop does not take variant {}: {}", v.name,
                                     wgmma_variant_problem(v, KernelKind::prefill));
    }
    return "";
  }
  for (const ir::Variant& v : task.variants) {
    if (task.kind != TuneKind::prefill)
      if (std::string why = paged_rows_problem(tile, v); !why.empty()) return why;
    // The engine's own check of an override tile for this variant (its K/V layout).
    const std::string table_kind = task.kind == TuneKind::paged_decode ? "paged_decode" : "";
    if (auto checked = choose_tile(v, kernel_kind(task.kind), arch, nullptr, tile, table_kind);
        !checked)
      return checked.error();
  }
  return "";
}

void add_static_candidates(Task& task, const std::string& arch) {
  task.candidates.clear();
  auto add = [&](const TileConfig& tile, bool baseline) {
    Candidate c;
    c.tile = tile;
    c.baseline = baseline;
    c.pruned = static_prune_reason(task, tile, arch);
    task.candidates.push_back(std::move(c));
  };
  add(task.baseline, true);
  for (const TileConfig& tile : enumerate_tiles(task.kind, own_mainloop(arch)))
    if (tile != task.baseline) add(tile, false);
}

}  // namespace attnjit::tune
