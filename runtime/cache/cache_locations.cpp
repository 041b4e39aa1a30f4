#include "runtime/cache/cache_locations.h"

#include <sys/stat.h>
#include <unistd.h>

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
  // No home at all (some service accounts): a temp directory of this user's own. The
  // temp directory is shared, so another user could have made the name first and
  // planted entries (a checksum proves integrity, not origin): the directory is used
  // only if it is a real directory this user owns that nobody else can write;
  // otherwise a fresh private one (a cache for this process only).
  const fs::path shared = fs::temp_directory_path() / ("attnjit-cache-" + std::to_string(::getuid()));
  ::mkdir(shared.c_str(), 0700);
  struct stat info;
  if (::lstat(shared.c_str(), &info) == 0 && S_ISDIR(info.st_mode) && info.st_uid == ::getuid() &&
      (info.st_mode & 077) == 0)
    return {shared, "the temp directory"};
  std::string pattern = (fs::temp_directory_path() / "attnjit-cache-XXXXXX").string();
  if (::mkdtemp(pattern.data()) != nullptr)
    return {pattern, "a private temp directory (the shared one is not this user's alone)"};
  return {shared, "the temp directory"};
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
