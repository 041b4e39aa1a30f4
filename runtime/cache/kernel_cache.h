#pragma once
// Compiled kernels, cached in memory (LRU) and on disk. Lookup order: memory, the
// ahead-of-time directory (read-only, needs no compiler), the disk cache, then the
// compile callback.
//
// Disk entries are written to a temp file and renamed into place, carry a SHA-256
// of their payload, and are verified on load: a corrupt entry is reported as a
// warning, deleted and rebuilt. Processes compiling the same key serialize on an
// advisory lock file, so the second one finds the first one's entry (no duplicate
// compile, no torn file).
#include <cstddef>
#include <filesystem>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "compiler/backend/artifact.h"
#include "compiler/support/result.h"

namespace attnjit {

enum class CacheSource { memory, aot, disk, compiled };
const char* cache_source_name(CacheSource s);  // "hit (memory)", ..., "miss"

struct CacheLookup {
  Artifact artifact;
  CacheSource source = CacheSource::compiled;
  double milliseconds = 0;  // time spent in get(): load or compile
  std::string warning;      // e.g. "corrupt cache entry ... rebuilt"
};

struct CacheOptions {
  std::filesystem::path directory;      // "" = default_cache_dir()
  std::filesystem::path aot_directory;  // "" = none
  size_t memory_entries = 256;
  bool use_disk = true;
};

// $ATTNJIT_CACHE_DIR, else $XDG_CACHE_HOME/attnjit, else ~/.cache/attnjit.
std::filesystem::path default_cache_dir();

class KernelCache {
 public:
  explicit KernelCache(CacheOptions options = {});

  using Compile = std::function<Result<Artifact, CompileError>()>;
  // `key` is filesystem-safe: <uri>-<hash>.
  Result<CacheLookup, CompileError> get(const std::string& key, const Compile& compile);

  const std::filesystem::path& directory() const { return options_.directory; }
  std::filesystem::path entry_path(const std::string& key) const;
  void clear_memory();

  // Entry encoding, exposed for tests and the AOT tool.
  static std::string encode(const Artifact& a);
  // Empty optional-like: returns false and sets `why` when the bytes are not a valid entry.
  static bool decode(const std::string& bytes, Artifact* out, std::string* why);

 private:
  bool read_entry(const std::filesystem::path& p, Artifact* out, std::string* why) const;
  void write_entry(const std::filesystem::path& p, const Artifact& a) const;
  void remember(const std::string& key, const Artifact& a);

  CacheOptions options_;
  std::mutex mutex_;
  std::list<std::pair<std::string, Artifact>> lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, Artifact>>::iterator> index_;
};

}  // namespace attnjit
