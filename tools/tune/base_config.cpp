#include "tools/tune/base_config.h"

#include <filesystem>

#include <fmt/format.h>

#include "compiler/support/embedded_files.h"
#include "compiler/support/text_file.h"

namespace attnjit::tune {

namespace {

// As the loader's own limit: real configs are a few kilobytes.
constexpr size_t kMaxConfigBytes = 1024 * 1024;

}  // namespace

Result<BaseConfig, std::string> load_base_config(const std::string& out_path,
                                                 const std::string& arch) {
  // The table of the main loop the arch's own file tiles (sm_90a: wgmma).
  auto builtin = TuningTable::embedded(arch, own_mainloop(arch));
  if (!builtin) return fail(builtin.error());
  std::error_code ec;
  const bool exists = std::filesystem::symlink_status(out_path, ec).type() !=
                      std::filesystem::file_type::not_found;
  if (exists && !ec) {
    auto text = read_text_file(out_path, kMaxConfigBytes);
    if (!text)
      return fail(fmt::format("{}: cannot read the config to merge into: {}", printable(out_path),
                              text.error()));
    auto table = TuningTable::parse(*text, out_path);
    if (!table) return fail(table.error());
    return BaseConfig{std::move(*text), out_path, true, std::move(*table), std::move(*builtin)};
  }
  const std::string name = builtin->arch();
  auto text = embedded_file("configs/" + name + ".json");
  if (!text) return fail(fmt::format("no built-in config text for {}", name));
  BaseConfig base{std::string(*text), "<embedded " + name + ".json>", false, *builtin,
                  std::move(*builtin)};
  return base;
}

}  // namespace attnjit::tune
