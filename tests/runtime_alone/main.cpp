// The deployable runtime on its own: this program links attnjit_runtime and nothing of
// the CPU reference or the test support, with every object of the runtime archive
// forced in (tests/CMakeLists.txt), so a runtime file that needs one of them fails to
// link here. It then resolves a kernel spec, the work an inference engine starts with,
// and needs neither a GPU nor NVRTC for it.
#include <cstdio>

#include "compiler/passes/pipeline.h"
#include "runtime/api/engine.h"

int main() {
  const attnjit::SourceFile file{
      "<runtime-alone>",
      "variant alone { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n"
      "                kv_cache = contiguous; mask = causal; }\n"};
  auto module = attnjit::compile_variants(file);
  if (!module) {
    std::fprintf(stderr, "runtime alone: the variant does not compile\n");
    return 1;
  }
  attnjit::Engine engine;
  auto spec = engine.make_spec(module->variants.front(), attnjit::KernelKind::prefill, "sm_80");
  if (!spec) {
    std::fprintf(stderr, "runtime alone: %s\n", spec.error().c_str());
    return 1;
  }
  std::printf("runtime alone: %s\n", spec->uri().c_str());
  return 0;
}
