// The engine's one compile path with a fake compiler backend in NVRTC's place: which
// target and format reach the backend, what the cache key names, what is refused
// before any compile. Needs no NVRTC.
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catch.h"
#include "compiler/codegen/codegen.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/backend/backend.h"
#include "compiler/passes/pipeline.h"
#include "fake_backend.h"
#include "runtime/api/engine.h"
#include "temp_dir.h"

namespace {

using namespace attnjit;

using testing::FakeBackend;

ir::Variant test_variant() {
  const std::string text =
      "variant fake_llama { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16;\n"
      "  kv_cache = contiguous; mask = causal; }\n";
  auto module = compile_variants(SourceFile{"<test>", text});
  REQUIRE(module.ok());
  return module->variants.at(0);
}

struct FakeEngine {
  testing::TempDir dir;
  std::shared_ptr<FakeBackend> backend = std::make_shared<FakeBackend>();
  std::unique_ptr<Engine> engine;

  FakeEngine() {
    EngineOptions options;
    options.cache.directory = dir.path() / "cache";
    options.backends[Vendor::cuda] = backend;
    engine = std::make_unique<Engine>(options);
  }
  KernelSpec spec(const std::string& arch, KernelKind kind = KernelKind::prefill) {
    auto made = engine->make_spec(test_variant(), kind, arch);
    REQUIRE(made.ok());
    return *made;
  }
};

}  // namespace

TEST_CASE("the engine compiles through the backend it is given", "[engine][backend]") {
  FakeEngine f;
  auto backend = f.engine->backend(*find_target("sm_80"));
  REQUIRE(backend.ok());
  CHECK(backend->get() == f.backend.get());

  const KernelSpec spec = f.spec("sm_90");
  auto compiled = f.engine->compile(spec);
  INFO((compiled.ok() ? "" : compiled.error().describe()));
  REQUIRE(compiled.ok());
  REQUIRE(f.backend->calls.size() == 1);
  CHECK(f.backend->calls[0].target == "sm_90");
  CHECK(f.backend->calls[0].format == BinaryFormat::cubin);
  CHECK(compiled->compiler == "fake backend 0.1");
  CHECK(compiled->lookup.source == CacheSource::compiled);
  CHECK(compiled->lookup.artifact.format == BinaryFormat::cubin);
  CHECK(compiled->key.rfind(spec.uri() + "-", 0) == 0);

  // The second lookup is served from memory: the backend is not asked again.
  auto again = f.engine->compile(spec);
  REQUIRE(again.ok());
  CHECK(again->lookup.source == CacheSource::memory);
  CHECK(again->key == compiled->key);
  CHECK(f.backend->calls.size() == 1);

  // The key hashes the backend's options and version: the same spec compiled by
  // another backend version gets another key.
  const Target& sm90 = *find_target("sm_90");
  CHECK(compiled->key == cache_key(*render_kernel(spec), f.backend->options_for(sm90, {}),
                                   "0.1-fake", "sm_90"));
  CHECK(compiled->key != cache_key(*render_kernel(spec), f.backend->options_for(sm90, {}),
                                   "0.2-fake", "sm_90"));
}

TEST_CASE("Engine::build builds the format asked for, under its own key", "[engine][backend]") {
  FakeEngine f;
  const KernelSpec spec = f.spec("sm_86");
  auto cubin = f.engine->build(spec, BinaryFormat::cubin);
  auto ptx = f.engine->build(spec, BinaryFormat::ptx);
  REQUIRE(cubin.ok());
  REQUIRE(ptx.ok());
  CHECK(ptx->lookup.artifact.format == BinaryFormat::ptx);
  CHECK(ptx->lookup.artifact.binary.find(".target sm_86") != std::string::npos);
  CHECK(ptx->key != cubin->key);
  REQUIRE(f.backend->calls.size() == 2);
  CHECK(f.backend->calls[1].target == "sm_86");
  CHECK(f.backend->calls[1].format == BinaryFormat::ptx);

  // A format the target has no binary of is refused before the backend is asked.
  auto hsaco = f.engine->build(spec, BinaryFormat::hsaco);
  REQUIRE_FALSE(hsaco.ok());
  CHECK(hsaco.error().message == "sm_86 has no hsaco binaries");
  CHECK(f.backend->calls.size() == 2);
}

TEST_CASE("sm_90 and sm_90a kernels are built and cached apart", "[engine][backend][targets]") {
  FakeEngine f;
  auto plain = f.engine->compile(f.spec("sm_90"));
  auto specific = f.engine->compile(f.spec("sm_90a"));
  REQUIRE(plain.ok());
  REQUIRE(specific.ok());
  CHECK(plain->key != specific->key);
  CHECK(specific->lookup.source == CacheSource::compiled);
  REQUIRE(f.backend->calls.size() == 2);
  CHECK(f.backend->calls[1].target == "sm_90a");

  // A new engine on the same disk cache finds each one's own entry.
  EngineOptions options;
  options.cache.directory = f.dir.path() / "cache";
  options.backends[Vendor::cuda] = f.backend;
  Engine reader(options);
  auto again = reader.compile(f.spec("sm_90a"));
  REQUIRE(again.ok());
  CHECK(again->lookup.source == CacheSource::disk);
  CHECK(again->key == specific->key);
  CHECK(f.backend->calls.size() == 2);
}

TEST_CASE("the engine refuses what no target builds, before compiling", "[engine][backend]") {
  FakeEngine f;
  auto unknown = f.engine->make_spec(test_variant(), KernelKind::prefill, "sm_75");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error() ==
        "unsupported arch 'sm_75' (supported: sm_80, sm_86, sm_89, sm_90, sm_90a, gfx90a, gfx942)");

  KernelSpec spec = f.spec("sm_90");
  spec.arch = "sm_87";  // a device name, not a target
  auto built = f.engine->compile(spec);
  REQUIRE_FALSE(built.ok());
  CHECK(built.error().message.rfind("unsupported arch 'sm_87'", 0) == 0);
  CHECK(f.backend->calls.empty());
}

TEST_CASE("AMD targets: prefill and the row kernels have specs", "[engine][backend]") {
  FakeEngine f;
  for (const char* arch : {"gfx90a", "gfx942"}) {
    // The MFMA main loop: waves of 64 lanes, 32 query rows each.
    auto prefill = f.engine->make_spec(test_variant(), KernelKind::prefill, arch);
    REQUIRE(prefill.ok());
    CHECK(geometry_of(*prefill).threads == prefill->tile.warps * 64);
    CHECK(prefill->tile.block_m == 32 * prefill->tile.warps);
    CHECK(unsupported_spec(*prefill) == "");
    // The simt kernels: merge's warps are 64-lane wavefronts.
    auto merge = f.engine->make_spec(test_variant(), KernelKind::merge, arch);
    REQUIRE(merge.ok());
    CHECK(geometry_of(*merge).threads == merge->tile.warps * 64);
  }
  for (const char* arch : {"gfx999", "gfx908", "gfx1100"}) {
    auto spec = f.engine->make_spec(test_variant(), KernelKind::prefill, arch);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.error().rfind(fmt::format("unsupported arch '{}' (supported: ", arch), 0) == 0);
  }
  CHECK(f.backend->calls.empty());
}

TEST_CASE("a failed compile is the backend's CompileError", "[engine][backend]") {
  FakeEngine f;
  f.backend->failure = "fake compiler failed";
  auto compiled = f.engine->compile(f.spec("sm_80"));
  REQUIRE_FALSE(compiled.ok());
  CHECK(compiled.error().message == "fake compiler failed");
  CHECK(compiled.error().log == "fake log");
  CHECK(compiled.error().options == std::vector<std::string>{"--fake-arch=sm_80"});
  REQUIRE(f.backend->calls.size() == 1);
  CHECK(f.backend->calls[0].target == "sm_80");
}

TEST_CASE("the HIP backend is hiprtc and the offline clang, or an error naming both",
          "[engine][backend]") {
  auto hip = open_default_backend(Vendor::hip);
  if (!hip.ok()) {
    CHECK(hip.error().rfind("no compiler for HIP targets:\nhiprtc not found", 0) == 0);
    CHECK(hip.error().find("no clang for HIP found") != std::string::npos);
    return;
  }
  CHECK((*hip)->name() == "hip");
  CHECK(dynamic_cast<const HipCompilers*>(hip->get()) != nullptr);
}
