#include "runtime/harness/paged_problem.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/support/diagnostics.h"
#include "runtime/harness/random_source.h"
#include "runtime/harness/random_values.h"
#include "runtime/reference/attention_rows.h"

namespace attnjit::harness {

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("make_random_paged_problem: " + what);
}

bool is_fp8(DType t) { return t == DType::fp8_e4m3 || t == DType::fp8_e5m2; }

// The view of index `index` along `dim`: one half of a fused K/V tensor.
TensorView unbind(const TensorView& t, int dim, int64_t index) {
  TensorView v = t;
  std::vector<int64_t> strides;
  for (int d = 0; d < t.rank(); ++d) strides.push_back(t.stride(d));
  v.data = static_cast<unsigned char*>(t.data) + index * strides[dim] * dtype_bytes(t.dtype);
  v.shape.erase(v.shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  v.strides = strides;
  return v;
}

// The shape of one page-major cache in `layout`, with `inner` (e.g. {2} for fused
// K/V) inserted after num_blocks.
std::vector<int64_t> cache_shape(const ir::Variant& v, const HostPagedProblem& p,
                                 std::vector<int64_t> inner) {
  std::vector<int64_t> shape{p.num_blocks};
  shape.insert(shape.end(), inner.begin(), inner.end());
  if (p.layout == ir::KvLayout::HND) shape.insert(shape.end(), {v.kv_heads, p.page_size});
  else shape.insert(shape.end(), {p.page_size, v.kv_heads});
  shape.push_back(v.head_dim);
  return shape;
}

void check_shape(const ir::Variant& v, const PagedProblemShape& s) {
  if (v.kv_cache.kind != ir::KvCacheKind::paged)
    bad(fmt::format("variant {} has kv_cache = contiguous; the paged kind needs paged(...)", v.name));
  if (s.page_size != 0 && s.page_size != v.kv_cache.page_size)
    bad(fmt::format("page_size {} disagrees with variant {} (page_size = {})", s.page_size, v.name,
                    v.kv_cache.page_size));
  if (s.layout && *s.layout != v.kv_cache.layout)
    bad(fmt::format("layout {} disagrees with variant {} (layout = {})",
                    ir::kv_layout_name(*s.layout), v.name, ir::kv_layout_name(v.kv_cache.layout)));
  if (s.query_lens.size() != s.context_lens.size())
    bad(fmt::format("{} query lengths but {} context lengths", s.query_lens.size(),
                    s.context_lens.size()));
  for (size_t i = 0; i < s.query_lens.size(); ++i)
    if (s.query_lens[i] < 0 || s.context_lens[i] < 0)
      bad(fmt::format("negative length in sequence {}", i));
  if (s.extra_blocks < 0 || s.padding_tokens < 0)
    bad("extra_blocks and padding_tokens must not be negative");
  int64_t total = 0;
  for (size_t i = 0; i < s.query_lens.size(); ++i)
    total += int64_t{s.query_lens[i]} + s.context_lens[i];
  if (total > INT32_MAX) bad("total length does not fit int32 tables");
}

// A uniformly random permutation of 0..n-1 (Fisher-Yates on the portable source).
std::vector<int> permutation(int n, RandomSource& random) {
  std::vector<int> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (int i = n - 1; i > 0; --i) std::swap(p[i], p[random.below(i + 1)]);
  return p;
}

void fill_normal(HostTensor& t, RandomSource& random) {
  for (int64_t i = 0; i < t.numel(); ++i) store_element(t.bytes.data(), t.dtype, i, random.normal());
}

void set_int(HostTensor& t, int64_t index, int64_t value) {
  store_element(t.bytes.data(), DType::i32, index, static_cast<double>(value));
}

// Tables and lengths: pages are handed out from a random permutation, so sequences'
// pages interleave and unused (extra) pages fall anywhere.
void build_tables(const PagedProblemShape& s, RandomSource& random, HostPagedProblem& p) {
  p.num_seqs = static_cast<int>(s.query_lens.size());
  std::vector<int> pages_needed;
  int used_pages = 0;
  for (int i = 0; i < p.num_seqs; ++i) {
    p.query_lens.push_back(s.query_lens[i]);
    p.seq_lens.push_back(s.query_lens[i] + s.context_lens[i]);
    pages_needed.push_back((p.seq_lens.back() + p.page_size - 1) / p.page_size);
    used_pages += pages_needed.back();
    p.total_q += s.query_lens[i];
    p.max_seqlen_q = std::max(p.max_seqlen_q, s.query_lens[i]);
  }
  p.num_blocks = used_pages + s.extra_blocks;
  // At least one column, so an all-empty batch still has a well-formed table.
  p.max_blocks_per_seq = 1;
  for (int n : pages_needed) p.max_blocks_per_seq = std::max(p.max_blocks_per_seq, n);

  const std::vector<int> order = permutation(p.num_blocks, random);
  // Entries past a sequence's pages stay 0, as in vLLM's zero-initialized tables.
  p.block_table = make_host_tensor(DType::i32, {p.num_seqs, p.max_blocks_per_seq});
  p.seq_lens_table = make_host_tensor(DType::i32, {p.num_seqs});
  p.cu_seqlens_q = make_host_tensor(DType::i32, {int64_t{p.num_seqs} + 1});
  size_t next = 0;
  int64_t offset = 0;
  for (int i = 0; i < p.num_seqs; ++i) {
    for (int b = 0; b < pages_needed[i]; ++b)
      set_int(p.block_table, int64_t{i} * p.max_blocks_per_seq + b, order[next++]);
    set_int(p.seq_lens_table, i, p.seq_lens[i]);
    offset += p.query_lens[i];
    set_int(p.cu_seqlens_q, i + 1, offset);
  }
}

// The cache_write inputs that fill the cache: every sequence's tokens at their slots,
// with padding tokens (slot -1) at random places among them.
void build_tokens(const ir::Variant& v, const PagedProblemShape& s, RandomSource& random,
                  HostPagedProblem& p) {
  std::vector<int64_t> slots;
  for (int i = 0; i < p.num_seqs; ++i)
    for (int j = 0; j < p.seq_lens[i]; ++j) {
      const int64_t page = static_cast<int64_t>(
          load_element(p.block_table.bytes.data(), DType::i32,
                       int64_t{i} * p.max_blocks_per_seq + j / p.page_size));
      slots.push_back(page * p.page_size + j % p.page_size);
    }
  for (int k = 0; k < s.padding_tokens; ++k)
    slots.insert(slots.begin() + random.below(static_cast<int64_t>(slots.size()) + 1), -1);

  const auto n = static_cast<int64_t>(slots.size());
  p.k_tokens = make_host_tensor(v.q_type, {n, v.kv_heads, v.head_dim});
  p.v_tokens = make_host_tensor(v.q_type, {n, v.kv_heads, v.head_dim});
  fill_normal(p.k_tokens, random);
  fill_normal(p.v_tokens, random);
  p.slot_mapping = make_host_tensor(DType::i32, {n});
  for (int64_t t = 0; t < n; ++t) set_int(p.slot_mapping, t, slots[t]);
}

void build_caches(const ir::Variant& v, const PagedProblemShape& s, HostPagedProblem& p) {
  if (p.fused_kv) {
    p.kv_cache = make_host_tensor(v.kv_type, cache_shape(v, p, {2}));
  } else {
    p.k_cache = make_host_tensor(v.kv_type, cache_shape(v, p, {}));
    p.v_cache = make_host_tensor(v.kv_type, cache_shape(v, p, {}));
  }
  if (v.kv_scale == ir::ScaleGranularity::per_token_head) {
    if (p.fused_kv) {
      p.kv_scale_cache = make_host_tensor(DType::f32, {p.num_blocks, p.page_size, v.kv_heads, 2});
    } else {
      p.k_scale_cache = make_host_tensor(DType::f32, {p.num_blocks, p.page_size, v.kv_heads});
      p.v_scale_cache = make_host_tensor(DType::f32, {p.num_blocks, p.page_size, v.kv_heads});
    }
  }
  if (s.poison_unused) {
    // Slots the cache write below does not reach keep these bytes.
    for (HostTensor* t : {&p.kv_cache, &p.k_cache, &p.v_cache, &p.kv_scale_cache,
                          &p.k_scale_cache, &p.v_scale_cache})
      std::fill(t->bytes.begin(), t->bytes.end(), static_cast<unsigned char>(0xFF));
  }
  reference_cache_write(v, p.host_cache_write_args());
}

void add_values(const ir::Variant& v, const PagedProblemShape& s, RandomSource& random,
                HostPagedProblem& p) {
  ProblemShape values = s.values;
  values.batch = p.num_seqs;
  HostProblem holder;
  holder.batch = p.num_seqs;
  // Ranges are drawn over each sequence's keys, as for prefill.
  add_runtime_values(v, values, p.seq_lens, random, holder);
  p.params = std::move(holder.params);
  p.inputs = std::move(holder.inputs);
  p.sinks = std::move(holder.sinks);
  p.bidirectional_ranges = std::move(holder.bidirectional_ranges);
}

}  // namespace

// --- views ---------------------------------------------------------------------------------

PagedArgs HostPagedProblem::args(const Viewer& view_of) const {
  auto view = [&](const HostTensor& t) { return t.defined() ? view_of(t) : TensorView{}; };
  PagedArgs a;
  a.q = view(q);
  if (fused_kv) {
    const TensorView kv = view(kv_cache);
    a.k_cache = unbind(kv, 1, 0);
    a.v_cache = unbind(kv, 1, 1);
  } else {
    a.k_cache = view(k_cache);
    a.v_cache = view(v_cache);
  }
  if (kv_scale_cache.defined()) {
    const TensorView scales = view(kv_scale_cache);
    a.k_scale_cache = unbind(scales, 3, 0);
    a.v_scale_cache = unbind(scales, 3, 1);
  } else {
    a.k_scale_cache = view(k_scale_cache);
    a.v_scale_cache = view(v_scale_cache);
  }
  a.block_table = view(block_table);
  a.seq_lens = view(seq_lens_table);
  a.cu_seqlens_q = view(cu_seqlens_q);
  a.max_seqlen_q = max_seqlen_q;
  a.out = view(out);
  a.lse = view(lse);
  a.k_descale = k_descale;
  a.v_descale = v_descale;
  a.out_scale = out_scale;
  a.params = params;
  for (const auto& [name, t] : inputs) a.inputs[name] = view(t);
  a.sinks = view(sinks);
  a.bidirectional_ranges = view(bidirectional_ranges);
  return a;
}

CacheWriteArgs HostPagedProblem::cache_write_args(const Viewer& view_of) const {
  const PagedArgs paged = args(view_of);
  auto view = [&](const HostTensor& t) { return t.defined() ? view_of(t) : TensorView{}; };
  CacheWriteArgs w;
  w.k = view(k_tokens);
  w.v = view(v_tokens);
  w.slot_mapping = view(slot_mapping);
  w.k_cache = paged.k_cache;
  w.v_cache = paged.v_cache;
  w.k_scale_cache = paged.k_scale_cache;
  w.v_scale_cache = paged.v_scale_cache;
  w.k_scale = k_descale;
  w.v_scale = v_descale;
  return w;
}

PagedArgs HostPagedProblem::host_args() const {
  return args([](const HostTensor& t) { return t.view(); });
}

CacheWriteArgs HostPagedProblem::host_cache_write_args() const {
  return cache_write_args([](const HostTensor& t) { return t.view(); });
}

// --- generation ----------------------------------------------------------------------------

HostPagedProblem make_random_paged_problem(const ir::Variant& v, const PagedProblemShape& s,
                                           uint64_t seed) {
  check_shape(v, s);
  RandomSource random(seed);
  HostPagedProblem p;
  p.page_size = v.kv_cache.page_size;
  p.layout = v.kv_cache.layout;
  p.fused_kv = s.fused_kv;
  build_tables(s, random, p);

  // Scales near 1 but not 1, so a kernel that ignores or inverts one fails.
  if (v.kv_scale == ir::ScaleGranularity::per_tensor) {
    p.k_descale = static_cast<float>(random.uniform(0.5, 2.0));
    p.v_descale = static_cast<float>(random.uniform(0.5, 2.0));
  }
  if (is_fp8(v.out_type)) p.out_scale = static_cast<float>(random.uniform(0.5, 2.0));

  build_tokens(v, s, random, p);
  build_caches(v, s, p);

  p.q = make_host_tensor(v.q_type, {p.total_q, v.q_heads, v.head_dim});
  fill_normal(p.q, random);
  p.out = make_host_tensor(v.out_type, {p.total_q, v.q_heads, v.head_dim});
  if (v.lse) p.lse = make_host_tensor(DType::f32, {v.q_heads, p.total_q});
  add_values(v, s, random, p);
  return p;
}

// --- comparison ----------------------------------------------------------------------------

PagedReferenceResult compute_paged_reference(const ir::Variant& v, const HostPagedProblem& p) {
  PagedArgs args = p.host_args();
  // Undefined outputs: the reference must not overwrite the result under test.
  args.out = {};
  args.lse = {};
  return reference_paged(v, args, /*low_precision=*/true);
}

PagedReferenceResult compute_unquantized_reference(const ir::Variant& v, const HostPagedProblem& p) {
  ir::Variant plain = v;
  plain.kv_type = v.q_type;
  plain.kv_scale = ir::ScaleGranularity::none;
  // The same pages and tokens, written unquantized into fresh caches.
  HostPagedProblem copy = p;
  for (HostTensor* t : {&copy.kv_cache, &copy.k_cache, &copy.v_cache})
    if (t->defined()) *t = make_host_tensor(plain.kv_type, t->shape);
  copy.kv_scale_cache = copy.k_scale_cache = copy.v_scale_cache = HostTensor{};
  copy.k_descale = copy.v_descale = 1.0f;
  reference_cache_write(plain, copy.host_cache_write_args());
  PagedArgs args = copy.host_args();
  args.out = {};
  args.lse = {};
  return reference_paged(plain, args);
}

bool CacheComparison::ok(double max_byte_fraction) const {
  return differing_scales == 0 &&
         static_cast<double>(differing_bytes) <= max_byte_fraction * static_cast<double>(bytes);
}

CacheComparison compare_caches(const HostPagedProblem& expected, const HostPagedProblem& written) {
  CacheComparison c;
  auto pairs = [](const HostPagedProblem& p) {
    return std::array<const HostTensor*, 6>{&p.kv_cache,       &p.k_cache,       &p.v_cache,
                                            &p.kv_scale_cache, &p.k_scale_cache, &p.v_scale_cache};
  };
  const auto want = pairs(expected), got = pairs(written);
  for (size_t t = 0; t < want.size(); ++t) {
    const HostTensor &a = *want[t], &b = *got[t];
    if (a.bytes.size() != b.bytes.size())
      throw std::invalid_argument("compare_caches: the problems' caches differ in size");
    if (t < 3) {
      c.bytes += a.bytes.size();
      for (size_t i = 0; i < a.bytes.size(); ++i) c.differing_bytes += a.bytes[i] != b.bytes[i];
      continue;
    }
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double x = load_element(a.bytes.data(), DType::f32, i);
      const double y = load_element(b.bytes.data(), DType::f32, i);
      ++c.scales;
      const bool same = (std::isnan(x) && std::isnan(y)) ||
                        std::abs(x - y) <= kScaleRelativeTolerance * std::abs(x);
      c.differing_scales += !same;
    }
  }
  return c;
}

CheckResult compare_paged_with_reference(const ir::Variant& v, const HostPagedProblem& p) {
  return compare_paged_with_reference(v, p, compute_paged_reference(v, p));
}

CheckResult compare_paged_with_reference(const ir::Variant& v, const HostPagedProblem& p,
                                         const PagedReferenceResult& ref) {
  if (ref.low.empty())
    throw std::invalid_argument(
        "compare_paged_with_reference: the reference has no low-precision twin (use "
        "compute_paged_reference)");
  CheckResult r;
  // fp8 outputs hold result * out_scale.
  const double unscale = is_fp8(p.out.dtype) ? 1.0 / p.out_scale : 1.0;
  judge_outputs(p.out, unscale, kernel_precision(v).compute, v.head_dim, ref.out, ref.low, r);
  // Both LSEs are [q_heads, total_q].
  if (p.lse.defined()) judge_lse(p.lse, ref.lse, ref.low.lse, ref.low.lse_model_error, r);
  decide(r);
  return r;
}

}  // namespace attnjit::harness
