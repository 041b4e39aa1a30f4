#include "runtime/cache/cache_locations.h"

#include <cstdlib>

namespace attnjit {
namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

CacheLocation default_cache_location() {
  if (std::string dir = env("ATTNJIT_CACHE_DIR"); !dir.empty())
    return {dir, "$ATTNJIT_CACHE_DIR"};
  if (std::string dir = env("XDG_CACHE_HOME"); !dir.empty())
    return {fs::path(dir) / "attnjit", "$XDG_CACHE_HOME"};
  if (std::string home = env("HOME"); !home.empty())
    return {fs::path(home) / ".cache" / "attnjit", "$HOME"};
  // No home at all (some service accounts): a per-machine temp location still works.
  return {fs::temp_directory_path() / "attnjit-cache", "the temp directory"};
}

fs::path default_cache_dir() { return default_cache_location().path; }

std::vector<fs::path> aot_directories_from_env() {
  std::vector<fs::path> dirs;
  const std::string list = env("ATTNJIT_AOT_DIR");
  for (size_t at = 0; at <= list.size();) {
    size_t end = list.find(':', at);
    if (end == std::string::npos) end = list.size();
    if (end > at) dirs.emplace_back(list.substr(at, end - at));
    at = end + 1;
  }
  return dirs;
}

}  // namespace attnjit
