#include "compiler/support/embedded_files.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

namespace attnjit {

namespace {

// ATTNJIT_TEMPLATE_DIR names a directory laid out like the repository root; a file
// under its templates/ replaces the embedded one of the same name, so a kernel
// template can be edited and measured without rebuilding the library. Safe with the
// kernel cache, which keys on the generated source. Each file is read once per
// process (the returned views stay valid for its lifetime).
std::optional<std::string_view> template_override(std::string_view name) {
  const char* dir = std::getenv("ATTNJIT_TEMPLATE_DIR");
  if (dir == nullptr || *dir == '\0' || !name.starts_with("templates/")) return std::nullopt;
  static std::mutex mutex;
  static std::map<std::string, std::optional<std::string>, std::less<>> files;  // by path
  const std::string path = std::string(dir) + "/" + std::string(name);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = files.find(path);
  if (it == files.end()) {
    std::optional<std::string> text;
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream buffer;
      buffer << in.rdbuf();
      text = buffer.str();
    }
    it = files.emplace(path, std::move(text)).first;
  }
  if (!it->second) return std::nullopt;
  return std::string_view(*it->second);
}

}  // namespace

std::optional<std::string_view> embedded_file(std::string_view name) {
  if (auto replaced = template_override(name)) return replaced;
  for (const EmbeddedFile& f : embedded_files())
    if (f.name == name) return f.text;
  return std::nullopt;
}

}  // namespace attnjit
