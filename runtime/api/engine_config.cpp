#include "runtime/api/engine_config.h"

namespace attnjit {

Result<TuningTable, std::string> engine_config(const EngineOptions& options,
                                               const std::string& arch) {
  if (!options.config_file.empty()) return TuningTable::load_file(options.config_file);
  if (!options.config_dir.empty()) return TuningTable::load_file(options.config_dir + "/" + arch + ".json");
  return TuningTable::embedded(arch);
}

}  // namespace attnjit
