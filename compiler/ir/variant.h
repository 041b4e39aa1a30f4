#pragma once
// The Variant IR: everything a kernel needs to know about one attention variant,
// checked and independent of the DSL's spelling. Plain data; built by lowering the
// AST (compiler/ir/lower.h) or directly in code.
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/dtype.h"
#include "compiler/ir/expr.h"

namespace attnjit::ir {

enum class KvCacheKind { contiguous, paged };
enum class KvLayout { NHD, HND };
const char* kv_cache_kind_name(KvCacheKind k);  // "contiguous", "paged"
const char* kv_layout_name(KvLayout l);         // "NHD", "HND"

// How a quantized KV cache (fp8_e4m3, fp8_e5m2, int8) carries its dequantization
// scales: none (values used as stored), one scale per tensor, or one per (token, head).
enum class ScaleGranularity { none, per_tensor, per_token_head };
const char* scale_granularity_name(ScaleGranularity g);  // "none", "per_tensor", ...
bool is_quantized_kv_type(DType t);                      // fp8_e4m3, fp8_e5m2, int8

struct KvCache {
  KvCacheKind kind = KvCacheKind::contiguous;
  int page_size = 0;              // paged only
  KvLayout layout = KvLayout::NHD;  // paged only
};

// Runtime values travel to kernels in a fixed-size argument block
// (templates/kernels/variant_args.h: ATTNJIT_MAX_PARAMS, ATTNJIT_MAX_INPUTS), so a
// variant may declare at most this many `param`s (consts do not count: they are
// folded away) and `input`s. Lowering reports a located error past either limit.
inline constexpr int kMaxParams = 16;
inline constexpr int kMaxInputs = 8;

// `param NAME : f32 = VALUE;` (runtime scalar) or `const NAME : f32 = VALUE;` (baked in;
// const references are folded away by canonicalization and never reach a kernel).
struct ScalarParam {
  std::string name;
  double default_value = 0.0;
  bool is_const = false;
  SourceLocation location;
};

enum class InputExtent { q_heads, kv_heads, seqs };
const char* input_extent_name(InputExtent e);  // "q_heads", "kv_heads", "seqs"
// The one builtin an input of this extent is indexed by: q_heads -> q_head, ...
Builtin input_index_builtin(InputExtent e);
// `input NAME : f32[q_heads];` a per-head or per-sequence float array given at launch.
struct InputArray {
  std::string name;
  InputExtent extent = InputExtent::q_heads;
  SourceLocation location;
};

// What the mask analysis derived: for query position q, the visible keys lie in
// [q + lower_offset, q + upper_offset] (either side may be unbounded). `exact` says
// the mask is precisely this band (plus sequence bounds), so tiles entirely inside
// the band need no per-element mask evaluation. The band describes `mask` alone:
// with `bidirectional_ranges`, keys inside a launch-time range that also holds the
// query are visible too, wherever they lie relative to the band.
struct KvBand {
  std::optional<long long> lower_offset;  // kv_pos >= q_pos + lower_offset
  std::optional<long long> upper_offset;  // kv_pos <= q_pos + upper_offset
  bool exact = true;
};

struct Variant {
  std::string name;
  SourceLocation location;
  int q_heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  DType q_type = DType::bf16;
  DType kv_type = DType::bf16;
  ScaleGranularity kv_scale = ScaleGranularity::none;  // quantized kv_type only
  DType out_type = DType::bf16;
  KvCache kv_cache;
  std::optional<double> scale;  // softmax scale; default 1/sqrt(head_dim)
  bool lse = false;             // also write log-sum-exp per (query row, head)
  ExprRef score;                // transforms the scaled logit; null = identity
  ExprRef mask;                 // boolean; null = everything visible
  std::vector<ScalarParam> params;
  std::vector<InputArray> inputs;
  bool sinks_per_head = false;
  // `bidirectional_ranges = per_seq;`: per-sequence [start, end) position ranges given
  // at launch; a query and a key inside the same range see each other whatever the
  // mask says (image tokens of a multimodal prompt inside a causal sequence).
  bool bidirectional_ranges = false;
  KvBand band;                  // filled by passes::analyze_mask

  double softmax_scale() const;
  int group_size() const { return q_heads / kv_heads; }
};

// A parsed DSL file: its variants in source order.
struct Module {
  std::vector<Variant> variants;
  const Variant* find(const std::string& name) const;
};

}  // namespace attnjit::ir
