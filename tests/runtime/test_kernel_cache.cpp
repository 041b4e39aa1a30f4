// The kernel cache: lookup order, entry verification, failure handling, and two
// processes racing for one key. Every test works in its own mkdtemp directory.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>
#include <vector>

#include "catch.h"
#include "runtime/cache/kernel_cache.h"

namespace fs = std::filesystem;
using attnjit::Artifact;
using attnjit::BinaryFormat;
using attnjit::CacheOptions;
using attnjit::CacheSource;
using attnjit::CompileError;
using attnjit::KernelCache;
using attnjit::Result;

namespace {

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/attnjit-cache-test-XXXXXX";
    const char* made = mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const std::string kKey = "prefill_bf16_d128_sm90-0123456789abcdef";

Artifact make_artifact(const std::string& binary) {
  Artifact artifact;
  artifact.format = BinaryFormat::cubin;
  artifact.entry = "attnjit_prefill";
  artifact.binary = binary;
  artifact.log = "warning: nothing serious";
  return artifact;
}

// A compile callback that counts its calls and produces `binary`.
struct CountingCompiler {
  std::string binary = std::string("\x7f" "ELF fake cubin \0 with a NUL", 26);
  int calls = 0;
  KernelCache::Compile callback() {
    return [this]() -> Result<Artifact, CompileError> {
      ++calls;
      return make_artifact(binary);
    };
  }
};

CacheOptions options_for(const fs::path& dir) {
  CacheOptions options;
  options.directory = dir;
  return options;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void check_same(const Artifact& a, const Artifact& b) {
  CHECK(a.format == b.format);
  CHECK(a.entry == b.entry);
  CHECK(a.binary == b.binary);
  CHECK(a.log == b.log);
}

// The entry on disk decodes to exactly `expected`.
void check_valid_entry(const fs::path& path, const Artifact& expected) {
  Artifact decoded;
  std::string why;
  INFO("entry " << path);
  REQUIRE(KernelCache::decode(read_all(path), &decoded, &why));
  check_same(decoded, expected);
}

int count_temp_files(const fs::path& dir) {
  int count = 0;
  for (const auto& item : fs::directory_iterator(dir))
    if (contains(item.path().filename().string(), ".tmp.")) ++count;
  return count;
}

}  // namespace

TEST_CASE("cache source names", "[runtime][cache]") {
  CHECK(std::string(attnjit::cache_source_name(CacheSource::memory)) == "hit (memory)");
  CHECK(std::string(attnjit::cache_source_name(CacheSource::aot)) == "hit (aot)");
  CHECK(std::string(attnjit::cache_source_name(CacheSource::disk)) == "hit (disk)");
  CHECK(std::string(attnjit::cache_source_name(CacheSource::compiled)) == "miss");
}

TEST_CASE("cache entries round-trip through encode and decode", "[runtime][cache]") {
  for (BinaryFormat format : {BinaryFormat::cubin, BinaryFormat::ptx, BinaryFormat::hsaco}) {
    Artifact artifact = make_artifact(std::string("bin\0ary", 7));
    artifact.format = format;
    Artifact decoded;
    std::string why;
    REQUIRE(KernelCache::decode(KernelCache::encode(artifact), &decoded, &why));
    check_same(decoded, artifact);
  }
}

TEST_CASE("decode says why an entry is invalid", "[runtime][cache]") {
  const std::string good = KernelCache::encode(make_artifact("payload bytes"));
  Artifact decoded;
  std::string why;

  SECTION("flipped payload byte") {
    std::string bad = good;
    bad.back() ^= 0x01;
    CHECK_FALSE(KernelCache::decode(bad, &decoded, &why));
    CHECK(contains(why, "checksum mismatch"));
  }
  SECTION("flipped header byte (entry name)") {
    std::string bad = good;
    bad[good.find("attnjit_prefill")] ^= 0x20;
    CHECK_FALSE(KernelCache::decode(bad, &decoded, &why));
    CHECK(contains(why, "checksum mismatch"));
  }
  SECTION("truncated in the payload") {
    CHECK_FALSE(KernelCache::decode(good.substr(0, good.size() - 3), &decoded, &why));
    CHECK(contains(why, "truncated"));
  }
  SECTION("truncated in the header") {
    CHECK_FALSE(KernelCache::decode(good.substr(0, 10), &decoded, &why));
    CHECK(contains(why, "truncated"));
  }
  SECTION("empty file") {
    CHECK_FALSE(KernelCache::decode("", &decoded, &why));
    CHECK(contains(why, "truncated"));
  }
  SECTION("trailing bytes") {
    CHECK_FALSE(KernelCache::decode(good + "xx", &decoded, &why));
    CHECK(contains(why, "unexpected bytes"));
  }
  SECTION("garbage") {
    CHECK_FALSE(KernelCache::decode("this is not a cache entry at all", &decoded, &why));
    CHECK(contains(why, "bad magic"));
  }
  SECTION("a future format version") {
    std::string bad = good;
    bad[8] = 99;
    CHECK_FALSE(KernelCache::decode(bad, &decoded, &why));
    CHECK(contains(why, "version 99"));
  }
}

TEST_CASE("a miss compiles, the next lookup hits memory", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  KernelCache cache(options_for(dir.path()));

  auto first = cache.get(kKey, compiler.callback());
  REQUIRE(first.ok());
  CHECK(first->source == CacheSource::compiled);
  CHECK(first->warning.empty());
  CHECK(first->milliseconds >= 0);
  CHECK(compiler.calls == 1);
  check_valid_entry(cache.entry_path(kKey), first->artifact);
  CHECK(cache.entry_path(kKey) == dir.path() / (kKey + ".entry"));
  CHECK(count_temp_files(dir.path()) == 0);

  auto second = cache.get(kKey, compiler.callback());
  REQUIRE(second.ok());
  CHECK(second->source == CacheSource::memory);
  CHECK(compiler.calls == 1);
  check_same(second->artifact, first->artifact);
}

TEST_CASE("a fresh cache on the same directory hits disk", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  {
    KernelCache writer(options_for(dir.path()));
    REQUIRE(writer.get(kKey, compiler.callback()).ok());
  }
  KernelCache reader(options_for(dir.path()));
  auto hit = reader.get(kKey, compiler.callback());
  REQUIRE(hit.ok());
  CHECK(hit->source == CacheSource::disk);
  CHECK(hit->warning.empty());
  CHECK(compiler.calls == 1);
  CHECK(hit->artifact.binary == compiler.binary);

  // Once loaded from disk it is served from memory.
  auto again = reader.get(kKey, compiler.callback());
  REQUIRE(again.ok());
  CHECK(again->source == CacheSource::memory);
  CHECK(compiler.calls == 1);
}

TEST_CASE("the memory cache evicts the least recently used entry", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  CacheOptions options = options_for(dir.path());
  options.use_disk = false;
  options.memory_entries = 2;
  KernelCache cache(options);

  REQUIRE(cache.get("a-1", compiler.callback()).ok());
  REQUIRE(cache.get("b-2", compiler.callback()).ok());
  REQUIRE(cache.get("a-1", compiler.callback())->source == CacheSource::memory);
  REQUIRE(cache.get("c-3", compiler.callback()).ok());  // evicts b, the older one
  CHECK(compiler.calls == 3);
  CHECK(cache.get("a-1", compiler.callback())->source == CacheSource::memory);
  CHECK(cache.get("b-2", compiler.callback())->source == CacheSource::compiled);
  CHECK(compiler.calls == 4);
  CHECK(fs::is_empty(dir.path()));  // use_disk = false writes nothing

  cache.clear_memory();
  CHECK(cache.get("a-1", compiler.callback())->source == CacheSource::compiled);
}

TEST_CASE("a corrupt disk entry is reported, deleted and rebuilt", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  fs::path entry;
  {
    KernelCache writer(options_for(dir.path()));
    REQUIRE(writer.get(kKey, compiler.callback()).ok());
    entry = writer.entry_path(kKey);
  }
  const std::string good = read_all(entry);
  std::string expected_reason;

  SECTION("flipped payload byte") {
    std::string bad = good;
    bad[bad.size() - 5] ^= 0x40;
    write_all(entry, bad);
    expected_reason = "checksum mismatch";
  }
  SECTION("truncated file") {
    fs::resize_file(entry, good.size() / 2);
    expected_reason = "truncated";
  }
  SECTION("garbage file") {
    write_all(entry, "garbage garbage garbage garbage garbage");
    expected_reason = "bad magic";
  }

  KernelCache cache(options_for(dir.path()));
  auto rebuilt = cache.get(kKey, compiler.callback());
  REQUIRE(rebuilt.ok());
  CHECK(rebuilt->source == CacheSource::compiled);
  CHECK(compiler.calls == 2);
  INFO("warning: " << rebuilt->warning);
  CHECK(contains(rebuilt->warning, "corrupt cache entry " + entry.string()));
  CHECK(contains(rebuilt->warning, expected_reason));
  CHECK(contains(rebuilt->warning, "rebuilding"));
  check_valid_entry(entry, rebuilt->artifact);

  KernelCache after(options_for(dir.path()));
  auto hit = after.get(kKey, compiler.callback());
  REQUIRE(hit.ok());
  CHECK(hit->source == CacheSource::disk);
  CHECK(hit->warning.empty());
  CHECK(compiler.calls == 2);
}

TEST_CASE("compile errors pass through and nothing is written", "[runtime][cache]") {
  TempDir dir;
  KernelCache cache(options_for(dir.path()));
  int calls = 0;
  auto failing = [&]() -> Result<Artifact, CompileError> {
    ++calls;
    return attnjit::fail(CompileError{"NVRTC failed", "kernel.cu(3): error: expected ;",
                                      {"--gpu-architecture=sm_90"}, "/tmp/x.cu"});
  };

  auto result = cache.get(kKey, failing);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message == "NVRTC failed");
  CHECK(result.error().log == "kernel.cu(3): error: expected ;");
  CHECK(result.error().options == std::vector<std::string>{"--gpu-architecture=sm_90"});
  CHECK(result.error().source_path == "/tmp/x.cu");
  CHECK_FALSE(fs::exists(cache.entry_path(kKey)));
  CHECK(count_temp_files(dir.path()) == 0);

  // A failure is not cached: the next lookup tries again.
  CHECK_FALSE(cache.get(kKey, failing).ok());
  CHECK(calls == 2);
  CountingCompiler compiler;
  auto fixed = cache.get(kKey, compiler.callback());
  REQUIRE(fixed.ok());
  CHECK(fixed->source == CacheSource::compiled);
}

TEST_CASE("the AOT directory is searched first and never modified", "[runtime][cache]") {
  TempDir dir;
  const fs::path aot = dir.path() / "aot";
  const fs::path disk = dir.path() / "disk";
  fs::create_directories(aot);
  CountingCompiler compiler;
  CacheOptions options = options_for(disk);
  options.aot_directory = aot;

  SECTION("a valid AOT entry wins over the disk cache, without compiling") {
    write_all(aot / (kKey + ".entry"), KernelCache::encode(make_artifact("from aot")));
    {
      KernelCache writer(options_for(disk));
      compiler.binary = "from disk";
      REQUIRE(writer.get(kKey, compiler.callback()).ok());
    }
    KernelCache cache(options);
    auto hit = cache.get(kKey, compiler.callback());
    REQUIRE(hit.ok());
    CHECK(hit->source == CacheSource::aot);
    CHECK(hit->artifact.binary == "from aot");
    CHECK(compiler.calls == 1);  // only the writer above compiled
  }
  SECTION("a corrupt AOT entry is skipped with a warning and kept") {
    const fs::path aot_entry = aot / (kKey + ".entry");
    write_all(aot_entry, "not an entry");
    KernelCache cache(options);
    auto result = cache.get(kKey, compiler.callback());
    REQUIRE(result.ok());
    CHECK(result->source == CacheSource::compiled);
    CHECK(contains(result->warning, "corrupt AOT cache entry " + aot_entry.string()));
    CHECK(read_all(aot_entry) == "not an entry");
    check_valid_entry(disk / (kKey + ".entry"), result->artifact);
  }
}

TEST_CASE("a cache directory that cannot be written is a warning", "[runtime][cache]") {
  TempDir dir;
  // A regular file where the directory should be: fails even for root, unlike chmod.
  const fs::path blocker = dir.path() / "not-a-directory";
  write_all(blocker, "x");
  CountingCompiler compiler;
  KernelCache cache(options_for(blocker / "cache"));
  auto result = cache.get(kKey, compiler.callback());
  REQUIRE(result.ok());
  CHECK(result->source == CacheSource::compiled);
  CHECK(result->artifact.binary == compiler.binary);
  CHECK(contains(result->warning, "cannot create cache directory"));
}

TEST_CASE("threads racing for one key compile it once", "[runtime][cache]") {
  TempDir dir;
  std::atomic<int> calls{0};
  auto slow = [&]() -> Result<Artifact, CompileError> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return make_artifact("threaded");
  };
  // Separate KernelCache objects, as separate engines in one process would have.
  std::optional<Result<attnjit::CacheLookup, CompileError>> results[4];
  std::vector<std::thread> threads;
  for (auto& slot : results)
    threads.emplace_back([&] {
      KernelCache cache(options_for(dir.path()));
      slot.emplace(cache.get(kKey, slow));
    });
  for (auto& thread : threads) thread.join();
  CHECK(calls == 1);
  for (auto& result : results) {
    REQUIRE(result->ok());
    CHECK(result->value().artifact.binary == "threaded");
  }
}

TEST_CASE("two processes racing for one key compile it once", "[runtime][cache]") {
  TempDir dir;
  const fs::path cache_dir = dir.path() / "cache";
  const fs::path compile_log = dir.path() / "compiles.log";

  // Runs in a forked child; the exit code tells the parent what happened.
  enum Outcome { kCompiled = 10, kDiskHit = 11, kFailed = 1, kWrongBinary = 2,
                 kWarned = 3, kOtherSource = 4, kThrew = 5 };
  auto child = [&]() -> int {
    try {
      KernelCache cache(options_for(cache_dir));
      auto result = cache.get(kKey, [&]() -> Result<Artifact, CompileError> {
        // O_APPEND makes each line one atomic write even from two processes.
        int fd = ::open(compile_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
          [[maybe_unused]] ssize_t n = ::write(fd, "compile\n", 8);
          ::close(fd);
        }
        usleep(300 * 1000);
        return make_artifact("raced");
      });
      if (!result.ok()) return kFailed;
      if (result->artifact.binary != "raced") return kWrongBinary;
      if (!result->warning.empty()) return kWarned;
      if (result->source == CacheSource::compiled) return kCompiled;
      if (result->source == CacheSource::disk) return kDiskHit;
      return kOtherSource;
    } catch (...) {
      return kThrew;
    }
  };

  pid_t children[2];
  for (pid_t& pid : children) {
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(child());  // _exit: the child must not run Catch's teardown
  }
  std::vector<int> outcomes;
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    outcomes.push_back(WEXITSTATUS(status));
  }
  std::sort(outcomes.begin(), outcomes.end());
  CHECK(outcomes == std::vector<int>{kCompiled, kDiskHit});

  const std::string log = read_all(compile_log);
  CHECK(std::count(log.begin(), log.end(), '\n') == 1);
  check_valid_entry(cache_dir / (kKey + ".entry"), make_artifact("raced"));
  CHECK(count_temp_files(cache_dir) == 0);
}

TEST_CASE("default cache directory follows the environment", "[runtime][cache]") {
  // Saved and restored: ctest sets ATTNJIT_CACHE_DIR for the whole run.
  struct SavedEnv {
    std::string name;
    std::optional<std::string> value;
    explicit SavedEnv(const char* n) : name(n) {
      if (const char* v = std::getenv(n)) value = v;
    }
    ~SavedEnv() {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
  };
  SavedEnv cache_dir("ATTNJIT_CACHE_DIR"), xdg("XDG_CACHE_HOME"), home("HOME");

  setenv("ATTNJIT_CACHE_DIR", "/explicit/dir", 1);
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  setenv("HOME", "/home/someone", 1);
  CHECK(attnjit::default_cache_dir() == fs::path("/explicit/dir"));
  unsetenv("ATTNJIT_CACHE_DIR");
  CHECK(attnjit::default_cache_dir() == fs::path("/xdg/attnjit"));
  unsetenv("XDG_CACHE_HOME");
  CHECK(attnjit::default_cache_dir() == fs::path("/home/someone/.cache/attnjit"));
  CHECK(KernelCache().directory() == fs::path("/home/someone/.cache/attnjit"));
}
