// The paged references: gather (and dequantize) each sequence's keys through its
// block table, then attend exactly as the prefill reference does.
#include "runtime/reference/paged_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "compiler/support/diagnostics.h"
#include "runtime/reference/attention_rows.h"
#include "runtime/reference/cpu_reference.h"
#include "runtime/reference/runtime_values.h"

namespace attnjit {

namespace {

constexpr const char* kPagedWhere = "attnjit::reference_paged";
constexpr const char* kWriteWhere = "attnjit::reference_cache_write";
constexpr const char* kMergeWhere = "attnjit::reference_merge";
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool is_fp8(DType t) { return t == DType::fp8_e4m3 || t == DType::fp8_e5m2; }

// Validation never reads outputs, so a caller who wants only the returned vectors may
// leave them out: this stands in for them.
TensorView placeholder(DType dtype, std::vector<int64_t> shape) {
  alignas(16) static unsigned char bytes[16];
  return contiguous_view(bytes, dtype, std::move(shape), DeviceKind::cpu);
}

// Element offset of (page, slot, kv_head, 0) in a K or V cache of the variant's layout.
int64_t cache_offset(const ir::Variant& v, const TensorView& cache, int64_t page, int64_t slot,
                     int64_t head) {
  const bool hnd = v.kv_cache.layout == ir::KvLayout::HND;
  return page * cache.stride(0) + (hnd ? head * cache.stride(1) + slot * cache.stride(2)
                                       : slot * cache.stride(1) + head * cache.stride(2));
}

int64_t scale_offset(const TensorView& s, int64_t page, int64_t slot, int64_t head) {
  return page * s.stride(0) + slot * s.stride(1) + head * s.stride(2);
}

// --- paged attention -----------------------------------------------------------------

struct PagedProblem {
  const ir::Variant& variant;
  const PagedArgs& args;
  const RuntimeValues& values;
  const LowPrecision* low;  // null: no twin
  PagedReferenceResult& result;
};

// Keys (or values) of sequence `seq` for one KV head, dequantized, [len, head_dim].
void gather(const PagedProblem& p, const TensorView& cache, const TensorView& scales,
            float descale, int64_t seq, int64_t len, int kv_head, std::vector<double>& dst) {
  const ir::Variant& v = p.variant;
  const int D = v.head_dim;
  const int64_t page_size = v.kv_cache.page_size;
  const TensorView& table = p.args.block_table;
  dst.resize(static_cast<size_t>(len * D));
  for (int64_t j = 0; j < len; ++j) {
    const int64_t page = host_integer(table, seq * table.stride(0) + (j / page_size) * table.stride(1));
    const int64_t slot = j % page_size;
    double factor = 1.0;
    if (v.kv_scale == ir::ScaleGranularity::per_tensor) factor = descale;
    if (v.kv_scale == ir::ScaleGranularity::per_token_head)
      factor = load_element(scales.data, DType::f32, scale_offset(scales, page, slot, kv_head));
    const int64_t base = cache_offset(v, cache, page, slot, kv_head);
    for (int d = 0; d < D; ++d)
      dst[j * D + d] = load_element(cache.data, cache.dtype, base + d) * factor;
  }
}

void attend_paged(const PagedProblem& p, const WorkItem& item) {
  const int64_t seq = item.seq;
  const int kv_head = item.kv_head;
  const ir::Variant& v = p.variant;
  const PagedArgs& a = p.args;
  const int D = v.head_dim;
  const int64_t q_start = host_integer(a.cu_seqlens_q, seq * a.cu_seqlens_q.stride(0));
  const int64_t q_len = host_integer(a.cu_seqlens_q, (seq + 1) * a.cu_seqlens_q.stride(0)) - q_start;
  const int64_t kv_len = host_integer(a.seq_lens, seq * a.seq_lens.stride(0));

  std::vector<double> keys, values;
  gather(p, a.k_cache, a.k_scale_cache, a.k_descale, seq, kv_len, kv_head, keys);
  gather(p, a.v_cache, a.v_scale_cache, a.v_descale, seq, kv_len, kv_head, values);
  AttentionRows rows(v, p.values, {seq, q_len, kv_len, keys.data(), values.data()}, kv_head, p.low);

  const int64_t total_q = a.q.shape[0];
  const double out_scale = is_fp8(v.out_type) ? a.out_scale : 1.0;
  std::vector<double> query(D), acc(D);
  for (int h = kv_head * v.group_size(); h < (kv_head + 1) * v.group_size(); ++h) {
    for (int64_t i = item.first_row; i < item.end_row; ++i) {
      const int64_t t = q_start + i;
      const int64_t q_base = t * a.q.stride(0) + h * a.q.stride(1);
      for (int d = 0; d < D; ++d) query[d] = load_element(a.q.data, a.q.dtype, q_base + d);
      const int64_t row = t * v.q_heads + h;
      LowPrecisionRow twin;
      if (p.low) twin = {&p.result.low.out_unrounded[row * D], &p.result.low.out[row * D]};
      const double lse = rows.row(h, i, query.data(), acc.data(), p.low ? &twin : nullptr);

      std::copy(acc.begin(), acc.end(), &p.result.out[row * D]);
      p.result.lse[h * total_q + t] = lse;
      if (p.low) {
        p.result.low.lse[h * total_q + t] = twin.lse;
        p.result.low.lse_model_error[h * total_q + t] = twin.lse_model_error;
      }
      if (a.out.defined()) {
        const int64_t o = t * a.out.stride(0) + h * a.out.stride(1);
        for (int d = 0; d < D; ++d)
          store_element(a.out.data, a.out.dtype, o + d, acc[d] * out_scale);
      }
      if (a.lse.defined())
        store_element(a.lse.data, DType::f32, h * a.lse.stride(0) + t * a.lse.stride(1), lse);
    }
  }
}

// --- cache write -----------------------------------------------------------------------

// The value stored for x once divided by its scale: the cache type's rounding, with
// int8 kept symmetric (store_element alone would allow -128).
void store_quantized(const TensorView& cache, int64_t offset, double x) {
  if (cache.dtype == DType::i8) x = std::clamp(x, -127.0, 127.0);
  store_element(cache.data, cache.dtype, offset, x);
}

void write_token(const ir::Variant& v, const TensorView& src, int64_t token, float tensor_scale,
                 const TensorView& cache, const TensorView& scales, int64_t page, int64_t slot) {
  const int D = v.head_dim;
  std::vector<double> row(D);
  for (int h = 0; h < v.kv_heads; ++h) {
    const int64_t s = token * src.stride(0) + h * src.stride(1);
    for (int d = 0; d < D; ++d) row[d] = load_element(src.data, src.dtype, s + d);
    double scale = 1.0;
    if (v.kv_scale == ir::ScaleGranularity::per_tensor) scale = tensor_scale;
    if (v.kv_scale == ir::ScaleGranularity::per_token_head) {
      double amax = 0;
      for (double x : row) amax = std::max(amax, std::fabs(x));
      // Rounded to f32 before use: the cache stores the f32 scale, and dividing by
      // exactly that value keeps quantize and dequantize consistent.
      const float f = static_cast<float>(std::max(amax / quantized_max(v.kv_type),
                                                  static_cast<double>(kMinTokenHeadScale)));
      scale = f;
      store_element(scales.data, DType::f32, scale_offset(scales, page, slot, h), f);
    }
    const int64_t base = cache_offset(v, cache, page, slot, h);
    for (int d = 0; d < D; ++d) store_quantized(cache, base + d, row[d] / scale);
  }
}

}  // namespace

PagedReferenceResult reference_paged(const ir::Variant& variant, const PagedArgs& args,
                                     bool low_precision) {
  PagedArgs checked = args;
  if (!checked.out.defined()) checked.out = placeholder(variant.out_type, args.q.shape);
  if (variant.lse && !checked.lse.defined() && args.q.rank() >= 1)
    checked.lse = placeholder(DType::f32, {variant.q_heads, args.q.shape[0]});
  const PagedShape shape = validate_paged(variant, checked, DeviceKind::cpu, kPagedWhere);
  ATTNJIT_ASSERT(variant.kv_heads > 0 && variant.q_heads % variant.kv_heads == 0,
                 "reference_paged: q_heads must be a multiple of kv_heads");

  const RuntimeValues values = read_runtime_values(variant, variant_values_of(args), shape.num_seqs);
  PagedReferenceResult result;
  result.out.assign(static_cast<size_t>(shape.total_q) * variant.q_heads * variant.head_dim, 0.0);
  result.lse.assign(static_cast<size_t>(shape.total_q) * variant.q_heads, kNegInf);
  const LowPrecision low = kernel_precision(variant, is_fp8(variant.out_type) ? args.out_scale : 1.0);
  if (low_precision) result.low.resize(result.out.size(), result.lse.size());

  const PagedProblem problem{variant, args, values, low_precision ? &low : nullptr, result};
  std::vector<int64_t> q_lens;
  for (int64_t seq = 0; seq < shape.num_seqs; ++seq)
    q_lens.push_back(host_integer(args.cu_seqlens_q, (seq + 1) * args.cu_seqlens_q.stride(0)) -
                     host_integer(args.cu_seqlens_q, seq * args.cu_seqlens_q.stride(0)));
  const std::vector<WorkItem> items = work_items(q_lens, variant.kv_heads);
  parallel_for(static_cast<int64_t>(items.size()),
               [&](int64_t i) { attend_paged(problem, items[i]); });
  return result;
}

double quantized_max(DType t) {
  switch (t) {
    case DType::fp8_e4m3: return 448.0;
    case DType::fp8_e5m2: return 57344.0;
    case DType::i8: return 127.0;
    default: return 0.0;
  }
}

void reference_cache_write(const ir::Variant& variant, const CacheWriteArgs& args) {
  validate_cache_write(variant, args, DeviceKind::cpu, kWriteWhere);
  const int64_t page_size = variant.kv_cache.page_size;
  const TensorView& slots = args.slot_mapping;
  for (int64_t t = 0; t < slots.shape[0]; ++t) {
    const int64_t slot = host_integer(slots, t * slots.stride(0));
    if (slot < 0) continue;  // padding token
    const int64_t page = slot / page_size, offset = slot % page_size;
    write_token(variant, args.k, t, args.k_scale, args.k_cache, args.k_scale_cache, page, offset);
    write_token(variant, args.v, t, args.v_scale, args.v_cache, args.v_scale_cache, page, offset);
  }
}

MergeReferenceResult reference_merge(const MergeArgs& args) {
  MergeArgs checked = args;
  if (!checked.out.defined()) checked.out = placeholder(args.out_a.dtype, args.out_a.shape);
  validate_merge(checked, DeviceKind::cpu, kMergeWhere);

  const TensorView &a = args.out_a, &b = args.out_b;
  const int64_t tokens = a.shape[0], heads = a.shape[1], D = a.shape[2];
  MergeReferenceResult r;
  r.out.assign(static_cast<size_t>(tokens * heads * D), 0.0);
  r.lse.assign(static_cast<size_t>(heads * tokens), kNegInf);
  auto lse_at = [](const TensorView& l, int64_t h, int64_t t) {
    return load_element(l.data, DType::f32, h * l.stride(0) + t * l.stride(1));
  };
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const double la = lse_at(args.lse_a, h, t), lb = lse_at(args.lse_b, h, t);
      const double m = std::max(la, lb);
      double* o = &r.out[(t * heads + h) * D];
      double lse = kNegInf;
      if (m != kNegInf) {
        // Shifted by the larger LSE so neither exponential overflows.
        const double wa = std::exp(la - m), wb = std::exp(lb - m), sum = wa + wb;
        const int64_t oa = t * a.stride(0) + h * a.stride(1), ob = t * b.stride(0) + h * b.stride(1);
        for (int64_t d = 0; d < D; ++d)
          o[d] = (wa * load_element(a.data, a.dtype, oa + d) +
                  wb * load_element(b.data, b.dtype, ob + d)) / sum;
        lse = m + std::log(sum);
      }
      r.lse[h * tokens + t] = lse;
      if (args.out.defined()) {
        const int64_t oo = t * args.out.stride(0) + h * args.out.stride(1);
        for (int64_t d = 0; d < D; ++d) store_element(args.out.data, args.out.dtype, oo + d, o[d]);
      }
      if (args.lse.defined())
        store_element(args.lse.data, DType::f32, h * args.lse.stride(0) + t * args.lse.stride(1),
                      lse);
    }
  }
  return r;
}

}  // namespace attnjit
