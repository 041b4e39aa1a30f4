// The cache inventory (what `attnjit cache` lists, verifies and prunes): entries that
// are good, corrupt, substituted, for the wrong arch, of the old format, under a long
// (hashed) name or not regular files; lock and temp files; pruning by age, by size in
// least-recently-used order, and clearing. Times are set on the files, never waited for.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "cache_fixtures.h"
#include "catch.h"
#include "runtime/cache/cache_files.h"
#include "runtime/cache/cache_inventory.h"
#include "runtime/cache/kernel_cache.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using attnjit::Artifact;
using attnjit::BinaryFormat;
using attnjit::CacheClock;
using attnjit::CacheInventory;
using attnjit::CacheOrigin;
using attnjit::CacheRequest;
using attnjit::EntryStatus;
using attnjit::InventoryEntry;
using attnjit::PruneOptions;
using attnjit::SideFileKind;
using attnjit::testing::TempDir;
using std::chrono::hours;

namespace {

const std::string kSymbol = "attnjit_prefill";
const std::string kKey90 = "prefill.llama.bf16.h8x2.d64.causal.sm_90.m128n64w4s2-00112233aabbccdd";
const std::string kKey80 = "prefill.llama.bf16.h8x2.d64.causal.sm_80.m128n64w4s2-44556677aabbccdd";
const std::string kMergeKey = "merge.llama.bf16.d64.sm_90.w4-8899aabbccddeeff";

CacheRequest request_for(const std::string& key, const std::string& arch) {
  return CacheRequest{key, arch, kSymbol, BinaryFormat::cubin, "13.0"};
}

Artifact cubin_for(int sm, const std::string& tag) {
  Artifact a;
  a.format = BinaryFormat::cubin;
  a.entry = kSymbol;
  a.binary = attnjit::testing::fake_cubin(sm, kSymbol, tag);
  return a;
}

std::string entry_bytes(const std::string& key, const std::string& arch, int sm,
                        const std::string& tag = "binary") {
  return attnjit::encode_cache_entry(
      attnjit::make_cache_entry(request_for(key, arch), cubin_for(sm, tag)));
}

// The path the cache gives `key`'s entry in `dir`.
fs::path entry_path(const fs::path& dir, const std::string& key) {
  return dir / (attnjit::cache_file_stem(key) + ".entry");
}

fs::path write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

// A good entry for `key` where the cache keeps it; its binary is for `sm`.
fs::path put_entry(const fs::path& dir, const std::string& key, const std::string& arch, int sm,
                   const std::string& tag = "binary") {
  return write_file(entry_path(dir, key), entry_bytes(key, arch, sm, tag));
}

// An entry of the old format (version 1) where the cache keeps `key`'s.
fs::path put_old_entry(const fs::path& dir, const std::string& key) {
  return write_file(entry_path(dir, key), attnjit::testing::version_1_entry(cubin_for(90, key)));
}

// Sets a file's access and modification times to `ago` before now.
void set_times(const fs::path& path, CacheClock::duration access_ago,
               CacheClock::duration modify_ago) {
  auto spec = [](CacheClock::duration ago) {
    const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(
        (CacheClock::now() - ago).time_since_epoch());
    struct timespec ts {};
    ts.tv_sec = time_t(t.count() / 1000000000);
    ts.tv_nsec = long(t.count() % 1000000000);
    return ts;
  };
  const struct timespec times[2] = {spec(access_ago), spec(modify_ago)};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}
void set_age(const fs::path& path, CacheClock::duration ago) { set_times(path, ago, ago); }

const InventoryEntry* find_by_path(const CacheInventory& inventory, const fs::path& path) {
  for (const InventoryEntry& e : inventory.entries)
    if (e.path == path) return &e;
  return nullptr;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> removed_names(const attnjit::PruneReport& report) {
  std::vector<std::string> names;
  for (const auto& f : report.removed) names.push_back(f.path.filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("a good entry is listed with what it holds", "[runtime][cache][inventory]") {
  TempDir dir;
  const fs::path path = put_entry(dir.path(), kKey90, "sm_90", 90);
  const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::aot);
  CHECK(e.status == EntryStatus::ok);
  CHECK(e.problem.empty());
  CHECK(e.key == kKey90);
  CHECK_FALSE(e.key_from_file_name);
  CHECK(e.kind == "prefill");
  CHECK(e.target == "sm_90");
  CHECK(e.format == "cubin");
  CHECK(e.symbol == kSymbol);
  CHECK(e.compiler_version == "13.0");
  CHECK(e.origin == CacheOrigin::aot);
  CHECK(e.size == fs::file_size(path));
}

TEST_CASE("bad entries are named with what is wrong", "[runtime][cache][inventory]") {
  TempDir dir;
  const fs::path path = entry_path(dir.path(), kKey90);
  const std::string good = entry_bytes(kKey90, "sm_90", 90);

  SECTION("a flipped byte in the binary") {
    std::string bytes = good;
    bytes[bytes.size() - 3] ^= 0x20;
    write_file(path, bytes);
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::corrupt);
    CHECK(contains(e.problem, "checksum mismatch"));
    // Nothing in a corrupt entry is trusted: the key, kind and target come from its name.
    CHECK(e.key == kKey90);
    CHECK(e.key_from_file_name);
    CHECK(e.kind == "prefill");
    CHECK(e.target == "sm_90");
    CHECK(e.format.empty());
  }
  SECTION("a truncated entry") {
    write_file(path, good.substr(0, good.size() / 2));
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::corrupt);
    CHECK(contains(e.problem, "truncated"));
  }
  SECTION("another key's entry under this key's name") {
    write_file(path, entry_bytes(kKey80, "sm_80", 80));
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::corrupt);
    CHECK(contains(e.problem, "holds the entry of key " + kKey80));
    CHECK(e.key == kKey90);  // listed under the file's name, not the key it holds
    CHECK(e.key_from_file_name);
  }
  SECTION("an entry whose binary is for another arch than it says") {
    write_file(path, entry_bytes(kKey90, "sm_90", 80));
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::corrupt);
    CHECK(contains(e.problem, "ELF header says sm_80, not sm_90"));
  }
  SECTION("an entry of the old format is stale") {
    write_file(path, attnjit::testing::version_1_entry(cubin_for(90, "old")));
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::stale);
    CHECK(contains(e.problem, "entry format version 1"));
    CHECK(e.key_from_file_name);
    CHECK(e.kind == "prefill");
    CHECK(e.target == "sm_90");
  }
  SECTION("a symlink to a good entry is not followed") {
    const fs::path elsewhere = write_file(dir.path() / "elsewhere", good);
    fs::create_symlink(elsewhere, path);
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::corrupt);
    CHECK(contains(e.problem, "symbolic link"));
  }
  SECTION("a FIFO is refused without blocking") {
    REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
    const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(e.status == EntryStatus::corrupt);
    CHECK(contains(e.problem, "FIFO"));
  }
}

TEST_CASE("an entry with a long key is found under its hashed name",
          "[runtime][cache][inventory]") {
  TempDir dir;
  const std::string key =
      "paged." + std::string(300, 'v') + ".bf16.sm_80.m64n64w4s2-0123456789abcdef";
  const fs::path path = put_entry(dir.path(), key, "sm_80", 80);
  REQUIRE(path.filename().string().size() < 200);
  const InventoryEntry e = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
  CHECK(e.status == EntryStatus::ok);
  CHECK(e.key == key);  // the whole key, from inside the entry
  CHECK(e.kind == "paged");
  CHECK(e.target == "sm_80");

  SECTION("corrupt, it is listed by the readable prefix of its name") {
    write_file(path, "junk");
    const InventoryEntry bad = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
    CHECK(bad.status == EntryStatus::corrupt);
    CHECK(bad.key_from_file_name);
    CHECK(bad.key.rfind("paged.vvvv", 0) == 0);
    CHECK(bad.kind == "paged");
  }
}

TEST_CASE("an inventory lists entries and the files beside them", "[runtime][cache][inventory]") {
  TempDir dir;
  const fs::path good = put_entry(dir.path(), kKey90, "sm_90", 90);
  const fs::path stale = put_old_entry(dir.path(), kMergeKey);
  const fs::path corrupt = write_file(entry_path(dir.path(), kKey80), "not an entry");
  write_file(dir.path() / (attnjit::cache_file_stem(kKey90) + ".lock"), "");
  write_file(dir.path() / (attnjit::cache_file_stem(kKey80) + ".tmp.4242.0a1b2c3d0"), "half");
  write_file(dir.path() / "index.json", "{}");
  fs::create_directory(dir.path() / (attnjit::cache_file_stem(kKey80) + ".entry.aside.7.ff"));
  write_file(dir.path() / "a.tmp.x.y", "not a temp name");

  auto inventory = attnjit::read_cache_inventory(dir.path(), CacheOrigin::jit);
  REQUIRE(inventory.ok());
  CHECK(inventory->exists);
  REQUIRE(inventory->entries.size() == 3);
  CHECK(inventory->count(EntryStatus::ok) == 1);
  CHECK(inventory->count(EntryStatus::stale) == 1);
  CHECK(inventory->count(EntryStatus::corrupt) == 1);
  CHECK(find_by_path(*inventory, good)->status == EntryStatus::ok);
  CHECK(find_by_path(*inventory, stale)->status == EntryStatus::stale);
  CHECK(find_by_path(*inventory, corrupt)->status == EntryStatus::corrupt);
  CHECK(inventory->entry_bytes() ==
        fs::file_size(good) + fs::file_size(stale) + fs::file_size(corrupt));
  CHECK(inventory->count(SideFileKind::lock) == 1);
  CHECK(inventory->count(SideFileKind::temp) == 1);
  // index.json, the directory moved aside, a.tmp.x.y
  CHECK(inventory->count(SideFileKind::other) == 3);
  // Sorted by key: merge < prefill ...sm_80 < prefill ...sm_90.
  CHECK(inventory->entries[0].path == stale);
  CHECK(inventory->entries[1].path == corrupt);
  CHECK(inventory->entries[2].path == good);
}

TEST_CASE("an inventory of a missing or odd directory", "[runtime][cache][inventory]") {
  TempDir dir;
  auto missing = attnjit::read_cache_inventory(dir.path() / "not-yet", CacheOrigin::jit);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->exists);
  CHECK(missing->entries.empty());

  const fs::path file = write_file(dir.path() / "file", "x");
  auto not_dir = attnjit::read_cache_inventory(file, CacheOrigin::aot);
  REQUIRE_FALSE(not_dir.ok());
  CHECK(contains(not_dir.error(), "is not a directory"));
  CHECK_FALSE(attnjit::prune_cache(file, PruneOptions{}).ok());
}

TEST_CASE("prune removes unusable entries, abandoned temp files and idle locks",
          "[runtime][cache][inventory]") {
  TempDir dir;
  const fs::path good = put_entry(dir.path(), kKey90, "sm_90", 90);
  put_old_entry(dir.path(), kMergeKey);
  write_file(entry_path(dir.path(), kKey80), "not an entry");
  const fs::path old_temp = write_file(dir.path() / "k.tmp.4242.0a1b2c3d0", "abandoned");
  const fs::path new_temp = write_file(dir.path() / "k.tmp.4243.0a1b2c3d1", "being written");
  const fs::path old_lock = write_file(dir.path() / "old.lock", "");
  const fs::path held_lock = write_file(dir.path() / "held.lock", "");
  const fs::path new_lock = write_file(dir.path() / "new.lock", "");
  const fs::path other = write_file(dir.path() / "index.json", "{}");
  for (const fs::path& p : {old_temp, old_lock, held_lock, other}) set_age(p, hours(1));
  // A compile in progress holds its lock: prune must leave it.
  attnjit::FileLock holder(held_lock);
  REQUIRE(holder.locked());

  auto report = attnjit::prune_cache(dir.path(), PruneOptions{});
  REQUIRE(report.ok());
  CHECK(report->errors.empty());
  CHECK(removed_names(*report) ==
        std::vector<std::string>{"k.tmp.4242.0a1b2c3d0", kMergeKey + ".entry", "old.lock",
                                 kKey80 + ".entry"});
  CHECK(report->entries_before == 3);
  CHECK(report->entries_after == 1);
  CHECK(report->bytes_after == fs::file_size(good));
  for (const fs::path& kept : {good, new_temp, held_lock, new_lock, other})
    CHECK(fs::exists(kept));
  CHECK_FALSE(fs::exists(old_temp));
  CHECK_FALSE(fs::exists(old_lock));
  for (const auto& f : report->removed)
    if (f.what == "entry")
      CHECK((contains(f.reason, "stale: ") || contains(f.reason, "corrupt: ")));
}

TEST_CASE("prune --older-than removes entries unused that long", "[runtime][cache][inventory]") {
  TempDir dir;
  const fs::path unused = put_entry(dir.path(), kKey80, "sm_80", 80);
  const fs::path used = put_entry(dir.path(), kKey90, "sm_90", 90);
  set_age(unused, hours(24 * 40));
  // Written long ago but loaded yesterday: in use.
  set_times(used, hours(24), hours(24 * 40));

  PruneOptions options;
  options.older_than = hours(24 * 30);
  auto report = attnjit::prune_cache(dir.path(), options);
  REQUIRE(report.ok());
  REQUIRE(report->removed.size() == 1);
  CHECK(report->removed[0].path == unused);
  CHECK(report->removed[0].key == kKey80);
  CHECK(contains(report->removed[0].reason, "unused for 40.0 days"));
  CHECK(fs::exists(used));
}

TEST_CASE("prune --max-size removes least recently used entries first",
          "[runtime][cache][inventory]") {
  TempDir dir;
  const std::string key_a = kKey90, key_b = kKey80, key_c = kMergeKey;
  const fs::path a = put_entry(dir.path(), key_a, "sm_90", 90, "a");
  const fs::path b = put_entry(dir.path(), key_b, "sm_80", 80, "b");
  const fs::path c = put_entry(dir.path(), key_c, "sm_90", 90, "c");
  // Last used: b longest ago, then c, then a; written in the other order.
  set_times(b, hours(30), hours(31));
  set_times(c, hours(20), hours(50));
  set_times(a, hours(10), hours(60));

  PruneOptions options;
  options.max_bytes = fs::file_size(a) + fs::file_size(c);
  auto report = attnjit::prune_cache(dir.path(), options);
  REQUIRE(report.ok());
  REQUIRE(report->removed.size() == 1);
  CHECK(report->removed[0].path == b);
  CHECK(contains(report->removed[0].reason, "least recently used"));

  options.max_bytes = fs::file_size(a);
  report = attnjit::prune_cache(dir.path(), options);
  REQUIRE(report.ok());
  REQUIRE(report->removed.size() == 1);
  CHECK(report->removed[0].path == c);
  CHECK(fs::exists(a));
  CHECK(report->bytes_after == fs::file_size(a));

  options.max_bytes = 0;
  report = attnjit::prune_cache(dir.path(), options);
  REQUIRE(report.ok());
  CHECK(report->entries_after == 0);
  CHECK_FALSE(fs::exists(a));
}

TEST_CASE("clear removes every entry and nothing it does not know",
          "[runtime][cache][inventory]") {
  TempDir dir;
  put_entry(dir.path(), kKey80, "sm_80", 80);
  put_entry(dir.path(), kKey90, "sm_90", 90);
  const fs::path other = write_file(dir.path() / "notes.txt", "mine");
  const fs::path aside = dir.path() / "x.entry.aside.1.ff";
  fs::create_directory(aside);
  write_file(aside / "inside.entry", "kept");

  PruneOptions options;
  options.remove_all = true;
  auto report = attnjit::prune_cache(dir.path(), options);
  REQUIRE(report.ok());
  CHECK(report->entries_before == 2);
  CHECK(report->entries_after == 0);
  CHECK(report->removed.size() == 2);
  CHECK(fs::exists(other));
  CHECK(fs::exists(aside / "inside.entry"));

  auto missing = attnjit::prune_cache(dir.path() / "never-made", options);
  REQUIRE(missing.ok());
  CHECK(missing->removed.empty());
}

TEST_CASE("a disk hit marks the entry used, for prune's order", "[runtime][cache][inventory]") {
  TempDir dir;
  attnjit::CacheOptions options;
  options.directory = dir.path();
  const CacheRequest request = request_for(kKey90, "sm_90");
  const fs::path path = put_entry(dir.path(), kKey90, "sm_90", 90);
  // An access time in the future: no atime policy (relatime updates only times at or
  // before the change time) moves it on a read, so only the cache's own mark can.
  set_times(path, -hours(1), hours(2));
  const auto started = CacheClock::now();

  attnjit::KernelCache cache(options);
  auto hit = cache.get(request, []() -> attnjit::Result<Artifact, attnjit::CompileError> {
    FAIL("compiled instead of loading the entry");
    return attnjit::fail(attnjit::CompileError{});
  });
  REQUIRE(hit.ok());
  REQUIRE(hit->source == attnjit::CacheSource::disk);
  const InventoryEntry after = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
  CHECK(after.last_used >= started - std::chrono::seconds(1));
  CHECK(after.last_used <= CacheClock::now());
  CHECK(CacheClock::now() - after.written > hours(1));  // the write time stays
}

TEST_CASE("inspecting an entry does not mark it used", "[runtime][cache][inventory]") {
  TempDir dir;
  const fs::path path = put_entry(dir.path(), kKey90, "sm_90", 90);
  // Accessed no later than changed: a relatime mount updates such an access time on
  // a plain read, which would make every listed entry look just used.
  set_age(path, hours(48));
  const InventoryEntry first = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
  const InventoryEntry second = attnjit::inspect_cache_entry(path, CacheOrigin::jit);
  REQUIRE(first.status == EntryStatus::ok);
  CHECK(CacheClock::now() - first.last_used > hours(47));
  CHECK(second.last_used == first.last_used);
}
