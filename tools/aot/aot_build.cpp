#include "tools/aot/aot_build.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "compiler/spec/kernel_geometry.h"
#include "compiler/support/diagnostics.h"
#include "compiler/support/sha256.h"
#include "runtime/api/engine.h"
#include "runtime/cache/aot_directory.h"
#include "runtime/cache/cache_files.h"

namespace attnjit::aot {
namespace fs = std::filesystem;

namespace {

AotIndexEntry index_entry(const Job& job, const CompiledKernel& built) {
  const Artifact& a = built.lookup.artifact;
  const KernelGeometry geometry = geometry_of(job.spec);
  AotIndexEntry e;
  e.key = job.key;
  e.name = job.spec.uri();
  e.variant = job.spec.variant.name;
  e.kind = kernel_kind_name(job.spec.kind);
  e.target = job.spec.arch;
  e.format = a.format;
  e.sha256 = sha256_hex(a.binary);
  e.file = aot_binary_file_name(e.sha256, e.format);
  e.size = a.binary.size();
  e.symbol = a.entry;
  e.threads = geometry.threads;
  e.shared_bytes = geometry.shared_bytes;
  e.compiler = built.compiler_name;
  e.compiler_version = built.compiler_version;
  e.options = built.compiler_options;
  e.log = a.log;
  return e;
}

// The directory's state before a write: what may be replaced.
Result<bool, std::string> check_output_directory(const fs::path& directory) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(directory, ec);
  if (!fs::exists(status)) return true;
  if (!fs::is_directory(status))
    return fail(fmt::format("{} exists and is not a directory", printable(directory.string())));
  if (fs::exists(fs::symlink_status(directory / kAotIndexFileName, ec))) return true;
  if (!fs::is_empty(directory, ec) || ec)
    return fail(fmt::format("{} is not empty and holds no {}: not an AOT directory, so nothing is "
                            "written into it",
                            printable(directory.string()), kAotIndexFileName));
  return true;
}

}  // namespace

BuildResult build_jobs(const std::vector<Job>& jobs, const BuildSettings& settings) {
  const auto started = std::chrono::steady_clock::now();
  EngineOptions options;
  options.cache = settings.cache;
  options.backends = settings.backends;
  options.cache.aot_directories.clear();
  options.aot_directories_from_env = false;  // what is built must be compiled, not found
  options.jit = true;
  Engine engine(options);

  std::vector<std::optional<AotIndexEntry>> entries(jobs.size());
  std::vector<std::string> binaries(jobs.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex report_mutex;
  BuildResult result;
  size_t done = 0;

  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      if (stop) break;
      const Job& job = jobs[i];
      const auto job_started = std::chrono::steady_clock::now();
      auto built = engine.build(job.spec, job.format);
      JobOutcome outcome;
      outcome.job = &job;
      outcome.milliseconds = std::chrono::duration<double, std::milli>(
                                 std::chrono::steady_clock::now() - job_started)
                                 .count();
      if (built) {
        outcome.ok = true;
        outcome.source = built->lookup.source;
        outcome.warning = built->lookup.warning;
        entries[i] = index_entry(job, *built);
        binaries[i] = std::move(built->lookup.artifact.binary);
      } else {
        outcome.error = built.error().describe();
        if (!settings.keep_going) stop = true;
      }
      std::lock_guard<std::mutex> lock(report_mutex);
      outcome.done = ++done;
      outcome.total = jobs.size();
      if (!outcome.ok) result.failed += 1;
      else if (outcome.source == CacheSource::compiled) result.compiled += 1;
      else result.from_cache += 1;
      if (settings.on_outcome) settings.on_outcome(outcome);
    }
  };
  const size_t threads = std::clamp<size_t>(static_cast<size_t>(std::max(1, settings.jobs)), 1,
                                            std::max<size_t>(1, jobs.size()));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();

  result.not_started = jobs.size() - done;
  // Index order is key order, which is the jobs' order.
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!entries[i]) continue;
    result.index.entries.push_back(std::move(*entries[i]));
    result.binaries.push_back(std::move(binaries[i]));
  }
  result.index.attnjit_version = kAttnjitVersion;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

Result<bool, std::string> write_aot_directory(const fs::path& directory, const AotIndex& index,
                                              const std::vector<std::string>& binaries) {
  ATTNJIT_ASSERT(binaries.size() == index.entries.size(), "one binary per index entry");
  if (auto ok = check_output_directory(directory); !ok) return fail(ok.error());
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec)
    return fail(fmt::format("cannot create {}: {}", printable(directory.string()), ec.message()));
  try {
    for (size_t i = 0; i < binaries.size(); ++i)
      write_atomically(directory / index.entries[i].file, binaries[i]);
    write_atomically(directory / kAotIndexFileName, encode_aot_index(index));
  } catch (const std::exception& e) {
    return fail(std::string(e.what()));
  }
  // Binaries of an earlier build into this directory that the new index does not
  // list: the directory then holds exactly what its index says.
  std::set<std::string> listed;
  for (const AotIndexEntry& e : index.entries) listed.insert(e.file);
  for (const fs::directory_entry& item : fs::directory_iterator(directory, ec)) {
    const std::string name = item.path().filename().string();
    if (is_aot_binary_file_name(name) && listed.count(name) == 0 && item.is_regular_file())
      fs::remove(item.path(), ec);
  }
  return true;
}

Result<size_t, std::string> merge_aot_directories(const fs::path& out,
                                                  const std::vector<fs::path>& inputs) {
  AotIndex merged;
  std::map<std::string, std::string> binary_of;  // file -> bytes
  for (const fs::path& dir : inputs) {
    const AotVerification check = verify_aot_directory(dir);
    if (!check.index_error.empty()) return fail(check.index_error);
    if (!check.problems.empty())
      return fail(fmt::format("{} does not verify: {}", printable(dir.string()), check.problems.front()));
    auto index = read_aot_index(dir);
    if (!index) return fail(index.error());
    if (merged.attnjit_version.empty()) merged.attnjit_version = index->attnjit_version;
    if (index->attnjit_version != merged.attnjit_version)
      return fail(fmt::format("{} was built by attnjit {}, the others by {}", printable(dir.string()),
                              index->attnjit_version, merged.attnjit_version));
    for (AotIndexEntry& e : index->entries) {
      if (!binary_of.count(e.file)) {
        std::string bytes;
        if (std::string problem = read_aot_binary(dir, e, &bytes); !problem.empty())
          return fail(fmt::format("{}: {}", printable(dir.string()), problem));
        binary_of[e.file] = std::move(bytes);
      }
      merged.entries.push_back(std::move(e));
    }
  }
  auto normalized = normalized_aot_index(std::move(merged));
  if (!normalized) return fail(normalized.error());
  std::vector<std::string> binaries;
  for (const AotIndexEntry& e : normalized->entries) binaries.push_back(binary_of[e.file]);
  if (auto written = write_aot_directory(out, *normalized, binaries); !written)
    return fail(written.error());
  return normalized->entries.size();
}

}  // namespace attnjit::aot
