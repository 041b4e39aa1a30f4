#pragma once
// Which per-arch tuning config an engine reads.
#include <string>

#include "compiler/spec/tuning_config.h"
#include "runtime/api/engine.h"

namespace attnjit {

// The config an engine with `options` reads for `arch`: EngineOptions::config_file,
// else <config_dir>/<arch>.json, else the table embedded at build time.
Result<TuningTable, std::string> engine_config(const EngineOptions& options,
                                               const std::string& arch);

}  // namespace attnjit
