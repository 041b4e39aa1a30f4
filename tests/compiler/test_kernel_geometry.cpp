// One statement of kernel geometry: for every tile the shipped configs give (each
// config file, kind and bucket) and every K/V layout, the validator's shared-memory
// bound, the numbers codegen renders, the launch plan's threads and shared memory and
// the template's own layout (its static_asserts, through NVRTC's front end) agree.
#include <filesystem>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "compiler/target/target.h"
#include "compiler/codegen/codegen.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/support/embedded_files.h"
#include "runtime/plan/launch_plan.h"
#include "temp_dir.h"

using namespace attnjit;

namespace {

// `constexpr int NAME = VALUE;` in generated source; -1 when absent.
long long rendered(const std::string& text, const std::string& name) {
  const std::string key = "constexpr int " + name + " = ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + key.size()));
}

struct KvLayout {
  DType type;
  ir::ScaleGranularity scales;
};

// The K/V layouts the main loop has: 16-bit rows (ldmatrix), raw 8-bit rows with and
// without per-token scales, raw f32 rows.
const KvLayout kPagedLayouts[] = {{DType::bf16, ir::ScaleGranularity::none},
                                  {DType::fp8_e4m3, ir::ScaleGranularity::per_token_head},
                                  {DType::i8, ir::ScaleGranularity::per_token_head},
                                  {DType::fp8_e5m2, ir::ScaleGranularity::per_tensor},
                                  {DType::f32, ir::ScaleGranularity::none}};
// Per-token scales need a paged cache.
const KvLayout kContiguousLayouts[] = {{DType::f16, ir::ScaleGranularity::none},
                                       {DType::fp8_e4m3, ir::ScaleGranularity::per_tensor},
                                       {DType::f32, ir::ScaleGranularity::none}};

ir::Variant variant_with(int head_dim, const KvLayout& kv, bool paged) {
  ir::Variant v;
  v.name = "geometry";
  v.q_heads = v.kv_heads = 4;
  v.head_dim = head_dim;
  v.q_type = v.out_type = kv.type == DType::f16 ? DType::f16 : DType::bf16;
  v.kv_type = kv.type;
  v.kv_scale = kv.scales;
  if (paged) {
    v.kv_cache.kind = ir::KvCacheKind::paged;
    v.kv_cache.page_size = 16;
  }
  return v;
}

// Every (arch, table, tile, head_dim) the embedded configs can pick: each bucket is
// reached by one of the head dims and bucket conditions tried.
struct ConfigTile {
  std::string arch, table;
  TileConfig tile;
  int head_dim;
};
std::vector<ConfigTile> config_tiles() {
  std::vector<ConfigTile> out;
  std::set<std::tuple<std::string, std::string, int, int, int, int, int, int, int>> seen;
  for (const EmbeddedFile& f : embedded_files()) {
    if (!f.name.starts_with("configs/sm_") || !f.name.ends_with(".json")) continue;
    const std::string arch(f.name.substr(8, f.name.size() - 8 - 5));
    auto table = TuningTable::parse(std::string(f.text), std::string(f.name));
    REQUIRE(table.ok());
    for (const char* kind : {"prefill", "paged", "paged_decode"})
      for (int head_dim : {32, 64, 80, 96, 128, 160, 192, 256})
        for (int flags = 0; flags < 16; ++flags) {
          auto tile = table->pick(kind, head_dim, flags & 1, flags & 2, flags & 4, flags & 8);
          if (!tile) continue;
          const TileConfig& t = *tile;
          if (seen.insert({arch, kind, head_dim, t.block_m, t.block_n, t.warps, t.stages,
                           t.num_splits, t.min_blocks_per_sm})
                  .second)
            out.push_back({arch, kind, t, head_dim});
        }
  }
  return out;
}

// The plan's launch of `spec`'s kernel for a call that takes its split.
PlannedLaunch planned_launch(const KernelSpec& spec, int num_seqs) {
  const TileConfig tile = spec.tile;
  const TileLookup tiles = [tile](KernelKind kind, const std::string&) -> Result<TileConfig, std::string> {
    return kind == KernelKind::merge || kind == KernelKind::cache_write ? kRowKernelTile : tile;
  };
  DeviceFacts device;
  device.arch = spec.arch;
  device.sm_count = 132;
  device.stream_blocks_per_sm = 2;
  Result<LaunchPlan, std::string> plan = fail(std::string("no call"));
  if (spec.kind == KernelKind::prefill) {
    plan = plan_for_call(spec.variant, PrefillCall{1, 300}, device, tiles);
  } else {
    PagedCall call;
    call.num_seqs = num_seqs;
    call.total_q = num_seqs;  // one decode token each: every split kind is possible
    call.max_seqlen_q = 1;
    call.max_seqlen_k = 4096;
    call.num_splits = spec.kv_split == KvSplit::stream     ? kStreamSplit
                      : spec.kv_split == KvSplit::segments ? 2
                                                           : 1;
    plan = plan_for_call(spec.variant, call, device, tiles);
  }
  REQUIRE(plan.ok());
  REQUIRE(plan->launches.at(0).role.split == spec.kv_split);
  return plan->launches.at(0);
}

// True when NVRTC's front end accepts the source (the templates' static_asserts hold);
// `log` gets its diagnostics.
bool front_end_accepts(const NvrtcCompiler& nvrtc, const GeneratedSource& src,
                       const std::string& arch, const std::string& save_dir, std::string* log) {
  const Target* target = find_target(arch);
  REQUIRE(target != nullptr);
  CompileOptions options;
  options.extra = {"-fdevice-syntax-only"};  // checks, no code: a small fraction of a compile
  options.save_source_dir = save_dir;
  options.warnings_as_errors = false;
  auto result = nvrtc.compile(src, *target, options);
  if (result.ok()) return true;
  // Without code there may be no kernel in the binary: that failure comes after a
  // front end that passed, with an empty log.
  *log = result.error().log;
  return result.error().log.find("error") == std::string::npos;
}

}  // namespace

TEST_CASE("validator, codegen, launch plan and templates agree on every config's geometry",
          "[geometry][nvrtc]") {
  auto nvrtc = NvrtcCompiler::open();
  REQUIRE(nvrtc.ok());
  testing::TempDir saved;
  const std::vector<ConfigTile> tiles = config_tiles();
  REQUIRE(tiles.size() >= 20);
  int checked = 0, compiled = 0;
  std::set<std::string> layouts_compiled;
  for (const ConfigTile& c : tiles) {
    const bool paged = c.table != "prefill";
    std::vector<KvSplit> splits = {KvSplit::none};
    if (paged) splits.push_back(KvSplit::segments);
    if (c.table == "paged_decode") splits.push_back(KvSplit::stream);
    const std::vector<KvLayout> layouts =
        paged ? std::vector<KvLayout>(std::begin(kPagedLayouts), std::end(kPagedLayouts))
              : std::vector<KvLayout>(std::begin(kContiguousLayouts), std::end(kContiguousLayouts));
    for (const KvLayout& kv : layouts) {
      const ir::Variant v = variant_with(c.head_dim, kv, paged);
      // Tiles the engine refuses for this K/V layout (too much shared memory) never run.
      if (!choose_tile(v, paged ? KernelKind::paged : KernelKind::prefill, c.arch, nullptr, c.tile))
        continue;
      for (KvSplit split : splits) {
        KernelSpec spec;
        spec.kind = paged ? KernelKind::paged : KernelKind::prefill;
        spec.variant = v;
        spec.arch = c.arch;
        spec.tile = c.tile;
        spec.kv_split = split;
        INFO(spec.uri());
        const KernelGeometry g = geometry_of(spec);
        ++checked;

        // Validator: its bound for 16-bit K/V is exactly this layout's bytes.
        if (dtype_bytes(kv.type) == 2) {
          CHECK(validate_tile(c.tile, config_kv_elements(c.head_dim, false),
                              static_cast<int>(g.shared_bytes)) == "");
          CHECK(validate_tile(c.tile, config_kv_elements(c.head_dim, false),
                              static_cast<int>(g.shared_bytes) - 1)
                    .rfind("shared memory of " + std::to_string(g.shared_bytes) + " bytes", 0) == 0);
        }

        // Codegen renders the geometry's numbers.
        auto src = render_kernel(spec);
        REQUIRE(src.ok());
        CHECK(rendered(src->text, "kLaunchThreads") == g.threads);
        CHECK(rendered(src->text, "kLaunchSharedBytes") == g.shared_bytes);
        CHECK(rendered(src->text, "kRowTiles") == g.row_tiles);
        CHECK(rendered(src->text, "kWarps") == g.warps);
        CHECK(rendered(src->text, "kWorkLineOffset") ==
              (split == KvSplit::stream ? g.work_line_offset : -1));

        // The launch plan launches with them.
        const int seqs = 5;
        const PlannedLaunch l = planned_launch(spec, seqs);
        CHECK(l.threads == rendered(src->text, "kLaunchThreads"));
        CHECK(l.shared_bytes == (split == KvSplit::stream
                                     ? rendered(src->text, "kWorkLineOffset") + 4 * (seqs + 1)
                                     : rendered(src->text, "kLaunchSharedBytes")));

        // The template's layout is the host's: its static_asserts compile. Once per
        // layout (the arch, the split's output type and the config's other fields do not
        // change it).
        const std::string layout = fmt::format(
            "{} {} {} {} {} {} {} {} {}", kernel_kind_name(spec.kind), c.tile.block_m,
            c.tile.block_n, c.tile.warps, c.tile.stages, c.head_dim, dtype_bytes(kv.type),
            kv.scales == ir::ScaleGranularity::per_token_head, split == KvSplit::stream);
        if (layouts_compiled.insert(layout).second) {
          std::string log;
          CHECK(front_end_accepts(**nvrtc, *src, c.arch, saved.path().string(), &log));
          INFO(log);
          ++compiled;
        }
      }
    }
  }
  INFO(checked << " specs, " << compiled << " layouts through NVRTC's front end");
  CHECK(checked > 100);
}

TEST_CASE("a host geometry that differs from the template's does not compile", "[geometry][nvrtc]") {
  auto nvrtc = NvrtcCompiler::open();
  REQUIRE(nvrtc.ok());
  testing::TempDir saved;
  KernelSpec spec;
  spec.kind = KernelKind::paged;
  spec.variant = variant_with(128, kPagedLayouts[1], true);  // fp8 with per-token scales
  spec.arch = "sm_90";
  spec.tile = TileConfig{16, 16, 4, 2};
  spec.kv_split = KvSplit::stream;
  auto src = render_kernel(spec);
  REQUIRE(src.ok());
  std::string log;
  REQUIRE(front_end_accepts(**nvrtc, *src, "sm_90", saved.path().string(), &log));
  const KernelGeometry g = geometry_of(spec);
  struct Tamper {
    std::string name;
    long long value;
    std::string message;
  } tampers[] = {
      {"kLaunchThreads", g.threads * 2, "the host's threads per block differ"},
      {"kLaunchSharedBytes", g.shared_bytes + 16, "the host's dynamic shared memory differs"},
      {"kWorkLineOffset", g.shared_bytes - 16, "the work line starts after attend()'s buffers"},
  };
  for (const Tamper& t : tampers) {
    INFO(t.name);
    GeneratedSource bad = *src;
    const std::string from = "constexpr int " + t.name + " = ";
    const size_t at = bad.text.find(from);
    REQUIRE(at != std::string::npos);
    const size_t end = bad.text.find(';', at);
    bad.text.replace(at, end - at, from + std::to_string(t.value));
    std::string bad_log;
    CHECK_FALSE(front_end_accepts(**nvrtc, bad, "sm_90", saved.path().string(), &bad_log));
    CHECK(bad_log.find(t.message) != std::string::npos);
  }
}

TEST_CASE("geometry of the main loop's layouts", "[geometry]") {
  // Decode tile: 4 warps share 16 rows and each streams its own ring of 2 K and 2 V
  // buffers; fp8 rows as stored (128 bytes + 16 padding) then 16 f32 scales per tile.
  const KernelGeometry fp8 =
      attention_geometry(TileConfig{16, 16, 4, 2}, KvElements{128, 1, true});
  CHECK(fp8.threads == 128);
  CHECK(fp8.warps_split_kv);
  CHECK(fp8.kv_groups == 4);
  CHECK(fp8.row_tiles == 1);
  CHECK(fp8.kv_raw);
  CHECK(fp8.kv_buffer_bytes == 16 * (128 + 16) + 16 * 4);
  CHECK(fp8.shared_bytes == 16 * 272 + 4 * 2 * 2 * (16 * 144 + 64));
  CHECK(fp8.work_line_offset == fp8.shared_bytes);  // already a multiple of 16
  CHECK(fp8.launch_shared_bytes(KvSplit::stream, 3) == fp8.shared_bytes + 16);
  CHECK(fp8.launch_shared_bytes(KvSplit::segments, 3) == fp8.shared_bytes);
  // Two 16-row tiles per warp, one ring shared by the warps, 16-bit rows.
  const KernelGeometry wide =
      attention_geometry(TileConfig{256, 64, 8, 3}, KvElements{64, 2, false});
  CHECK(wide.row_tiles == 2);
  CHECK_FALSE(wide.warps_split_kv);
  CHECK(wide.kv_groups == 1);
  CHECK(wide.shared_bytes == (256 + 2 * 3 * 64) * (64 * 2 + 16));
  // f32 rows: 4 bytes per element.
  CHECK(attention_geometry(TileConfig{64, 32, 4, 2}, KvElements{64, 4, false}).kv_buffer_bytes ==
        32 * (64 * 4 + 16));
  // merge and cache_write: a warp per row, no dynamic shared memory.
  KernelSpec merge;
  merge.kind = KernelKind::merge;
  merge.tile = kRowKernelTile;
  CHECK(geometry_of(merge).threads == 128);
  CHECK(geometry_of(merge).shared_bytes == 0);
}
