#include "runtime/api/engine_config.h"

#include "compiler/spec/kernel_geometry.h"

namespace attnjit {

Result<TuningTable, std::string> engine_config(const EngineOptions& options, const std::string& arch,
                                               std::optional<Mainloop> mainloop) {
  const Mainloop m = mainloop.value_or(attention_mainloop(arch));
  const std::string file_arch = tuning_arch(arch, m);
  if (!options.config_file.empty()) {
    auto table = TuningTable::load_file(options.config_file);
    if (!table || own_mainloop(table->arch()) == m) return table;
  }
  if (!options.config_dir.empty()) return TuningTable::load_file(options.config_dir + "/" + file_arch + ".json");
  return TuningTable::embedded(file_arch, m);
}

}  // namespace attnjit
