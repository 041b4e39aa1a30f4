// Codegen for the prefill kind: the specialization block (element types, tile
// constants, variant hooks) between the vendor vocabulary and the kernel template.
#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/dialect.h"
#include "compiler/codegen/render_expr.h"
#include "compiler/support/embedded_files.h"

namespace attnjit {

namespace {

Result<std::string, std::string> template_text(const char* name) {
  auto text = embedded_file(name);
  if (!text) return fail(fmt::format("kernel template {} is not embedded in this build", name));
  return std::string(*text);
}

// The vocabulary's name for a 16-bit element type, or an error for types the
// prefill kernel cannot take yet.
Result<std::string, std::string> element_type(DType t, const char* role) {
  switch (t) {
    case DType::bf16: return std::string("attnjit::Bf16");
    case DType::f16: return std::string("attnjit::Fp16");
    default:
      return fail(fmt::format("{} type {} is not supported by the prefill kernel (use bf16 or "
                              "fp16)",
                              role, dtype_name(t)));
  }
}

std::string bound_constant(const std::optional<long long>& offset) {
  return offset ? std::to_string(*offset) : "0";
}

Result<std::string, std::string> render_hooks(const ir::Variant& v, const Dialect& dialect) {
  std::string score_body = "return score;";
  if (v.score) {
    auto e = render_expr(v.score, dialect);
    if (!e) return fail(e.error());
    score_body = "return " + *e + ";";
  }
  std::string mask_body = "return true;";
  if (v.mask && !v.band.exact) {
    auto e = render_expr(v.mask, dialect);
    if (!e) return fail(e.error());
    mask_body = "return " + *e + ";";
  }
  const char* locals =
      "    const int q_pos = at.q_pos, kv_pos = at.kv_pos, q_head = at.q_head, kv_head = "
      "at.kv_head;\n"
      "    const int seq = at.seq, q_len = at.q_len, kv_len = at.kv_len;\n";
  return fmt::format(
      "// Variant hooks: the only place the kernel learns what variant it runs.\n"
      "struct VariantHooks {{\n"
      "  static constexpr bool kHasScoreTransform = {};\n"
      "  // Visible keys satisfy q_pos + kLowerOffset <= kv_pos <= q_pos + kUpperOffset.\n"
      "  static constexpr bool kHasLowerBand = {};\n"
      "  static constexpr int kLowerOffset = {};\n"
      "  static constexpr bool kHasUpperBand = {};\n"
      "  static constexpr int kUpperOffset = {};\n"
      "  // True when the band is the whole mask, so mask() is never needed.\n"
      "  static constexpr bool kBandIsExact = {};\n"
      "  static __device__ __forceinline__ float score(float score, const attnjit::Position& at) "
      "{{\n"
      "{}"
      "    {}\n"
      "  }}\n"
      "  static __device__ __forceinline__ bool mask(const attnjit::Position& at) {{\n"
      "{}"
      "    {}\n"
      "  }}\n"
      "}};\n",
      v.score ? "true" : "false", v.band.lower_offset ? "true" : "false",
      bound_constant(v.band.lower_offset), v.band.upper_offset ? "true" : "false",
      bound_constant(v.band.upper_offset), (!v.mask || v.band.exact) ? "true" : "false",
      v.score ? locals : "", score_body, (v.mask && !v.band.exact) ? locals : "", mask_body);
}

// Features the prefill kernel does not implement yet are refused here, with a
// message, rather than compiled into a kernel that ignores them.
std::string unsupported_feature(const ir::Variant& v) {
  if (v.kv_cache.kind != ir::KvCacheKind::contiguous)
    return "paged KV caches need the paged kernel kind, not prefill";
  if (!v.params.empty()) return "runtime params are not supported by the prefill kernel yet";
  if (!v.inputs.empty()) return "input arrays are not supported by the prefill kernel yet";
  if (v.sinks_per_head) return "attention sinks are not supported by the prefill kernel yet";
  if (v.q_type != v.kv_type) return "q and kv must have the same type in the prefill kernel";
  return {};
}

Result<GeneratedSource, std::string> render_prefill(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  if (std::string why = unsupported_feature(v); !why.empty())
    return fail(fmt::format("variant {}: {}", v.name, why));
  if (std::string why = validate_tile(spec.tile, v.head_dim, shared_memory_limit(spec.arch));
      !why.empty())
    return fail(fmt::format("variant {}: tile config: {}", v.name, why));
  auto elem = element_type(v.q_type, "q/kv");
  if (!elem) return fail(fmt::format("variant {}: {}", v.name, elem.error()));
  auto out_elem = element_type(v.out_type, "out");
  if (!out_elem) return fail(fmt::format("variant {}: {}", v.name, out_elem.error()));

  const Dialect& dialect = dialect_for(vendor_of_arch(spec.arch));
  auto tile_ops = template_text(dialect.tile_ops);
  auto params = template_text("templates/kernels/prefill_params.h");
  auto position = template_text("templates/kernels/position.h");
  auto kernel = template_text("templates/kernels/prefill.cuh");
  for (auto* t : {&tile_ops, &params, &position, &kernel})
    if (!*t) return fail(t->error());
  auto hooks = render_hooks(v, dialect);
  if (!hooks) return fail(fmt::format("variant {}: {}", v.name, hooks.error()));

  GeneratedSource out;
  out.uri = spec.uri();
  out.entry = spec.entry_name();
  std::string& s = out.text;
  s += fmt::format(
      "// attnjit generated kernel: variant {}, kind {}, arch {} ({})\n"
      "// uri: {}\n"
      "// Rendered from templates/kernels/prefill.cuh; regenerate rather than edit.\n\n",
      v.name, kernel_kind_name(spec.kind), spec.arch, dialect.name, out.uri);
  s += fmt::format("// ---- device vocabulary: {} ----\n", dialect.tile_ops) + *tile_ops;
  s += "\n// ---- templates/kernels/prefill_params.h ----\n" + *params;
  s += "\n// ---- templates/kernels/position.h ----\n" + *position;
  s += fmt::format(
      "\n// ---- specialization ----\n"
      "typedef {} Elem;     // q, k, v\n"
      "typedef {} OutElem;  // out\n"
      "constexpr int kHeadDim = {};\n"
      "constexpr int kBlockM = {};\n"
      "constexpr int kBlockN = {};\n"
      "constexpr int kWarps = {};\n"
      "constexpr int kStages = {};\n"
      "constexpr int kRowTiles = {};  // 16-row MMA tiles per warp\n"
      "constexpr int kGroupSize = {};  // query heads per KV head ({} / {})\n"
      "constexpr bool kWriteLse = {};\n",
      *elem, *out_elem, v.head_dim, spec.tile.block_m, spec.tile.block_n, spec.tile.warps,
      spec.tile.stages, spec.tile.block_m / (16 * spec.tile.warps), v.group_size(), v.q_heads, v.kv_heads, v.lse ? "true" : "false");
  s += *hooks;
  s += fmt::format("#define ATTNJIT_ENTRY {}\n", out.entry);
  s += "\n// ---- templates/kernels/prefill.cuh ----\n" + *kernel;
  return out;
}

}  // namespace

Result<GeneratedSource, std::string> render_kernel(const KernelSpec& spec) {
  switch (spec.kind) {
    case KernelKind::prefill: return render_prefill(spec);
  }
  return fail(std::string("unknown kernel kind"));
}

}  // namespace attnjit
