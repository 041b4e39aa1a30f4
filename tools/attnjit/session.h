#pragma once
// What the commands share: loading a variant file, picking one variant, and turning
// --arch / --kind / --tile / --config / --cache-dir into engine settings.
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "compiler/spec/kernel_spec.h"
#include "runtime/api/engine.h"
#include "tools/attnjit/args.h"

namespace attnjit::cli {

// Flag specs, so every command spells and documents them the same way.
inline const FlagSpec kVariantFlag{"--variant", true};
inline const FlagSpec kKindFlag{"--kind", true};
inline const FlagSpec kArchFlag{"--arch", true};
inline const FlagSpec kTileFlag{"--tile", true};
inline const FlagSpec kConfigFlag{"--config", true};
inline const FlagSpec kCacheDirFlag{"--cache-dir", true};

// Parses and checks a variant file. On errors prints every diagnostic (with line,
// column and caret) to stderr and throws CommandError with a one-line summary.
ir::Module load_module(const std::string& path);

// The built-in default variant set (configs/variants/default.attn, embedded).
inline constexpr const char* kDefaultSetName = "configs/variants/default.attn";
ir::Module load_default_module();

// The variant named by --variant, or the file's only variant. Without --variant in
// a file of several, a UsageError lists the names to choose from.
const ir::Variant& select_variant(const ir::Module& module, const Args& args,
                                  const std::string& path);

KernelKind kernel_kind(const Args& args);             // --kind, default prefill
std::string kernel_kind_names();                      // "prefill, paged, merge, cache_write"
std::string target_arch(const Args& args);            // --arch, default sm_90, checked
std::vector<std::string> target_archs(const Args& args, const std::string& fallback);  // --arch LIST

// "" when this process has a CUDA GPU, else why not (no GPU; or a HIP device, which the
// host-side checks of `run` and the default job do not drive yet).
std::string cuda_gpu_problem();
// The GPU `run` works on. Without a usable one, a CommandError saying why (exit 1).
std::shared_ptr<cuda::Driver> open_gpu();
// The target kernels are built for on `gpu` ("sm_90"); a CommandError when none runs.
std::string gpu_target(const cuda::Driver& gpu);

// Prints each NVRTC warning in `artifact`'s log to stderr, "warning from NVRTC
// compiling <kernel>: ...". Cache hits carry the log of the compile that wrote them, so
// a kernel's warnings show on every use, not once. Returns false when there were
// warnings and ATTNJIT_WERROR is set: a kernel cached before it was set is refused as
// its compile would be now.
bool report_nvrtc_warnings(const std::string& kernel, const Artifact& artifact);

// Engine settings for compiling `variant` for `arch`: --cache-dir (else
// $ATTNJIT_CACHE_DIR, through default_cache_dir), and the tile from --tile or from
// the JSON tuning file given with --config. With `wgmma_tile` --tile is the Hopper
// kernel's tile (EngineOptions::hopper_tile, checked by the wgmma main loop's rules).
EngineOptions engine_options(const Args& args, const ir::Variant& variant,
                             const std::string& arch, bool wgmma_tile = false);

}  // namespace attnjit::cli
