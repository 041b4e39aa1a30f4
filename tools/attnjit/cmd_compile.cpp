// `attnjit compile FILE --arch sm_90`: build one kernel through the cache (no GPU
// needed) and report what happened; --out keeps the binary.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/support/diagnostics.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

std::filesystem::path write_binary(const std::filesystem::path& dir, const CompiledKernel& built) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CommandError(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  const Artifact& a = built.lookup.artifact;
  std::filesystem::path file = dir / (built.key + "." + binary_format_name(a.format));
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(a.binary.data(), static_cast<std::streamsize>(a.binary.size()));
  out.close();
  if (!out) throw CommandError("cannot write " + file.string());
  return file;
}

// The kernel to build. Prefill for sm_90a is the wgmma kernel where that main loop takes
// the variant (what the engine runs on a 9.0 device), else the mma.sync one; for sm_90
// the mma.sync one, the target's own. The paged kind is the mma.sync kernel every call's
// decode tokens take; a 9.0 device also runs its prefill chunks on a wgmma kernel,
// which --mainloop wgmma builds. --mainloop asks for one of them (wgmma on sm_90 builds
// the sm_90a kernel a 9.0 device runs), and --tile names an mma.sync tile unless
// --mainloop wgmma says it is the wgmma kernel's.
KernelSpec chosen_spec(const Args& args, const ir::Variant& variant, KernelKind kind, const std::string& arch) {
  const std::optional<std::string> asked = args.value("--mainloop");
  if (asked && *asked != "wgmma" && *asked != "mma_sync")
    throw UsageError(fmt::format("--mainloop must be wgmma or mma_sync, not '{}'", *asked));
  const bool wgmma_possible =
      (kind == KernelKind::prefill || kind == KernelKind::paged) && runs_wgmma_kernels(arch);
  if (asked && *asked == "wgmma") {
    if (!wgmma_possible)
      throw CommandError(fmt::format(
          "the wgmma main loop builds prefill and paged kernels for sm_90 and sm_90a only, not {} for {}",
          kernel_kind_name(kind), arch));
    if (std::string why = wgmma_variant_problem(variant, kind); !why.empty())
      throw CommandError(fmt::format("the wgmma main loop does not take variant {}: {}", variant.name, why));
  }
  const EngineOptions options = engine_options(args, variant, arch, asked && *asked == "wgmma");
  Engine engine(options);
  const bool try_wgmma = asked ? *asked == "wgmma"
                               : kind == KernelKind::prefill && arch == wgmma_arch() && wgmma_possible &&
                                     !options.tile_override;
  if (try_wgmma) {
    auto spec = kind == KernelKind::prefill ? engine.wgmma_prefill_spec(variant) : engine.wgmma_paged_spec(variant);
    if (!spec) throw CommandError(spec.error());
    if (*spec) return **spec;
  }
  auto spec = engine.make_spec(variant, kind, arch);
  if (!spec) throw CommandError(spec.error());
  return *spec;
}

int run_compile(const Args& args) {
  const std::string& path = args.single_positional("FILE");
  const KernelKind kind = kernel_kind(args);
  const std::string arch = target_arch(args);
  ir::Module module = load_module(path);
  const ir::Variant& variant = select_variant(module, args, path);

  const KernelSpec spec = chosen_spec(args, variant, kind, arch);
  Engine engine(engine_options(args, variant, arch, spec_mainloop(spec) == Mainloop::wgmma));
  std::fprintf(stderr, "compiling %s (%s, %s) for %s...\n", variant.name.c_str(),
               kernel_kind_name(kind), mainloop_name(spec_mainloop(spec)), arch.c_str());

  const Target& target = *find_target(arch);  // target_arch() checked it
  const BinaryFormat format = args.has("--ptx") ? BinaryFormat::ptx : target.default_format();
  auto built = engine.build(spec, format);
  if (!built) {
    std::fprintf(stderr, "%s\n", built.error().describe().c_str());
    throw CommandError(
        fmt::format("compiling {} ({}) for {} failed", variant.name, kernel_kind_name(kind), arch));
  }
  const CacheLookup& lookup = built->lookup;
  std::fputs(lookup.warning_lines("warning: ").c_str(), stderr);
  if (!report_nvrtc_warnings(built->key, lookup.artifact))
    throw CommandError(built->key + " has NVRTC warnings and ATTNJIT_WERROR is set");
  std::printf("variant  %s\n", variant.name.c_str());
  std::printf("kind     %s\n", kernel_kind_name(kind));
  std::printf("mainloop %s\n", mainloop_name(spec_mainloop(spec)));
  std::printf("arch     %s\n", spec.arch.c_str());
  std::printf("key      %s\n", built->key.c_str());
  std::printf("binary   %s, %zu bytes\n", binary_format_name(lookup.artifact.format),
              lookup.artifact.binary.size());
  std::printf("time     %.1f ms\n", lookup.milliseconds);
  std::printf("cache    %s\n", cache_source_name(lookup.source));
  std::printf("compiler %s\n", printable(built->compiler).c_str());
  if (std::optional<std::string> dir = args.value("--out"))
    std::printf("written  %s\n", printable(write_binary(*dir, *built).string()).c_str());
  return 0;
}

}  // namespace

const Command& compile_command() {
  // The --arch line names the targets from the table.
  static const std::string help = fmt::format(
      "usage: attnjit compile FILE [--variant NAME] [--kind prefill|paged|merge|cache_write]\n"
      "                       [--arch sm_90] [--ptx] [--mainloop wgmma|mma_sync]\n"
      "                       [--out DIR] [--tile BM,BN,W,S | --config FILE.json]\n"
      "                       [--cache-dir DIR]\n"
      "\n"
      "Generates the kernel source, compiles it with NVRTC (or finds it in the cache)\n"
      "and prints the cache key, binary size, milliseconds and hit/miss.\n"
      "\n"
      "  --variant     one variant of FILE (required when FILE has several)\n"
      "  --kind        kernel kind: prefill (default; needs kv_cache = contiguous),\n"
      "                paged and cache_write (need kv_cache = paged(...)), merge\n"
      "                (combines split-KV / cascade partial results); a variant and a\n"
      "                kind that do not fit are an error (exit 1)\n"
      "  --arch        target: {} (default sm_90)\n"
      "  --ptx         build PTX instead of CUBIN\n"
      "  --mainloop    prefill on sm_90a: wgmma (the default where it takes the\n"
      "                variant and no --tile is given) or mma_sync; paged: mma_sync\n"
      "                (the default: the kernel of every call's decode tokens) or\n"
      "                wgmma (the kernel of a 9.0 device's prefill chunks)\n"
      "  --out DIR     also write the binary to DIR/<key>.cubin (or .ptx)\n"
      "  --tile        BLOCK_M,BLOCK_N,WARPS,STAGES instead of the tuning config (an\n"
      "                mma.sync tile unless --mainloop wgmma)\n"
      "  --config      a tuning config JSON file instead of the built-in one\n"
      "  --cache-dir   kernel cache directory (default $ATTNJIT_CACHE_DIR, else\n"
      "                ~/.cache/attnjit)\n",
      target_names());
  static const Command command{
      "compile",
      "compile one variant to a kernel binary through the cache (no GPU needed)",
      help.c_str(),
      {kVariantFlag, kKindFlag, kArchFlag, {"--ptx", false}, {"--mainloop", true}, {"--out", true}, kTileFlag,
       kConfigFlag, kCacheDirFlag},
      run_compile,
  };
  return command;
}

}  // namespace attnjit::cli
