#include "compiler/ir/variant.h"

#include <cmath>

namespace attnjit::ir {

const char* kv_cache_kind_name(KvCacheKind k) {
  return k == KvCacheKind::paged ? "paged" : "contiguous";
}

const char* kv_layout_name(KvLayout l) { return l == KvLayout::HND ? "HND" : "NHD"; }

const char* scale_granularity_name(ScaleGranularity g) {
  switch (g) {
    case ScaleGranularity::none: return "none";
    case ScaleGranularity::per_tensor: return "per_tensor";
    case ScaleGranularity::per_token_head: return "per_token_head";
  }
  return "none";
}

bool is_quantized_kv_type(DType t) {
  return t == DType::fp8_e4m3 || t == DType::fp8_e5m2 || t == DType::i8;
}

const char* input_extent_name(InputExtent e) {
  switch (e) {
    case InputExtent::q_heads: return "q_heads";
    case InputExtent::kv_heads: return "kv_heads";
    case InputExtent::seqs: return "seqs";
  }
  return "q_heads";
}

Builtin input_index_builtin(InputExtent e) {
  switch (e) {
    case InputExtent::q_heads: return Builtin::q_head;
    case InputExtent::kv_heads: return Builtin::kv_head;
    case InputExtent::seqs: return Builtin::seq;
  }
  return Builtin::q_head;
}

double Variant::softmax_scale() const {
  if (scale) return *scale;
  return 1.0 / std::sqrt(static_cast<double>(head_dim));
}

const Variant* Module::find(const std::string& name) const {
  for (const Variant& v : variants)
    if (v.name == name) return &v;
  return nullptr;
}

}  // namespace attnjit::ir
