#pragma once
// An ahead-of-time kernel directory as the engine reads it: index.json (aot_index.h)
// and the binaries beside it. Read-only: it belongs to the deployment that shipped it,
// so nothing here ever writes, renames or removes a file in it.
//
// A binary is served only after every check holds: the index lists the requested key
// for the requested target, format and symbol; the file is a regular file (never
// through a symlink, never blocking) of the listed size whose SHA-256 is the listed
// one; and the binary itself is code for the target that defines the symbol (a
// CUBIN's ELF header, a PTX module's .target). An entry that fails is reported and
// skipped, and the lookup goes on to the next directory, the JIT cache or an error.
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/backend/artifact.h"
#include "compiler/support/result.h"
#include "runtime/cache/aot_index.h"
#include "runtime/cache/cache_entry.h"

namespace attnjit {

// Reads and checks DIR/index.json.
Result<AotIndex, std::string> read_aot_index(const std::filesystem::path& directory);

// Reads the binary `entry` names in `directory` and checks it (size, SHA-256, target,
// symbol). "" and the bytes in `binary` when it is good; otherwise what is wrong.
std::string read_aot_binary(const std::filesystem::path& directory, const AotIndexEntry& entry,
                            std::string* binary);

// The artifact an index entry and its binary make (the log is the compile's).
Artifact aot_artifact(const AotIndexEntry& entry, std::string binary);

// One AOT directory, its index read on the first lookup and kept.
class AotDirectory {
 public:
  explicit AotDirectory(std::filesystem::path path);

  struct Found {
    Artifact artifact;
    AotIndexEntry entry;  // who built it, for reports
  };
  // The kernel for `request` (its key, arch, format and entry symbol; the compiler
  // version is the entry's own), or nothing. `warning` gets a line for an entry that
  // is listed but fails a check, and once per directory for an index that cannot be
  // read.
  std::optional<Found> find(const CacheRequest& request, std::string* warning);

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::mutex mutex_;
  bool loaded_ = false;
  std::string load_error_;  // reported by the first lookup after loading
  std::unordered_map<std::string, AotIndexEntry> by_key_;
};

// What `attnjit aot verify` and `attnjit cache verify` report about a directory.
struct AotVerification {
  std::filesystem::path directory;
  std::string index_error;          // the index cannot be read: nothing else is checked
  size_t entries = 0;               // listed in the index
  std::vector<std::string> problems;  // one line per bad entry or stray binary
  bool ok() const { return index_error.empty() && problems.empty(); }
};

// Checks the index and every binary it lists; a file named like a binary
// (<64 hex>.<format>) that the index does not list is a problem too (a shard or a
// build that was not merged into this index).
AotVerification verify_aot_directory(const std::filesystem::path& directory);

}  // namespace attnjit
