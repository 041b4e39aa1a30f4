// Generated source compiles clean under -Wall -Wextra -Werror. The rendered hooks
// (VariantHooks) are shared by the CUDA and HIP sources; NVRTC has no -Wextra, so the
// HIP source is compiled with clang, for variants whose hooks read few of their
// parameters (no mask beyond its band, no inputs) and many (a general score and mask,
// an input per query head), in every kind with HIP templates.
#include <string>

#include "catch.h"
#include "compiler/backend/clang_hip_compiler.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/support/diagnostics.h"
#include "runtime/plan/launch_plan.h"

namespace {

using namespace attnjit;

constexpr const char* kVariants = R"(
variant plain { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;
  kv_cache = contiguous; }
variant cap { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;
  kv_cache = contiguous; param cap : f32 = 30.0; score = softcap(cap); mask = causal && window(100); }
variant alibi { heads = 4 / 4; head_dim = 64; q = fp16; kv = fp16; out = fp16;
  kv_cache = contiguous; sinks = per_head; input slope : f32[q_heads]; score = alibi(slope); mask = causal; }
variant general { heads = 8 / 4; head_dim = 128; q = bf16; kv = bf16; out = f32;
  kv_cache = contiguous; input slope : f32[q_heads]; score = alibi_sqrt(slope);
  mask = sqrt(kv_pos + 1) < q_pos + 4 && abs(q_pos - kv_pos) >= 0; }
variant paged_fp8 { heads = 8 / 2; head_dim = 64; q = bf16; kv = fp8_e4m3 per_token_head; out = bf16;
  kv_cache = paged(page_size = 16); mask = causal; }
)";

}  // namespace

TEST_CASE("generated HIP source compiles with -Wall -Wextra -Werror", "[amd][hip][warnings]") {
  auto clang = ClangHipCompiler::open();
  if (!clang) {
    WARN("skipped: needs clang-19 (tools/install-deps.sh installs it): " << clang.error());
    return;
  }
  auto module = compile_variants(SourceFile{"<warnings>", kVariants});
  if (!module) FAIL(render(module.error(), SourceFile{"<warnings>", kVariants}));
  CompileOptions options;
  options.format = BinaryFormat::hsaco;
  options.extra = {"-Wall", "-Wextra", "-Werror"};
  int compiled = 0;
  for (const ir::Variant& v : module->variants) {
    const bool paged = v.kv_cache.kind == ir::KvCacheKind::paged;
    for (const KernelRole& role :
         {KernelRole{paged ? KernelKind::cache_write : KernelKind::prefill, "", KvSplit::none},
          KernelRole{KernelKind::merge, "", KvSplit::none}}) {
      const TileConfig tile = role.kind == KernelKind::prefill ? TileConfig{128, 32, 4, 2} : kRowKernelTile;
      const KernelSpec spec = spec_for(v, "gfx942", role, tile);
      INFO(spec.uri());
      auto source = render_kernel(spec);
      if (!source) FAIL(source.error());
      auto artifact = (*clang)->compile(*source, *find_target("gfx942"), options);
      if (!artifact) FAIL(artifact.error().describe());
      CHECK(artifact->warnings().empty());
      ++compiled;
    }
  }
  CHECK(compiled == 10);
}
