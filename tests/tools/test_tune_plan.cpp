// The tuner's enumeration, static pruning and grouping of variants by config entry.
#include <algorithm>
#include <set>

#include "catch.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine.h"
#include "tools/tune/plan.h"
#include "tools/tune/search_space.h"
#include "tune_test_support.h"

using namespace attnjit;
using namespace attnjit::tune;
using attnjit::testing::shipped_variants;
using attnjit::testing::variants_from;

namespace {

TuningTable builtin(const std::string& arch) {
  auto table = TuningTable::embedded(arch);
  REQUIRE(table.ok());
  return *table;
}

std::vector<Task> plan(const std::vector<ir::Variant>& variants, std::vector<TuneKind> kinds,
                       const std::string& arch) {
  const TuningTable table = builtin(arch);
  auto tasks = plan_tasks(variants, kinds, table, table);
  REQUIRE(tasks.ok());
  for (Task& t : *tasks) add_static_candidates(t, arch);
  return *tasks;
}

const Task& task_for(const std::vector<Task>& tasks, const std::string& variant) {
  for (const Task& t : tasks)
    for (const ir::Variant& v : t.variants)
      if (v.name == variant) return t;
  FAIL("no task for " << variant);
  return tasks.front();
}

size_t kept(const Task& t) {
  return std::count_if(t.candidates.begin(), t.candidates.end(),
                       [](const Candidate& c) { return c.pruned.empty(); });
}

const char* kTwoSmallHeads = R"(
variant d64 { heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; }
variant d32 { heads = 8 / 8; head_dim = 32; q = fp16; kv = fp16; out = fp16; kv_cache = contiguous; mask = causal; }
)";

}  // namespace

TEST_CASE("each kind enumerates its whole space once", "[tune]") {
  for (TuneKind kind : {TuneKind::prefill, TuneKind::paged, TuneKind::paged_decode}) {
    INFO(tune_kind_name(kind));
    const SearchSpace& s = search_space(kind);
    const std::vector<TileConfig> tiles = enumerate_tiles(kind);
    const size_t rows = s.fixed_block_m > 0 ? 1 : s.rows_per_warp.size();
    CHECK(tiles.size() == s.warps.size() * rows * s.block_n.size() * s.stages.size() *
                              s.min_blocks_per_sm.size() * (s.hopper_schedules ? 8 : 1));
    std::set<std::string> names;
    for (const TileConfig& t : tiles) {
      names.insert(tile_name(t));
      CHECK(t.num_splits == 0);
      if (s.fixed_block_m > 0) CHECK(t.block_m == s.fixed_block_m);
      else CHECK((t.block_m == 16 * t.warps || t.block_m == 32 * t.warps));
    }
    CHECK(names.size() == tiles.size());
  }
  CHECK(enumerate_tiles(TuneKind::prefill).size() == 72);
  CHECK(enumerate_tiles(TuneKind::paged).size() == 48);
  CHECK(enumerate_tiles(TuneKind::paged_decode).size() == 144);
  // Fixed splits stay within the merge kernel's parts.
  for (int n : decode_split_counts()) CHECK((n >= 1 && n <= 64));
}

TEST_CASE("every kept candidate validates and the baseline comes first", "[tune]") {
  for (const std::string arch : {"sm_80", "sm_86", "sm_90"}) {
    for (const std::string file : {"default.attn", "paged.attn"}) {
      const std::vector<Task> tasks =
          plan(shipped_variants(file), {TuneKind::prefill, TuneKind::paged, TuneKind::paged_decode},
               arch);
      for (const Task& t : tasks) {
        INFO(arch << " " << t.describe());
        REQUIRE(!t.candidates.empty());
        CHECK(t.candidates.front().baseline);
        CHECK(t.candidates.front().tile == t.baseline);
        CHECK(std::count_if(t.candidates.begin(), t.candidates.end(),
                            [](const Candidate& c) { return c.baseline; }) == 1);
        CHECK(t.candidates.size() == enumerate_tiles(t.kind).size() +
                                         (std::find(enumerate_tiles(t.kind).begin(),
                                                    enumerate_tiles(t.kind).end(),
                                                    t.baseline) == enumerate_tiles(t.kind).end()));
        CHECK(kept(t) > 0);
        for (const Candidate& c : t.candidates) {
          if (!c.pruned.empty()) continue;
          INFO(tile_name(c.tile));
          for (const ir::Variant& v : t.variants)
            CHECK(validate_tile(c.tile, kv_elements_of(v), shared_memory_limit(arch)) == "");
          if (!t.new_bucket() && t.conditions.head_dim_max < (1 << 30))
            CHECK(validate_tile(c.tile,
                                config_kv_elements(t.conditions.head_dim_max,
                                                   t.conditions.kv_8bit_only),
                                shared_memory_limit(arch)) == "");
        }
      }
    }
  }
}

TEST_CASE("a candidate over the shared memory limit is pruned", "[tune]") {
  const std::vector<Task> tasks = plan(shipped_variants("default.attn"), {TuneKind::prefill}, "sm_90");
  const Task& d128 = task_for(tasks, "llama3_gqa_causal");
  // 256 query rows and three stages of 128 keys at head_dim 128: far over 227 KiB.
  const TileConfig big{256, 128, 8, 3};
  bool found = false;
  for (const Candidate& c : d128.candidates)
    if (c.tile == big) {
      found = true;
      CHECK(c.pruned.find("shared memory") != std::string::npos);
      CHECK(validate_tile(big, config_kv_elements(128, false), shared_memory_limit("sm_90")) != "");
    }
  CHECK(found);
  // Each pruned candidate is one the validator (or the engine's spec check) rejects,
  // and the count follows: d64 fits everything on sm_90.
  const Task& d64 = task_for(tasks, "mha_d64_bidir");
  CHECK(kept(d64) == d64.candidates.size());
  size_t rejected = 0;
  for (const Candidate& c : d128.candidates)
    rejected += validate_tile(c.tile, config_kv_elements(128, false), shared_memory_limit("sm_90")) != "";
  CHECK(kept(d128) == d128.candidates.size() - rejected);
  CHECK(rejected > 0);

  // The same tile fits on sm_90 at head_dim 64, and not in sm_86's smaller shared memory.
  const std::vector<Task> ampere = plan(shipped_variants("default.attn"), {TuneKind::prefill}, "sm_86");
  CHECK(kept(task_for(ampere, "mha_d64_bidir")) < kept(d64));
}

TEST_CASE("32-row warps are pruned past head_dim 128", "[tune]") {
  const std::vector<Task> tasks = plan(shipped_variants("default.attn"), {TuneKind::prefill}, "sm_90");
  const Task& d256 = task_for(tasks, "d256_causal");
  for (const Candidate& c : d256.candidates)
    if (c.tile.block_m == 32 * c.tile.warps) CHECK(!c.pruned.empty());
}

TEST_CASE("a paged tile must hold a token's query heads", "[tune]") {
  // 32 query heads per KV head: the 16-row decode tile cannot hold one token.
  const auto variants = variants_from(
      "variant mqa { heads = 32 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16;"
      " kv_cache = paged(page_size = 16); }");
  const std::vector<Task> tasks = plan(variants, {TuneKind::paged}, "sm_90");
  REQUIRE(tasks.size() == 1);
  TileConfig small{16, 32, 1, 2};
  CHECK(static_prune_reason(tasks[0], small, "sm_90").find("query heads") != std::string::npos);
  TileConfig big{64, 32, 4, 2};
  CHECK(static_prune_reason(tasks[0], big, "sm_90") == "");
}

TEST_CASE("the tuner picks the config entry the engine uses", "[tune]") {
  // features_of must read a variant as Engine::make_spec does, or the tuner would tune
  // one bucket and the engine use another.
  for (const std::string file : {"default.attn", "paged.attn"}) {
    for (const ir::Variant& v : shipped_variants(file)) {
      for (TuneKind kind : kinds_of(v)) {
        for (const std::string arch : {"sm_80", "sm_90"}) {
          INFO(v.name << " " << tune_kind_name(kind) << " " << arch);
          const Engine engine;
          auto spec = engine.make_spec(v, kernel_kind(kind), arch,
                                       kind == TuneKind::paged_decode ? "paged_decode" : "");
          REQUIRE(spec.ok());
          CHECK(tile_of(builtin(arch), kind, features_of(v)) == spec->tile);
        }
      }
    }
  }
}

TEST_CASE("variants of one bucket share a task; a default one gets a new bucket", "[tune]") {
  const std::vector<Task> tasks = plan(variants_from(kTwoSmallHeads), {TuneKind::prefill}, "sm_90");
  // Both fall in sm_90's "head_dim_max": 64 bucket (index 2).
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].bucket == 2);
  CHECK(tasks[0].variants.size() == 2);
  CHECK(tasks[0].describe() == "prefill bucket 2 (head_dim <= 64)");

  // llama3 (d128, causal) falls to the default: a new bucket for d128 causal masks.
  const std::vector<Task> llama = plan(shipped_variants("default.attn"), {TuneKind::prefill}, "sm_90");
  const Task& t = task_for(llama, "llama3_gqa_causal");
  CHECK(t.new_bucket());
  CHECK(t.conditions.head_dim_min == 128);
  CHECK(t.conditions.head_dim_max == 128);
  CHECK(t.conditions.causal_only);
  CHECK_FALSE(t.conditions.sliding_window_only);
  CHECK(t.describe() == "prefill new bucket (head_dim 128, causal)");
}

TEST_CASE("a variant no requested kind applies to is an error", "[tune]") {
  const TuningTable table = builtin("sm_90");
  auto tasks = plan_tasks(shipped_variants("paged.attn"), {TuneKind::prefill}, table, table);
  REQUIRE_FALSE(tasks.ok());
  CHECK(tasks.error().find("has no kernel of kind prefill") != std::string::npos);
}

TEST_CASE("sm_90a's config tunes the wgmma prefill kernel", "[tune][hopper]") {
  // Its tiles: BLOCK_M 128 in 12 warps or 192 in 16; BLOCK_N, the stages and the
  // schedule vary.
  const std::vector<TileConfig> tiles = enumerate_tiles(TuneKind::prefill, Mainloop::wgmma);
  CHECK(tiles.size() == 2 * kHopperBlockNs.size() * 3 * 8);
  std::set<std::string> names;
  for (const TileConfig& t : tiles) {
    CHECK(((t.block_m == 128 && t.warps == 12) || (t.block_m == 192 && t.warps == 16)));
    names.insert(tile_name(t));
  }
  CHECK(names.size() == tiles.size());

  auto table = TuningTable::embedded("sm_90a", Mainloop::wgmma);
  REQUIRE(table.ok());
  auto tasks = plan_tasks(shipped_variants("default.attn"), {TuneKind::prefill}, *table, *table);
  REQUIRE(tasks.ok());
  REQUIRE(!tasks->empty());
  for (Task& t : *tasks) {
    add_static_candidates(t, "sm_90a");
    INFO(t.describe());
    REQUIRE(!t.candidates.empty());
    CHECK(t.candidates.front().baseline);
    CHECK(t.candidates.front().pruned == "");
    // Up to head_dim 128 BLOCK_N and the stages vary; at 256 only 128x64 and 128x80 with
    // two stages fit shared memory (Q 64 KiB + 2 x 64 or 80 KiB of K and V).
    CHECK(kept(t) >= (t.conditions.head_dim_max > 128 ? 16u : 32u));
    for (const Candidate& c : t.candidates) {
      INFO(tile_name(c.tile));
      for (const ir::Variant& v : t.variants) {
        // Kept exactly when the main loop's own rules take the tile for the variant.
        const std::string rule = hopper_tile_problem(c.tile, v.head_dim, shared_memory_limit("sm_90a"));
        if (!rule.empty()) CHECK(c.pruned != "");
      }
      if (c.pruned.empty())
        for (const ir::Variant& v : t.variants) {
          auto spec = choose_wgmma_prefill(v, nullptr, c.tile);
          REQUIRE(spec.ok());
          REQUIRE(spec->has_value());
          CHECK(spec_mainloop(**spec) == Mainloop::wgmma);
        }
    }
  }
  // The schedules are candidates of their own, named.
  const Task& d64 = task_for(*tasks, "mha_d64_bidir");
  CHECK(std::any_of(d64.candidates.begin(), d64.candidates.end(), [](const Candidate& c) {
    return c.pruned.empty() && tile_name(c.tile) == "128x128 w12 s3 overlap pingpong persistent";
  }));
  // At head_dim 128, BLOCK_N 256 needs more accumulator registers than a consumer has.
  const Task& d128 = task_for(*tasks, "llama3_gqa_causal");
  for (const Candidate& c : d128.candidates)
    if (c.tile.block_n == 256) CHECK(c.pruned.find("register") != std::string::npos);
}

TEST_CASE("sm_90a's config holds prefill only", "[tune][hopper]") {
  CHECK(kinds_problem("sm_90a", {TuneKind::prefill}) == "");
  CHECK(kinds_problem("sm_90a", {TuneKind::prefill, TuneKind::paged}).find("wgmma prefill kernel only") !=
        std::string::npos);
  CHECK(kinds_problem("sm_90", {TuneKind::paged_decode}) == "");
}
