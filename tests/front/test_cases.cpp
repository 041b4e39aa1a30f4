// Lit-style compiler tests: every tests/front/cases/NAME.attn is compiled and its
// output compared with NAME.expected: the print_ir dump for `ok_*` cases, the rendered
// diagnostics for `err_*` cases. With ATTNJIT_UPDATE_GOLDENS=1 the expected files are
// rewritten instead (review the diff before committing them).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catch.h"
#include "compiler/ir/print.h"
#include "compiler/passes/pipeline.h"

namespace fs = std::filesystem;
using namespace attnjit;

namespace {

fs::path cases_dir() { return fs::path(ATTNJIT_SOURCE_DIR) / "tests" / "front" / "cases"; }

std::vector<fs::path> case_files() {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(cases_dir()))
    if (entry.path().extension() == ".attn") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool updating_goldens() {
  const char* flag = std::getenv("ATTNJIT_UPDATE_GOLDENS");
  return flag && std::string(flag) == "1";
}

}  // namespace

TEST_CASE("every compiler text case matches its expected output", "[front]") {
  std::vector<fs::path> files = case_files();
  REQUIRE(files.size() >= 10);
  for (const fs::path& path : files) {
    std::string name = path.filename().string();
    INFO("case " << name);
    // Diagnostics name the case file only, so goldens do not depend on the checkout.
    SourceFile file{name, read_text(path)};
    auto module = compile_variants(file);
    bool should_compile = name.rfind("ok_", 0) == 0;
    CHECK(module.ok() == should_compile);
    std::string actual = module.ok() ? ir::print_ir(*module) : render(module.error(), file);

    fs::path expected_path = path;
    expected_path.replace_extension(".expected");
    if (updating_goldens()) {
      std::ofstream(expected_path, std::ios::binary) << actual;
      continue;
    }
    INFO("missing? regenerate with ATTNJIT_UPDATE_GOLDENS=1: " << expected_path.string());
    REQUIRE(fs::exists(expected_path));
    CHECK(actual == read_text(expected_path));
  }
}

TEST_CASE("a missing variant file is a diagnostic without a location", "[front]") {
  SourceFile file;
  auto module = compile_variants_file("/nonexistent/dir/missing.attn", &file);
  REQUIRE_FALSE(module.ok());
  REQUIRE(module.error().all().size() == 1);
  CHECK_FALSE(module.error().all()[0].location.known());
  CHECK(render(module.error(), file) ==
        "/nonexistent/dir/missing.attn: error: cannot open variant file: No such file or directory\n");
}

TEST_CASE("a directory is not a variant file", "[front]") {
  auto module = compile_variants_file(ATTNJIT_SOURCE_DIR);
  REQUIRE_FALSE(module.ok());
  CHECK(module.error().all().at(0).message == "cannot open variant file: it is a directory");
}

TEST_CASE("the default variant set compiles cleanly", "[front]") {
  SourceFile file;
  auto module =
      compile_variants_file(std::string(ATTNJIT_SOURCE_DIR) + "/configs/variants/default.attn", &file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  CHECK(module->variants.size() >= 3);
  for (const ir::Variant& v : module->variants) CHECK(v.q_heads % v.kv_heads == 0);
}
