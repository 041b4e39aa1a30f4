#include "tools/attnjit/session.h"

#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "compiler/passes/pipeline.h"
#include "compiler/support/embedded_files.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "compiler/spec/tuning_config.h"
#include "runtime/driver/gpu_device.h"
#include "tools/attnjit/commands.h"

namespace attnjit::cli {

namespace {

// The names to choose from, for a message: a file may hold many, and long ones.
std::string variant_names(const ir::Module& module) {
  std::string names;
  for (const ir::Variant& v : module.variants) {
    if (!names.empty()) names += ", ";
    names += v.name;
    if (names.size() > 300) break;
  }
  return printable(names, 300);
}

void check_arch(const std::string& arch) {
  if (!find_target(arch))
    throw UsageError(fmt::format("--arch: unsupported target '{}' (supported: {})", arch,
                                 target_names()));
}

}  // namespace

ir::Module load_module(const std::string& path) {
  SourceFile file;
  auto module = compile_variants_file(path, &file);
  if (module) return std::move(*module);
  std::cerr << render(module.error(), file);
  const size_t errors = module.error().error_count();
  throw CommandError(fmt::format("{}: {} error{}", file.path, errors, errors == 1 ? "" : "s"));
}

ir::Module load_default_module() {
  std::optional<std::string_view> text = embedded_file(kDefaultSetName);
  if (!text) throw CommandError(std::string("this build does not embed ") + kDefaultSetName);
  SourceFile file{std::string("<embedded ") + kDefaultSetName + ">", std::string(*text)};
  auto module = compile_variants(file);
  if (!module) {
    std::fputs(render(module.error(), file).c_str(), stderr);
    throw CommandError("the embedded default variant set does not compile (a bug in attnjit)");
  }
  return std::move(*module);
}

const ir::Variant& select_variant(const ir::Module& module, const Args& args,
                                  const std::string& path) {
  if (std::optional<std::string> name = args.value(kVariantFlag.name)) {
    if (const ir::Variant* v = module.find(*name)) return *v;
    throw UsageError(fmt::format("--variant: no variant '{}' in {} (it has: {})", *name, path,
                                 variant_names(module)));
  }
  if (module.variants.size() == 1) return module.variants.front();
  if (module.variants.empty()) throw CommandError(path + " defines no variants");
  throw UsageError(fmt::format("{} defines {} variants; choose one with --variant NAME ({})",
                               path, module.variants.size(), variant_names(module)));
}

std::string kernel_kind_names() {
  std::string names;
  for (KernelKind k : {KernelKind::prefill, KernelKind::paged, KernelKind::merge,
                       KernelKind::cache_write}) {
    if (!names.empty()) names += ", ";
    names += kernel_kind_name(k);
  }
  return names;
}

KernelKind kernel_kind(const Args& args) {
  KernelKind kind = KernelKind::prefill;
  std::string name = args.value_or(kKindFlag.name, "prefill");
  if (!parse_kernel_kind(name, &kind))
    throw UsageError(
        fmt::format("--kind: unknown kernel kind '{}' (known: {})", name, kernel_kind_names()));
  return kind;
}

std::string target_arch(const Args& args) {
  std::string arch = args.value_or(kArchFlag.name, "sm_90");
  check_arch(arch);
  return arch;
}

std::vector<std::string> target_archs(const Args& args, const std::string& fallback) {
  std::vector<std::string> archs = split_list(args.value_or(kArchFlag.name, fallback), "--arch");
  for (const std::string& a : archs) check_arch(a);
  return archs;
}

std::string cuda_gpu_problem() {
  auto gpu = find_gpu();
  if (!gpu) return gpu.error();
  if (gpu->vendor != Vendor::cuda)
    return fmt::format("{} ({}) is a {} device, and the checks against the CPU reference "
                       "drive CUDA devices only so far",
                       gpu->name, gpu->arch, vendor_name(gpu->vendor));
  return "";
}

std::shared_ptr<cuda::Driver> open_gpu() {
  const std::string why = cuda_gpu_problem();
  if (!why.empty())
    throw CommandError("`run` needs a CUDA GPU and none is usable: " + why +
                       "\n(`attnjit compile` builds kernels without a GPU)");
  auto driver = cuda::Driver::open();
  if (!driver) throw CommandError("no usable GPU: " + driver.error());
  return *driver;
}

std::string gpu_target(const cuda::Driver& gpu) {
  auto target = gpu.target();
  if (!target) throw CommandError(target.error());
  return std::string((*target)->name);
}

bool report_nvrtc_warnings(const std::string& kernel, const Artifact& artifact) {
  const std::vector<std::string> warnings = artifact.warnings();
  if (warnings.empty()) return true;
  for (const std::string& warning : warnings)
    std::fprintf(stderr, "warning from NVRTC compiling %s: %s\n", kernel.c_str(), warning.c_str());
  std::fprintf(stderr,
               "(attnjit's generated source should compile without warnings: this is a bug in "
               "attnjit; please report it)\n");
  return !CompileOptions::warnings_are_errors_by_default();
}

EngineOptions engine_options(const Args& args, const ir::Variant& variant,
                             const std::string& arch, bool wgmma_tile) {
  EngineOptions options;
  // Left empty, KernelCache uses default_cache_dir(): $ATTNJIT_CACHE_DIR first.
  if (std::optional<std::string> dir = args.value(kCacheDirFlag.name)) options.cache.directory = *dir;

  if (std::optional<std::string> text = args.value(kTileFlag.name)) {
    if (args.has(kConfigFlag.name)) throw UsageError("--tile and --config cannot be combined");
    // The rules of the main loop the tile is for: the target's attention kernels' (mfma
    // on AMD), or the Hopper kernel's.
    const Mainloop mainloop = wgmma_tile ? Mainloop::wgmma : attention_mainloop(arch);
    auto tile = parse_tile_override(*text, mainloop);
    if (!tile) throw UsageError("--tile: " + tile.error());
    const std::string tile_arch = wgmma_tile ? wgmma_arch() : arch;
    if (std::string why = validate_tile(*tile, kv_elements_of(variant), shared_memory_limit(tile_arch), mainloop);
        !why.empty())
      throw UsageError(fmt::format("--tile {} for head_dim {}: {}", *text, variant.head_dim, why));
    if (wgmma_tile) {
      options.hopper_tile = *tile;
    } else {
      options.tile_override = *tile;
      options.hopper = false;  // --tile names an mma.sync tile: run that kernel
    }
  }

  if (std::optional<std::string> path = args.value(kConfigFlag.name)) {
    // Checked here so a bad file is a command error before anything compiles; the
    // engine picks the tile from it with its own bucket rule.
    auto table = TuningTable::load_file(*path);
    if (!table) throw CommandError(table.error());
    if (!table->arch().empty() && table->arch() != arch)
      std::fprintf(stderr, "attnjit: note: %s is a config for %s, used for %s\n",
                   printable(*path).c_str(), table->arch().c_str(), arch.c_str());
    options.config_file = *path;
  }
  return options;
}

}  // namespace attnjit::cli
