#include "runtime/cache/aot_directory.h"

#include <algorithm>

#include <fmt/format.h>

#include "compiler/support/diagnostics.h"
#include "compiler/support/sha256.h"
#include "runtime/cache/binary_target.h"
#include "runtime/cache/cache_files.h"

namespace attnjit {
namespace fs = std::filesystem;

Result<AotIndex, std::string> read_aot_index(const fs::path& directory) {
  const fs::path path = directory / kAotIndexFileName;
  std::string text, why;
  switch (read_regular_file(path, kMaxAotIndexBytes, &text, &why)) {
    case FileRead::absent: return fail(fmt::format("{}: no such file", path.string()));
    case FileRead::refused: return fail(fmt::format("{}: {}", path.string(), why));
    case FileRead::ok: break;
  }
  auto index = decode_aot_index(text);
  if (!index) return fail(fmt::format("{}: {}", path.string(), index.error()));
  return index;
}

std::string read_aot_binary(const fs::path& directory, const AotIndexEntry& entry,
                            std::string* binary) {
  const fs::path path = directory / entry.file;
  std::string why;
  switch (read_regular_file(path, kMaxCacheEntryBytes, binary, &why)) {
    case FileRead::absent: return fmt::format("{} is missing", entry.file);
    case FileRead::refused: return fmt::format("{}: {}", entry.file, why);
    case FileRead::ok: break;
  }
  if (binary->size() != entry.size)
    return fmt::format("{} has {} bytes, the index says {}", entry.file, binary->size(), entry.size);
  if (sha256_hex(*binary) != entry.sha256)
    return fmt::format("{}'s SHA-256 is not the index's (the file was changed or replaced)",
                       entry.file);
  if (std::string mismatch = binary_target_mismatch(entry.format, *binary, entry.target, entry.symbol);
      !mismatch.empty())
    return fmt::format("{} is listed for {}, but {}", entry.file, entry.target, mismatch);
  return "";
}

Artifact aot_artifact(const AotIndexEntry& entry, std::string binary) {
  Artifact a;
  a.format = entry.format;
  a.entry = entry.symbol;
  a.binary = std::move(binary);
  a.log = entry.log;
  return a;
}

AotDirectory::AotDirectory(fs::path path) : path_(std::move(path)) {}

std::optional<AotDirectory::Found> AotDirectory::find(const CacheRequest& request,
                                                      std::string* warning) {
  auto warn = [&](const std::string& text) {
    if (!warning->empty()) *warning += "\n";
    *warning += printable(text, 2000);
  };
  AotIndexEntry entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!loaded_) {
      loaded_ = true;
      auto index = read_aot_index(path_);
      if (!index) {
        warn(fmt::format("AOT directory {} skipped: {}", path_.string(), index.error()));
        return std::nullopt;
      }
      for (AotIndexEntry& e : index->entries) by_key_.emplace(e.key, std::move(e));
    }
    auto it = by_key_.find(request.key);
    if (it == by_key_.end()) return std::nullopt;
    entry = it->second;
  }
  // The key names the source, target and format; the rest must agree with it, or the
  // index was edited by hand.
  std::string mismatch;
  if (entry.target != request.arch)
    mismatch = fmt::format("listed for {}, not {}", entry.target, request.arch);
  else if (entry.format != request.format)
    mismatch = fmt::format("holds {}, not {}", binary_format_name(entry.format),
                           binary_format_name(request.format));
  else if (entry.symbol != request.entry)
    mismatch = fmt::format("holds kernel '{}', not '{}'", entry.symbol, request.entry);
  std::string binary;
  if (mismatch.empty()) mismatch = read_aot_binary(path_, entry, &binary);
  if (!mismatch.empty()) {
    warn(fmt::format("AOT entry {} in {} rejected: {}; skipped", request.key, path_.string(),
                     mismatch));
    return std::nullopt;
  }
  return Found{aot_artifact(entry, std::move(binary)), std::move(entry)};
}

AotVerification verify_aot_directory(const fs::path& directory) {
  AotVerification report;
  report.directory = directory;
  auto index = read_aot_index(directory);
  if (!index) {
    report.index_error = index.error();
    return report;
  }
  report.entries = index->entries.size();
  std::vector<std::string> listed;
  for (const AotIndexEntry& e : index->entries) {
    std::string binary;
    if (std::string problem = read_aot_binary(directory, e, &binary); !problem.empty())
      report.problems.push_back(fmt::format("{} ({}): {}", e.name, e.key, problem));
    listed.push_back(e.file);
  }
  std::error_code ec;
  std::vector<std::string> strays;
  for (const fs::directory_entry& item : fs::directory_iterator(directory, ec)) {
    const std::string name = item.path().filename().string();
    if (is_aot_binary_file_name(name) &&
        std::find(listed.begin(), listed.end(), name) == listed.end())
      strays.push_back(name);
  }
  if (ec) report.problems.push_back(fmt::format("cannot list {}: {}", directory.string(), ec.message()));
  std::sort(strays.begin(), strays.end());
  for (const std::string& name : strays)
    report.problems.push_back(fmt::format("{} is not listed in the index", name));
  for (std::string& p : report.problems) p = printable(p, 2000);
  return report;
}

}  // namespace attnjit
