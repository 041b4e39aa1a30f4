// Code generation and the NVRTC backend on the default variant set: golden generated
// source, determinism, every variant compiling to a CUBIN for sm_80 and sm_90.
// Goldens are rewritten only when ATTNJIT_UPDATE_GOLDENS=1 is set.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "catch.h"
#include "compiler/backend/nvrtc_compiler.h"
#include "compiler/codegen/codegen.h"
#include "compiler/codegen/dialect.h"
#include "compiler/codegen/render_expr.h"
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

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

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

TEST_CASE("recognized score forms reach the kernel as the ScoreTransform hook", "[codegen]") {
  const char* head = "heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
                     "kv_cache = contiguous; mask = causal; ";
  auto form_of = [&](const std::string& body) {
    auto src = render_kernel(spec_for(variant_from(std::string("variant s { ") + head + body + " }"), "sm_90"));
    REQUIRE(src.ok());
    return src->text;
  };
  const std::string softcap = form_of("param cap : f32 = 30; score = softcap(cap);");
  CHECK(has(softcap, "using ScoreTransform = attnjit::SoftCapScore<VariantHooks, kKeyBiasStart>;"));
  CHECK(has(softcap, "float soft_cap([[maybe_unused]] const AttnjitVariantArgs& args)"));
  CHECK_FALSE(has(softcap, "float score("));  // the form needs only the cap
  const std::string alibi = form_of("input slope : f32[q_heads]; score = alibi(slope);");
  CHECK(has(alibi, "using ScoreTransform = attnjit::LinearBiasScore<VariantHooks, kKeyBiasStart>;"));
  CHECK(has(alibi, "float position_slope("));
  // A cap that varies per head is not fixed per launch: the general hook runs.
  const std::string per_head = form_of("input cap : f32[q_heads]; score = cap[q_head] * tanh(score / cap[q_head]);");
  CHECK(has(per_head, "using ScoreTransform = attnjit::GeneralScore<VariantHooks, kKeyBiasStart>;"));
  CHECK(has(per_head, "float score(\n      [[maybe_unused]] float score"));
  CHECK(has(form_of(""), "using ScoreTransform = attnjit::PlainScore<VariantHooks, kKeyBiasStart>;"));
}

TEST_CASE("the main loop knows no score form: only the shared pieces do", "[codegen]") {
  auto core = embedded_file("templates/kernels/attention_core.cuh");
  REQUIRE(core.has_value());
  const std::string text(*core);
  for (const char* form_detail : {"soft_cap", "position_slope", "tanh", "Hooks::score(", "SoftCap", "LinearBias"}) {
    INFO(form_detail);
    CHECK_FALSE(has(text, form_detail));
  }
  // The shared pieces come before the main loop, the transforms before the hooks that pick one.
  auto src = render_kernel(spec_for(default_variants().variants.at(0), "sm_90"));
  REQUIRE(src.ok());
  const std::string& s = src->text;
  const size_t transforms = s.find("// ---- templates/common/score_transforms.cuh ----");
  const size_t hooks = s.find("struct VariantHooks {");
  const size_t mask = s.find("// ---- templates/common/key_mask.cuh ----");
  const size_t softmax = s.find("// ---- templates/common/online_softmax.cuh ----");
  const size_t epilogue = s.find("// ---- templates/common/epilogue.cuh ----");
  const size_t mainloop = s.find("// ---- templates/kernels/attention_core.cuh ----");
  CHECK(transforms < hooks);
  CHECK(hooks < mask);
  CHECK(mask < softmax);
  CHECK(softmax < epilogue);
  CHECK(epilogue < mainloop);
  CHECK(mainloop != std::string::npos);
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
    auto artifact = (*nvrtc)->compile(*src, *attnjit::find_target(arch), CompileOptions{});
    INFO(arch << ": " << (artifact.ok() ? "" : artifact.error().describe()));
    REQUIRE(artifact.ok());
    CHECK(is_elf(artifact->binary));
    INFO(warnings_of(*artifact));
    CHECK(artifact->warnings().empty());
  }
  auto src = render_kernel(spec_for(v, "sm_90"));
  REQUIRE(src.ok());
  CompileOptions ptx;
  ptx.format = BinaryFormat::ptx;
  auto artifact = (*nvrtc)->compile(*src, *attnjit::find_target("sm_90"), ptx);
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

namespace {

// The rendered score or mask of a one-variant DSL text (heads 8 / 2).
std::string rendered(const std::string& key, const std::string& expr,
                     const std::string& declarations = "") {
  ir::Variant v = variant_from("variant r { heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; "
                               "out = bf16; kv_cache = contiguous; " + declarations + " " + key +
                               " = " + expr + "; }");
  const ir::ExprRef& e = key == "mask" ? v.mask : v.score;
  REQUIRE(e != nullptr);
  auto text = render_expr(e, key == "mask" ? ExprRole::mask : ExprRole::score,
                          dialect_for(Vendor::cuda), v);
  REQUIRE(text.ok());
  return *text;
}

}  // namespace

TEST_CASE("integer widths follow the ranges: int where 32 bits suffice, else long long",
          "[codegen][numeric]") {
  // q_pos * 65536 needs 48 bits; the remainder of it fits but is computed in 64.
  CHECK(rendered("mask", "causal && (q_pos * 65536 + kv_pos) % 7 != 0") ==
        "((kv_pos <= q_pos) && ((((static_cast<long long>(q_pos) * 65536LL) + "
        "static_cast<long long>(kv_pos)) % 7LL) != 0LL))");
  CHECK(rendered("mask", "kv_pos % 3 != 1") == "((kv_pos % 3) != 1)");
  CHECK(rendered("mask", "q_pos - kv_pos < 4096") == "((q_pos - kv_pos) < 4096)");
  // A constant beyond 32 bits makes its comparison 64-bit.
  CHECK(rendered("mask", "q_pos - kv_pos <= 3000000000 && kv_head == 0") ==
        "((static_cast<long long>((q_pos - kv_pos)) <= 3000000000LL) && (kv_head == 0))");
  CHECK(rendered("mask", "q_pos + kv_pos < 5") ==
        "((static_cast<long long>(q_pos) + static_cast<long long>(kv_pos)) < 5LL)");
  // 64-bit min, max and abs take their long long overloads.
  const std::string wide = rendered("mask", "min(q_pos * 4, 3000000000) + abs(kv_pos - 4000000000) > max(kv_len, 1) * 2");
  CHECK(has(wide, "min((static_cast<long long>(q_pos) * 4LL), 3000000000LL)"));
  CHECK(has(wide, "llabs((static_cast<long long>(kv_pos) - 4000000000LL))"));
  CHECK(has(wide, "max(kv_len, 1)"));
  // The most negative integers have no literal of their own.
  // (-9223372036854775807 reads as the double -2^63, the most negative integer.)
  CHECK(rendered("mask", "kv_pos + -9223372036854775807 < q_pos") ==
        "((static_cast<long long>(kv_pos) + (-9223372036854775807LL - 1)) < static_cast<long long>(q_pos))");
  // Integer scores: exact, then one conversion to float.
  CHECK(rendered("score", "score + (q_pos * 65536 + kv_pos) % 7") ==
        "(score + static_cast<float>((((static_cast<long long>(q_pos) * 65536LL) + "
        "static_cast<long long>(kv_pos)) % 7LL)))");
}

TEST_CASE("masks compute reals with correctly rounded, unfused operations", "[codegen][numeric]") {
  // Exact conversions and __f*_rn in masks, so a tie decides as in the reference.
  CHECK(rendered("mask", "kv_pos <= q_pos / 3") ==
        "(static_cast<float>(kv_pos) <= __fdiv_rn(static_cast<float>(q_pos), 3.0f))");
  CHECK(rendered("mask", "kv_pos * 0.5 + 1.5 < q_pos - sqrt(q_len)") ==
        "(__fadd_rn(__fmul_rn(static_cast<float>(kv_pos), 0.5f), 1.5f) < "
        "__fsub_rn(static_cast<float>(q_pos), __fsqrt_rn(static_cast<float>(q_len))))");
  CHECK(rendered("mask", "kv_pos < q_pos / w", "param w : f32 = 3;") ==
        "(static_cast<float>(kv_pos) < __fdiv_rn(static_cast<float>(q_pos), args.params[0]))");
  // Scores keep the fast forms: a reciprocal for a constant divisor, float positions.
  CHECK(rendered("score", "score / 3 + (kv_pos - q_pos)") ==
        "((score * (1.0f / 3.0f)) + (at.kv_pos_f - at.q_pos_f))");
  // ... but not where float positions would round the integers away.
  CHECK(rendered("score", "score + (kv_pos + 3000000000 - 3000000000)") ==
        "(score + static_cast<float>(((static_cast<long long>(kv_pos) + 3000000000LL) - 3000000000LL)))");
}

TEST_CASE("band constants stay within 32 bits: wider windows are no bound", "[codegen][numeric]") {
  const char* head = "heads = 4 / 4; head_dim = 64; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; ";
  for (const char* mask : {"causal && window(4294967296)", "causal && window(1e18)",
                           "causal && q_pos - kv_pos < 2147483647"}) {
    INFO(mask);
    auto src = render_kernel(spec_for(variant_from(std::string("variant w { ") + head + "mask = " + mask + "; }"), "sm_90"));
    REQUIRE(src.ok());
    CHECK(has(src->text, "kHasLowerBand = false"));
    CHECK(has(src->text, "kHasUpperBand = true"));
    CHECK(has(src->text, "kBandIsExact = true"));
  }
  auto never = render_kernel(spec_for(variant_from(std::string("variant n { ") + head +
                                                   "mask = kv_pos >= q_pos + 3000000000; }"), "sm_90"));
  REQUIRE(never.ok());
  CHECK(has(never->text, "kLowerOffset = 2147483647;"));
  // A band built in code is clamped the same way.
  ir::Variant v = variant_from(std::string("variant c { ") + head + "mask = causal; }");
  v.band.upper_offset = -5000000000LL;
  v.band.lower_offset = -5000000000LL;
  auto clamped = render_kernel(spec_for(v, "sm_90"));
  REQUIRE(clamped.ok());
  CHECK(has(clamped->text, "kUpperOffset = -2147483647;"));
  CHECK(has(clamped->text, "kHasLowerBand = false"));
}

TEST_CASE("every numeric construct compiles without an NVRTC warning", "[codegen][nvrtc][numeric]") {
  auto nvrtc = NvrtcCompiler::open();
  REQUIRE(nvrtc.ok());
  const char* head = "heads = 8 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16; kv_cache = contiguous; ";
  const char* variants[] = {
      "mask = causal && (q_pos * 65536 + kv_pos) % 7 != 0;",
      "mask = causal && window(4294967296) && kv_head == 0;",
      "mask = causal && window(1e18);",
      "mask = kv_pos >= q_pos + 3000000000 || kv_pos < 3;",
      "mask = kv_pos <= q_pos / 3 && kv_pos * 0.5 + 1e-40 < sqrt(q_len) * 100 + q_pos;",
      "mask = q_pos % (kv_head + 1) == 0 || kv_pos % kv_len + -9223372036854775807 > q_pos;",
      "mask = min(q_pos * 4, 3000000000) + abs(kv_pos - 4000000000) > max(kv_len, 1) * 2 + seq;",
      "mask = select(q_head < 4, q_pos * 3000000000, -kv_pos) < 2 * 3000000000 + kv_pos;",
      "score = score * 1e30 * 1e30 + (q_pos * 65536 + kv_pos) % 7 + q_pos / 3000000000; mask = causal;",
      "score = score + abs(q_pos * 3000000000) % 5 + max(score, 3.4028235e38) * 0; mask = causal;",
  };
  for (const char* body : variants) {
    INFO(body);
    auto src = render_kernel(spec_for(variant_from(std::string("variant n { ") + head + body + " }"), "sm_90"));
    REQUIRE(src.ok());
    auto artifact = (*nvrtc)->compile(*src, *attnjit::find_target("sm_90"), CompileOptions{});
    INFO((artifact.ok() ? artifact->log : artifact.error().describe()));
    REQUIRE(artifact.ok());
    CHECK(artifact->log.find("warning") == std::string::npos);
  }
}
