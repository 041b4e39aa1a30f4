#pragma once
// Where kernel caches live: the JIT cache directory (written by the engine) and the
// ahead-of-time directories a deployment ships (read-only). Stated here once for the
// engine, the CLI and the cache tool.
#include <filesystem>
#include <string>
#include <vector>

namespace attnjit {

struct CacheLocation {
  std::filesystem::path path;
  std::string source;  // what chose it: "$ATTNJIT_CACHE_DIR", "$XDG_CACHE_HOME", ...
};

// $ATTNJIT_CACHE_DIR, else $XDG_CACHE_HOME/attnjit, else ~/.cache/attnjit, else (no
// home at all) $TMPDIR/attnjit-cache-UID if only this user can write it, else a fresh
// private temp directory.
CacheLocation default_cache_location();
std::filesystem::path default_cache_dir();  // default_cache_location().path

// The AOT directories named by $ATTNJIT_AOT_DIR, a colon-separated list searched in
// order (empty items are skipped, as in $PATH); none when it is unset.
std::vector<std::filesystem::path> aot_directories_from_env();

}  // namespace attnjit
