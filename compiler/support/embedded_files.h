#pragma once
// Kernel templates (templates/) and default configs (configs/) compiled into the
// library, so the JIT needs no files on disk. Names are paths relative to the
// repository root, e.g. "templates/kernels/prefill.cuh".
#include <optional>
#include <span>
#include <string_view>

namespace attnjit {

struct EmbeddedFile {
  std::string_view name;
  std::string_view text;
};

std::span<const EmbeddedFile> embedded_files();
std::optional<std::string_view> embedded_file(std::string_view name);

}  // namespace attnjit
