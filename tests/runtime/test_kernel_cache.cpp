// The kernel cache: lookup order, entry verification (what an entry is for, what may
// sit at its path), failure handling, and two processes racing for one key. Every
// test works in its own mkdtemp directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <optional>
#include <thread>
#include <vector>

#include "cache_fixtures.h"
#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "compiler/support/sha256.h"
#include "fake_binary.h"
#include "runtime/cache/cache_files.h"
#include "runtime/cache/kernel_cache.h"

namespace fs = std::filesystem;
using attnjit::Artifact;
using attnjit::BinaryFormat;
using attnjit::CacheEntry;
using attnjit::CacheOptions;
using attnjit::CacheRequest;
using attnjit::CacheSource;
using attnjit::CompileError;
using attnjit::EntryDecode;
using attnjit::KernelCache;
using attnjit::Result;
using attnjit::testing::fake_cubin;
using attnjit::testing::fake_ptx;
using attnjit::testing::version_1_entry;

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
const std::string kSymbol = "attnjit_prefill";

CacheRequest request_for(const std::string& key, const std::string& arch = "sm_90",
                         BinaryFormat format = BinaryFormat::cubin) {
  return CacheRequest{key, arch, kSymbol, format, "13.0"};
}

// The SM number of "sm_90a" -> 90.
int sm_number(const std::string& arch) { return std::stoi(arch.substr(3)); }

Artifact make_artifact(const std::string& tag, const std::string& arch = "sm_90",
                       BinaryFormat format = BinaryFormat::cubin) {
  Artifact artifact;
  artifact.format = format;
  artifact.entry = kSymbol;
  artifact.binary = format == BinaryFormat::ptx ? fake_ptx(arch, kSymbol, tag)
                                                : fake_cubin(sm_number(arch), kSymbol, tag);
  artifact.log = "warning: nothing serious";
  return artifact;
}

// A compile callback that counts its calls and produces `artifact`.
struct CountingCompiler {
  Artifact artifact = make_artifact("counting compiler");
  int calls = 0;
  KernelCache::Compile callback() {
    return [this]() -> Result<Artifact, CompileError> {
      ++calls;
      return artifact;
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

// The file at `path` is a regular file holding a valid entry for `request` whose
// artifact is `expected`.
void check_valid_entry(const fs::path& path, const CacheRequest& request,
                       const Artifact& expected) {
  INFO("entry " << path);
  REQUIRE(fs::is_regular_file(fs::symlink_status(path)));
  CacheEntry decoded;
  std::string why;
  REQUIRE(attnjit::decode_cache_entry(read_all(path), &decoded, &why) == EntryDecode::valid);
  CHECK(attnjit::cache_entry_mismatch(decoded, request) == "");
  check_same(decoded.artifact, expected);
}

int count_files_containing(const fs::path& dir, const std::string& part) {
  int count = 0;
  for (const auto& item : fs::directory_iterator(dir))
    if (contains(item.path().filename().string(), part)) ++count;
  return count;
}

int count_temp_files(const fs::path& dir) { return count_files_containing(dir, ".tmp."); }

// A fresh cache on `dir` finds a valid entry for `request` without compiling.
void check_hit(const fs::path& dir, const CacheRequest& request, CountingCompiler& compiler) {
  const int calls_before = compiler.calls;
  KernelCache cache(options_for(dir));
  auto hit = cache.get(request, compiler.callback());
  REQUIRE(hit.ok());
  INFO("warning: " << hit->warning);
  CHECK(hit->source == CacheSource::disk);
  CHECK(hit->warning.empty());
  CHECK(compiler.calls == calls_before);
  check_same(hit->artifact, compiler.artifact);
}

// After something bad was found at the entry path: the lookup compiled, warned with
// `reason`, and left a valid regular entry that a fresh cache then hits without
// compiling.
void check_rebuilt_then_hit(const fs::path& dir, const CacheRequest& request,
                            CountingCompiler& compiler, const std::string& reason) {
  const int calls_before = compiler.calls;
  KernelCache cache(options_for(dir));
  auto rebuilt = cache.get(request, compiler.callback());
  REQUIRE(rebuilt.ok());
  INFO("warning: " << rebuilt->warning);
  CHECK(rebuilt->source == CacheSource::compiled);
  CHECK(compiler.calls == calls_before + 1);
  if (reason.empty()) {
    CHECK(rebuilt->warning.empty());
  } else {
    CHECK(contains(rebuilt->warning, "cache entry " + cache.entry_path(request.key).string() +
                                         " rejected"));
    CHECK(contains(rebuilt->warning, reason));
    CHECK(contains(rebuilt->warning, "rebuilding"));
  }
  check_valid_entry(cache.entry_path(request.key), request, rebuilt->artifact);
  check_hit(dir, request, compiler);
}

// Writes the entry for `request` through a cache in `dir`; returns its path.
fs::path write_entry(const fs::path& dir, const CacheRequest& request, const Artifact& artifact) {
  KernelCache writer(options_for(dir));
  auto made = writer.get(request, [&]() -> Result<Artifact, CompileError> { return artifact; });
  REQUIRE(made.ok());
  REQUIRE(made->warning.empty());
  return writer.entry_path(request.key);
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
    CacheEntry entry{kKey, "sm_90a", "13.0", make_artifact("round trip")};
    entry.artifact.format = format;
    entry.artifact.binary = std::string("bin\0ary", 7);
    CacheEntry decoded;
    std::string why;
    REQUIRE(attnjit::decode_cache_entry(attnjit::encode_cache_entry(entry), &decoded, &why) ==
            EntryDecode::valid);
    CHECK(decoded.key == entry.key);
    CHECK(decoded.arch == entry.arch);
    CHECK(decoded.compiler_version == entry.compiler_version);
    check_same(decoded.artifact, entry.artifact);
  }
}

TEST_CASE("decode says why an entry is invalid", "[runtime][cache]") {
  const CacheEntry entry{kKey, "sm_90", "13.0", make_artifact("payload")};
  const std::string good = attnjit::encode_cache_entry(entry);
  CacheEntry decoded;
  std::string why;
  auto decode = [&](const std::string& bytes) {
    return attnjit::decode_cache_entry(bytes, &decoded, &why);
  };

  SECTION("flipped payload byte") {
    std::string bad = good;
    bad.back() ^= 0x01;
    CHECK(decode(bad) == EntryDecode::invalid);
    CHECK(contains(why, "checksum mismatch"));
  }
  // The header is under the checksum: neither the key nor the arch can be edited.
  for (const std::string& field : {kKey, std::string("sm_90"), kSymbol}) {
    SECTION("flipped header byte in " + field) {
      std::string bad = good;
      bad[good.find(field) + 1] ^= 0x20;
      CHECK(decode(bad) == EntryDecode::invalid);
      CHECK(contains(why, "checksum mismatch"));
    }
  }
  SECTION("truncated in the payload") {
    CHECK(decode(good.substr(0, good.size() - 3)) == EntryDecode::invalid);
    CHECK(contains(why, "truncated"));
  }
  SECTION("truncated in the header") {
    CHECK(decode(good.substr(0, 20)) == EntryDecode::invalid);
    CHECK(contains(why, "truncated"));
  }
  SECTION("empty file") {
    CHECK(decode("") == EntryDecode::invalid);
    CHECK(contains(why, "truncated"));
  }
  SECTION("trailing bytes") {
    CHECK(decode(good + "xx") == EntryDecode::invalid);
    CHECK(contains(why, "unexpected bytes"));
  }
  SECTION("garbage") {
    CHECK(decode("this is not a cache entry at all") == EntryDecode::invalid);
    CHECK(contains(why, "bad magic"));
  }
  SECTION("a future format version") {
    std::string bad = good;
    bad[8] = 99;
    CHECK(decode(bad) == EntryDecode::invalid);
    CHECK(contains(why, "version 99"));
  }
  SECTION("the previous format version is stale, not invalid") {
    CHECK(decode(version_1_entry(entry.artifact)) == EntryDecode::stale);
    CHECK(contains(why, "version 1"));
  }
}

TEST_CASE("an entry is checked against every field of the request", "[runtime][cache]") {
  const CacheRequest request = request_for(kKey);
  CacheEntry entry = attnjit::make_cache_entry(request, make_artifact("fields"));
  CHECK(attnjit::cache_entry_mismatch(entry, request) == "");
  std::string expected;

  SECTION("key") {
    entry.key = "other_kernel-fedcba9876543210";
    expected = "written for key other_kernel-fedcba9876543210, not " + kKey;
  }
  SECTION("arch") {
    entry.arch = "sm_90a";
    expected = "written for sm_90a, not sm_90";
  }
  SECTION("format") {
    entry.artifact.format = BinaryFormat::ptx;
    expected = "holds ptx, not cubin";
  }
  SECTION("symbol") {
    entry.artifact.entry = "attnjit_merge";
    expected = "holds kernel 'attnjit_merge', not 'attnjit_prefill'";
  }
  SECTION("compiler version") {
    entry.compiler_version = "12.8";
    expected = "built by compiler version 12.8, not 13.0";
  }
  SECTION("the CUBIN's ELF arch, whatever the entry's own arch field says") {
    entry.artifact.binary = fake_cubin(80, kSymbol, "sm_80 code");
    expected = "the CUBIN's ELF header says sm_80, not sm_90";
  }
  SECTION("the CUBIN's symbol table") {
    entry.artifact.binary = fake_cubin(90, "attnjit_merge", "other kernel");
    expected = "the CUBIN has no symbol 'attnjit_prefill'";
  }
  SECTION("a binary that is not an ELF file") {
    entry.artifact.binary = "\x7f" "ELF fake cubin, too short for a header";
    expected = "the CUBIN is not an ELF file (no ELF header)";
  }
  CHECK(attnjit::cache_entry_mismatch(entry, request) == expected);
}

TEST_CASE("a miss compiles, the next lookup hits memory", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  KernelCache cache(options_for(dir.path()));
  const CacheRequest request = request_for(kKey);

  auto first = cache.get(request, compiler.callback());
  REQUIRE(first.ok());
  CHECK(first->source == CacheSource::compiled);
  CHECK(first->warning.empty());
  CHECK(first->warning_lines("warning: ").empty());
  CHECK(first->milliseconds >= 0);
  CHECK(compiler.calls == 1);
  check_valid_entry(cache.entry_path(kKey), request, first->artifact);
  CHECK(cache.entry_path(kKey) == dir.path() / (kKey + ".entry"));
  CHECK(count_temp_files(dir.path()) == 0);

  auto second = cache.get(request, compiler.callback());
  REQUIRE(second.ok());
  CHECK(second->source == CacheSource::memory);
  CHECK(compiler.calls == 1);
  check_same(second->artifact, first->artifact);

  // Memory, too, serves a key only for the request it was made for.
  CountingCompiler other;
  other.artifact = make_artifact("for sm_90a", "sm_90a");
  auto different = cache.get(request_for(kKey, "sm_90a"), other.callback());
  REQUIRE(different.ok());
  CHECK(different->source == CacheSource::compiled);
  CHECK(other.calls == 1);
}

TEST_CASE("a fresh cache on the same directory hits disk", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  const CacheRequest request = request_for(kKey);
  {
    KernelCache writer(options_for(dir.path()));
    REQUIRE(writer.get(request, compiler.callback()).ok());
  }
  KernelCache reader(options_for(dir.path()));
  auto hit = reader.get(request, compiler.callback());
  REQUIRE(hit.ok());
  CHECK(hit->source == CacheSource::disk);
  CHECK(hit->warning.empty());
  CHECK(compiler.calls == 1);
  check_same(hit->artifact, compiler.artifact);

  // Once loaded from disk it is served from memory.
  auto again = reader.get(request, compiler.callback());
  REQUIRE(again.ok());
  CHECK(again->source == CacheSource::memory);
  CHECK(compiler.calls == 1);
}

TEST_CASE("PTX entries are checked by their .target line", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest ptx90 = request_for("prefill_ptx_sm90-1111", "sm_90", BinaryFormat::ptx);
  const CacheRequest ptx80 = request_for("prefill_ptx_sm80-2222", "sm_80", BinaryFormat::ptx);
  write_entry(dir.path(), ptx80, make_artifact("ptx", "sm_80", BinaryFormat::ptx));
  CountingCompiler compiler;
  compiler.artifact = make_artifact("ptx", "sm_90", BinaryFormat::ptx);
  check_rebuilt_then_hit(dir.path(), ptx90, compiler, "");

  // An sm_80 module under the sm_90 entry's name and header: its .target gives it away.
  CacheEntry forged = attnjit::make_cache_entry(ptx90, make_artifact("ptx", "sm_80",
                                                                     BinaryFormat::ptx));
  write_all(KernelCache(options_for(dir.path())).entry_path(ptx90.key),
            attnjit::encode_cache_entry(forged));
  check_rebuilt_then_hit(dir.path(), ptx90, compiler, "the PTX's .target is sm_80, not sm_90");
}

TEST_CASE("the memory cache evicts the least recently used entry", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  CacheOptions options = options_for(dir.path());
  options.use_disk = false;
  options.memory_entries = 2;
  KernelCache cache(options);
  const CacheRequest a = request_for("a-1"), b = request_for("b-2"), c = request_for("c-3");

  REQUIRE(cache.get(a, compiler.callback()).ok());
  REQUIRE(cache.get(b, compiler.callback()).ok());
  REQUIRE(cache.get(a, compiler.callback())->source == CacheSource::memory);
  REQUIRE(cache.get(c, compiler.callback()).ok());  // evicts b, the older one
  CHECK(compiler.calls == 3);
  CHECK(cache.get(a, compiler.callback())->source == CacheSource::memory);
  CHECK(cache.get(b, compiler.callback())->source == CacheSource::compiled);
  CHECK(compiler.calls == 4);
  CHECK(fs::is_empty(dir.path()));  // use_disk = false writes nothing

  cache.clear_memory();
  CHECK(cache.get(a, compiler.callback())->source == CacheSource::compiled);
}

TEST_CASE("a corrupt disk entry is reported, deleted and rebuilt", "[runtime][cache]") {
  TempDir dir;
  CountingCompiler compiler;
  const CacheRequest request = request_for(kKey);
  const fs::path entry = write_entry(dir.path(), request, compiler.artifact);
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
  check_rebuilt_then_hit(dir.path(), request, compiler, expected_reason);
}

TEST_CASE("another key's entry copied over an entry is rejected and rebuilt",
          "[runtime][cache]") {
  TempDir dir;
  const CacheRequest mine = request_for(kKey);
  const CacheRequest other = request_for("prefill_fp16_d64_sm90-fedcba9876543210");
  const fs::path other_entry = write_entry(dir.path(), other, make_artifact("other kernel"));
  const fs::path my_entry = KernelCache(options_for(dir.path())).entry_path(kKey);
  fs::copy_file(other_entry, my_entry);

  CountingCompiler compiler;
  check_rebuilt_then_hit(dir.path(), mine, compiler,
                         "written for key " + other.key + ", not " + kKey);
  CHECK(read_all(my_entry) != read_all(other_entry));
}

TEST_CASE("another arch's entry copied over an entry is rejected and rebuilt",
          "[runtime][cache]") {
  TempDir dir;
  const CacheRequest sm90 = request_for("prefill_bf16_d128_sm90-0123456789abcdef", "sm_90");
  const CacheRequest sm80 = request_for("prefill_bf16_d128_sm80-abcdef0123456789", "sm_80");
  const fs::path sm80_entry = write_entry(dir.path(), sm80, make_artifact("k", "sm_80"));
  const fs::path sm90_entry = KernelCache(options_for(dir.path())).entry_path(sm90.key);
  CountingCompiler compiler;

  SECTION("caught by the key and arch the entry carries") {
    fs::copy_file(sm80_entry, sm90_entry);
    check_rebuilt_then_hit(dir.path(), sm90, compiler, "written for key " + sm80.key);
  }
  SECTION("caught by the ELF header when the entry's fields claim sm_90") {
    CacheEntry forged = attnjit::make_cache_entry(sm90, make_artifact("k", "sm_80"));
    write_all(sm90_entry, attnjit::encode_cache_entry(forged));
    check_rebuilt_then_hit(dir.path(), sm90, compiler,
                           "the CUBIN's ELF header says sm_80, not sm_90");
  }
}

TEST_CASE("a real sm_80 CUBIN is never served for sm_90", "[runtime][cache][nvrtc]") {
  auto nvrtc = attnjit::NvrtcCompiler::open();
  if (!nvrtc.ok()) {
    WARN("skipped: needs NVRTC to make real CUBINs: " << nvrtc.error());
    return;
  }
  const attnjit::GeneratedSource source{
      "extern \"C\" __global__ void attnjit_prefill(float* out, float scale) {\n"
      "  out[threadIdx.x] *= scale;\n"
      "}\n",
      kSymbol, "cache_test_scale"};
  auto compile_for = [&](const char* arch) {
    auto compiled = (*nvrtc)->compile(source, *attnjit::find_target(arch), attnjit::CompileOptions{});
    INFO(arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
    REQUIRE(compiled.ok());
    return *compiled;
  };
  const std::string version = (*nvrtc)->version();
  const CacheRequest sm90{"cache_test_scale.sm_90-0011", "sm_90", kSymbol,
                          BinaryFormat::cubin, version};
  const CacheRequest sm80{"cache_test_scale.sm_80-2233", "sm_80", kSymbol,
                          BinaryFormat::cubin, version};
  TempDir dir;
  const fs::path sm80_entry = write_entry(dir.path(), sm80, compile_for("sm_80"));
  const fs::path sm90_entry = KernelCache(options_for(dir.path())).entry_path(sm90.key);
  CountingCompiler compiler;
  compiler.artifact = compile_for("sm_90");

  SECTION("the sm_80 entry file copied over the sm_90 one") {
    fs::copy_file(sm80_entry, sm90_entry);
    check_rebuilt_then_hit(dir.path(), sm90, compiler, "written for key " + sm80.key);
  }
  SECTION("an sm_80 binary in an entry whose fields all say sm_90") {
    write_all(sm90_entry,
              attnjit::encode_cache_entry(attnjit::make_cache_entry(sm90, compile_for("sm_80"))));
    check_rebuilt_then_hit(dir.path(), sm90, compiler,
                           "the CUBIN's ELF header says sm_80, not sm_90");
  }
}

TEST_CASE("an entry of the previous format is rebuilt quietly", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey);
  fs::path entry = KernelCache(options_for(dir.path())).entry_path(kKey);
  write_all(entry, version_1_entry(make_artifact("written by the previous release")));
  CountingCompiler compiler;
  check_rebuilt_then_hit(dir.path(), request, compiler, "");
}

TEST_CASE("a symlink at the entry path is rejected, never followed", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey);
  const fs::path entry = KernelCache(options_for(dir.path())).entry_path(kKey);
  CountingCompiler compiler;
  fs::path target;

  SECTION("to a valid entry for this very request") {
    const fs::path elsewhere = dir.path() / "elsewhere";
    fs::create_directories(elsewhere);
    target = write_entry(elsewhere, request, make_artifact("behind a symlink"));
  }
  SECTION("to /dev/zero") { target = "/dev/zero"; }
  const std::string target_bytes = target == "/dev/zero" ? "" : read_all(target);
  fs::create_symlink(target, entry);

  check_rebuilt_then_hit(dir.path(), request, compiler, "is a symbolic link");
  // The link was replaced, not written through.
  if (target != "/dev/zero") CHECK(read_all(target) == target_bytes);
}

TEST_CASE("a FIFO at the entry path is rejected without blocking", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey);
  const fs::path entry = KernelCache(options_for(dir.path())).entry_path(kKey);
  REQUIRE(::mkfifo(entry.c_str(), 0644) == 0);
  CountingCompiler compiler;

  auto lookup = std::async(std::launch::async, [&] {
    KernelCache cache(options_for(dir.path()));
    return cache.get(request, compiler.callback());
  });
  if (lookup.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock a reader stuck in open(), as often as it gets stuck again, so the test
    // fails instead of hanging.
    for (int attempt = 0; attempt < 100; ++attempt) {
      int writer = ::open(entry.c_str(), O_WRONLY | O_NONBLOCK);
      if (writer >= 0) ::close(writer);
      if (lookup.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) break;
    }
    FAIL("the lookup blocked on a FIFO at the entry path");
  }
  auto result = lookup.get();
  REQUIRE(result.ok());
  INFO("warning: " << result->warning);
  CHECK(result->source == CacheSource::compiled);
  CHECK(contains(result->warning, "is a FIFO, not a regular file"));
  check_valid_entry(entry, request, result->artifact);
  check_hit(dir.path(), request, compiler);  // and it stays fixed
}

TEST_CASE("odd files at the lock path neither block nor stop caching", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey);
  const fs::path lock = dir.path() / (kKey + ".lock");
  std::string expected;
  SECTION("a FIFO") {
    REQUIRE(::mkfifo(lock.c_str(), 0644) == 0);
    expected = "was a FIFO; replaced it";
  }
  SECTION("a directory") {
    fs::create_directories(lock / "inside");
    expected = "was a directory; replaced it";
  }
  SECTION("a symlink to /dev/zero") {
    fs::create_symlink("/dev/zero", lock);
    expected = "was a symbolic link; replaced it";
  }
  CountingCompiler compiler;
  auto lookup = std::async(std::launch::async, [&] {
    KernelCache cache(options_for(dir.path()));
    return cache.get(request, compiler.callback());
  });
  REQUIRE(lookup.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto result = lookup.get();
  REQUIRE(result.ok());
  INFO("warning: " << result->warning);
  CHECK(contains(result->warning, "lock file " + lock.string() + " " + expected));
  CHECK(fs::is_regular_file(fs::symlink_status(lock)));
  check_valid_entry(dir.path() / (kKey + ".entry"), request, result->artifact);
  check_hit(dir.path(), request, compiler);
}

TEST_CASE("a directory at the entry path does not stop caching", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey);
  const fs::path entry = KernelCache(options_for(dir.path())).entry_path(kKey);
  CountingCompiler compiler;

  SECTION("an empty directory is removed") {
    fs::create_directories(entry);
    check_rebuilt_then_hit(dir.path(), request, compiler, "is a directory, not a regular file");
    CHECK(count_files_containing(dir.path(), ".aside.") == 0);
  }
  SECTION("a directory with files in it is moved aside, its files kept") {
    fs::create_directories(entry);
    write_all(entry / "someone's file", "keep me");
    check_rebuilt_then_hit(dir.path(), request, compiler, "is a directory, not a regular file");
    REQUIRE(count_files_containing(dir.path(), ".aside.") == 1);
    for (const auto& item : fs::directory_iterator(dir.path()))
      if (contains(item.path().filename().string(), ".aside."))
        CHECK(read_all(item.path() / "someone's file") == "keep me");
  }
}

TEST_CASE("an oversized entry is refused unread and rebuilt", "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey);
  const fs::path entry = write_entry(dir.path(), request, make_artifact("before"));
  // Sparse: the valid entry's bytes followed by a hole, one byte over the limit.
  REQUIRE(::truncate(entry.c_str(), off_t(attnjit::kMaxCacheEntryBytes + 1)) == 0);
  CountingCompiler compiler;
  check_rebuilt_then_hit(dir.path(), request, compiler,
                         "over the limit of 67108864 bytes (64 MiB) on cache entries");
}

TEST_CASE("long keys make bounded file names and still hit", "[runtime][cache]") {
  TempDir dir;
  // A variant name of 300 characters, as in `variant aaaa...a { ... }`.
  const std::string long_uri = "prefill." + std::string(300, 'v') + ".bf16.d128.sm_90";
  const CacheRequest first = request_for(long_uri + "-0123456789abcdef");
  const CacheRequest second = request_for(long_uri + "-fedcba9876543210");
  KernelCache cache(options_for(dir.path()));
  const fs::path path = cache.entry_path(first.key);
  INFO("entry " << path);
  CHECK(path.filename().string().size() <= attnjit::kMaxCacheStemBytes + 6);
  CHECK(path.filename().string().rfind("prefill.vvvv", 0) == 0);  // still readable
  CHECK(cache.entry_path(second.key) != path);  // the hash covers the whole key

  CountingCompiler compiler;
  check_rebuilt_then_hit(dir.path(), first, compiler, "");
  check_rebuilt_then_hit(dir.path(), second, compiler, "");
  CHECK(compiler.calls == 2);
  for (const auto& item : fs::directory_iterator(dir.path()))
    CHECK(item.path().filename().string().size() <= 255);

  // Keys that are not plain file names are hashed too, never used as paths.
  CHECK(cache.entry_path("../escape").parent_path() == dir.path());
  CHECK(cache.entry_path("a/b").parent_path() == dir.path());
}

TEST_CASE("cache warnings are one printable line each", "[runtime][cache]") {
  TempDir dir;
  // A directory name with a newline and a terminal escape (sets the window title).
  const fs::path odd = dir.path() / "odd\n\x1b]0;title\x07name";
  const fs::path disk = odd / "disk";
  fs::create_directories(disk);
  const CacheRequest request = request_for(kKey);
  write_all(disk / (kKey + ".entry"), "not an entry either\n\x1b[2J");
  CountingCompiler compiler;
  KernelCache cache(options_for(disk));
  auto result = cache.get(request, compiler.callback());
  REQUIRE(result.ok());
  INFO("warning: " << result->warning);
  CHECK(result->warning.find('\n') == std::string::npos);
  CHECK(result->warning.find('\x1b') == std::string::npos);
  CHECK(result->warning.find('\x07') == std::string::npos);
  CHECK(contains(result->warning, "odd\\n\\x1b]0;title\\x07name"));

  // Two warnings (as the engine joins an AOT warning and the cache's): each line has
  // the prefix.
  attnjit::CacheLookup joined = *result;
  joined.warning = "first\n" + result->warning;
  const std::string printed = joined.warning_lines("warning: ");
  CHECK(printed.rfind("warning: first\n", 0) == 0);
  CHECK(contains(printed, "\nwarning: cache entry "));
  CHECK(printed.back() == '\n');
  CHECK(std::count(printed.begin(), printed.end(), '\n') == 2);
}


TEST_CASE("a compile that fails the cache's own check is used but not stored",
          "[runtime][cache]") {
  TempDir dir;
  const CacheRequest request = request_for(kKey, "sm_90");
  CountingCompiler compiler;
  compiler.artifact = make_artifact("wrong arch", "sm_80");
  KernelCache cache(options_for(dir.path()));
  auto result = cache.get(request, compiler.callback());
  REQUIRE(result.ok());
  INFO("warning: " << result->warning);
  CHECK(result->source == CacheSource::compiled);
  CHECK(contains(result->warning, "fails the cache's check: the CUBIN's ELF header says "
                                  "sm_80, not sm_90; not cached"));
  CHECK_FALSE(fs::exists(cache.entry_path(kKey)));
  CHECK(cache.get(request, compiler.callback())->source == CacheSource::compiled);
  CHECK(compiler.calls == 2);
}

TEST_CASE("compile errors pass through and nothing is written", "[runtime][cache]") {
  TempDir dir;
  KernelCache cache(options_for(dir.path()));
  const CacheRequest request = request_for(kKey);
  int calls = 0;
  auto failing = [&]() -> Result<Artifact, CompileError> {
    ++calls;
    return attnjit::fail(CompileError{"NVRTC failed", "kernel.cu(3): error: expected ;",
                                      {"--gpu-architecture=sm_90"}, "/tmp/x.cu"});
  };

  auto result = cache.get(request, failing);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message == "NVRTC failed");
  CHECK(result.error().log == "kernel.cu(3): error: expected ;");
  CHECK(result.error().options == std::vector<std::string>{"--gpu-architecture=sm_90"});
  CHECK(result.error().source_path == "/tmp/x.cu");
  CHECK_FALSE(fs::exists(cache.entry_path(kKey)));
  CHECK(count_temp_files(dir.path()) == 0);

  // A failure is not cached: the next lookup tries again.
  CHECK_FALSE(cache.get(request, failing).ok());
  CHECK(calls == 2);
  CountingCompiler compiler;
  auto fixed = cache.get(request, compiler.callback());
  REQUIRE(fixed.ok());
  CHECK(fixed->source == CacheSource::compiled);
}

TEST_CASE("a cache directory that cannot be written is a warning", "[runtime][cache]") {
  TempDir dir;
  // A regular file where the directory should be: fails even for root, unlike chmod.
  const fs::path blocker = dir.path() / "not-a-directory";
  write_all(blocker, "x");
  CountingCompiler compiler;
  KernelCache cache(options_for(blocker / "cache"));
  auto result = cache.get(request_for(kKey), compiler.callback());
  REQUIRE(result.ok());
  CHECK(result->source == CacheSource::compiled);
  CHECK(result->artifact.binary == compiler.artifact.binary);
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
      slot.emplace(cache.get(request_for(kKey), slow));
    });
  for (auto& thread : threads) thread.join();
  CHECK(calls == 1);
  for (auto& result : results) {
    REQUIRE(result->ok());
    CHECK(result->value().artifact.binary == make_artifact("threaded").binary);
  }
}

TEST_CASE("two processes racing for one key compile it once", "[runtime][cache]") {
  TempDir dir;
  const fs::path cache_dir = dir.path() / "cache";
  const fs::path compile_log = dir.path() / "compiles.log";
  const Artifact raced = make_artifact("raced");

  // Runs in a forked child; the exit code tells the parent what happened.
  enum Outcome { kCompiled = 10, kDiskHit = 11, kFailed = 1, kWrongBinary = 2,
                 kWarned = 3, kOtherSource = 4, kThrew = 5 };
  auto child = [&]() -> int {
    try {
      KernelCache cache(options_for(cache_dir));
      auto result = cache.get(request_for(kKey), [&]() -> Result<Artifact, CompileError> {
        // O_APPEND makes each line one atomic write even from two processes.
        int fd = ::open(compile_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
          [[maybe_unused]] ssize_t n = ::write(fd, "compile\n", 8);
          ::close(fd);
        }
        usleep(300 * 1000);
        return raced;
      });
      if (!result.ok()) return kFailed;
      if (result->artifact.binary != raced.binary) return kWrongBinary;
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
  check_valid_entry(cache_dir / (kKey + ".entry"), request_for(kKey), raced);
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
