// Codegen for the merge kind: partial results (f32 from a split-KV launch, or the
// variant's output type for user merges) combined by their LSEs into the output type.
#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/dialect.h"
#include "compiler/codegen/output_types.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/support/embedded_files.h"

namespace attnjit {

namespace {

struct TypeNames {
  const char* storage;
  const char* elem;  // vocabulary type that converts a part's 16-bit values
  bool is_f32;
};

bool part_types(DType t, TypeNames* out) {
  switch (t) {
    case DType::bf16: *out = {"attnjit::u16", "attnjit::Bf16", false}; return true;
    case DType::f16: *out = {"attnjit::u16", "attnjit::Fp16", false}; return true;
    case DType::f32: *out = {"float", "attnjit::Bf16", true}; return true;
    default: return false;
  }
}

}  // namespace

// Parts are f32 (split-KV segments) or the output type, which must then be 16-bit or f32.
std::string merge_type_problem(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  TypeNames part{};
  if (!part_types(spec.f32_segments() ? DType::f32 : v.out_type, &part) || !output_types(v.out_type))
    return fmt::format("merge does not support out type {}", dtype_name(v.out_type));
  return {};
}

Result<GeneratedSource, std::string> render_merge(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  if (std::string why = merge_type_problem(spec); !why.empty())
    return fail(fmt::format("variant {}: {}", v.name, why));
  TypeNames part{};
  part_types(spec.f32_segments() ? DType::f32 : v.out_type, &part);
  const OutputTypes out = *output_types(v.out_type);
  const Dialect& dialect = dialect_for(vendor_of_arch(spec.arch));
  auto tile_ops = vocabulary_text(dialect);
  auto params = embedded_file("templates/kernels/merge_params.h");
  auto kernel = embedded_file("templates/kernels/merge.cuh");
  if (!tile_ops) return fail(tile_ops.error());
  if (!params || !kernel)
    return fail(std::string("merge templates are not embedded in this build"));

  const KernelGeometry geometry = geometry_of(spec);
  GeneratedSource src;
  src.uri = spec.uri();
  src.entry = spec.entry_name();
  src.text = fmt::format(
      "// attnjit generated kernel: variant {}, kind merge, arch {} ({})\n"
      "// uri: {}\n"
      "// Rendered from templates/kernels/merge.cuh; regenerate rather than edit.\n\n"
      "// ---- device vocabulary: {} ----\n{}"
      "\n// ---- templates/kernels/merge_params.h ----\n{}"
      "\n// ---- specialization ----\n"
      "typedef {} PartStorage;\n"
      "typedef {} PartElem;\n"
      "constexpr bool kPartIsF32 = {};\n"
      "typedef {} OutputStorage;\n"
      "typedef {} OutElem;\n"
      "constexpr int kHeadDim = {};\n"
      "constexpr int kWarps = {};\n"
      "constexpr int kWarpLanes = {};  // lanes of a warp (wavefront)\n"
      "constexpr bool kHasSinks = {};\n"
      "#define ATTNJIT_ENTRY {}\n"
      "\n// ---- templates/kernels/merge.cuh ----\n{}",
      v.name, spec.arch, dialect.name, src.uri, dialect.tile_ops, *tile_ops, *params, part.storage,
      part.elem, part.is_f32, out.storage, out.writer, v.head_dim, geometry.warps,
      geometry.warp_lanes,
      v.sinks_per_head && spec.f32_segments(), src.entry, *kernel);
  return src;
}

}  // namespace attnjit
