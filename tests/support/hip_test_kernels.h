#pragma once
// Small self-contained HIP kernels for the AMD backend tests: one bf16 MFMA each, written
// against compiler builtins only (no HIP headers), so both hiprtc (which pre-includes its
// runtime header) and the offline clang (-nogpuinc -nogpulib) compile them.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "compiler/codegen/codegen.h"

namespace attnjit::testing {

inline constexpr const char* kMfmaTestEntry = "attnjit_mfma_test";

// One MFMA of `builtin` on per-lane operands: `lanes` elements of A and B (bf16 as
// short), `accumulators` f32 of C.
inline GeneratedSource mfma_kernel(const std::string& builtin, int operands, int accumulators,
                                   const std::string& uri) {
  const std::string text =
      "// attnjit test kernel: " + builtin + "\n"
      "typedef short attnjit_test_bf16xN __attribute__((ext_vector_type(" +
      std::to_string(operands) + ")));\n"
      "typedef float attnjit_test_f32xN __attribute__((ext_vector_type(" +
      std::to_string(accumulators) + ")));\n"
      "extern \"C\" __attribute__((global)) void " + std::string(kMfmaTestEntry) +
      "(const attnjit_test_bf16xN* a, const attnjit_test_bf16xN* b, attnjit_test_f32xN* c) {\n"
      "  const unsigned lane = __builtin_amdgcn_workitem_id_x();\n"
      "  c[lane] = " + builtin + "(a[lane], b[lane], c[lane], 0, 0, 0);\n"
      "}\n";
  return GeneratedSource{text, kMfmaTestEntry, uri};
}

// CDNA 2 and later (gfx90a, gfx942): 32x32x8 bf16 with 16 accumulators per lane.
inline GeneratedSource mfma_32x32x8_bf16_kernel() {
  return mfma_kernel("__builtin_amdgcn_mfma_f32_32x32x8bf16_1k", 4, 16, "test.mfma32x32x8bf16");
}

// CDNA 2 and later: 16x16x16 bf16 with 4 accumulators per lane.
inline GeneratedSource mfma_16x16x16_bf16_kernel() {
  return mfma_kernel("__builtin_amdgcn_mfma_f32_16x16x16bf16_1k", 4, 4, "test.mfma16x16x16bf16");
}

// When $ATTNJIT_HSACO_OUT names a directory, keeps `binary` there as NAME.hsaco for the
// CLI script that reads code objects with llvm-readelf and llvm-objdump
// (tests/cli/run_amd_tests.sh).
inline void keep_code_object(const std::string& name, const std::string& binary) {
  const char* dir = std::getenv("ATTNJIT_HSACO_OUT");
  if (dir == nullptr || *dir == '\0') return;
  std::filesystem::create_directories(dir);
  std::ofstream(std::filesystem::path(dir) / (name + ".hsaco"), std::ios::binary) << binary;
}

}  // namespace attnjit::testing
