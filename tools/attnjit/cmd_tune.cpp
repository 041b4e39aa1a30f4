// `attnjit tune --variants FILE`: measure candidate tile configs on the GPU and merge
// the fastest into a per-arch config (tools/tune/ does the work; docs/tune.md).
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "compiler/spec/kernel_spec.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"
#include "tools/tune/tuner.h"

namespace attnjit::cli {

namespace {

// A week: a budget beyond it is a typo, not a plan.
constexpr int kMaxBudgetMinutes = 7 * 24 * 60;

// Default: every kind the config holds (sm_90a's: the wgmma prefill kernel only).
std::vector<tune::TuneKind> requested_kinds(const Args& args, const std::string& arch) {
  const char* every = !arch.empty() && own_mainloop(arch) == Mainloop::wgmma ? "prefill" : "prefill,paged,paged_decode";
  std::vector<tune::TuneKind> kinds;
  for (const std::string& name : split_list(args.value_or("--kind", every), "--kind")) {
    tune::TuneKind k;
    if (!tune::parse_tune_kind(name, &k))
      throw UsageError(fmt::format("--kind: unknown kind '{}' (known: {})", printable(name, 60),
                                   tune::tune_kind_names()));
    if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
  }
  return kinds;
}

// --variant NAME (repeatable), else every variant of the file that one of the kinds serves.
std::vector<ir::Variant> requested_variants(const ir::Module& module, const Args& args,
                                            const std::vector<tune::TuneKind>& kinds,
                                            const std::string& path) {
  std::vector<ir::Variant> variants;
  for (const std::string& name : args.values("--variant")) {
    const ir::Variant* v = module.find(name);
    if (!v) throw UsageError(fmt::format("--variant: no variant '{}' in {}", printable(name, 100), path));
    variants.push_back(*v);
  }
  if (!variants.empty()) return variants;
  for (const ir::Variant& v : module.variants)
    for (tune::TuneKind k : tune::kinds_of(v))
      if (std::find(kinds.begin(), kinds.end(), k) != kinds.end()) {
        variants.push_back(v);
        break;
      }
  if (variants.empty())
    throw CommandError(fmt::format("{} has no variant with a kernel of the kinds asked for", path));
  return variants;
}

int run_tune_command(const Args& args) {
  if (!args.positional().empty())
    throw UsageError("unexpected argument '" + printable(args.positional().front(), 100) +
                     "' (the variant file goes after --variants)");
  // Without --variants, the built-in default set (as `attnjit` with no command uses).
  const std::optional<std::string> path = args.value("--variants");
  const bool dry = args.has("--dry-run");
  if (args.has("--compile") && !dry)
    throw UsageError("--compile is for --dry-run: a measuring run always compiles");
  const std::optional<std::string> compare = args.value("--compare");
  if (compare && (dry || args.has("--out") || args.has("--csv") || args.has("--force")))
    throw UsageError("--compare times two configs and writes nothing: drop --dry-run, --out, "
                     "--csv and --force");

  tune::TuneRequest r;
  r.variants_file = path ? *path : std::string("<embedded ") + kDefaultSetName + ">";
  if (args.has("--arch")) r.arch = target_arch(args);
  r.kinds = requested_kinds(args, r.arch);
  if (std::optional<std::string> text = args.value("--shapes")) {
    if (r.kinds.size() != 1)
      throw UsageError("--shapes needs one --kind (each kind spells its shapes differently)");
    auto shapes = tune::parse_shapes(r.kinds[0], *text);
    if (!shapes) throw UsageError("--shapes: " + shapes.error());
    r.shapes[r.kinds[0]] = *shapes;
  }
  r.budget_minutes = parse_int(args.value_or("--budget", "30"), "--budget", 1);
  if (r.budget_minutes > kMaxBudgetMinutes)
    throw UsageError(fmt::format("--budget: at most {} minutes (a week)", kMaxBudgetMinutes));
  r.out = args.value_or("--out", "");
  r.csv = args.value_or("--csv", "");
  r.force = args.has("--force");
  r.jobs = args.int_value("--jobs", 0, 1);
  if (std::optional<std::string> dir = args.value(kCacheDirFlag.name)) r.cache.directory = *dir;
  r.compile = args.has("--compile");

  const ir::Module module = path ? load_module(*path) : load_default_module();
  r.variants = requested_variants(module, args, r.kinds, r.variants_file);
  if (compare) return tune::run_compare(r, *compare, stdout, stderr);
  if (dry) return tune::dry_run(r, stdout, stderr);
  return tune::run_tune(r, stdout, stderr);
}

}  // namespace

const Command& tune_command() {
  static const Command command{
      "tune",
      "measure tile configs on the GPU and merge the fastest into a config",
      "usage: attnjit tune [--variants FILE] [--variant NAME]... [--kind KIND[,KIND]]\n"
      "                    [--shapes LIST] [--budget MINUTES] [--out FILE.json]\n"
      "                    [--csv FILE] [--force] [--jobs N] [--cache-dir DIR]\n"
      "                    [--arch sm_90a]\n"
      "       attnjit tune [--variants FILE] ... --dry-run [--arch sm_90] [--compile]\n"
      "       attnjit tune [--variants FILE] ... --compare FILE.json\n"
      "\n"
      "For every config entry (kind and bucket) the variants use, enumerates candidate\n"
      "tiles (BLOCK_M, BLOCK_N, warps, stages, min_blocks_per_sm; num_splits for\n"
      "paged_decode), drops those the config validator rejects, compiles the rest in\n"
      "parallel through the cache, drops heavy register spillers, checks each against\n"
      "the CPU reference on a small problem (a failure is a bug: reported, never\n"
      "chosen), times the survivors with CUDA events on the shapes, keeps the fastest\n"
      "per entry when it beats the current tile, and merges it into the config.\n"
      "docs/tune.md has the details.\n"
      "\n"
      "  --variants    the variant file (default: the built-in default set,\n"
      "                configs/variants/default.attn)\n"
      "  --variant     tune only this variant (repeatable; default: all of the file)\n"
      "  --kind        prefill, paged, paged_decode, or a list (default: every kind\n"
      "                the variants' caches use)\n"
      "  --shapes      problem sizes to time, with one --kind: prefill BxS or BxSQxSK;\n"
      "                paged BxQxC (C cached tokens before a chunk of Q); paged_decode\n"
      "                BxC (default: the shapes of docs/BENCHMARKS.md)\n"
      "  --budget      minutes for the whole run (default 30): candidates not timed by\n"
      "                then are skipped\n"
      "  --out         the config to merge into (default <arch>.json); when missing it\n"
      "                starts from the built-in table. Keys not tuned stay as they are\n"
      "  --csv         every candidate's measurements (default: --out with .csv)\n"
      "  --force       overwrite a config whose _meta names another device\n"
      "  --jobs        compile threads (default: one per core)\n"
      "  --arch        the config's target: with --dry-run any; on a GPU its own\n"
      "                (the default) or sm_90a on a 9.0 device, whose config tiles the\n"
      "                Hopper (wgmma) prefill kernel\n"
      "  --cache-dir   kernel cache directory\n"
      "  --dry-run     print the candidates after the static rules; needs no GPU with\n"
      "                --arch; --compile also compiles them and shows registers\n"
      "  --compare     time the built-in tiles against FILE.json's on the shapes and\n"
      "                exit 1 if FILE's are slower on some shape\n",
      {{"--variants", true}, kVariantFlag, kKindFlag, {"--shapes", true}, {"--budget", true},
       {"--out", true}, {"--csv", true}, {"--force", false}, {"--jobs", true}, kCacheDirFlag,
       {"--dry-run", false}, kArchFlag, {"--compile", false}, {"--compare", true}},
      run_tune_command,
  };
  return command;
}

}  // namespace attnjit::cli
