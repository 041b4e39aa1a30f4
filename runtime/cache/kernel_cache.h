#pragma once
// Compiled kernels, cached in memory (LRU) and on disk, and found in ahead-of-time
// (AOT) directories. Two lookups, because they need different keys:
//   find_ahead_of_time(): memory, then each AOT directory in order (read-only,
//     aot_directory.h). Its key names the source, target and format but no compiler,
//     so it works where no compiler is installed.
//   get(): memory, then the disk (JIT) cache, then the compile callback. Its key names
//     the compiler version too: a JIT cache belongs to the compiler that filled it.
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
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compiler/backend/artifact.h"
#include "compiler/support/result.h"
#include "runtime/cache/aot_directory.h"
#include "runtime/cache/cache_entry.h"
#include "runtime/cache/cache_locations.h"

namespace attnjit {

enum class CacheSource { memory, aot, disk, compiled };
const char* cache_source_name(CacheSource s);  // "hit (memory)", ..., "miss"

struct CacheLookup {
  Artifact artifact;
  CacheSource source = CacheSource::compiled;
  double milliseconds = 0;  // time spent in get(): load or compile
  // An AOT binary's builder and directory, as its index records them
  // ("nvrtc 13.0 (AOT directory /opt/kernels)"); "" for other sources.
  std::string built_by;
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
  // Searched in order by find_ahead_of_time(); the engine appends $ATTNJIT_AOT_DIR's.
  std::vector<std::filesystem::path> aot_directories;
  size_t memory_entries = 256;
  bool use_disk = true;
};

class KernelCache {
 public:
  explicit KernelCache(CacheOptions options = {});

  // The kernel for `request` (its key an AOT key) from memory or the first AOT
  // directory that holds a good binary for it; nothing when none does. Found or not,
  // rejected AOT entries are reported in `warning` lines.
  std::optional<CacheLookup> find_ahead_of_time(const CacheRequest& request, std::string* warning);

  using Compile = std::function<Result<Artifact, CompileError>()>;
  // The entry for `request`: from memory or the disk cache when one was written for
  // exactly this request, else from `compile` (and then stored).
  Result<CacheLookup, CompileError> get(const CacheRequest& request, const Compile& compile);

  const std::filesystem::path& directory() const { return options_.directory; }
  const std::vector<std::filesystem::path>& aot_directories() const {
    return options_.aot_directories;
  }
  // Where the entry for `key` lives: `<directory>/<stem>.entry`, the stem from
  // cache_file_stem() (at most kMaxCacheStemBytes, whatever the key's length).
  std::filesystem::path entry_path(const std::string& key) const;
  void clear_memory();

 private:
  CacheOptions options_;
  std::vector<std::unique_ptr<AotDirectory>> aot_;  // one per options_.aot_directories
  std::mutex mutex_;
  std::list<CacheEntry> lru_;
  std::unordered_map<std::string, std::list<CacheEntry>::iterator> index_;

  void remember(const CacheEntry& entry);
  bool recall(const CacheRequest& request, Artifact* out);
};

}  // namespace attnjit
