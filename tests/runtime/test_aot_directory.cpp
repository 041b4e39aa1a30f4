// Ahead-of-time directories: the index format, what a lookup serves and refuses, the
// engine finding kernels with no compiler and JIT off, recorded kernels, and the
// builder's determinism, shards and merge. A fake backend stands in for NVRTC (the CLI
// tests build real kernels).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "catch.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/spec/spec_record.h"
#include "compiler/support/sha256.h"
#include "fake_backend.h"
#include "runtime/api/engine.h"
#include "runtime/cache/aot_directory.h"
#include "runtime/cache/aot_index.h"
#include "temp_dir.h"
#include "tools/aot/aot_build.h"
#include "tools/aot/aot_jobs.h"

namespace {

namespace fs = std::filesystem;
using namespace attnjit;
using testing::FakeBackend;
using testing::TempDir;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Every file of a directory with its bytes, for comparing two builds.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& item : fs::directory_iterator(dir))
    files[item.path().filename().string()] = read_file(item.path());
  return files;
}

aot::VariantSet test_variants() {
  const std::string text =
      "variant fake_llama { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n"
      "  kv_cache = contiguous; mask = causal; }\n"
      "variant fake_paged { heads = 8 / 2; head_dim = 128; q = bf16; kv = bf16; out = bf16;\n"
      "  kv_cache = paged(page_size = 16); mask = causal; }\n";
  auto module = compile_variants(SourceFile{"<aot test>", text});
  REQUIRE(module.ok());
  return {"<aot test>", *module};
}

aot::BuildInputs test_inputs() {
  aot::BuildInputs inputs;
  inputs.variant_sets.push_back(test_variants());
  inputs.archs = {"sm_80", "sm_90"};
  return inputs;
}

// Builds `inputs` with a fake backend into `out`; returns the jobs.
std::vector<aot::Job> build_into(const fs::path& out, const fs::path& cache,
                                 const aot::BuildInputs& inputs, int jobs = 1,
                                 int shard_index = 0, int shard_count = 1) {
  auto listed = aot::list_jobs(inputs);
  REQUIRE(listed.ok());
  std::vector<aot::Job> selected = aot::shard(*listed, shard_index, shard_count);
  aot::BuildSettings settings;
  settings.cache.directory = cache;
  settings.backends[Vendor::cuda] = std::make_shared<FakeBackend>();
  settings.jobs = jobs;
  aot::BuildResult result = aot::build_jobs(selected, settings);
  REQUIRE(result.failed == 0);
  REQUIRE(aot::write_aot_directory(out, result.index, result.binaries).ok());
  return selected;
}

// An engine that may only find kernels: JIT off, its backend counts any compile.
struct FindingEngine {
  std::shared_ptr<FakeBackend> backend = std::make_shared<FakeBackend>();
  std::unique_ptr<Engine> engine;
  FindingEngine(const std::vector<fs::path>& aot_dirs, const fs::path& cache, bool jit = false) {
    EngineOptions options;
    options.cache.directory = cache;
    options.cache.aot_directories = aot_dirs;
    options.aot_directories_from_env = false;
    options.jit = jit;
    options.backends[Vendor::cuda] = backend;
    engine = std::make_unique<Engine>(options);
  }
};

AotIndexEntry sample_entry(const std::string& key) {
  AotIndexEntry e;
  e.key = key;
  e.name = "prefill.x.sm_90";
  e.variant = "x";
  e.kind = "prefill";
  e.target = "sm_90";
  e.format = BinaryFormat::cubin;
  e.sha256 = std::string(64, 'a');
  e.file = aot_binary_file_name(e.sha256, e.format);
  e.size = 10;
  e.symbol = "attnjit_prefill_x";
  e.threads = 128;
  e.shared_bytes = 40960;
  e.compiler = "nvrtc";
  e.compiler_version = "13.0";
  e.options = {"--gpu-architecture=sm_90"};
  return e;
}

}  // namespace

TEST_CASE("an AOT index encodes deterministically and decodes to itself", "[runtime][aot]") {
  AotIndex index;
  index.attnjit_version = "0.1.0";
  index.entries = {sample_entry("b-2"), sample_entry("a-1")};
  auto normalized = normalized_aot_index(index);
  REQUIRE(normalized.ok());
  CHECK(normalized->entries.front().key == "a-1");
  const std::string text = encode_aot_index(*normalized);
  auto decoded = decode_aot_index(text);
  REQUIRE(decoded.ok());
  CHECK(decoded->entries == normalized->entries);
  CHECK(encode_aot_index(*decoded) == text);
  // One line per entry.
  CHECK(std::count(text.begin(), text.end(), '\n') == 8);  // 2 entries + 6

  // Equal duplicates (two shards built one kernel) merge; different ones conflict.
  index.entries.push_back(sample_entry("a-1"));
  CHECK(normalized_aot_index(index).ok());
  AotIndexEntry other = sample_entry("a-1");
  other.sha256 = std::string(64, 'b');
  index.entries.push_back(other);
  auto conflict = normalized_aot_index(index);
  REQUIRE_FALSE(conflict.ok());
  CHECK(contains(conflict.error(), "two different kernels for key a-1"));
}

TEST_CASE("a bad AOT index is an error naming the entry and field", "[runtime][aot]") {
  AotIndex index;
  index.attnjit_version = "0.1.0";
  index.entries = {sample_entry("a-1")};
  const std::string good = encode_aot_index(index);
  auto error_of = [](const std::string& text) {
    auto decoded = decode_aot_index(text);
    REQUIRE_FALSE(decoded.ok());
    return decoded.error();
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  CHECK(contains(error_of("not json"), "not JSON"));
  CHECK(contains(error_of(std::string(100, '[')), "nested deeper"));
  CHECK(contains(error_of(replaced("attnjit-aot-1", "attnjit-aot-9")), "not an attnjit AOT index"));
  CHECK(contains(error_of(replaced("\"sm_90\"", "\"sm_99\"")), "entry 0 (a-1): \"target\" names no target"));
  CHECK(contains(error_of(replaced("\"cubin\"", "\"hsaco\"")), "is not a binary of sm_90"));
  CHECK(contains(error_of(replaced(std::string(64, 'a') + "\"", std::string(63, 'a') + "\"")),
                 "\"sha256\" is not 64 lowercase hex digits"));
  // A file name that is not the one the content gives: no path can point elsewhere.
  CHECK(contains(error_of(replaced(std::string(64, 'a') + ".cubin", "../../etc/passwd")),
                 "\"file\" is '../../etc/passwd'"));
  CHECK(contains(error_of(replaced("\"threads\":128", "\"threads\":-1")), "\"threads\" must be"));
  CHECK(contains(error_of(replaced("\"symbol\":\"attnjit_prefill_x\",", "")), "\"symbol\" is missing"));

  index.entries = {sample_entry("b-2"), sample_entry("a-1")};  // not normalized
  CHECK(contains(error_of(encode_aot_index(index)), "out of key order"));
}

TEST_CASE("AOT builds are byte-identical whatever the threads and shards", "[runtime][aot]") {
  TempDir dir;
  const aot::BuildInputs inputs = test_inputs();
  const auto jobs = build_into(dir.path() / "one", dir.path() / "cache1", inputs, 1);
  build_into(dir.path() / "two", dir.path() / "cache2", inputs, 3);
  const auto one = snapshot(dir.path() / "one");
  CHECK(one == snapshot(dir.path() / "two"));
  CHECK(one.size() == jobs.size() + 1);  // the binaries and index.json

  // Every kernel the planner lists for each variant and target, and nothing else.
  size_t planned = 0;
  for (const ir::Variant& v : inputs.variant_sets[0].module.variants)
    for (const std::string& arch : inputs.archs) {
      auto table = TuningTable::embedded(arch);
      REQUIRE(table.ok());
      auto wgmma = TuningTable::embedded("sm_90a", Mainloop::wgmma);
      REQUIRE(wgmma.ok());
      auto specs = kernels_a_variant_can_need(v, arch, *table, &*wgmma);
      REQUIRE(specs.ok());
      planned += specs->size();
    }
  CHECK(jobs.size() == planned);

  build_into(dir.path() / "s0", dir.path() / "cache1", inputs, 1, 0, 2);
  build_into(dir.path() / "s1", dir.path() / "cache1", inputs, 1, 1, 2);
  auto merged = aot::merge_aot_directories(dir.path() / "merged", {dir.path() / "s1", dir.path() / "s0"});
  REQUIRE(merged.ok());
  CHECK(*merged == jobs.size());
  CHECK(snapshot(dir.path() / "merged") == one);

  // Rebuilding into the directory with fewer kinds leaves exactly the new build.
  aot::BuildInputs fewer = inputs;
  fewer.kinds = {KernelKind::merge};
  const auto merge_jobs = build_into(dir.path() / "one", dir.path() / "cache1", fewer);
  CHECK(snapshot(dir.path() / "one").size() == merge_jobs.size() + 1);
  CHECK(verify_aot_directory(dir.path() / "one").ok());

  // A directory of other files is never written into.
  fs::create_directories(dir.path() / "mine");
  write_file(dir.path() / "mine" / "notes.txt", "mine");
  auto refused = aot::write_aot_directory(dir.path() / "mine", {}, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.error(), "not an AOT directory"));
}

TEST_CASE("with JIT off the engine finds every planned kernel without a compiler",
          "[runtime][aot]") {
  TempDir dir;
  const aot::BuildInputs inputs = test_inputs();
  const auto jobs = build_into(dir.path() / "aot", dir.path() / "build-cache", inputs);
  FindingEngine f({dir.path() / "missing", dir.path() / "aot"}, dir.path() / "cache");
  for (const aot::Job& job : jobs) {
    auto built = f.engine->build(job.spec, job.format);
    REQUIRE(built.ok());
    CHECK(built->lookup.source == CacheSource::aot);
    CHECK(built->key == job.key);
    CHECK(contains(built->compiler, "fake 0.1-fake (AOT directory "));
  }
  CHECK(f.backend->calls.empty());
  // The missing directory is reported once, not on every lookup.
  auto again = f.engine->build(jobs.front().spec, jobs.front().format);
  REQUIRE(again.ok());
  CHECK(again->lookup.warning.empty());

  SECTION("another target's kernel is never served for sm_90a") {
    KernelSpec spec = jobs.front().spec;
    spec.arch = spec.arch == "sm_80" ? "sm_86" : "sm_90a";
    auto missing = f.engine->build(spec, BinaryFormat::cubin);
    REQUIRE_FALSE(missing.ok());
    CHECK(contains(missing.error().message, "is in no AOT directory"));
    CHECK(contains(missing.error().message, "attnjit aot build --variants"));
    CHECK(contains(missing.error().message, "--arch " + spec.arch));
    CHECK(f.backend->calls.empty());
  }
  const aot::Job& prefill = *std::find_if(jobs.begin(), jobs.end(), [](const aot::Job& j) {
    return j.spec.kind == KernelKind::prefill;
  });
  SECTION("a changed source (another tile) is not served") {
    KernelSpec spec = prefill.spec;
    spec.tile.stages += 1;
    auto missing = f.engine->build(spec, prefill.format);
    REQUIRE_FALSE(missing.ok());
    CHECK(contains(missing.error().message, "JIT compilation is off"));
  }
  SECTION("with JIT on, a kernel no directory holds is compiled") {
    FindingEngine jit({dir.path() / "aot"}, dir.path() / "cache", /*jit=*/true);
    KernelSpec spec = prefill.spec;
    spec.tile.stages += 1;
    auto compiled = jit.engine->build(spec, prefill.format);
    REQUIRE(compiled.ok());
    CHECK(compiled->lookup.source == CacheSource::compiled);
    CHECK(jit.backend->calls.size() == 1);
  }
}

TEST_CASE("sm_90 and sm_90a builds hold the wgmma kernels the engine looks up", "[runtime][aot][hopper]") {
  TempDir dir;
  for (const char* arch : {"sm_90", "sm_90a"}) {
    aot::BuildInputs inputs = test_inputs();
    inputs.archs = {arch};
    const fs::path out = dir.path() / arch;
    const auto jobs = build_into(out, dir.path() / "build-cache", inputs);
    std::vector<const aot::Job*> wgmma;
    for (const aot::Job& job : jobs)
      if (job.spec.mainloop == Mainloop::wgmma) wgmma.push_back(&job);
    // fake_llama (bf16, head dim 64, contiguous) has the prefill kernel; fake_paged
    // (bf16, head dim 128) the kernel of its prefill chunks.
    REQUIRE(wgmma.size() == 2);
    if (wgmma[0]->spec.kind != KernelKind::prefill) std::swap(wgmma[0], wgmma[1]);  // jobs come in key order
    CHECK(wgmma[0]->spec.variant.name == "fake_llama");
    CHECK(wgmma[0]->spec.kind == KernelKind::prefill);
    // configs/sm_90a.json at head dims 64 and 128, with its schedule switches; the chunk
    // kernel never takes the persistent grid.
    auto scheduled = [](TileConfig t) {
      t.softmax_overlap = t.pingpong = true;
      return t;
    };
    TileConfig persistent = scheduled(TileConfig{192, 128, 16, 3});
    persistent.persistent = true;
    CHECK(wgmma[0]->spec.tile == persistent);
    CHECK(wgmma[1]->spec.variant.name == "fake_paged");
    CHECK(wgmma[1]->spec.kind == KernelKind::paged);
    CHECK(wgmma[1]->spec.tile == scheduled(TileConfig{128, 128, 12, 2}));
    for (const aot::Job* job : wgmma) {
      CHECK(job->spec.arch == "sm_90a");
      CHECK(job->format == BinaryFormat::cubin);
    }
    // The mma.sync fallbacks are listed as well (the prefill kernel with the Hopper path off).
    CHECK(std::count_if(jobs.begin(), jobs.end(), [](const aot::Job& j) {
            return j.spec.kind == KernelKind::prefill && !j.spec.mainloop;
          }) == 1);

    // The engine's Hopper paths take exactly these specs, and find them with JIT off.
    FindingEngine f({out}, dir.path() / "cache");
    auto prefill = f.engine->wgmma_prefill_spec(wgmma[0]->spec.variant);
    auto paged = f.engine->wgmma_paged_spec(wgmma[1]->spec.variant);
    for (auto* spec : {&prefill, &paged}) {
      REQUIRE(spec->ok());
      REQUIRE((*spec)->has_value());
    }
    // Neither spec is the other variant's.
    CHECK_FALSE(f.engine->wgmma_paged_spec(wgmma[0]->spec.variant)->has_value());
    CHECK_FALSE(f.engine->wgmma_prefill_spec(wgmma[1]->spec.variant)->has_value());
    const KernelSpec specs[2] = {**prefill, **paged};
    for (int i = 0; i < 2; ++i) {
      const KernelSpec& spec = specs[i];
      CHECK(spec.uri() == wgmma[i]->spec.uri());
      auto built = f.engine->build(spec, BinaryFormat::cubin);
      REQUIRE(built.ok());
      CHECK(built->lookup.source == CacheSource::aot);
      CHECK(built->key == wgmma[i]->key);
    }
    CHECK(f.backend->calls.empty());
  }
  // An sm_80 build has none: its devices cannot run sm_90a binaries.
  aot::BuildInputs sm80 = test_inputs();
  sm80.archs = {"sm_80"};
  auto listed = aot::list_jobs(sm80);
  REQUIRE(listed.ok());
  CHECK(std::none_of(listed->begin(), listed->end(), [](const aot::Job& j) { return j.spec.mainloop.has_value(); }));
}

TEST_CASE("a bad AOT binary is reported and never served", "[runtime][aot]") {
  TempDir dir;
  const fs::path aot_dir = dir.path() / "aot";
  const auto jobs = build_into(aot_dir, dir.path() / "build-cache", test_inputs());
  auto index = read_aot_index(aot_dir);
  REQUIRE(index.ok());
  // The first job and its entry.
  const aot::Job& job = jobs.front();
  const AotIndexEntry& entry = index->entries.front();
  REQUIRE(entry.key == job.key);
  const fs::path binary = aot_dir / entry.file;
  const std::string good = read_file(binary);

  auto expect_refused = [&](const std::string& why) {
    FindingEngine f({aot_dir}, dir.path() / "cache");
    auto built = f.engine->build(job.spec, job.format);
    REQUIRE_FALSE(built.ok());
    FindingEngine jit({aot_dir}, dir.path() / "cache", true);
    auto rebuilt = jit.engine->build(job.spec, job.format);
    REQUIRE(rebuilt.ok());
    CHECK(rebuilt->lookup.source != CacheSource::aot);
    INFO(rebuilt->lookup.warning);
    CHECK(contains(rebuilt->lookup.warning, "AOT entry " + job.key));
    CHECK(contains(rebuilt->lookup.warning, why));
    const AotVerification v = verify_aot_directory(aot_dir);
    CHECK_FALSE(v.ok());
    CHECK(std::any_of(v.problems.begin(), v.problems.end(),
                      [&](const std::string& p) { return contains(p, why); }));
  };
  SECTION("a flipped byte") {
    std::string bytes = good;
    bytes[bytes.size() / 2] ^= 0x55;
    write_file(binary, bytes);
    expect_refused("SHA-256 is not the index's");
  }
  SECTION("a truncated file") {
    write_file(binary, good.substr(0, good.size() / 2));
    expect_refused("bytes, the index says");
  }
  SECTION("another kernel's binary in its place") {
    write_file(binary, read_file(aot_dir / index->entries.back().file));
    expect_refused(index->entries.back().size == entry.size ? "SHA-256" : "bytes, the index says");
  }
  SECTION("a binary for another arch, index edited to match it") {
    const int sm = entry.target == "sm_80" ? 90 : 80;
    const std::string other = testing::fake_cubin(sm, entry.symbol, "other arch");
    AotIndex edited = *index;
    AotIndexEntry& e = edited.entries.front();
    fs::remove(binary);
    e.sha256 = sha256_hex(other);
    e.size = other.size();
    e.file = aot_binary_file_name(e.sha256, e.format);
    write_file(aot_dir / e.file, other);
    write_file(aot_dir / kAotIndexFileName, encode_aot_index(edited));
    expect_refused("the CUBIN's ELF header says");
  }
  SECTION("a symlink instead of the binary") {
    fs::rename(binary, dir.path() / "elsewhere");
    fs::create_symlink(dir.path() / "elsewhere", binary);
    expect_refused(entry.file);
  }
  // The directory is never changed by a lookup.
  CHECK(fs::exists(aot_dir / kAotIndexFileName));
}

TEST_CASE("verify reports binaries the index does not list", "[runtime][aot]") {
  TempDir dir;
  const fs::path aot_dir = dir.path() / "aot";
  build_into(aot_dir, dir.path() / "build-cache", test_inputs());
  CHECK(verify_aot_directory(aot_dir).ok());
  write_file(aot_dir / (std::string(64, 'c') + ".cubin"), "stray");
  write_file(aot_dir / "README", "notes are fine");
  const AotVerification v = verify_aot_directory(aot_dir);
  REQUIRE(v.problems.size() == 1);
  CHECK(contains(v.problems[0], std::string(64, 'c') + ".cubin is not listed in the index"));
  fs::remove(aot_dir / kAotIndexFileName);
  CHECK(contains(verify_aot_directory(aot_dir).index_error, "index.json: no such file"));
}

TEST_CASE("a recorded kernel builds to the same AOT key", "[runtime][aot]") {
  TempDir dir;
  const fs::path record = dir.path() / "recorded.jsonl";
  EngineOptions options;
  options.cache.directory = dir.path() / "cache";
  options.aot_directories_from_env = false;
  options.backends[Vendor::cuda] = std::make_shared<FakeBackend>();
  options.record_file = record.string();
  Engine engine(options);
  auto listed = aot::list_jobs(test_inputs());
  REQUIRE(listed.ok());
  for (const aot::Job& job : *listed) REQUIRE(engine.build(job.spec, job.format).ok());
  REQUIRE(engine.build(listed->front().spec, listed->front().format).ok());  // once per key

  aot::BuildInputs from_record;
  from_record.kernel_files = {record.string()};
  auto replayed = aot::list_jobs(from_record);
  REQUIRE(replayed.ok());
  REQUIRE(replayed->size() == listed->size());
  for (size_t i = 0; i < listed->size(); ++i) CHECK((*replayed)[i].key == (*listed)[i].key);

  write_file(record, "{\"kind\": \"prefill\"}\n");
  auto bad = aot::list_jobs(from_record);
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error(), "recorded.jsonl:1: \"arch\" is not a target"));
}

TEST_CASE("shards are every N-th job and --shard is checked", "[runtime][aot]") {
  std::vector<aot::Job> jobs(5);
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].key = std::to_string(i);
  auto keys = [](const std::vector<aot::Job>& js) {
    std::string s;
    for (const aot::Job& j : js) s += j.key;
    return s;
  };
  CHECK(keys(aot::shard(jobs, 0, 2)) == "024");
  CHECK(keys(aot::shard(jobs, 1, 2)) == "13");
  CHECK(keys(aot::shard(jobs, 0, 1)) == "01234");
  CHECK(aot::parse_shard("1/4").ok());
  for (const char* bad : {"4/4", "-1/4", "1/0", "1", "a/b", "1/4x", ""})
    CHECK_FALSE(aot::parse_shard(bad).ok());
}
