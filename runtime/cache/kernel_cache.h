#pragma once
// Compiled kernels, cached in memory (LRU) and on disk. Lookup order: memory, the
// ahead-of-time directory (read-only, needs no compiler), the disk cache, then the
// compile callback.
//
// A disk entry proves what it is for: it carries the complete lookup key, the target
// arch, the kernel symbol, the binary format and the compiler version under one
// SHA-256 with the binary, and a CUBIN's ELF header (or a PTX module's .target) must
// name the requested target too. Only regular files of bounded size are read, never
// through a symlink and never blocking. An entry that fails any check is reported as a
// warning, removed and rebuilt; one of an older entry format is rebuilt quietly.
// Processes compiling the same key serialize on an advisory lock file, so the second
// one finds the first one's entry (no duplicate compile, no torn file).
#include <cstddef>
#include <filesystem>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "compiler/backend/artifact.h"
#include "compiler/support/result.h"
#include "runtime/cache/cache_entry.h"
#include "runtime/cache/cache_locations.h"

namespace attnjit {

enum class CacheSource { memory, aot, disk, compiled };
const char* cache_source_name(CacheSource s);  // "hit (memory)", ..., "miss"

struct CacheLookup {
  Artifact artifact;
  CacheSource source = CacheSource::compiled;
  double milliseconds = 0;  // time spent in get(): load or compile
  // One warning per line, e.g. "corrupt cache entry ...; rebuilding". Each line is
  // printable: text taken from files and paths has its control characters escaped.
  std::string warning;

  // Every line of `warning` with `prefix` in front, each ending in a newline; "" when
  // there is no warning. Print this rather than `warning`, so a second line is never
  // left without its prefix.
  std::string warning_lines(std::string_view prefix) const;
};

struct CacheOptions {
  std::filesystem::path directory;      // "" = default_cache_dir() (cache_locations.h)
  std::filesystem::path aot_directory;  // "" = none
  size_t memory_entries = 256;
  bool use_disk = true;
};

class KernelCache {
 public:
  explicit KernelCache(CacheOptions options = {});

  using Compile = std::function<Result<Artifact, CompileError>()>;
  // The entry for `request`: from memory, the AOT directory or the disk cache when one
  // was written for exactly this request, else from `compile` (and then stored).
  Result<CacheLookup, CompileError> get(const CacheRequest& request, const Compile& compile);

  const std::filesystem::path& directory() const { return options_.directory; }
  // Where the entry for `key` lives: `<directory>/<stem>.entry`, the stem from
  // cache_file_stem() (at most kMaxCacheStemBytes, whatever the key's length).
  std::filesystem::path entry_path(const std::string& key) const;
  void clear_memory();

 private:
  CacheOptions options_;
  std::mutex mutex_;
  std::list<CacheEntry> lru_;
  std::unordered_map<std::string, std::list<CacheEntry>::iterator> index_;

  void remember(const CacheEntry& entry);
  bool recall(const CacheRequest& request, Artifact* out);
};

}  // namespace attnjit
