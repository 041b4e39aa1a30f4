#include "compiler/support/embedded_files.h"

namespace attnjit {

std::optional<std::string_view> embedded_file(std::string_view name) {
  for (const EmbeddedFile& f : embedded_files())
    if (f.name == name) return f.text;
  return std::nullopt;
}

}  // namespace attnjit
