// `attnjit` / `attnjit defaults`: the main job. Compiles the built-in default variant
// set for each target arch (one line per kernel as it finishes, so a slow first
// compile shows progress), then, where a GPU is present, runs every variant once on
// a random problem and checks it against the float64 reference.
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "compiler/passes/pipeline.h"
#include "runtime/harness/prefill_problem.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

constexpr const char* kDefaultArchs = "sm_90,sm_80";
constexpr uint64_t kDefaultSeed = 20240601;

// Unequal query and key lengths, neither a multiple of a tile, and two sequences:
// catches row/column edge handling and batch strides in one small problem.
harness::ProblemShape check_shape() {
  harness::ProblemShape s;
  s.batch = 2;
  s.seqlen_q = 200;
  s.seqlen_k = 300;
  return s;
}

// Returns false when the kernel could not be built.
bool compile_one(Engine& engine, const ir::Variant& v, const std::string& arch) {
  auto spec = engine.make_spec(v, KernelKind::prefill, arch);
  if (!spec) {
    std::printf("%-6s %-20s FAILED: %s\n", arch.c_str(), v.name.c_str(), spec.error().c_str());
    return false;
  }
  auto compiled = engine.compile(*spec);
  if (!compiled) {
    std::printf("%-6s %-20s FAILED: %s\n", arch.c_str(), v.name.c_str(),
                compiled.error().message.c_str());
    std::fprintf(stderr, "%s\n", compiled.error().describe().c_str());
    return false;
  }
  const CacheLookup& lookup = compiled->lookup;
  std::printf("%-6s %-20s %s  %zu bytes  %.1f ms  %s\n", arch.c_str(), v.name.c_str(),
              compiled->key.c_str(), lookup.artifact.binary.size(), lookup.milliseconds,
              cache_source_name(lookup.source));
  std::fputs(lookup.warning_lines("warning: ").c_str(), stderr);
  std::fflush(stdout);  // the kernel's line first, then any warnings about it
  if (!report_nvrtc_warnings(compiled->key, lookup.artifact)) {
    std::printf("%-6s %-20s FAILED: NVRTC warnings and ATTNJIT_WERROR is set\n", arch.c_str(),
                v.name.c_str());
    return false;
  }
  return true;
}

// Returns false when the run failed or its result is wrong.
bool check_one(Engine& engine, const ir::Variant& v, uint64_t seed) {
  const harness::ProblemShape shape = check_shape();
  std::string label = fmt::format("gpu    {:<20} batch {}, seqlen_q {}, seqlen_k {}:", v.name,
                                  shape.batch, shape.seqlen_q, shape.seqlen_k);
  try {
    harness::HostProblem problem = harness::make_random_problem(v, shape, seed);
    harness::CheckResult result = harness::run_and_check(engine, v, problem);
    std::printf("%s %s\n", label.c_str(), result.summary().c_str());
    return result.passed;
  } catch (const std::exception& e) {
    std::printf("%s FAIL: %s\n", label.c_str(), e.what());
    return false;
  }
}

int run_defaults(const Args& args) {
  if (!args.positional().empty())
    throw UsageError("unexpected argument '" + args.positional().front() + "'");
  const std::vector<std::string> archs = target_archs(args, kDefaultArchs);
  const uint64_t seed = args.u64_value("--seed", kDefaultSeed);
  ir::Module module = load_default_module();

  EngineOptions options;
  if (std::optional<std::string> dir = args.value(kCacheDirFlag.name)) options.cache.directory = *dir;
  Engine engine(options);

  std::string arch_list;
  for (const std::string& a : archs) {
    if (!arch_list.empty()) arch_list += ", ";
    arch_list += a;
  }
  // A kernel in the JIT cache needs its compiler too (the key names the compiler's
  // version); one in an AOT directory needs none. Without a compiler and with no AOT
  // directory, say so once instead of once per kernel.
  std::string compilers;
  const bool has_aot = !engine.cache().aot_directories().empty();
  for (const std::string& a : archs) {
    if (!jit_enabled(options)) {
      compilers = "no compiler (JIT off: kernels from the AOT directories only)";
      break;
    }
    auto backend = engine.backend(*find_target(a));  // target_archs() checked each
    if (!backend && !has_aot) throw CommandError("cannot compile kernels: " + backend.error());
    const std::string described =
        backend ? (*backend)->describe() : "no compiler (kernels from the AOT directories only)";
    if (compilers.find(described) == std::string::npos)
      compilers += (compilers.empty() ? "" : ", ") + described;
  }
  std::printf("compiling %zu default variants for %s with %s\n", module.variants.size(),
              arch_list.c_str(), compilers.c_str());
  std::fflush(stdout);
  bool ok = true;
  for (const std::string& arch : archs) {
    for (const ir::Variant& v : module.variants) {
      ok = compile_one(engine, v, arch) && ok;
      std::fflush(stdout);
    }
  }

  const std::string why = cuda_gpu_problem();
  if (!why.empty()) {
    std::printf("GPU checks skipped: %s\n", why.c_str());
  } else {
    std::printf("checking on %s (%s) against the CPU reference\n",
                engine.driver()->device_name().c_str(), engine.driver()->arch().c_str());
    for (const ir::Variant& v : module.variants) {
      ok = check_one(engine, v, seed) && ok;
      std::fflush(stdout);
    }
  }
  std::printf("%s\n", ok ? "all ok" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

const Command& defaults_command() {
  static const Command command{
      "defaults",
      "compile the default variant set; check it on the GPU when present (default job)",
      "usage: attnjit [defaults] [--arch LIST] [--seed S] [--cache-dir DIR]\n"
      "\n"
      "Compiles the built-in default variant set (configs/variants/default.attn) for\n"
      "each arch and prints one line per kernel: arch, variant, cache key, binary size,\n"
      "compile milliseconds and whether the cache hit. With a GPU, then runs each\n"
      "variant once on a random problem (batch 2, seqlen_q 200, seqlen_k 300) and\n"
      "compares it with the CPU reference. Exits 1 if anything failed.\n"
      "\n"
      "  --arch LIST   comma-separated targets (default sm_90,sm_80)\n"
      "  --seed S      seed of the random GPU check inputs\n"
      "  --cache-dir   kernel cache directory (default $ATTNJIT_CACHE_DIR, else\n"
      "                ~/.cache/attnjit)\n",
      {kArchFlag, {"--seed", true}, kCacheDirFlag},
      run_defaults,
  };
  return command;
}

}  // namespace attnjit::cli
