// print_dsl must read back to the same IR: for the lowered IR of every valid text
// case and the default variants, and for the canonical IR (which must also be a fixed
// point of canonicalization).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catch.h"
#include "compiler/front/parser.h"
#include "compiler/ir/lower.h"
#include "compiler/ir/print.h"
#include "compiler/passes/canonicalize.h"
#include "compiler/passes/mask_analysis.h"
#include "compiler/passes/pipeline.h"

namespace fs = std::filesystem;
using namespace attnjit;

namespace {

std::vector<fs::path> valid_sources() {
  std::vector<fs::path> files;
  fs::path root(ATTNJIT_SOURCE_DIR);
  for (const fs::directory_entry& e : fs::directory_iterator(root / "tests" / "front" / "cases"))
    if (e.path().extension() == ".attn" && e.path().filename().string().rfind("ok_", 0) == 0)
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  files.push_back(root / "configs" / "variants" / "default.attn");
  return files;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Parse and lower only (no passes); fails the test with the diagnostics otherwise.
ir::Module lower_text(const SourceFile& file) {
  auto tree = front::parse(file);
  INFO((tree.ok() ? std::string() : render(tree.error(), file)));
  REQUIRE(tree.ok());
  auto module = ir::lower(*tree);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return std::move(*module);
}

ir::Module compile_text(const SourceFile& file) {
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return std::move(*module);
}

void require_same(const ir::Module& a, const ir::Module& b) {
  REQUIRE(a.variants.size() == b.variants.size());
  for (size_t i = 0; i < a.variants.size(); ++i) {
    INFO("variant " << a.variants[i].name << "\n" << ir::print_ir(a.variants[i]) << "versus\n"
                    << ir::print_ir(b.variants[i]));
    CHECK(ir::same_variant(a.variants[i], b.variants[i]));
  }
}

}  // namespace

TEST_CASE("print_dsl of lowered IR parses back to the same IR", "[front]") {
  for (const fs::path& path : valid_sources()) {
    INFO("source " << path.filename().string());
    ir::Module first = lower_text({path.filename().string(), read_text(path)});
    std::string printed = ir::print_dsl(first);
    INFO("printed:\n" << printed);
    ir::Module second = lower_text({"<printed>", printed});
    require_same(first, second);
  }
}

TEST_CASE("print_dsl of canonical IR compiles back to the same canonical IR", "[front]") {
  for (const fs::path& path : valid_sources()) {
    INFO("source " << path.filename().string());
    ir::Module first = compile_text({path.filename().string(), read_text(path)});
    std::string printed = ir::print_dsl(first);
    INFO("printed:\n" << printed);
    require_same(first, compile_text({"<printed>", printed}));

    // Canonical IR is a fixed point of the passes.
    ir::Module again = first;
    for (ir::Variant& v : again.variants) {
      v = passes::canonicalize(v);
      v.band = passes::analyze_mask(v.mask);
    }
    require_same(first, again);
  }
}

TEST_CASE("sugar lowers to exactly the IR of its spelled-out form", "[front]") {
  auto mask_of = [](const std::string& mask) {
    std::string text = "variant t { heads = 1 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
                       "input s : f32[q_heads]; mask = " + mask + "; }";
    return lower_text({"<t>", text}).variants.at(0).mask;
  };
  auto score_of = [](const std::string& score) {
    std::string text = "variant t { heads = 1 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
                       "input s : f32[q_heads]; param c : f32 = 30; score = " + score + "; }";
    return lower_text({"<t>", text}).variants.at(0).score;
  };
  CHECK(ir::same_expr(mask_of("causal"), mask_of("kv_pos <= q_pos")));
  CHECK(ir::same_expr(mask_of("window(100)"), mask_of("q_pos - kv_pos <= 100")));
  CHECK(ir::same_expr(mask_of("window(100, 4)"), mask_of("q_pos - 100 <= kv_pos && kv_pos <= q_pos + 4")));
  CHECK(ir::same_expr(score_of("softcap(c)"), score_of("c * tanh(score / c)")));
  CHECK(ir::same_expr(score_of("alibi(s)"), score_of("score + s[q_head] * (kv_pos - q_pos)")));
  CHECK(ir::same_expr(score_of("alibi_sqrt(s)"),
                      score_of("score + s[q_head] * select(kv_pos <= q_pos, -sqrt(q_pos - kv_pos), 0)")));
  // Canonicalization leaves the square-root form alone, so the two still share a kernel.
  CHECK_FALSE(ir::same_expr(score_of("alibi_sqrt(s)"), score_of("alibi(s)")));
}

TEST_CASE("bidirectional_ranges is part of the variant and reads back", "[front]") {
  auto variant_of = [](const std::string& extra) {
    std::string text = "variant t { heads = 4 / 2; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
                       "mask = causal; " + extra + " }";
    return compile_text({"<t>", text}).variants.at(0);
  };
  ir::Variant ranged = variant_of("bidirectional_ranges = per_seq;");
  ir::Variant plain = variant_of("");
  CHECK(ranged.bidirectional_ranges);
  CHECK_FALSE(plain.bidirectional_ranges);
  CHECK_FALSE(ir::same_variant(ranged, plain));
  CHECK(ir::same_variant(plain, variant_of("bidirectional_ranges = none;")));
  // The band describes the mask alone; the ranges are launch-time data.
  CHECK(ranged.band.upper_offset == 0);
  CHECK(ranged.band.exact);

  std::string printed = ir::print_dsl(ranged);
  CHECK(printed.find("  bidirectional_ranges = per_seq;\n") != std::string::npos);
  ir::Variant again = compile_text({"<printed>", printed}).variants.at(0);
  CHECK(ir::same_variant(ranged, again));
  CHECK(ir::print_ir(ranged).find("  bidirectional_ranges: per_seq\n") != std::string::npos);
}

TEST_CASE("numbers print so that they read back exactly", "[front]") {
  CHECK(ir::format_number(128) == "128");
  CHECK(ir::format_number(0.5) == "0.5");
  CHECK(ir::format_number(-1.5) == "-1.5");
  CHECK(ir::format_number(0.1) == "0.1");
  CHECK(ir::format_number(1e20) == "1e+20");
  CHECK(ir::format_number(0.08838834764831845) == "0.08838834764831845");
  for (double v : {1.0 / 3.0, 0.08838834764831843, 6.02214076e23, 1e-40, 4096.0}) {
    std::string text = "variant t { heads = 1 / 1; head_dim = 64; q = bf16; kv = bf16; out = bf16; "
                       "param p : f32 = " + ir::format_number(v) + "; }";
    CHECK(lower_text({"<t>", text}).variants.at(0).params.at(0).default_value == v);
  }
}
