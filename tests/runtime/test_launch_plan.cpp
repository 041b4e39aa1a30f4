// The launch planner: every kernel a call can launch is one kernels_a_variant_can_need
// lists (the ahead-of-time builder's list), and every listed kernel some call launches;
// grids, threads, shared memory, workspace and the split choice of planned calls.
#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/tuning_config.h"
#include "runtime/plan/launch_plan.h"

using namespace attnjit;

namespace {

// Every variant of every file in configs/variants, with its file's name.
std::vector<ir::Variant> shipped_variants() {
  std::vector<ir::Variant> out;
  const std::filesystem::path dir = std::filesystem::path(ATTNJIT_SOURCE_DIR) / "configs/variants";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".attn") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 2);
  for (const auto& file : files) {
    auto module = compile_variants_file(file.string());
    REQUIRE(module.ok());
    for (const ir::Variant& v : module->variants) out.push_back(v);
  }
  return out;
}

ir::Variant variant_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<test>", text}));
  return module->variants.at(0);
}

TuningTable table_for(const std::string& arch) {
  auto table = TuningTable::embedded(arch);
  REQUIRE(table.ok());
  return *table;
}

DeviceFacts h200(int segments_per_sm = 2, int stream_per_sm = 2) {
  DeviceFacts d;
  d.arch = "sm_90";
  d.sm_count = 132;
  d.segments_blocks_per_sm = segments_per_sm;
  d.stream_blocks_per_sm = stream_per_sm;
  return d;
}

// The paged call of `seqs` sequences with `q_len` new tokens each and `kv_len` keys.
PagedCall paged_call(int seqs, int q_len, long long kv_len, int num_splits = 0) {
  PagedCall c;
  c.num_seqs = seqs;
  c.total_q = seqs * q_len;
  c.max_seqlen_q = q_len;
  c.max_seqlen_k = kv_len;
  c.max_blocks_per_seq = static_cast<int>((kv_len + 15) / 16);
  c.num_splits = num_splits;
  return c;
}

const char* const kPaged = R"(variant llama3_paged {
  heads = 32 / 8;  head_dim = 128;
  q = bf16; kv = bf16; out = bf16;
  kv_cache = paged(page_size = 16, layout = NHD);
  mask = causal;
})";

}  // namespace

TEST_CASE("every kernel a planned call launches is on the variant's list, and each listed one is launched",
          "[plan]") {
  const std::vector<ir::Variant> variants = shipped_variants();
  size_t plans = 0;
  for (const char* arch : {"sm_80", "sm_86", "sm_89", "sm_90"}) {
    const TuningTable table = table_for(arch);
    for (const ir::Variant& v : variants) {
      INFO(v.name << " on " << arch);
      auto listed = kernels_a_variant_can_need(v, arch, table);
      INFO((listed.ok() ? "" : listed.error()));
      REQUIRE(listed.ok());
      std::set<std::string> can;
      for (const KernelSpec& s : *listed) {
        CHECK(s.arch == arch);
        CHECK(unsupported_spec(s).empty());
        CHECK(can.insert(s.uri()).second);  // no duplicates
      }
      const TileLookup tiles = table_tiles(v, arch, table);
      std::set<std::string> launched;
      // A launch outside the list must be one codegen refuses (the engine's call fails
      // there, as it did before plans existed).
      auto record = [&](const LaunchPlan& plan) {
        ++plans;
        for (const PlannedLaunch& l : plan.launches) {
          const KernelSpec spec = spec_for(v, arch, l.role, l.tile);
          INFO("launches " << spec.uri());
          if (unsupported_spec(spec).empty()) CHECK(can.count(spec.uri()) == 1);
          else CHECK(can.count(spec.uri()) == 0);
          launched.insert(spec.uri());
          CHECK(l.threads == geometry_of(spec).threads);
        }
      };
      for (int sms : {8, 132}) {
        for (int per_sm : {1, 3}) {
          for (int stream_per_sm : {0, 4}) {
            DeviceFacts device;
            device.arch = arch;
            device.sm_count = sms;
            device.segments_blocks_per_sm = per_sm;
            device.stream_blocks_per_sm = stream_per_sm;
            if (v.kv_cache.kind == ir::KvCacheKind::contiguous) {
              for (int seqlen : {1, 100, 5000}) {
                auto plan = plan_for_call(v, PrefillCall{2, seqlen}, device, tiles);
                REQUIRE(plan.ok());
                record(*plan);
              }
            } else {
              for (int seqs : {1, 7, 300, 5000})
                for (int q_len : {1, 2, 3, 17, 300})
                  for (long long kv : {0LL, 16LL, 100LL, 5000LL, 100000LL})
                    for (int splits : {0, 1, 2, 7, 64, kStreamSplit}) {
                      if (seqs * static_cast<long long>(q_len) > 100000) continue;
                      PagedCall call = paged_call(seqs, q_len, std::max(kv, 300LL), splits);
                      call.max_seqlen_k = kv;  // 0: the table's capacity
                      const bool stream_ok =
                          uses_decode_tile(v, q_len) && seqs <= kStreamSplitMaxSeqs;
                      auto queries = occupancy_needed(v, call, arch, sms, tiles);
                      auto plan = plan_for_call(v, call, device, tiles);
                      if (splits == kStreamSplit && !stream_ok) {
                        CHECK_FALSE(plan.ok());  // the argument checks refuse it first
                        continue;
                      }
                      INFO("seqs " << seqs << " q_len " << q_len << " kv " << kv << " splits "
                                   << splits);
                      REQUIRE(queries.ok());
                      REQUIRE(plan.ok());
                      for (const OccupancyQuery& q : *queries)
                        CHECK(can.count(spec_for(v, arch, q.role, *tiles(q.role.kind,
                                                                          q.role.tuning_kind))
                                            .uri()) == 1);
                      record(*plan);
                    }
            }
            for (int rows : {1, 1000}) {
              auto merge = plan_for_call(v, MergeCall{rows, v.q_heads}, device, tiles);
              REQUIRE(merge.ok());
              record(*merge);
            }
            if (v.kv_cache.kind == ir::KvCacheKind::paged) {
              auto write = plan_for_call(v, CacheWriteCall{33}, device, tiles);
              REQUIRE(write.ok());
              record(*write);
            }
          }
        }
      }
      // No kernel is listed that no call launches.
      for (const std::string& uri : can) {
        INFO("listed but never launched: " << uri);
        CHECK(launched.count(uri) == 1);
      }
    }
  }
  CHECK(plans > 1000);
}

TEST_CASE("the list: kinds per KV cache, both paged tiles, every split, merges by output type",
          "[plan]") {
  const TuningTable sm90 = table_for("sm_90");
  auto roles = [&](const ir::Variant& v) {
    auto listed = kernels_a_variant_can_need(v, "sm_90", sm90);
    REQUIRE(listed.ok());
    std::vector<std::string> out;
    for (const KernelSpec& s : *listed)
      out.push_back(std::string(kernel_kind_name(s.kind)) + "/" +
                    std::to_string(static_cast<int>(s.kv_split)) + "/m" +
                    std::to_string(s.tile.block_m));
    return out;
  };
  // bf16 paged, 4 query heads per KV head: the general tile (BLOCK_M 64) whole and in
  // segments, the decode tile (BLOCK_M 16) whole, in segments and streamed, the
  // segments' merge, cache_write, the merge of two results.
  CHECK(roles(variant_from(kPaged)) ==
        std::vector<std::string>{"paged/0/m64", "paged/1/m64", "paged/0/m16", "paged/1/m16",
                                 "paged/2/m16", "merge/1/m16", "cache_write/0/m16",
                                 "merge/0/m16"});
  // An fp8 output has no merge of two results (its parts would be fp8).
  const ir::Variant fp8_out = variant_from(
      "variant g { heads = 16 / 8; head_dim = 256; q = bf16; kv = int8 per_token_head; "
      "out = fp8_e4m3; kv_cache = paged(page_size = 16); mask = causal; }");
  const std::vector<std::string> fp8_roles = roles(fp8_out);
  CHECK(std::count(fp8_roles.begin(), fp8_roles.end(), "merge/0/m16") == 0);
  CHECK(std::count(fp8_roles.begin(), fp8_roles.end(), "merge/1/m16") == 1);
  // Contiguous K/V: prefill and the merge.
  CHECK(roles(variant_from("variant c { heads = 8 / 8; head_dim = 64; q = bf16; kv = bf16; "
                           "out = bf16; kv_cache = contiguous; }")) ==
        std::vector<std::string>{"prefill/0/m128", "merge/0/m16"});
  // More than 16 query heads per KV head: no decode tile.
  const std::vector<std::string> mqa = roles(variant_from(
      "variant m { heads = 32 / 1; head_dim = 128; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = paged(page_size = 16); }"));
  CHECK(std::count(mqa.begin(), mqa.end(), "paged/2/m16") == 0);
  CHECK(std::count(mqa.begin(), mqa.end(), "paged/0/m64") == 1);
  // f32 K/V cannot be written by cache_write: left out, the attention kernels stay.
  const std::vector<std::string> f32_kv = roles(variant_from(
      "variant f { heads = 8 / 8; head_dim = 64; q = bf16; kv = f32; out = bf16; "
      "kv_cache = paged(page_size = 16); }"));
  CHECK(std::count(f32_kv.begin(), f32_kv.end(), "cache_write/0/m16") == 0);
  CHECK(std::count(f32_kv.begin(), f32_kv.end(), "paged/0/m64") == 1);
}

TEST_CASE("one override tile for every table lists each paged kernel once", "[plan]") {
  const ir::Variant v = variant_from(kPaged);
  const TuningTable sm90 = table_for("sm_90");
  auto listed =
      kernels_a_variant_can_need(v, "sm_90", table_tiles(v, "sm_90", sm90, TileConfig{64, 32, 4, 2}));
  REQUIRE(listed.ok());
  // none, segments, stream (decode table, same tile), two merges, cache_write.
  CHECK(listed->size() == 6);
}

TEST_CASE("a tile that cannot hold a KV head's query heads is refused by plan and list", "[plan]") {
  const ir::Variant v = variant_from(
      "variant w { heads = 64 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = paged(page_size = 16); }");
  const TuningTable sm90 = table_for("sm_90");
  const TileLookup tiles = table_tiles(v, "sm_90", sm90, TileConfig{16, 64, 1, 2});
  const std::string expected = "BLOCK_M 16 cannot hold the 32 query heads of one KV head";
  auto plan = plan_for_call(v, paged_call(2, 5, 1000), h200(), tiles);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error() == expected);
  auto listed = kernels_a_variant_can_need(v, "sm_90", tiles);
  REQUIRE_FALSE(listed.ok());
  CHECK(listed.error() == expected);
  // A tile error is the lookup's, unchanged.
  auto bad = plan_for_call(v, paged_call(2, 5, 1000), h200(),
                           table_tiles(v, "sm_90", sm90, TileConfig{96, 64, 4, 2}));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().rfind("tile config for variant w on sm_90: BLOCK_M must be", 0) == 0);
}

TEST_CASE("planned grids, threads and shared memory", "[plan]") {
  const TuningTable sm90 = table_for("sm_90");
  // Prefill, d128 causal GQA on sm_90: BLOCK_M 256, 8 warps, 2 stages of BLOCK_N 64.
  const ir::Variant prefill = variant_from(
      "variant l { heads = 32 / 8; head_dim = 128; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = contiguous; mask = causal; }");
  auto p = plan_for_call(prefill, PrefillCall{2, 500}, h200(), table_tiles(prefill, "sm_90", sm90));
  REQUIRE(p.ok());
  REQUIRE(p->launches.size() == 1);
  const PlannedLaunch& l = p->launches[0];
  CHECK(l.role == KernelRole{KernelKind::prefill, "", KvSplit::none});
  CHECK(l.grid[0] == 2);   // ceil(500 / 256)
  CHECK(l.grid[1] == 32);  // query heads
  CHECK(l.grid[2] == 2);   // batch
  CHECK(l.threads == 256);
  // Q: 256 rows, K and V: 2 stages x 64 rows each, rows of 128 bf16 padded by 16 bytes.
  CHECK(l.shared_bytes == (256 + 2 * 2 * 64) * (2 * 128 + 16));
  CHECK(p->workspace.bytes() == 0);

  // Paged prefill chunks on the general tile (BLOCK_M 64 = 16 tokens x 4 heads), forced
  // into 4 segments: grid x = total_q / 16 + sequences, y = KV heads, z = segments.
  const ir::Variant paged = variant_from(kPaged);
  const TileLookup tiles = table_tiles(paged, "sm_90", sm90);
  auto s = plan_for_call(paged, paged_call(3, 40, 4096, 4), h200(), tiles);
  REQUIRE(s.ok());
  CHECK(s->splits == 4);
  REQUIRE(s->launches.size() == 2);
  CHECK(s->launches[0].role == KernelRole{KernelKind::paged, "", KvSplit::segments});
  CHECK(s->launches[0].grid[0] == 120 / 16 + 3);
  CHECK(s->launches[0].grid[1] == 8);
  CHECK(s->launches[0].grid[2] == 4);
  CHECK(s->launches[0].threads == 128);
  CHECK(s->launches[0].shared_bytes == (64 + 2 * 2 * 64) * (2 * 128 + 16));
  // The merge: a warp per (row, head), four per block.
  CHECK(s->launches[1].role == KernelRole{KernelKind::merge, "", KvSplit::segments});
  CHECK(s->launches[1].grid[0] == 120 * 32 / 4);
  CHECK(s->launches[1].threads == 128);
  CHECK(s->launches[1].shared_bytes == 0);
  // Workspace: f32 rows [4, 120, 32, 128], then LSEs [4, 32, 120].
  CHECK(s->workspace.part_row_floats == 120u * 32 * 128);
  CHECK(s->workspace.part_lse_floats == 120u * 32);
  CHECK(s->workspace.bytes() == 4u * (120 * 32 * 128 + 120 * 32) * sizeof(float));
  CHECK(s->workspace.counters == 0);

  // One decode token per sequence, streamed: a wave of 132 x 3 blocks of the decode
  // tile (BLOCK_M 16, BLOCK_N 16, 4 warps splitting the KV tiles: a ring each), two
  // 16-row f32 slots per block, a counter per (sequence, KV head); shared memory adds
  // the work line after the 16-byte aligned main-loop buffers.
  auto st = plan_for_call(paged, paged_call(5, 1, 9000, kStreamSplit), h200(1, 3), tiles);
  REQUIRE(st.ok());
  CHECK(st->splits == kStreamSplit);
  REQUIRE(st->launches.size() == 1);
  const PlannedLaunch& w = st->launches[0];
  CHECK(w.role == KernelRole{KernelKind::paged, "paged_decode", KvSplit::stream});
  CHECK(w.grid[0] == 132 * 3);
  CHECK(w.threads == 128);
  const long long main_loop = (16 + 4 * 2 * 2 * 16) * (2 * 128 + 16);
  CHECK(w.geometry.shared_bytes == main_loop);
  CHECK(w.shared_bytes == main_loop + 4 * (5 + 1));  // already 16-byte aligned
  const size_t slots = 132 * 3 * 2 * 16;
  CHECK(st->workspace.row_floats == slots * 128);
  CHECK(st->workspace.lse_floats == slots);
  CHECK(st->workspace.bytes() == slots * 129 * sizeof(float));
  CHECK(st->workspace.counters == 5u * 8);

  // Whole: one launch, no workspace, the output written directly.
  auto whole = plan_for_call(paged, paged_call(3, 40, 4096, 1), h200(), tiles);
  REQUIRE(whole.ok());
  CHECK(whole->splits == 1);
  REQUIRE(whole->launches.size() == 1);
  CHECK(whole->launches[0].role == KernelRole{KernelKind::paged, "", KvSplit::none});
  CHECK(whole->workspace.bytes() == 0);

  // cache_write: a warp per (token, KV head), four per block.
  auto write = plan_for_call(paged, CacheWriteCall{33}, h200(), tiles);
  REQUIRE(write.ok());
  CHECK(write->launches[0].grid[0] == (33 * 8 + 3) / 4);
  CHECK(write->launches[0].threads == 128);
}

TEST_CASE("the heuristic split: occupancy asked only where it weighs, the cost model's choice",
          "[plan]") {
  const ir::Variant paged = variant_from(kPaged);
  const TuningTable sm90 = table_for("sm_90");
  const TileLookup tiles = table_tiles(paged, "sm_90", sm90);
  auto splits_of = [&](const PagedCall& call, const DeviceFacts& device) {
    auto plan = plan_for_call(paged, call, device, tiles);
    REQUIRE(plan.ok());
    return plan->splits;
  };
  auto asked = [&](const PagedCall& call, int sms) {
    auto q = occupancy_needed(paged, call, "sm_90", sms, tiles);
    REQUIRE(q.ok());
    std::vector<KvSplit> out;
    for (const OccupancyQuery& o : *q) out.push_back(o.role.split);
    return out;
  };
  const SplitCostModel& k16 = kDefaultSplitCosts.kv_16bit;
  // Decode, one sequence of 32768 keys (2048 tiles of 16) over 8 KV heads: the
  // segments kernel and the stream kernel are weighed, as choose_splits weighs them.
  const PagedCall decode = paged_call(1, 1, 32768);
  CHECK(asked(decode, 132) == std::vector<KvSplit>{KvSplit::segments, KvSplit::stream});
  CHECK(splits_of(decode, h200(2, 2)) == choose_splits({8, 2048, 132, 2, 2}, k16));
  CHECK(splits_of(decode, h200(2, 2)) == kStreamSplit);
  // Without the stream kernel's occupancy, segments.
  CHECK(splits_of(decode, h200(2, 0)) == choose_splits({8, 2048, 132, 2, 0}, k16));
  CHECK(splits_of(decode, h200(2, 0)) == 32);
  CHECK(splits_of(paged_call(40, 1, 2048), h200(2, 0)) == choose_splits({320, 128, 132, 2, 0}, k16));
  // Prefill chunks: the stream split is not weighed; the queries count every block.
  const PagedCall chunks = paged_call(2, 100, 8192);
  CHECK(asked(chunks, 132) == std::vector<KvSplit>{KvSplit::segments});
  CHECK(splits_of(chunks, h200(2, 9)) == choose_splits({(200 / 16 + 2) * 8, 128, 132, 2, 0}, k16));
  // A batch that fills the GPU (32 blocks per SM) asks nothing and is not split.
  const PagedCall full = paged_call(600, 1, 8192);
  CHECK(asked(full, 132).empty());
  CHECK(splits_of(full, h200(7, 7)) == 1);
  // Forced counts ask nothing; a forced stream split asks for its grid's occupancy.
  CHECK(asked(paged_call(8, 1, 32768, 3), 132).empty());
  CHECK(asked(paged_call(8, 1, 32768, kStreamSplit), 132) == std::vector<KvSplit>{KvSplit::stream});
  // More than 64 segments are clamped to what the merge takes.
  CHECK(splits_of(paged_call(8, 1, 32768, 1000), h200()) == 64);
}

TEST_CASE("the heuristic split weighs the device's split costs, the set of the K/V width",
          "[plan]") {
  const ir::Variant paged = variant_from(kPaged);
  const TuningTable sm90 = table_for("sm_90");
  const TileLookup tiles = table_tiles(paged, "sm_90", sm90);
  auto splits_with = [&](const ir::Variant& v, const TileLookup& t, const PagedCall& call,
                         const SplitCosts& costs) {
    DeviceFacts device = h200(2, 2);
    device.split_costs = costs;
    auto plan = plan_for_call(v, call, device, t);
    REQUIRE(plan.ok());
    return plan->splits;
  };
  // 40 decode sequences of 2048 keys: 320 blocks, 128 tiles each; the shipped costs
  // cut them.
  const PagedCall call = paged_call(40, 1, 2048);
  const int shipped = splits_with(paged, tiles, call, kDefaultSplitCosts);
  CHECK(shipped != 1);
  // A merge that costs more than any saving keeps every launch whole, and a stream
  // split that costs nothing extra wins: the plan follows the constants it is given.
  SplitCosts costly_merge = kDefaultSplitCosts;
  costly_merge.kv_16bit.merge = 1e5;
  costly_merge.kv_16bit.stream_per_unit = costly_merge.kv_16bit.stream_per_cut = 1e5;
  CHECK(splits_with(paged, tiles, call, costly_merge) == 1);
  SplitCosts free_stream = kDefaultSplitCosts;
  free_stream.kv_16bit.stream_per_unit = free_stream.kv_16bit.stream_per_cut = 0;
  free_stream.kv_16bit.fixed_per_block = 0;
  free_stream.kv_16bit.merge = 1e5;
  CHECK(splits_with(paged, tiles, call, free_stream) == kStreamSplit);
  // Changing the 8-bit set leaves a 16-bit variant alone ...
  SplitCosts eight_changed = kDefaultSplitCosts;
  eight_changed.kv_8bit.merge = 1e5;
  eight_changed.kv_8bit.stream_per_unit = eight_changed.kv_8bit.stream_per_cut = 1e5;
  CHECK(splits_with(paged, tiles, call, eight_changed) == shipped);
  // ... and steers an fp8 one.
  std::string fp8_text = kPaged;
  const size_t kv = fp8_text.find("kv = bf16");
  REQUIRE(kv != std::string::npos);
  fp8_text.replace(kv, 9, "kv = fp8_e4m3 per_tensor");
  const ir::Variant fp8 = variant_from(fp8_text);
  const TileLookup fp8_tiles = table_tiles(fp8, "sm_90", sm90);
  CHECK(splits_with(fp8, fp8_tiles, call, kDefaultSplitCosts) != 1);
  CHECK(splits_with(fp8, fp8_tiles, call, eight_changed) == 1);
}

TEST_CASE("split_problem: the numbers the heuristic weighs, whatever the call forces", "[plan]") {
  const ir::Variant paged = variant_from(kPaged);
  const TuningTable sm90 = table_for("sm_90");
  const TileLookup tiles = table_tiles(paged, "sm_90", sm90);
  // 8 decode sequences of 2047 + 1 keys: 8 x 8 KV heads working blocks of 128 tiles.
  auto problem = split_problem(paged, paged_call(8, 1, 2048, 4), h200(3, 5), tiles);
  REQUIRE(problem.ok());
  CHECK(problem->blocks == 64);
  CHECK(problem->max_kv_tiles == 128);
  CHECK(problem->sm_count == 132);
  CHECK(problem->blocks_per_sm == 3);
  CHECK(problem->stream_blocks_per_sm == 5);
  // The heuristic plan chooses what choose_splits chooses on it.
  auto plan = plan_for_call(paged, paged_call(8, 1, 2048), h200(3, 5), tiles);
  REQUIRE(plan.ok());
  CHECK(plan->splits == choose_splits(*problem, kDefaultSplitCosts.kv_16bit));
  // A batch that fills the GPU is weighed without occupancy or the stream split.
  auto full = split_problem(paged, paged_call(600, 1, 8192), h200(3, 5), tiles);
  REQUIRE(full.ok());
  CHECK(full->blocks_per_sm == 1);
  CHECK(full->stream_blocks_per_sm == 0);
}
