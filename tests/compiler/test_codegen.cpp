// Code generation and the NVRTC backend on the default variant set: golden generated
// source, determinism, every variant compiling to a CUBIN for sm_80 and sm_90.
// Goldens are rewritten only when ATTNJIT_UPDATE_GOLDENS=1 is set.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "catch.h"
#include "compiler/codegen/codegen.h"
#include "compiler/passes/pipeline.h"
#include "compiler/support/embedded_files.h"
#include "runtime/api/engine.h"

namespace {

using namespace attnjit;

ir::Module default_variants() {
  auto text = embedded_file("configs/variants/default.attn");
  REQUIRE(text.has_value());
  auto module = compile_variants(SourceFile{"default.attn", std::string(*text)});
  REQUIRE(module.ok());
  return *module;
}

ir::Variant variant_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<test>", text}));
  return module->variants.at(0);
}

KernelSpec spec_for(const ir::Variant& v, const std::string& arch) {
  Engine engine;
  auto spec = engine.make_spec(v, KernelKind::prefill, arch);
  REQUIRE(spec.ok());
  return *spec;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_elf(const std::string& bytes) { return bytes.size() > 4 && bytes.compare(0, 4, "\x7f" "ELF") == 0; }

// NVRTC's warnings on generated source, joined for a failure message.
std::string warnings_of(const Artifact& artifact) {
  std::string text;
  for (const std::string& w : artifact.warnings()) text += w + "\n";
  return text;
}

}  // namespace

TEST_CASE("generated source matches the goldens", "[codegen]") {
  const std::filesystem::path dir = std::filesystem::path(ATTNJIT_SOURCE_DIR) / "tests/compiler/golden";
  const char* flag = std::getenv("ATTNJIT_UPDATE_GOLDENS");
  const bool update = flag != nullptr && std::string(flag) == "1";
  for (const ir::Variant& v : default_variants().variants) {
    auto src = render_kernel(spec_for(v, "sm_90"));
    REQUIRE(src.ok());
    const auto path = dir / (v.name + ".sm_90.cu");
    if (update) {
      std::ofstream(path, std::ios::binary) << src->text;
      continue;
    }
    INFO("golden " << path.string() << " (regenerate with ATTNJIT_UPDATE_GOLDENS=1)");
    REQUIRE(std::filesystem::exists(path));
    CHECK(read_file(path) == src->text);
  }
}

TEST_CASE("generated source is deterministic and names variant and uri", "[codegen]") {
  ir::Variant v = default_variants().variants.at(0);
  KernelSpec spec = spec_for(v, "sm_90");
  auto a = render_kernel(spec);
  auto b = render_kernel(spec);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->text == b->text);
  CHECK(a->text.rfind("// attnjit generated kernel: variant " + v.name, 0) == 0);
  CHECK(a->text.find("// uri: " + spec.uri()) != std::string::npos);
  CHECK(a->text.find("#include") == std::string::npos);  // no toolkit headers
}

TEST_CASE("the causal band reaches the kernel as hook constants", "[codegen]") {
  auto causal = render_kernel(spec_for(variant_from(
      "variant c { heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = contiguous; mask = causal; }"), "sm_90"));
  REQUIRE(causal.ok());
  CHECK(causal->text.find("kHasUpperBand = true") != std::string::npos);
  CHECK(causal->text.find("kUpperOffset = 0") != std::string::npos);
  CHECK(causal->text.find("kBandIsExact = true") != std::string::npos);

  auto bidir = render_kernel(spec_for(variant_from(
      "variant b { heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = contiguous; }"), "sm_90"));
  REQUIRE(bidir.ok());
  CHECK(bidir->text.find("kHasUpperBand = false") != std::string::npos);
  CHECK(bidir->text.find("kHasLowerBand = false") != std::string::npos);
}

TEST_CASE("recognized score forms reach the kernel as hook constants", "[codegen]") {
  const char* head = "heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
                     "kv_cache = contiguous; mask = causal; ";
  auto softcap = render_kernel(spec_for(variant_from(std::string("variant s { ") + head +
                                                     "param cap : f32 = 30; score = softcap(cap); }"),
                                        "sm_90"));
  REQUIRE(softcap.ok());
  CHECK(softcap->text.find("kSoftCap = true") != std::string::npos);
  CHECK(softcap->text.find("kLinearPositionBias = false") != std::string::npos);
  auto alibi = render_kernel(spec_for(variant_from(std::string("variant a { ") + head +
                                                   "input slope : f32[q_heads]; score = alibi(slope); }"),
                                      "sm_90"));
  REQUIRE(alibi.ok());
  CHECK(alibi->text.find("kSoftCap = false") != std::string::npos);
  CHECK(alibi->text.find("kLinearPositionBias = true") != std::string::npos);
  // A cap that varies per head is not fixed per launch: the general hook runs.
  auto per_head = render_kernel(spec_for(variant_from(std::string("variant h { ") + head +
                                                      "input cap : f32[q_heads]; "
                                                      "score = cap[q_head] * tanh(score / cap[q_head]); }"),
                                         "sm_90"));
  REQUIRE(per_head.ok());
  CHECK(per_head->text.find("kSoftCap = false") != std::string::npos);
}

TEST_CASE("ATTNJIT_TEMPLATE_DIR replaces embedded templates", "[codegen]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnjit-templates-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "templates/kernels");
  auto original = embedded_file("templates/kernels/position.h");
  REQUIRE(original.has_value());
  std::ofstream(dir / "templates/kernels/position.h")
      << "// replaced for the template-dir test\n" << *original;
  const ir::Variant v = variant_from(
      "variant t { heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = contiguous; }");
  ::setenv("ATTNJIT_TEMPLATE_DIR", dir.c_str(), 1);
  auto replaced = render_kernel(spec_for(v, "sm_90"));
  // Only templates/ is searched: configs stay embedded.
  const bool config_embedded = embedded_file("configs/sm_90.json").has_value();
  ::unsetenv("ATTNJIT_TEMPLATE_DIR");
  auto embedded = render_kernel(spec_for(v, "sm_90"));
  std::filesystem::remove_all(dir);
  REQUIRE(replaced.ok());
  REQUIRE(embedded.ok());
  CHECK(replaced->text.find("replaced for the template-dir test") != std::string::npos);
  CHECK(embedded->text.find("replaced for the template-dir test") == std::string::npos);
  CHECK(config_embedded);
}

TEST_CASE("codegen refuses what the prefill kernel cannot run", "[codegen]") {
  ir::Variant v = variant_from(
      "variant p { heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
      "kv_cache = paged(page_size = 16); }");
  KernelSpec spec;
  spec.variant = v;
  spec.tile = TileConfig{64, 64, 4, 2};
  auto src = render_kernel(spec);
  REQUIRE_FALSE(src.ok());
  CHECK(src.error().find("paged") != std::string::npos);

  spec.variant = default_variants().variants.at(0);
  spec.tile = TileConfig{96, 64, 4, 2};  // block_m is neither 16 nor 32 rows per warp
  auto bad_tile = render_kernel(spec);
  REQUIRE_FALSE(bad_tile.ok());
  CHECK(bad_tile.error().find("tile") != std::string::npos);
}

TEST_CASE("every default variant compiles to a CUBIN for sm_80 and sm_90", "[codegen][nvrtc]") {
  const auto dir = std::filesystem::temp_directory_path() / "attnjit-test-codegen-cache";
  std::filesystem::remove_all(dir);
  EngineOptions options;
  options.cache.directory = dir;
  Engine engine(options);
  for (const char* arch : {"sm_80", "sm_90"}) {
    for (const ir::Variant& v : default_variants().variants) {
      auto spec = engine.make_spec(v, KernelKind::prefill, arch);
      REQUIRE(spec.ok());
      auto compiled = engine.compile(*spec);
      INFO(v.name << " " << arch << ": " << (compiled.ok() ? "" : compiled.error().describe()));
      REQUIRE(compiled.ok());
      CHECK(compiled->lookup.artifact.format == BinaryFormat::cubin);
      CHECK(is_elf(compiled->lookup.artifact.binary));
      INFO(warnings_of(compiled->lookup.artifact));
      CHECK(compiled->lookup.artifact.warnings().empty());
      CHECK(compiled->lookup.source == CacheSource::compiled);
      CHECK(compiled->key.rfind(spec->uri() + "-", 0) == 0);
      // The same spec again is a memory hit with the same key.
      auto again = engine.compile(*spec);
      REQUIRE(again.ok());
      CHECK(again->lookup.source == CacheSource::memory);
      CHECK(again->key == compiled->key);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("every paged variant compiles in each kind it serves for sm_80 and sm_90",
          "[codegen][nvrtc]") {
  auto text = embedded_file("configs/variants/paged.attn");
  REQUIRE(text.has_value());
  auto module = compile_variants(SourceFile{"paged.attn", std::string(*text)});
  REQUIRE(module.ok());
  const auto dir = std::filesystem::temp_directory_path() / "attnjit-test-paged-cache";
  std::filesystem::remove_all(dir);
  EngineOptions options;
  options.cache.directory = dir;
  Engine engine(options);
  for (const char* arch : {"sm_80", "sm_90"}) {
    for (const ir::Variant& v : module->variants) {
      struct Build {
        KernelKind kind;
        const char* tuning;
        KvSplit split;
      } builds[] = {{KernelKind::paged, "", KvSplit::none},
                    {KernelKind::paged, "paged_decode", KvSplit::none},
                    {KernelKind::paged, "paged_decode", KvSplit::segments},
                    {KernelKind::paged, "paged_decode", KvSplit::stream},
                    {KernelKind::merge, "", KvSplit::segments},
                    {KernelKind::cache_write, "", KvSplit::none}};
      for (const Build& b : builds) {
        auto spec = engine.make_spec(v, b.kind, arch, b.tuning);
        INFO(v.name << " " << arch << " " << kernel_kind_name(b.kind) << " " << b.tuning
                    << " split " << static_cast<int>(b.split) << ": "
                    << (spec.ok() ? "" : spec.error()));
        REQUIRE(spec.ok());
        spec->kv_split = b.split;
        auto compiled = engine.compile(*spec);
        INFO((compiled.ok() ? "" : compiled.error().describe()));
        REQUIRE(compiled.ok());
        CHECK(is_elf(compiled->lookup.artifact.binary));
        INFO(warnings_of(compiled->lookup.artifact));
        CHECK(compiled->lookup.artifact.warnings().empty());
      }
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the other CUDA archs and PTX output compile", "[codegen][nvrtc]") {
  ir::Variant v = default_variants().variants.at(0);
  auto nvrtc = NvrtcCompiler::open();
  REQUIRE(nvrtc.ok());
  for (const char* arch : {"sm_86", "sm_89", "sm_90a"}) {
    auto src = render_kernel(spec_for(v, arch));
    REQUIRE(src.ok());
    CompileOptions options;
    options.arch = arch;
    auto artifact = (*nvrtc)->compile(*src, options);
    INFO(arch << ": " << (artifact.ok() ? "" : artifact.error().describe()));
    REQUIRE(artifact.ok());
    CHECK(is_elf(artifact->binary));
    INFO(warnings_of(*artifact));
    CHECK(artifact->warnings().empty());
  }
  auto src = render_kernel(spec_for(v, "sm_90"));
  REQUIRE(src.ok());
  CompileOptions ptx;
  ptx.arch = "sm_90";
  ptx.format = BinaryFormat::ptx;
  auto artifact = (*nvrtc)->compile(*src, ptx);
  REQUIRE(artifact.ok());
  INFO(warnings_of(*artifact));
  CHECK(artifact->warnings().empty());
  CHECK(artifact->binary.find(".entry " + src->entry) != std::string::npos);
  CHECK(artifact->binary.find("mma.sync.aligned.m16n8k16") != std::string::npos);
  CHECK(artifact->binary.find("ldmatrix") != std::string::npos);
  CHECK(artifact->binary.find("cp.async") != std::string::npos);
}

TEST_CASE("the cache key changes with everything that changes the binary", "[codegen]") {
  GeneratedSource src{"kernel text", "entry", "prefill.x"};
  const std::string base = cache_key(src, {"-a"}, "13.0", "sm_90");
  CHECK(base.rfind("prefill.x-", 0) == 0);
  CHECK(cache_key(src, {"-a"}, "13.0", "sm_90") == base);
  GeneratedSource other = src;
  other.text += " ";
  CHECK(cache_key(other, {"-a"}, "13.0", "sm_90") != base);
  CHECK(cache_key(src, {"-b"}, "13.0", "sm_90") != base);
  CHECK(cache_key(src, {"-a"}, "12.8", "sm_90") != base);
  CHECK(cache_key(src, {"-a"}, "13.0", "sm_80") != base);
}
