#pragma once
// Variants from DSL text or the shipped variant files, for the tuner's tests.
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/passes/pipeline.h"

namespace attnjit::testing {

inline std::vector<ir::Variant> variants_from(const std::string& text) {
  auto module = compile_variants(SourceFile{"<tune test>", text});
  REQUIRE(module.ok());
  return module->variants;
}

inline std::vector<ir::Variant> shipped_variants(const std::string& name) {
  auto module = compile_variants_file(std::string(ATTNJIT_SOURCE_DIR) + "/configs/variants/" + name);
  REQUIRE(module.ok());
  return module->variants;
}

}  // namespace attnjit::testing
