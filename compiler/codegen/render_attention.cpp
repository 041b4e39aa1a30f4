// Codegen for the attention kinds (prefill, paged): the specialization block (storage
// decoders, element types, tile constants, variant hooks) between the vendor
// vocabulary and the shared main loop, then the kind's entry point.
#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/dialect.h"
#include "compiler/codegen/output_types.h"
#include "compiler/codegen/render_expr.h"
#include "compiler/passes/mask_analysis.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/support/embedded_files.h"

namespace attnjit {

namespace {

Result<std::string, std::string> template_text(const char* name) {
  auto text = embedded_file(name);
  if (!text) return fail(fmt::format("kernel template {} is not embedded in this build", name));
  return std::string(*text);
}

// How a tensor type reaches the tensor cores: the decoder that reads its storage and
// the 16-bit type it is computed in. f32 converts to bf16 (not fp16): bf16 keeps f32's
// range, so large activations cannot overflow; the cost is an 8-bit mantissa.
// Quantized KV types decode to the query's compute type, scaled on the way.
struct ElementTypes {
  const char* decoder;  // vocabulary decoder (its ::Storage is the C type in memory)
  const char* compute;  // vocabulary type of the MMA operands; null: follows q
};

constexpr struct {
  DType type;
  ElementTypes types;
  bool as_query, as_kv;
} kElementTypes[] = {
    {DType::bf16, {"attnjit::Raw16", "attnjit::Bf16"}, true, true},
    {DType::f16, {"attnjit::Raw16", "attnjit::Fp16"}, true, true},
    {DType::f32, {"attnjit::DecodeF32", "attnjit::Bf16"}, true, true},
    {DType::fp8_e4m3, {"attnjit::DecodeE4m3", nullptr}, false, true},
    {DType::fp8_e5m2, {"attnjit::DecodeE5m2", nullptr}, false, true},
    {DType::i8, {"attnjit::DecodeInt8", nullptr}, false, true},
};

Result<ElementTypes, std::string> element_types(DType t, bool as_kv) {
  for (const auto& e : kElementTypes)
    if (e.type == t && (as_kv ? e.as_kv : e.as_query)) return e.types;
  return fail(fmt::format("{} type {} is not supported", as_kv ? "kv" : "q", dtype_name(t)));
}

std::string bound_constant(const std::optional<long long>& offset) {
  return offset ? std::to_string(*offset) : "0";
}

// Declares, from the hook's Position, the builtins an expression reads (and no others,
// so the generated source compiles without unused-variable warnings).
void collect_builtins(const ir::ExprRef& e, bool used[8]) {
  if (e->op == ir::Op::builtin) used[static_cast<int>(e->builtin)] = true;
  for (const ir::ExprRef& a : e->args) collect_builtins(a, used);
}

std::string builtin_locals(const ir::ExprRef& e) {
  bool used[8] = {};
  collect_builtins(e, used);
  std::string out;
  for (int b = 1; b < 8; ++b)  // 0 is `score`, the hook's parameter
    if (used[b]) {
      const char* name = ir::builtin_name(static_cast<ir::Builtin>(b));
      out += fmt::format("    [[maybe_unused]] const int {} = at.{};\n", name, name);
    }
  return out;
}

std::string bind_body(const ir::Variant& v) {
  std::string out;
  for (size_t i = 0; i < v.inputs.size(); ++i)
    out += fmt::format("    bound.values[{}] = args.inputs[{}][{}];\n", i, i,
                       ir::builtin_name(ir::input_index_builtin(v.inputs[i].extent)));
  return out;
}

// True when `e` is the same for every score of a row: literals, params and input
// elements (inputs are indexed by q_head, kv_head or seq, fixed per row).
bool uniform_per_row(const ir::ExprRef& e) {
  if (e->op == ir::Op::builtin) return false;
  if (e->op == ir::Op::input) return true;  // its index is a row-fixed builtin
  for (const ir::ExprRef& a : e->args)
    if (!uniform_per_row(a)) return false;
  return true;
}

bool is_builtin(const ir::ExprRef& e, ir::Builtin b) {
  return e->op == ir::Op::builtin && e->builtin == b;
}

// The ALiBi form `score + slope * (kv_pos - q_pos)` with a row-uniform slope: returns
// the slope, so the kernel evaluates the bias as one FMA per score instead of calling
// the general hook (which converts and subtracts positions per score).
ir::ExprRef linear_position_slope(const ir::ExprRef& score) {
  if (!score || score->op != ir::Op::add) return nullptr;
  for (int side = 0; side < 2; ++side) {
    const ir::ExprRef& base = score->args[side];
    const ir::ExprRef& bias = score->args[1 - side];
    if (!is_builtin(base, ir::Builtin::score) || bias->op != ir::Op::mul) continue;
    for (int f = 0; f < 2; ++f) {
      const ir::ExprRef& slope = bias->args[f];
      const ir::ExprRef& diff = bias->args[1 - f];
      if (diff->op == ir::Op::sub && is_builtin(diff->args[0], ir::Builtin::kv_pos) &&
          is_builtin(diff->args[1], ir::Builtin::q_pos) && uniform_per_row(slope))
        return slope;
    }
  }
  return nullptr;
}

// True when `e` is the same for every score of a launch: literals and params only.
bool fixed_per_launch(const ir::ExprRef& e) {
  if (e->op == ir::Op::builtin || e->op == ir::Op::input) return false;
  for (const ir::ExprRef& a : e->args)
    if (!fixed_per_launch(a)) return false;
  return true;
}

// The soft-cap form `cap * tanh(score / cap)` (what softcap(cap) lowers to) with a cap
// fixed per launch: returns the cap, so the kernel keeps tanh(score / |cap|) per score
// and folds |cap| into the softmax's exp2 scale (two multiplies fewer per score).
ir::ExprRef soft_cap_value(const ir::ExprRef& score) {
  if (!score || score->op != ir::Op::mul) return nullptr;
  for (int side = 0; side < 2; ++side) {
    const ir::ExprRef& cap = score->args[side];
    const ir::ExprRef& tanh = score->args[1 - side];
    if (tanh->op != ir::Op::call || tanh->name != "tanh") continue;
    const ir::ExprRef& inner = tanh->args[0];
    if (inner->op == ir::Op::div && is_builtin(inner->args[0], ir::Builtin::score) &&
        ir::same_expr(inner->args[1], cap) && fixed_per_launch(cap))
      return cap;
  }
  return nullptr;
}

// The form of the variant's score transform (templates/common/score_transforms.cuh)
// and the hook function that form calls: the general form calls score() per score; the
// recognized forms call a row- or launch-constant piece of it instead.
struct ScoreForm {
  const char* form;
  std::string hook;  // the rendered hook function, or ""
};

Result<std::string, std::string> rendered_body(const ir::ExprRef& e, ExprRole role, const Dialect& dialect,
                                               const ir::Variant& v) {
  auto text = render_expr(e, role, dialect, v);
  if (!text) return fail(text.error());
  return "return " + *text + ";";
}

Result<ScoreForm, std::string> score_form(const ir::Variant& v, const Dialect& dialect) {
  if (!v.score) return ScoreForm{"PlainScore", ""};
  if (const ir::ExprRef cap = soft_cap_value(v.score)) {
    auto body = rendered_body(cap, ExprRole::score, dialect, v);
    if (!body) return fail(body.error());
    return ScoreForm{"SoftCapScore",
                     fmt::format("  // The cap of the score's form soft_cap() * tanh(score / soft_cap()), fixed per launch.\n"
                                 "  static __device__ __forceinline__ float soft_cap([[maybe_unused]] const AttnjitVariantArgs& args) {{\n"
                                 "    {}\n"
                                 "  }}\n",
                                 *body)};
  }
  if (const ir::ExprRef slope = linear_position_slope(v.score)) {
    auto body = rendered_body(slope, ExprRole::score, dialect, v);
    if (!body) return fail(body.error());
    return ScoreForm{"LinearBiasScore",
                     fmt::format("  // The slope of the score's form score + position_slope() * (kv_pos - q_pos), fixed per row.\n"
                                 "  static __device__ __forceinline__ float position_slope(\n"
                                 "      [[maybe_unused]] const AttnjitVariantArgs& args,\n"
                                 "      [[maybe_unused]] const AttnjitBoundInputs& bound) {{\n"
                                 "    {}\n"
                                 "  }}\n",
                                 *body)};
  }
  auto body = rendered_body(v.score, ExprRole::score, dialect, v);
  if (!body) return fail(body.error());
  return ScoreForm{"GeneralScore",
                   fmt::format("  static __device__ __forceinline__ float score(\n"
                               "      [[maybe_unused]] float score, [[maybe_unused]] const attnjit::Position& at,\n"
                               "      [[maybe_unused]] const AttnjitVariantArgs& args,\n"
                               "      [[maybe_unused]] const AttnjitBoundInputs& bound) {{\n"
                               "{}"
                               "    {}\n"
                               "  }}\n",
                               builtin_locals(v.score), *body)};
}

Result<std::string, std::string> render_hooks(const ir::Variant& v, const Dialect& dialect) {
  auto form = score_form(v, dialect);
  if (!form) return fail(form.error());
  std::string mask_body = "return true;";
  if (v.mask && !v.band.exact) {
    auto body = rendered_body(v.mask, ExprRole::mask, dialect, v);
    if (!body) return fail(body.error());
    mask_body = *body;
  }
  // Offsets past +-(2^31 - 2) have exact 32-bit equivalents (a band built in code may hold them).
  const ir::KvBand band = passes::clamp_band(v.band);
  const std::string mask_locals = v.mask && !v.band.exact ? builtin_locals(v.mask) : "";
  return fmt::format(
      "// Variant hooks: the only place the kernel learns what variant it runs. A variant's\n"
      "// expressions read some of each hook's parameters, so all are [[maybe_unused]].\n"
      "struct VariantHooks {{\n"
      "  // Visible keys satisfy q_pos + kLowerOffset <= kv_pos <= q_pos + kUpperOffset.\n"
      "  static constexpr bool kHasLowerBand = {};\n"
      "  static constexpr int kLowerOffset = {};\n"
      "  static constexpr bool kHasUpperBand = {};\n"
      "  static constexpr int kUpperOffset = {};\n"
      "  // True when the band is the whole mask, so mask() is never needed.\n"
      "  static constexpr bool kBandIsExact = {};\n"
      "{}"
      "  static __device__ __forceinline__ bool mask([[maybe_unused]] const attnjit::Position& at,\n"
      "                                             [[maybe_unused]] const AttnjitVariantArgs& args,\n"
      "                                             [[maybe_unused]] const AttnjitBoundInputs& bound) {{\n"
      "{}"
      "    {}\n"
      "  }}\n"
      "  static __device__ __forceinline__ void bind([[maybe_unused]] AttnjitBoundInputs& bound,\n"
      "                                             [[maybe_unused]] const AttnjitVariantArgs& args,\n"
      "                                             [[maybe_unused]] int q_head,\n"
      "                                             [[maybe_unused]] int kv_head,\n"
      "                                             [[maybe_unused]] int seq) {{\n"
      "{}"
      "  }}\n"
      "}};\n"
      "// The score transform's form (templates/common/score_transforms.cuh).\n"
      "template <bool kKeyBiasStart>\n"
      "using ScoreTransform = attnjit::{}<VariantHooks, kKeyBiasStart>;\n",
      band.lower_offset ? "true" : "false", bound_constant(band.lower_offset),
      band.upper_offset ? "true" : "false", bound_constant(band.upper_offset),
      (!v.mask || band.exact) ? "true" : "false", form->hook, mask_locals, mask_body, bind_body(v),
      form->form);
}

// AMD targets take the MFMA main loop, which has the same interface (attend(), Rows,
// Keys), so every kind's entry points serve it unchanged.
constexpr const char* kMfmaMainloop = "templates/kernels/attention_core_mfma.cuh";

// Features the prefill kernel does not implement yet are refused here, with a
// message, rather than compiled into a kernel that ignores them.
std::string unsupported_feature(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  if (spec.kind == KernelKind::prefill && v.kv_cache.kind != ir::KvCacheKind::contiguous)
    return "a paged KV cache needs the paged kernel kind, not prefill";
  if (spec.kind == KernelKind::paged && v.kv_cache.kind != ir::KvCacheKind::paged)
    return "the paged kernel kind needs kv_cache = paged(...)";
  if (v.params.size() > 16) return "more than 16 runtime params";
  if (v.inputs.size() > 8) return "more than 8 input arrays";
  return {};
}

// Element types the kernel cannot compute with (q, kv, out), or "".
std::string element_type_problem(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  auto q_types = element_types(v.q_type, false);
  auto kv_types = element_types(v.kv_type, true);
  auto out_types = output_types(spec.f32_segments() ? DType::f32 : v.out_type);
  for (const std::string* why : {q_types ? nullptr : &q_types.error(),
                                 kv_types ? nullptr : &kv_types.error(),
                                 out_types ? nullptr : &out_types.error()})
    if (why) return *why;
  if (kv_types->compute && std::string(kv_types->compute) != q_types->compute)
    return fmt::format("q ({}) and kv ({}) compute in different types", dtype_name(v.q_type),
                       dtype_name(v.kv_type));
  return {};
}

// What every attention main loop shares (templates/common/): the score transforms'
// forms come before the variant hooks that choose one; the rest use the hooks.
constexpr const char* kScoreTransforms = "templates/common/score_transforms.cuh";
constexpr const char* kSharedPieces[] = {"templates/common/key_mask.cuh",
                                         "templates/common/online_softmax.cuh",
                                         "templates/common/epilogue.cuh"};
// The main loops. mma.sync m16n8k16 (every CUDA target; the default); mfma (every HIP
// target: templates/kernels/attention_core_mfma.cuh); wgmma (sm_90a's prefill kind, and
// the paged kind's prefill chunks, when a spec asks for it) adds Hopper's vocabulary
// after the dialect's, its parameter blocks after the kind's, and has its own entry
// point per kind (the kind's rows-and-keys file is then left out).
struct MainloopTemplates {
  const char* vocabulary[3];      // after the dialect's tile_ops, in order (null: none)
  const char* params_headers[2];  // after the kind's, in order (null: none)
  const char* core;
  const char* entry;             // null: the kind's own
};
constexpr MainloopTemplates kMmaSyncTemplates = {
    {nullptr, nullptr, nullptr}, {nullptr, nullptr}, "templates/kernels/attention_core.cuh", nullptr};
constexpr MainloopTemplates kMfmaTemplates = {{nullptr, nullptr, nullptr}, {nullptr, nullptr}, kMfmaMainloop, nullptr};
constexpr MainloopTemplates kWgmmaTemplates = {
    {"templates/cuda/hopper_layout.h", "templates/cuda/hopper_ops.cuh", "templates/kernels/hopper/tile_order.h"},
    {"templates/kernels/hopper/tensor_map.h", "templates/kernels/hopper/prefill_params.h"},
    "templates/kernels/hopper/mainloop.cuh",
    "templates/kernels/hopper/prefill.cuh"};
constexpr MainloopTemplates kWgmmaPagedTemplates = {
    {"templates/cuda/hopper_layout.h", "templates/cuda/hopper_ops.cuh", nullptr},
    {"templates/kernels/hopper/tensor_map.h", "templates/kernels/hopper/paged_params.h"},
    "templates/kernels/hopper/mainloop.cuh",
    "templates/kernels/hopper/paged_prefill.cuh"};

// Why the wgmma main loop cannot build `spec` ("" when it can): the target, the variant
// and the tile (compiler/spec/hopper_geometry.h).
std::string wgmma_problem(const KernelSpec& spec) {
  const Target* target = find_target(spec.arch);
  if (!target || !target->has_mainloop(Mainloop::wgmma))
    return fmt::format("{} has no wgmma main loop (sm_90a has)", spec.arch);
  if (spec.kv_split != KvSplit::none) return "the wgmma main loop does not split KV";
  if (std::string why = wgmma_variant_problem(spec.variant, spec.kind); !why.empty()) return why;
  if (std::string why = hopper_tile_problem(spec.tile, spec.variant.head_dim, shared_memory_limit(spec.arch));
      !why.empty())
    return "tile config: " + why;
  return "";
}

// The per-kind pieces: its parameter block, the description of its rows and keys (if
// any besides the entry), and its entry points (the paged kind has one per way of
// covering the KV tiles; see KvSplit).
struct KindTemplates {
  KernelKind kind;
  const char* params_header;
  const char* rows_and_keys;
  const char* entry;
  const char* stream_entry;
};
constexpr KindTemplates kKindTemplates[] = {
    {KernelKind::prefill, "templates/kernels/prefill_params.h", nullptr,
     "templates/kernels/prefill.cuh", nullptr},
    {KernelKind::paged, "templates/kernels/paged_params.h", "templates/kernels/paged.cuh",
     "templates/kernels/paged_blocks.cuh", "templates/kernels/paged_stream.cuh"},
};

// Constants only the paged kind has. The layout (NHD / HND) reaches the kernel as
// strides, and split-KV as the f32 output type or the stream entry, so neither needs
// a constant.
std::string paged_constants(const KernelSpec& spec) {
  if (spec.kind != KernelKind::paged) return "";
  return fmt::format("constexpr int kPageSize = {};\n", spec.variant.kv_cache.page_size);
}

// The launch geometry as the host computes it (compiler/spec/kernel_geometry.cpp): the
// engine launches kLaunchThreads threads with kLaunchSharedBytes of dynamic shared
// memory (the stream split adds its work line at kWorkLineOffset), and the templates
// static_assert that their own layout is this one. The stream split's merge also takes
// a warp per row (kWarpLanes lanes) and reads other blocks' pieces through the
// dialect's ATTNJIT_LOAD_L2.
std::string launch_constants(const KernelSpec& spec, const KernelGeometry& g, const Dialect& dialect) {
  std::string out = fmt::format(
      "constexpr int kLaunchThreads = {};\n"
      "constexpr int kLaunchSharedBytes = {};\n",
      g.threads, g.shared_bytes);
  if (spec.kv_split == KvSplit::stream)
    out += fmt::format(
        "constexpr int kWorkLineOffset = {};\n"
        "constexpr int kWarpLanes = {};  // lanes of a warp (wavefront)\n"
        "#define ATTNJIT_LOAD_L2 {}\n",
        g.work_line_offset, g.warp_lanes, dialect.load_l2);
  return out;
}

}  // namespace

Result<GeneratedSource, std::string> render_merge(const KernelSpec& spec);        // render_merge.cpp
Result<GeneratedSource, std::string> render_cache_write(const KernelSpec& spec);  // render_cache_write.cpp
std::string merge_type_problem(const KernelSpec& spec);                           // render_merge.cpp
std::string cache_write_problem(const KernelSpec& spec);                          // render_cache_write.cpp

namespace {

Result<GeneratedSource, std::string> render_attention(const KernelSpec& spec) {
  const ir::Variant& v = spec.variant;
  if (std::string why = unsupported_feature(spec); !why.empty())
    return fail(fmt::format("variant {}: {}", v.name, why));
  const bool wgmma = spec_mainloop(spec) == Mainloop::wgmma;
  const MainloopTemplates& loop = wgmma ? (spec.kind == KernelKind::paged ? kWgmmaPagedTemplates : kWgmmaTemplates)
                                  : vendor_of_arch(spec.arch) == Vendor::hip ? kMfmaTemplates
                                                                             : kMmaSyncTemplates;
  if (wgmma) {
    if (std::string why = wgmma_problem(spec); !why.empty())
      return fail(fmt::format("variant {}: {}", v.name, why));
  } else if (std::string why = validate_tile_for(spec.arch, spec.tile, kv_elements_of(v));
             !why.empty()) {
    return fail(fmt::format("variant {}: tile config: {}", v.name, why));
  }
  const KernelGeometry geometry = geometry_of(spec);
  if (std::string why = element_type_problem(spec); !why.empty())
    return fail(fmt::format("variant {}: {}", v.name, why));
  const ElementTypes q_types = *element_types(v.q_type, false);
  const ElementTypes kv_types = *element_types(v.kv_type, true);
  const OutputTypes out_types = *output_types(spec.f32_segments() ? DType::f32 : v.out_type);
  const KindTemplates* kind = nullptr;
  for (const KindTemplates& k : kKindTemplates)
    if (k.kind == spec.kind) kind = &k;
  if (!kind) return fail(std::string("no templates for this kernel kind"));
  const bool stream = spec.kv_split == KvSplit::stream;
  if (stream && !kind->stream_entry)
    return fail(fmt::format("variant {}: the stream split is a paged kind only", v.name));
  const char* entry_file = loop.entry ? loop.entry : stream ? kind->stream_entry : kind->entry;
  const char* const mainloop_file = loop.core;

  const Dialect& dialect = dialect_for(vendor_of_arch(spec.arch));
  auto tile_ops = vocabulary_text(dialect);
  auto variant_args = template_text("templates/kernels/variant_args.h");
  auto params = template_text(kind->params_header);
  auto position = template_text("templates/kernels/position.h");
  auto transforms = template_text(kScoreTransforms);
  auto core = template_text(mainloop_file);
  // A main loop's own entry describes its rows and keys itself.
  const char* const rows_and_keys_file = loop.entry ? nullptr : kind->rows_and_keys;
  auto rows_and_keys = rows_and_keys_file ? template_text(rows_and_keys_file)
                                          : Result<std::string, std::string>(std::string());
  auto entry = template_text(entry_file);
  for (auto* t : {&tile_ops, &variant_args, &params, &position, &transforms, &core, &rows_and_keys, &entry})
    if (!*t) return fail(t->error());
  // The main loop's own vocabulary and parameter block (none for mma.sync).
  std::string loop_vocabulary, loop_params;
  for (const char* name : loop.vocabulary) {
    if (!name) continue;
    auto text = template_text(name);
    if (!text) return fail(text.error());
    loop_vocabulary += fmt::format("\n// ---- device vocabulary: {} ----\n", name) + *text;
  }
  for (const char* name : loop.params_headers) {
    if (!name) continue;
    auto text = template_text(name);
    if (!text) return fail(text.error());
    loop_params += fmt::format("\n// ---- {} ----\n", name) + *text;
  }
  std::string shared_pieces;
  for (const char* name : kSharedPieces) {
    auto text = template_text(name);
    if (!text) return fail(text.error());
    shared_pieces += fmt::format("\n// ---- {} ----\n", name) + *text;
  }
  auto hooks = render_hooks(v, dialect);
  if (!hooks) return fail(fmt::format("variant {}: {}", v.name, hooks.error()));

  GeneratedSource out;
  out.uri = spec.uri();
  out.entry = spec.entry_name();
  std::string& s = out.text;
  s += fmt::format(
      "// attnjit generated kernel: variant {}, kind {}, arch {} ({})\n"
      "// uri: {}\n"
      "// Rendered from {} and {}; regenerate rather than edit.\n\n",
      v.name, kernel_kind_name(spec.kind), spec.arch, dialect.name, out.uri, mainloop_file, entry_file);
  s += fmt::format("// ---- device vocabulary: {} ----\n", dialect.tile_ops) + *tile_ops;
  s += loop_vocabulary;
  s += "\n// ---- templates/kernels/variant_args.h ----\n" + *variant_args;
  s += fmt::format("\n// ---- {} ----\n", kind->params_header) + *params;
  s += loop_params;
  s += "\n// ---- templates/kernels/position.h ----\n" + *position;
  s += fmt::format("\n// ---- {} ----\n", kScoreTransforms) + *transforms;
  s += fmt::format(
      "\n// ---- specialization ----\n"
      "typedef {} InputDecoder;  // q in memory\n"
      "typedef InputDecoder::Storage InputStorage;\n"
      "typedef {} KvDecoder;     // k, v in memory\n"
      "typedef KvDecoder::Storage KvStorage;\n"
      "typedef {} Elem;          // tensor-core operands\n"
      "typedef {} OutputStorage;  // out in memory\n"
      "typedef {} OutElem;\n"
      "constexpr bool kOutputDirect = {};\n"
      "constexpr int kHeadDim = {};\n"
      "constexpr int kBlockM = {};\n"
      "constexpr int kBlockN = {};\n"
      "constexpr int kWarps = {};\n"
      "constexpr int kStages = {};\n"
      "constexpr int kRowTiles = {};  // 16-row MMA tiles per warp\n"
      "constexpr int kGroupSize = {};  // query heads per KV head ({} / {})\n"
      "constexpr bool kWriteLse = {};\n"
      "constexpr bool kHasSinks = {};\n"
      "constexpr bool kHasRanges = {};  // bidirectional ranges\n"
      "constexpr bool kPerTokenHeadScales = {};  // K/V scales per token and head\n",
      q_types.decoder, kv_types.decoder, q_types.compute, out_types.storage, out_types.writer,
      out_types.direct, v.head_dim, spec.tile.block_m, spec.tile.block_n, spec.tile.warps,
      spec.tile.stages, geometry.row_tiles, v.group_size(), v.q_heads,
      v.kv_heads, v.lse || spec.f32_segments(), v.sinks_per_head && !spec.f32_segments(),
      v.bidirectional_ranges, v.kv_scale == ir::ScaleGranularity::per_token_head);
  s += paged_constants(spec);
  s += launch_constants(spec, geometry, dialect);
  if (wgmma) s += hopper_constants(spec.tile, v);
  s += *hooks;
  s += fmt::format("#define ATTNJIT_ENTRY {}\n", out.entry);
  // A minimum of resident blocks caps the registers; without one the compiler chooses
  // (an explicit minimum of 1 is not the same to it: it allocated more registers).
  // The wgmma loop always caps registers for one block: setmaxnreg acts only under a cap.
  // (Resident blocks are a CUDA notion: HIP's launch bounds take the threads only.)
  const std::string min_blocks =
      wgmma ? ", 1"
      : spec.tile.min_blocks_per_sm > 0 && dialect.vendor == Vendor::cuda
          ? fmt::format(", {}", spec.tile.min_blocks_per_sm)
          : "";
  // AMD's register cap is a minimum of resident waves per SIMD, next to the work-group
  // size the HIP __launch_bounds__ renders (amdgpu_flat_work_group_size).
  const std::string waves_per_eu =
      spec.tile.waves_per_eu > 0 && dialect.vendor == Vendor::hip
          ? fmt::format(" __attribute__((amdgpu_waves_per_eu({})))", spec.tile.waves_per_eu)
          : "";
  s += fmt::format("#define ATTNJIT_LAUNCH_BOUNDS __launch_bounds__(attnjit::{}::kThreads{}){}\n",
                   wgmma ? "HopperGeometry" : "TileGeometry", min_blocks, waves_per_eu);
  s += shared_pieces;
  s += fmt::format("\n// ---- {} ----\n", mainloop_file) + *core;
  if (rows_and_keys_file)
    s += fmt::format("\n// ---- {} ----\n", rows_and_keys_file) + *rows_and_keys;
  s += fmt::format("\n// ---- {} ----\n", entry_file) + *entry;
  return out;
}

}  // namespace

std::string unsupported_spec(const KernelSpec& spec) {
  switch (spec.kind) {
    case KernelKind::prefill:
    case KernelKind::paged:
      if (std::string why = unsupported_feature(spec); !why.empty()) return why;
      if (spec_mainloop(spec) == Mainloop::wgmma) {
        if (std::string why = wgmma_variant_problem(spec.variant, spec.kind); !why.empty()) return why;
      }
      return element_type_problem(spec);
    case KernelKind::merge: return merge_type_problem(spec);
    case KernelKind::cache_write: return cache_write_problem(spec);
  }
  return "unknown kernel kind";
}

Result<GeneratedSource, std::string> render_kernel(const KernelSpec& spec) {
  switch (spec.kind) {
    case KernelKind::prefill:
    case KernelKind::paged: return render_attention(spec);
    case KernelKind::merge: return render_merge(spec);
    case KernelKind::cache_write: return render_cache_write(spec);
  }
  return fail(std::string("unknown kernel kind"));
}

}  // namespace attnjit
