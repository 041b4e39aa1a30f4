// The AOT job list on AMD targets: a paged-cache variant keeps the kernels of the kinds
// its target has (cache_write, merge) and the paged kind is reported as skipped, once
// per target, instead of failing the list. CUDA targets of the same build are untouched.
#include <algorithm>
#include <string>

#include "catch.h"
#include "compiler/codegen/codegen.h"
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

TEST_CASE("kind_not_yet_on: the paged kind on AMD targets only", "[tools][aot][hip]") {
  CHECK(kind_not_yet_on(KernelKind::paged, "gfx942") ==
        "no paged kernel for gfx942 yet: the MFMA main loop serves the prefill kind only");
  CHECK_FALSE(kind_not_yet_on(KernelKind::paged, "gfx90a").empty());
  for (KernelKind kind : {KernelKind::prefill, KernelKind::merge, KernelKind::cache_write})
    CHECK(kind_not_yet_on(kind, "gfx942").empty());
  CHECK(kind_not_yet_on(KernelKind::paged, "sm_90").empty());
}

TEST_CASE("list_jobs skips the paged kind on AMD targets and keeps the rest",
          "[tools][aot][hip]") {
  aot::BuildInputs inputs;
  inputs.variant_sets.push_back(amd_test_variants());
  inputs.archs = {"gfx90a", "gfx942", "sm_90"};
  std::vector<aot::SkippedKind> skipped;
  auto jobs = aot::list_jobs(inputs, &skipped);
  REQUIRE(jobs.ok());

  for (const std::string arch : {"gfx90a", "gfx942"}) {
    INFO(arch);
    CHECK(count_of(*jobs, arch, KernelKind::paged) == 0);
    CHECK(count_of(*jobs, arch, KernelKind::prefill) == 1);      // amd_contiguous
    CHECK(count_of(*jobs, arch, KernelKind::cache_write) == 2);  // both paged variants
    CHECK(count_of(*jobs, arch, KernelKind::merge) == 3);        // every variant's merge
    for (const aot::Job& job : *jobs)
      if (job.spec.arch == arch) CHECK(job.format == BinaryFormat::hsaco);
  }
  // CUDA keeps the paged kernels (whole, split, decode tile) of both paged variants.
  CHECK(count_of(*jobs, "sm_90", KernelKind::paged) >= 2);

  REQUIRE(skipped.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(skipped[i].arch == inputs.archs[i]);
    CHECK(skipped[i].kind == KernelKind::paged);
    CHECK(skipped[i].variants == std::vector<std::string>{"amd_paged_a", "amd_paged_b"});
    CHECK(skipped[i].why == kind_not_yet_on(KernelKind::paged, inputs.archs[i]));
  }

  // Kinds not asked for are not reported as skipped.
  inputs.kinds = {KernelKind::merge};
  skipped.clear();
  auto merges = aot::list_jobs(inputs, &skipped);
  REQUIRE(merges.ok());
  CHECK(skipped.empty());
  CHECK(count_of(*merges, "gfx942", KernelKind::merge) == 3);

  // Only the missing kind asked for: nothing listed on the AMD targets, the kind reported.
  inputs.kinds = {KernelKind::paged};
  inputs.archs = {"gfx942"};
  auto none = aot::list_jobs(inputs, &skipped);
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK(skipped.size() == 1);
}
