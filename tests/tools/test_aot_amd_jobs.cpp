// The AOT job list on AMD targets is the planner's, as on CUDA targets: a paged-cache
// variant's paged kernels (the general and the decode tile, whole, in split-KV segments
// and the decode tile's stream split), their merge and cache_write, all HSACO.
#include <algorithm>
#include <string>

#include "catch.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/passes/pipeline.h"
#include "tools/aot/aot_jobs.h"

namespace {

using namespace attnjit;

aot::VariantSet amd_test_variants() {
  const std::string text =
      "variant amd_contiguous { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n"
      "  kv_cache = contiguous; mask = causal; }\n"
      "variant amd_paged_a { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;\n"
      "  kv_cache = paged(page_size = 16); mask = causal; }\n"
      "variant amd_paged_b { heads = 8 / 8; head_dim = 64; q = fp16; kv = fp16; out = fp16;\n"
      "  kv_cache = paged(page_size = 16); mask = causal; }\n";
  auto module = compile_variants(SourceFile{"<amd aot test>", text});
  REQUIRE(module.ok());
  return {"<amd aot test>", *module};
}

size_t count_of(const std::vector<aot::Job>& jobs, const std::string& arch, KernelKind kind) {
  return std::count_if(jobs.begin(), jobs.end(), [&](const aot::Job& j) {
    return j.spec.arch == arch && j.spec.kind == kind;
  });
}

}  // namespace

TEST_CASE("list_jobs lists the paged kernels on AMD targets as on CUDA ones", "[tools][aot][hip]") {
  aot::BuildInputs inputs;
  inputs.variant_sets.push_back(amd_test_variants());
  inputs.archs = {"gfx90a", "gfx942", "sm_90"};
  auto jobs = aot::list_jobs(inputs);
  REQUIRE(jobs.ok());

  for (const std::string arch : {"gfx90a", "gfx942"}) {
    INFO(arch);
    // Both paged variants: the general tile whole and in segments; the decode tile (group
    // sizes 4 and 1 fit its rows) whole, in segments and the stream split.
    CHECK(count_of(*jobs, arch, KernelKind::paged) == 10);
    CHECK(count_of(*jobs, arch, KernelKind::prefill) == 1);      // amd_contiguous
    CHECK(count_of(*jobs, arch, KernelKind::cache_write) == 2);  // both paged variants
    // Every variant's merge of two results; the paged ones' merge of f32 segments.
    CHECK(count_of(*jobs, arch, KernelKind::merge) == 5);
    for (const aot::Job& job : *jobs) {
      if (job.spec.arch != arch) continue;
      CHECK(job.format == BinaryFormat::hsaco);
      // The MFMA main loop's tiles: 32 query rows per 64-lane wave.
      if (job.spec.kind == KernelKind::paged) {
        CHECK(job.spec.tile.block_m == 32 * job.spec.tile.warps);
        CHECK(geometry_of(job.spec).threads == 64 * job.spec.tile.warps);
      }
    }
  }
  CHECK(count_of(*jobs, "sm_90", KernelKind::paged) == count_of(*jobs, "gfx942", KernelKind::paged));

  // Only the paged kind asked for: its kernels alone.
  inputs.kinds = {KernelKind::paged};
  inputs.archs = {"gfx942"};
  auto paged = aot::list_jobs(inputs);
  REQUIRE(paged.ok());
  CHECK(paged->size() == 10);
}
