#pragma once
// Which per-arch tuning config an engine reads.
#include <optional>
#include <string>

#include "compiler/spec/tuning_config.h"
#include "runtime/api/engine.h"

namespace attnjit {

// The config an engine with `options` reads for `mainloop`'s kernels on `arch` (unset:
// the arch's attention main loop), from the file tuning_arch() names:
// EngineOptions::config_file when its tiles are for that main loop (one file serves
// every arch, but not another main loop: an sm_90 file does not tile the wgmma kernels),
// else <config_dir>/<tuning_arch>.json, else the table embedded at build time.
Result<TuningTable, std::string> engine_config(const EngineOptions& options, const std::string& arch,
                                               std::optional<Mainloop> mainloop = std::nullopt);

}  // namespace attnjit
