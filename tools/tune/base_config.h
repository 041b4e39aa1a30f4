#pragma once
// The config a tune run starts from and merges into: the --out file when it exists,
// otherwise the arch's built-in table (configs/<arch>.json, or the nearest older
// arch's, as the engine falls back).
#include <string>

#include "compiler/spec/tuning_config.h"
#include "compiler/support/result.h"

namespace attnjit::tune {

struct BaseConfig {
  std::string text;   // the JSON as read
  std::string name;   // the path, or "<embedded sm_90.json>"
  bool is_file = false;
  TuningTable table;     // `text`, loaded
  TuningTable builtin;   // the arch's built-in table (baselines for kinds `table` lacks)
};

// Reads `out_path` when something is there (an unreadable or invalid file is an
// error, never silently replaced by the built-in table), else the built-in table for
// `arch`.
Result<BaseConfig, std::string> load_base_config(const std::string& out_path,
                                                 const std::string& arch);

}  // namespace attnjit::tune
