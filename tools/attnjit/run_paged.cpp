#include "tools/attnjit/run_paged.h"

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "compiler/target/target.h"
#include "runtime/harness/paged_problem.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/dump.h"
#include "tools/attnjit/run_values.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

constexpr uint64_t kDefaultSeed = 1;
constexpr int kMaxSplits = 64;  // ATTNJIT_MAX_MERGE_PARTS: the merge kernel's limit
// A cache written on the device may differ from the reference cache write in a few
// codes that sit on a rounding boundary (scales in f32 there, f64 here); more than
// this fraction of differing bytes is a wrong write.
constexpr double kCacheMismatchFraction = 0.01;

// One length per sequence: the list flag, else the scalar flag for every sequence.
std::vector<int> lengths(const Args& args, const char* scalar, const char* list, int fallback,
                         int scalar_minimum, size_t count) {
  if (args.has(list)) return args.int_list(list, 0);
  return std::vector<int>(count, args.int_value(scalar, fallback, scalar_minimum));
}

harness::PagedProblemShape paged_shape(const Args& args) {
  for (const char* flag : {"--seqlen-q", "--seqlen-k", "--ragged", "--seqlens-q", "--seqlens-k"})
    if (args.has(flag))
      throw UsageError(fmt::format(
          "{} is for the prefill kind; --kind paged takes --context C / --contexts LIST and "
          "--query-len Q / --query-lens LIST",
          flag));
  if (args.has("--context") && args.has("--contexts"))
    throw UsageError("give --context C or --contexts LIST, not both");
  if (args.has("--query-len") && args.has("--query-lens"))
    throw UsageError("give --query-len Q or --query-lens LIST, not both");
  if (!args.has("--context") && !args.has("--contexts"))
    throw UsageError(
        "--kind paged needs --context C (cached tokens of every sequence) or --contexts LIST");

  // The lists fix the batch; a scalar applies to every sequence.
  size_t batch = 0;
  for (const char* list : {"--contexts", "--query-lens"}) {
    if (!args.has(list)) continue;
    const size_t n = args.int_list(list, 0).size();
    if (batch != 0 && n != batch)
      throw UsageError(fmt::format("--contexts has {} lengths but --query-lens has {}",
                                   args.int_list("--contexts", 0).size(),
                                   args.int_list("--query-lens", 0).size()));
    batch = n;
  }
  if (batch == 0) {
    batch = static_cast<size_t>(args.int_value("--batch", 1, 1));
  } else if (args.has("--batch") && static_cast<size_t>(args.int_value("--batch", 1, 1)) != batch) {
    throw UsageError(fmt::format("--batch {} but {} per-sequence lengths given",
                                 args.value_or("--batch", ""), batch));
  }

  harness::PagedProblemShape s;
  s.context_lens = lengths(args, "--context", "--contexts", 0, 0, batch);
  s.query_lens = lengths(args, "--query-len", "--query-lens", 1, 1, batch);
  bool any_query = false;
  for (int q : s.query_lens) any_query |= q > 0;
  if (!any_query) throw UsageError("--query-lens: every length is 0, so there is nothing to run");
  s.fused_kv = args.has("--fused-kv");
  return s;
}

// --splits N: forced split-KV segments (1 = off), or "stream" for the stream split;
// absent, the engine's heuristic.
int requested_splits(const Args& args) {
  if (args.value("--splits") == std::optional<std::string>("stream")) return kStreamSplit;
  const int splits = args.int_value("--splits", 0, 1);
  if (splits > kMaxSplits)
    throw UsageError(fmt::format("--splits: at most {} segments, got {}", kMaxSplits, splits));
  return splits;
}

// The variant must have a paged cache, and --page-size (when given) must be its page
// size: kernels are compiled for one page size, so the flag cannot override it.
void check_variant(const ir::Variant& v, const Args& args, const std::string& path) {
  if (v.kv_cache.kind != ir::KvCacheKind::paged)
    throw CommandError(fmt::format(
        "variant {} has kv_cache = {}; --kind paged needs a variant with kv_cache = paged(...) "
        "(run it without --kind paged for the prefill kind)",
        v.name, ir::kv_cache_kind_name(v.kv_cache.kind)));
  if (args.has("--page-size")) {
    const int page_size = args.int_value("--page-size", 0, 1);
    if (page_size != v.kv_cache.page_size)
      throw UsageError(fmt::format(
          "--page-size {} disagrees with variant {} in {} (kv_cache = paged(page_size = {}, "
          "layout = {})); kernels are built for the variant's page size: change the variant "
          "file to run another",
          page_size, v.name, path, v.kv_cache.page_size, ir::kv_layout_name(v.kv_cache.layout)));
  }
}

std::string describe(const harness::PagedProblemShape& s, uint64_t seed) {
  bool uniform = true;
  for (size_t i = 1; i < s.query_lens.size(); ++i)
    uniform &= s.query_lens[i] == s.query_lens[0] && s.context_lens[i] == s.context_lens[0];
  if (uniform)
    return fmt::format("paged batch {}, context {}, query_len {}, seed {}", s.query_lens.size(),
                       s.context_lens.front(), s.query_lens.front(), seed);
  return fmt::format("paged batch {}, contexts {}, query_lens {}, seed {}", s.query_lens.size(),
                     fmt::join(s.context_lens, ","), fmt::join(s.query_lens, ","), seed);
}

std::string describe_cache(const ir::Variant& v, const harness::HostPagedProblem& p) {
  std::string kv(dtype_name(v.kv_type));
  if (v.kv_scale != ir::ScaleGranularity::none)
    kv += fmt::format(" {}", ir::scale_granularity_name(v.kv_scale));
  std::string text = fmt::format("{} pages of {} tokens ({}), {}, {} blocks per sequence at most",
                                 p.num_blocks, p.page_size, ir::kv_layout_name(p.layout), kv,
                                 p.max_blocks_per_seq);
  if (v.kv_scale == ir::ScaleGranularity::per_tensor)
    text += fmt::format(", k_descale {:.4g}, v_descale {:.4g}", p.k_descale, p.v_descale);
  if (p.fused_kv) text += ", fused K/V";
  return text;
}

}  // namespace

const char* first_paged_flag(const Args& args) {
  for (const FlagSpec& f : kPagedRunFlags)
    if (args.has(f.name)) return f.name;
  return nullptr;
}

int run_paged(const Args& args) {
  const std::string& path = args.single_positional("FILE");
  harness::PagedProblemShape shape = paged_shape(args);
  const int splits = requested_splits(args);
  const bool write_cache = args.has("--write-cache");
  const uint64_t seed = args.u64_value("--seed", kDefaultSeed);
  ir::Module module = load_module(path);
  const ir::Variant& variant = select_variant(module, args, path);
  check_variant(variant, args, path);
  shape.values.params = parse_params(args, variant);

  std::shared_ptr<cuda::Driver> driver = open_gpu();
  const std::string arch = gpu_target(*driver);
  Engine engine(engine_options(args, variant, arch));
  std::printf("variant  %s on %s (%s)\n", variant.name.c_str(), driver->device_name().c_str(),
              arch.c_str());
  std::printf("problem  %s\n", describe(shape, seed).c_str());

  harness::HostPagedProblem problem = harness::make_random_paged_problem(variant, shape, seed);
  std::printf("cache    %s\n", describe_cache(variant, problem).c_str());
  print_runtime_values(variant, shape.values, problem);
  std::fflush(stdout);

  // With --write-cache the device writes its own cache from the same tokens; the
  // host's reference cache write is kept to check what it wrote.
  const harness::HostPagedProblem host_write = write_cache ? problem : harness::HostPagedProblem{};
  harness::PagedRunOptions options;
  options.num_splits = splits;
  options.write_cache_on_device = write_cache;
  harness::run_paged_on_device(engine, variant, problem, options);
  const int splits_used = engine.last_paged_splits();
  std::printf("splits   %s (%s)\n",
              splits_used == kStreamSplit ? "stream" : std::to_string(splits_used).c_str(),
              splits != 0 ? "forced" : "heuristic");
  std::printf("chunks   on the %s main loop (mma_sync also when the batch has no prefill chunk)\n",
              mainloop_name(engine.last_paged_prefill_mainloop()));

  bool cache_ok = true;
  if (write_cache) {
    const harness::CacheComparison c = harness::compare_caches(host_write, problem);
    cache_ok = c.ok(kCacheMismatchFraction);
    std::printf("cache write    %zu of %zu cache bytes and %zu of %zu scales differ from the "
                "reference write%s\n",
                c.differing_bytes, c.bytes, c.differing_scales, c.scales,
                cache_ok ? "" : " (too many)");
  }
  // The attention is judged on the cache it read (downloaded into the problem after a
  // device write): a code the write legitimately rounds the other way at a tie would
  // otherwise count against the attention kernel.
  const harness::PagedReferenceResult reference = harness::compute_paged_reference(variant, problem);
  const harness::CheckResult check =
      harness::compare_paged_with_reference(variant, problem, reference);
  std::printf("%s", check.details().c_str());
  if (std::optional<std::string> dir = args.value("--dump")) {
    write_paged_dump(*dir, PagedRunRecord{variant, shape, seed, problem, reference, check, splits,
                                          splits_used, write_cache});
    std::printf("dumped to %s\n", dir->c_str());
  }
  std::printf("%s\n", check.summary().c_str());
  if (!cache_ok) std::printf("FAIL the cache written on the device differs from the reference\n");
  return check.passed && cache_ok ? 0 : 1;
}

}  // namespace attnjit::cli
