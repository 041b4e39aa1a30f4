// The engine's launches through the vendor-neutral GPU interface (runtime/driver/
// gpu_kernel.h), with a fake GPU and a fake compiler in place of a device and its
// compiler: on a HIP device it builds HSACO for the device's target and launches
// exactly what the launch planner planned; a CUDA device gets CUBIN through the same
// path. Needs no GPU and no compiler.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "fake_backend.h"
#include "fake_gpu.h"
#include "runtime/api/engine.h"
#include "runtime/api/engine_config.h"
#include "runtime/driver/hip_driver.h"
#include "runtime/plan/launch_plan.h"
#include "temp_dir.h"
#include "templates/kernels/variant_args.h"
#include "templates/kernels/prefill_params.h"

namespace {

using namespace attnjit;
using testing::FakeBackend;
using testing::FakeGpu;

ir::Variant variant_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<test>", text});
  REQUIRE(module.ok());
  return module->variants.at(0);
}

const char* const kPrefillVariant =
    "variant llama_hip { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;\n"
    "  kv_cache = contiguous; mask = causal; }\n";
const char* const kPagedVariant =
    "variant paged_hip { heads = 32 / 8; head_dim = 128; q = bf16; kv = bf16; out = bf16;\n"
    "  kv_cache = paged(page_size = 16, layout = NHD); mask = causal; }\n";

// An engine on a fake GPU, each vendor with its own fake compiler.
struct GpuEngine {
  testing::TempDir dir;
  std::shared_ptr<FakeGpu> gpu;
  std::shared_ptr<FakeBackend> cuda_compiler = std::make_shared<FakeBackend>();
  std::shared_ptr<FakeBackend> hip_compiler = std::make_shared<FakeBackend>();
  std::unique_ptr<Engine> engine;

  explicit GpuEngine(std::shared_ptr<FakeGpu> fake) : gpu(std::move(fake)) {
    EngineOptions options;
    options.cache.directory = dir.path() / "cache";
    options.aot_directories_from_env = false;
    options.backends[Vendor::cuda] = cuda_compiler;
    options.backends[Vendor::hip] = hip_compiler;
    options.gpu = gpu;
    options.hopper = false;  // the Hopper path needs the CUDA driver itself
    engine = std::make_unique<Engine>(options);
  }
  const FakeBackend& compiler() const {
    return gpu->vendor() == Vendor::hip ? *hip_compiler : *cuda_compiler;
  }
  const FakeBackend& other_compiler() const {
    return gpu->vendor() == Vendor::hip ? *cuda_compiler : *hip_compiler;
  }
  // What the planner plans for this device, with the engine's own tiles and split costs.
  DeviceFacts facts() const {
    DeviceFacts facts;
    facts.arch = std::string((*gpu->target())->name);
    facts.sm_count = gpu->multiprocessor_count();
    EngineOptions defaults;
    facts.split_costs = engine_config(defaults, facts.arch).value().split_costs();
    facts.segments_blocks_per_sm = facts.stream_blocks_per_sm = gpu->blocks_per_sm;
    return facts;
  }
  TileLookup tiles(const ir::Variant& variant) const {
    const Engine* e = engine.get();
    const std::string arch = facts().arch;
    return [e, variant, arch](KernelKind kind,
                              const std::string& tuning_kind) -> Result<TileConfig, std::string> {
      auto spec = e->make_spec(variant, kind, arch, tuning_kind);
      if (!spec) return fail(spec.error());
      return spec->tile;
    };
  }
};

std::shared_ptr<FakeGpu> mi300() {
  return std::make_shared<FakeGpu>(Vendor::hip, "gfx942:sramecc+:xnack-", find_target("gfx942"));
}

// Each recorded launch is the planned one: its kernel (the one the spec renders), grid,
// threads and dynamic shared memory.
void check_launches(const FakeGpu& gpu, size_t first, const ir::Variant& variant,
                    const LaunchPlan& plan) {
  REQUIRE(gpu.launches.size() == first + plan.launches.size());
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const PlannedLaunch& planned = plan.launches[i];
    const FakeGpu::Launch& launched = gpu.launches[first + i];
    auto source = render_kernel(spec_for(variant, plan.arch, planned.role, planned.tile));
    REQUIRE(source.ok());
    INFO("launch " << i << ": " << launched.entry);
    CHECK(launched.entry == source->entry);
    CHECK(launched.grid[0] == planned.grid[0]);
    CHECK(launched.grid[1] == planned.grid[1]);
    CHECK(launched.grid[2] == planned.grid[2]);
    CHECK(launched.threads == static_cast<unsigned>(planned.threads));
    CHECK(launched.shared_bytes == static_cast<unsigned>(planned.shared_bytes));
  }
}

// Device-looking pointers: never dereferenced (the fake runs nothing).
void* device_pointer(uintptr_t at) { return reinterpret_cast<void*>(at); }

// Prefill arguments of kPrefillVariant's shape (8 query / 2 KV heads, d128, bf16) at
// fake device addresses: the fake GPU records launches, it reads no memory.
PrefillArgs fake_prefill_args(long long batch, long long seqlen) {
  PrefillArgs args;
  args.q = contiguous_view(device_pointer(0x100000), DType::bf16, {batch, seqlen, 8, 128});
  args.k = contiguous_view(device_pointer(0x200000), DType::bf16, {batch, seqlen, 2, 128});
  args.v = contiguous_view(device_pointer(0x300000), DType::bf16, {batch, seqlen, 2, 128});
  args.out = contiguous_view(device_pointer(0x400000), DType::bf16, {batch, seqlen, 8, 128});
  return args;
}

}  // namespace

TEST_CASE("on a HIP device the engine launches HSACO for its target as planned",
          "[engine][gpu_runtime]") {
  GpuEngine f(mi300());
  Engine& engine = *f.engine;
  CHECK(engine.device_target().name == "gfx942");
  // The CUDA driver is not what a HIP device has: named, not a crash.
  CHECK_THROWS_WITH(engine.driver(), Catch::Matchers::Contains("is a HIP device"));

  const ir::Variant variant = variant_from(kPrefillVariant);
  const int batch = 2, seqlen = 300;
  PrefillArgs args = fake_prefill_args(batch, seqlen);
  hip::hipStream_t stream = reinterpret_cast<hip::hipStream_t>(uintptr_t{0x5000});
  engine.prefill(variant, args, stream);

  // Built by the HIP compiler, as HSACO for gfx942; nothing asked of the CUDA one.
  REQUIRE(f.hip_compiler->calls.size() == 1);
  CHECK(f.hip_compiler->calls[0].target == "gfx942");
  CHECK(f.hip_compiler->calls[0].format == BinaryFormat::hsaco);
  CHECK(f.cuda_compiler->calls.empty());
  // That code object, and no other, is what the device loaded.
  REQUIRE(f.gpu->loads.size() == 1);
  CHECK(f.gpu->loads[0].format == BinaryFormat::hsaco);
  CHECK(f.gpu->loads[0].binary == f.hip_compiler->binaries.at(0));

  auto plan = plan_for_call(variant, PrefillCall{batch, seqlen}, f.facts(), f.tiles(variant));
  REQUIRE(plan.ok());
  REQUIRE(plan->launches.size() == 1);
  CHECK(f.gpu->loads[0].entry ==
        render_kernel(spec_for(variant, "gfx942", plan->launches[0].role, plan->launches[0].tile))
            .value()
            .entry);
  check_launches(*f.gpu, 0, variant, *plan);
  // 64-lane waves: the planner's threads are whole waves of the target's size.
  CHECK(f.gpu->launches[0].threads % 64 == 0);
  CHECK(f.gpu->launches[0].threads == 64u * plan->launches[0].tile.warps);
  CHECK(f.gpu->launches[0].stream == static_cast<void*>(stream));
  CHECK(engine.last_prefill_mainloop() == Mainloop::mfma);

  // The parameter block is the prefill kind's, by value.
  REQUIRE(f.gpu->launches[0].params.size() == sizeof(AttnjitPrefillParams));
  AttnjitPrefillParams p;
  std::memcpy(&p, f.gpu->launches[0].params.data(), sizeof(p));
  CHECK(p.q == args.q.data);
  CHECK(p.out == args.out.data);
  CHECK(p.batch == batch);
  CHECK(p.seqlen_q == seqlen);

  // A second call loads and compiles nothing more.
  engine.prefill(variant, args, nullptr);
  CHECK(f.hip_compiler->calls.size() == 1);
  CHECK(f.gpu->loads.size() == 1);
  REQUIRE(f.gpu->launches.size() == 2);
  CHECK(f.gpu->launches[1].stream == nullptr);
}

TEST_CASE("on a HIP device merge and cache_write launch as planned", "[engine][gpu_runtime]") {
  GpuEngine f(mi300());
  const ir::Variant variant = variant_from(kPagedVariant);
  const int tokens = 37;

  MergeArgs m;
  m.out_a = contiguous_view(device_pointer(0x100000), DType::f32, {tokens, 32, 128});
  m.out_b = contiguous_view(device_pointer(0x200000), DType::f32, {tokens, 32, 128});
  m.lse_a = contiguous_view(device_pointer(0x300000), DType::f32, {32, tokens});
  m.lse_b = contiguous_view(device_pointer(0x400000), DType::f32, {32, tokens});
  m.out = contiguous_view(device_pointer(0x500000), DType::bf16, {tokens, 32, 128});
  f.engine->merge(variant, m);
  auto merge_plan = plan_for_call(variant, MergeCall{tokens, 32}, f.facts(), f.tiles(variant));
  REQUIRE(merge_plan.ok());
  check_launches(*f.gpu, 0, variant, *merge_plan);

  CacheWriteArgs w;
  w.k = contiguous_view(device_pointer(0x600000), DType::bf16, {tokens, 8, 128});
  w.v = contiguous_view(device_pointer(0x700000), DType::bf16, {tokens, 8, 128});
  w.k_cache = contiguous_view(device_pointer(0x800000), DType::bf16, {64, 16, 8, 128});
  w.v_cache = contiguous_view(device_pointer(0x900000), DType::bf16, {64, 16, 8, 128});
  w.slot_mapping = contiguous_view(device_pointer(0xa00000), DType::i32, {tokens});
  f.engine->write_kv_cache(variant, w);
  auto write_plan = plan_for_call(variant, CacheWriteCall{tokens}, f.facts(), f.tiles(variant));
  REQUIRE(write_plan.ok());
  check_launches(*f.gpu, merge_plan->launches.size(), variant, *write_plan);

  // The row kernels take whole 64-lane waves.
  for (const FakeGpu::Launch& launch : f.gpu->launches) CHECK(launch.threads % 64 == 0);
  for (const FakeGpu::Load& load : f.gpu->loads) CHECK(load.format == BinaryFormat::hsaco);
  CHECK(f.cuda_compiler->calls.empty());
}

TEST_CASE("a paged call on a HIP device launches its plan or fails with codegen's error",
          "[engine][gpu_runtime]") {
  GpuEngine f(mi300());
  const ir::Variant variant = variant_from(kPagedVariant);
  // A decode batch small enough for the split choice to weigh occupancies.
  const int seqs = 2, pages = 64;
  PagedArgs a;
  a.q = contiguous_view(device_pointer(0x100000), DType::bf16, {seqs, 32, 128});
  a.k_cache = contiguous_view(device_pointer(0x200000), DType::bf16, {128, 16, 8, 128});
  a.v_cache = contiguous_view(device_pointer(0x300000), DType::bf16, {128, 16, 8, 128});
  a.block_table = contiguous_view(device_pointer(0x400000), DType::i32, {seqs, pages});
  a.seq_lens = contiguous_view(device_pointer(0x500000), DType::i32, {seqs});
  a.cu_seqlens_q = contiguous_view(device_pointer(0x600000), DType::i32, {seqs + 1});
  a.max_seqlen_q = 1;
  a.max_seqlen_k = 1000;
  a.out = contiguous_view(device_pointer(0x700000), DType::bf16, {seqs, 32, 128});

  PagedCall call;
  call.num_seqs = seqs;
  call.total_q = seqs;
  call.max_seqlen_q = 1;
  call.max_seqlen_k = 1000;
  call.max_blocks_per_seq = pages;
  const TileLookup tiles = f.tiles(variant);
  auto queries = occupancy_needed(variant, call, "gfx942", f.gpu->multiprocessor_count(), tiles);
  REQUIRE(queries.ok());
  // Whether codegen has the paged kind on this target (its HIP port may land separately).
  std::string refusal;
  for (const OccupancyQuery& q : *queries) {
    auto source = render_kernel(spec_for(variant, "gfx942", q.role, tiles(q.role.kind, q.role.tuning_kind).value()));
    if (!source) refusal = source.error();
  }
  auto plan = plan_for_call(variant, call, f.facts(), tiles);
  REQUIRE(plan.ok());
  for (const PlannedLaunch& l : plan->launches) {
    auto source = render_kernel(spec_for(variant, "gfx942", l.role, l.tile));
    if (!source && refusal.empty()) refusal = source.error();
  }

  if (!refusal.empty()) {
    INFO(refusal);
    CHECK_THROWS_WITH(f.engine->paged(variant, a), Catch::Matchers::Contains(refusal));
    CHECK(f.gpu->launches.empty());
    return;
  }
  f.engine->paged(variant, a);
  // The occupancies the split choice weighed came from the device, for the planned sizes.
  REQUIRE(f.gpu->occupancies.size() == queries->size());
  for (size_t i = 0; i < queries->size(); ++i) {
    CHECK(f.gpu->occupancies[i].threads == static_cast<unsigned>((*queries)[i].threads));
    CHECK(f.gpu->occupancies[i].shared_bytes == static_cast<unsigned>((*queries)[i].shared_bytes));
  }
  check_launches(*f.gpu, 0, variant, *plan);
  CHECK(f.engine->last_paged_splits() == plan->splits);
}

TEST_CASE("a CUDA device takes the same path with CUBIN", "[engine][gpu_runtime]") {
  GpuEngine f(std::make_shared<FakeGpu>(Vendor::cuda, "sm_90", find_target("sm_90"), 132));
  const ir::Variant variant = variant_from(kPrefillVariant);
  PrefillArgs args = fake_prefill_args(1, 77);
  f.engine->prefill(variant, args, static_cast<cuda::CUstream>(nullptr));

  REQUIRE(f.cuda_compiler->calls.size() == 1);
  CHECK(f.cuda_compiler->calls[0].format == BinaryFormat::cubin);
  CHECK(f.hip_compiler->calls.empty());
  REQUIRE(f.gpu->loads.size() == 1);
  CHECK(f.gpu->loads[0].format == BinaryFormat::cubin);
  CHECK(f.gpu->loads[0].binary == f.cuda_compiler->binaries.at(0));
  auto plan = plan_for_call(variant, PrefillCall{1, 77}, f.facts(), f.tiles(variant));
  REQUIRE(plan.ok());
  check_launches(*f.gpu, 0, variant, *plan);
  CHECK(f.engine->last_prefill_mainloop() == Mainloop::mma_sync);
  // A runtime that is not the CUDA driver's has no cuda::Driver to give.
  CHECK_THROWS_WITH(f.engine->driver(), Catch::Matchers::Contains("Engine::driver()"));
}

TEST_CASE("a HIP device no target runs on is an error naming it", "[engine][gpu_runtime]") {
  GpuEngine f(std::make_shared<FakeGpu>(Vendor::hip, "gfx1100", nullptr));
  CHECK_THROWS_WITH(f.engine->device_target(), Catch::Matchers::Contains("gfx1100"));
  const ir::Variant variant = variant_from(kPrefillVariant);
  PrefillArgs args = fake_prefill_args(1, 5);
  CHECK_THROWS_WITH(f.engine->prefill(variant, args), Catch::Matchers::Contains("gfx1100"));
  CHECK(f.gpu->loads.empty());
  CHECK(f.hip_compiler->calls.empty());
}
