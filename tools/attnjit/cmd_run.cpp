// `attnjit run FILE --batch B --seqlen-q N --seqlen-k M`: run one variant on the GPU
// with random inputs and compare it with the CPU reference: the end-to-end check a
// user runs after writing a variant, and the source of dumps for bug reports.
// `--kind paged` runs a batch against a paged KV cache instead (run_paged.cpp).
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/support/diagnostics.h"
#include "compiler/target/target.h"
#include "runtime/harness/prefill_problem.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/dump.h"
#include "tools/attnjit/run_paged.h"
#include "tools/attnjit/run_values.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

constexpr uint64_t kDefaultSeed = 1;

std::string join(const std::vector<int>& values) {
  std::string out;
  for (int v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out;
}

harness::ProblemShape problem_shape(const Args& args) {
  harness::ProblemShape s;
  const bool has_lists = args.has("--seqlens-q") || args.has("--seqlens-k");
  if (!args.has("--ragged")) {
    if (has_lists) throw UsageError("--seqlens-q / --seqlens-k need --ragged");
    if (!args.has("--seqlen-q") || !args.has("--seqlen-k"))
      throw UsageError("missing --seqlen-q N and --seqlen-k M (or --ragged with --seqlens-q/-k)");
    s.batch = args.int_value("--batch", 1, 1);
    s.seqlen_q = args.int_value("--seqlen-q", 0, 1);
    s.seqlen_k = args.int_value("--seqlen-k", 0, 1);
    return s;
  }
  if (args.has("--seqlen-q") || args.has("--seqlen-k"))
    throw UsageError("--ragged takes per-sequence lists --seqlens-q/--seqlens-k, not --seqlen-q/-k");
  s.seqlens_q = args.int_list("--seqlens-q", 0);
  s.seqlens_k = args.int_list("--seqlens-k", 0);
  if (s.seqlens_q.empty() || s.seqlens_k.empty())
    throw UsageError("--ragged needs --seqlens-q LIST and --seqlens-k LIST");
  if (s.seqlens_q.size() != s.seqlens_k.size())
    throw UsageError(fmt::format("--seqlens-q has {} lengths but --seqlens-k has {}",
                                 s.seqlens_q.size(), s.seqlens_k.size()));
  s.batch = static_cast<int>(s.seqlens_q.size());
  if (args.int_value("--batch", s.batch, 1) != s.batch)
    throw UsageError(fmt::format("--batch {} but {} sequence lengths given",
                                 args.value_or("--batch", ""), s.batch));
  return s;
}

std::string describe(const harness::ProblemShape& s, uint64_t seed) {
  if (s.seqlens_q.empty())
    return fmt::format("batch {}, seqlen_q {}, seqlen_k {}, seed {}", s.batch, s.seqlen_q,
                       s.seqlen_k, seed);
  return fmt::format("ragged batch {}, seqlens_q {}, seqlens_k {}, seed {}", s.batch,
                     join(s.seqlens_q), join(s.seqlens_k), seed);
}

// Compiles (or finds) the kernel the engine launches on this GPU (the Hopper kernel
// on a 9.0 device where it takes the variant) before the run, so the user sees which
// one runs and how long building it took; the launch then takes it from the cache.
void report_kernel(Engine& engine, const ir::Variant& variant) {
  auto spec = engine.device_prefill_spec(variant);
  if (!spec) throw CommandError(spec.error());
  auto compiled = engine.compile(*spec);
  if (!compiled) {
    std::fprintf(stderr, "%s\n", compiled.error().describe().c_str());
    throw CommandError(fmt::format("compiling {} for {} failed", variant.name, spec->arch));
  }
  std::printf("kernel   %s (%s, %.1f ms)\n", compiled->key.c_str(),
              cache_source_name(compiled->lookup.source), compiled->lookup.milliseconds);
  if (!report_nvrtc_warnings(compiled->key, compiled->lookup.artifact))
    throw CommandError(compiled->key + " has NVRTC warnings and ATTNJIT_WERROR is set");
}

int run_run(const Args& args) {
  const KernelKind kind = kernel_kind(args);
  if (kind == KernelKind::paged) return run_paged(args);
  if (kind != KernelKind::prefill)
    throw UsageError(fmt::format(
        "--kind {}: run checks the prefill and paged kinds (cache_write runs with --kind paged "
        "--write-cache, merge with --kind paged --splits N)",
        kernel_kind_name(kind)));
  if (const char* flag = first_paged_flag(args))
    throw UsageError(fmt::format("{} is for --kind paged (this run is the prefill kind)", flag));

  const std::string& path = args.single_positional("FILE");
  harness::ProblemShape shape = problem_shape(args);
  const uint64_t seed = args.u64_value("--seed", kDefaultSeed);
  ir::Module module = load_module(path);
  const ir::Variant& variant = select_variant(module, args, path);
  if (variant.kv_cache.kind == ir::KvCacheKind::paged)
    throw CommandError(fmt::format(
        "variant {} has a paged KV cache, which the prefill kind does not read; run it with "
        "--kind paged --context C [--query-len Q] [--batch B]",
        variant.name));
  shape.params = parse_params(args, variant);

  std::shared_ptr<cuda::Driver> driver = open_gpu();
  const std::string arch = gpu_target(*driver);

  Engine engine(engine_options(args, variant, arch));
  std::printf("variant  %s on %s (%s)\n", variant.name.c_str(), driver->device_name().c_str(),
              arch.c_str());
  std::printf("problem  %s\n", describe(shape, seed).c_str());
  std::fflush(stdout);
  report_kernel(engine, variant);

  harness::HostProblem problem = harness::make_random_problem(variant, shape, seed);
  print_runtime_values(variant, shape, problem);
  std::fflush(stdout);
  harness::run_on_device(engine, variant, problem);
  std::printf("ran      the %s main loop\n", mainloop_name(engine.last_prefill_mainloop()));
  const ReferenceResult reference = harness::compute_reference(variant, problem);
  const harness::CheckResult check = harness::compare_with_reference(variant, problem, reference);

  std::printf("%s", check.details().c_str());
  if (std::optional<std::string> dir = args.value("--dump")) {
    write_dump(*dir, RunRecord{variant, shape, seed, problem, reference, check});
    std::printf("dumped to %s\n", printable(*dir).c_str());
  }
  std::printf("%s\n", check.summary().c_str());
  return check.passed ? 0 : 1;
}

std::vector<FlagSpec> run_flags() {
  std::vector<FlagSpec> flags = {
      kVariantFlag, kKindFlag, {"--batch", true}, {"--seqlen-q", true}, {"--seqlen-k", true},
      {"--ragged", false}, {"--seqlens-q", true}, {"--seqlens-k", true}, {"--seed", true},
      {"--dump", true}, kParamFlag, kTileFlag, kConfigFlag, kCacheDirFlag};
  flags.insert(flags.end(), kPagedRunFlags.begin(), kPagedRunFlags.end());
  return flags;
}

}  // namespace

const Command& run_command() {
  static const Command command{
      "run",
      "run one variant on the GPU with random inputs and check it (needs a GPU)",
      "usage: attnjit run FILE [--variant NAME] --seqlen-q N --seqlen-k M [--batch B]\n"
      "                   [--param NAME=VALUE]... [--seed S] [--dump DIR]\n"
      "                   [--tile BM,BN,W,S | --config FILE.json] [--cache-dir DIR]\n"
      "       attnjit run FILE [--variant NAME] --ragged --seqlens-q 5,17,300\n"
      "                   --seqlens-k 9,40,300 [...]\n"
      "       attnjit run FILE [--variant NAME] --kind paged --context C [--query-len Q]\n"
      "                   [--batch B] [--page-size P] [--splits N|stream] [--write-cache]\n"
      "                   [--fused-kv] [--param NAME=VALUE]... [--seed S] [--dump DIR] [...]\n"
      "       attnjit run FILE --kind paged --contexts 0,17,300 --query-lens 1,1,37 [...]\n"
      "\n"
      "Builds the kernel for the GPU's arch, runs it on random normal inputs and\n"
      "compares the output (and LSE) with the float64 CPU reference. PASS needs the\n"
      "relative L2 error within 3x that of the same attention rounded where the kernel\n"
      "rounds (the low-precision reference), every element within a bound scaled to\n"
      "its row, and no NaN (docs/TESTING.md). Prints both errors, the worst element\n"
      "against its bound and PASS or FAIL; exits 1 on FAIL or when no GPU is usable.\n"
      "The variant's runtime values are random unless given: params are their default\n"
      "times U(0.5, 1.5), inputs U(0.01, 1), sinks N(0, 4) with an occasional\n"
      "magnitude up to 30, and 0 to 2 bidirectional ranges per sequence; the values\n"
      "used are printed before the run.\n"
      "\n"
      "  --kind K        prefill (default; kv_cache = contiguous) or paged (kv_cache =\n"
      "                  paged(...)); the kinds are prefill, paged, merge, cache_write\n"
      "  --batch B       sequences (default 1; with --ragged or per-sequence lists, the\n"
      "                  number of lengths)\n"
      "  --seqlen-q N    query length of every sequence\n"
      "  --seqlen-k M    key length of every sequence\n"
      "  --ragged        variable lengths (cu_seqlens), given by the two lists:\n"
      "  --seqlens-q L   comma-separated query lengths\n"
      "  --seqlens-k L   comma-separated key lengths\n"
      "  --param N=V     value of the variant's param N (repeatable)\n"
      "  --seed S        random input seed (default 1)\n"
      "  --dump DIR      write q k v out ref_out [lse ref_lse] [cu_seqlens_*] [inputs,\n"
      "                  sinks, ranges] .npy and meta.json (with the params) to DIR\n"
      "  --tile          BLOCK_M,BLOCK_N,WARPS,STAGES instead of the tuning config\n"
      "  --config        a tuning config JSON file instead of the built-in one\n"
      "  --cache-dir     kernel cache directory (default $ATTNJIT_CACHE_DIR)\n"
      "\n"
      "--kind paged: B sequences, each with Q new query tokens after C cached tokens,\n"
      "in a paged cache with a randomly permuted block table (K/V written by the\n"
      "reference cache write, quantized as the variant says):\n"
      "  --context C     cached tokens of every sequence (required, or --contexts)\n"
      "  --query-len Q   new query tokens of every sequence (default 1: decode)\n"
      "  --contexts L    comma-separated cached tokens per sequence (a mixed batch)\n"
      "  --query-lens L  comma-separated new tokens per sequence (0 allowed)\n"
      "  --page-size P   must equal the variant's page size (exit 2 otherwise)\n"
      "  --splits N      force N split-KV segments, 1 = off, or 'stream' for the stream\n"
      "                  split (decode batches) (default: the heuristic)\n"
      "  --write-cache   write the cache on the GPU with the cache_write kernel first;\n"
      "                  the written bytes are checked against the host's cache write\n"
      "                  and the attention against the reference over what was written\n"
      "  --fused-kv      K and V as views of one [num_blocks, 2, ...] tensor\n"
      "  --dump DIR      q, k_cache v_cache (kv_cache when fused), scale caches,\n"
      "                  block_table seq_lens cu_seqlens_q, out ref_out [lse ref_lse],\n"
      "                  [k_tokens v_tokens slot_mapping with --write-cache], runtime\n"
      "                  values .npy and meta.json (dtypes, page size, layout, scales)\n",
      run_flags(),
      run_run,
  };
  return command;
}

}  // namespace attnjit::cli
