// Checks of the paged, cache_write and merge arguments. Each validator walks its
// checks in a fixed order (presence, device, dtype, rank, sizes, memory layout,
// scalars, host-side contents) so the first problem reported is the most basic one.
#include "runtime/api/paged_args.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/argument_checks.h"
#include "runtime/api/variant_values.h"

namespace attnjit {

namespace {

bool is_fp8(DType t) { return t == DType::fp8_e4m3 || t == DType::fp8_e5m2; }

void require_paged_variant(const ArgumentChecks& c, const ir::Variant& v) {
  if (v.kv_cache.kind != ir::KvCacheKind::paged)
    c.fail("variant", "kv_cache = paged(...)",
           fmt::format("{} with kv_cache = {} (call prefill for contiguous K/V)", variant_name(v),
                       ir::kv_cache_kind_name(v.kv_cache.kind)));
}

// Dimension names of a K or V cache in the variant's layout.
std::vector<const char*> cache_dims(const ir::Variant& v) {
  if (v.kv_cache.layout == ir::KvLayout::HND)
    return {"num_blocks", "kv_heads", "page_size", "head_dim"};
  return {"num_blocks", "page_size", "kv_heads", "head_dim"};
}

// The K cache's sizes against the variant: page size, heads and head_dim in the
// variant's layout, with a hint when the tensor looks like the other layout.
void check_cache_shape(const ArgumentChecks& c, const ir::Variant& v, const TensorArg& cache) {
  const bool hnd = v.kv_cache.layout == ir::KvLayout::HND;
  const int page_dim = hnd ? 2 : 1, head_dim_axis = hnd ? 1 : 2;
  const std::vector<int64_t>& s = cache.view->shape;
  const bool swapped = s[page_dim] == v.kv_heads && s[head_dim_axis] == v.kv_cache.page_size &&
                       v.kv_heads != v.kv_cache.page_size;
  const std::string hint =
      swapped ? fmt::format("; the tensor looks like the {} layout", hnd ? "NHD" : "HND") : "";
  const std::string tag =
      fmt::format(" ({}: kv_cache = paged(page_size = {}, layout = {}){})", variant_name(v),
                  v.kv_cache.page_size, ir::kv_layout_name(v.kv_cache.layout), hint);
  c.extent(cache, page_dim, v.kv_cache.page_size, tag);
  c.extent(cache, head_dim_axis, v.kv_heads, tag);
  c.extent(cache, 3, v.head_dim, fmt::format(" {}", variant_tag(v)));
}

bool has_per_token_head(const ir::Variant& v) {
  return v.kv_scale == ir::ScaleGranularity::per_token_head;
}

// k_scale_cache and v_scale_cache, which paged reads and cache_write fills: given
// exactly when the variant has kv per_token_head scales, then f32
// [num_blocks, page_size, kv_heads]. Both validators take them alike, so each of their
// phases calls the matching step here.
class ScaleCacheChecks {
 public:
  ScaleCacheChecks(const ArgumentChecks& c, const ir::Variant& v, const TensorView& k_scales,
                   const TensorView& v_scales)
      : c_(c),
        v_(v),
        args_{{"k_scale_cache", &k_scales, {"num_blocks", "page_size", "kv_heads"}},
              {"v_scale_cache", &v_scales, {"num_blocks", "page_size", "kv_heads"}}} {}

  // `role` follows the expected tensor in the message ("" or " to receive the scales").
  void presence(const char* role) const {
    for (const TensorArg& a : args_) {
      if (has_per_token_head(v_))
        c_.present(a.name, *a.view,
                   fmt::format("an f32 tensor [num_blocks, page_size, kv_heads]{} because {} "
                               "has kv = {} per_token_head",
                               role, variant_name(v_), dtype_name(v_.kv_type)));
      else
        c_.absent(a.name, *a.view,
                  fmt::format("because {} has no per_token_head scales", variant_name(v_)));
    }
  }

  // Appends both to the validator's argument list (when used).
  void add_to(std::vector<TensorArg>& args) const {
    if (has_per_token_head(v_)) args.insert(args.end(), std::begin(args_), std::end(args_));
  }

  void dtypes() const {
    if (!has_per_token_head(v_)) return;
    for (const TensorArg& a : args_) c_.dtype(a.name, *a.view, DType::f32, "");
  }

  // `num_blocks`: the K cache's.
  void shapes(int64_t num_blocks) const {
    if (!has_per_token_head(v_)) return;
    const std::vector<int64_t> want{num_blocks, v_.kv_cache.page_size, v_.kv_heads};
    for (const TensorArg& a : args_)
      if (a.view->shape != want)
        c_.fail(a.name, fmt::format("shape {} [num_blocks, page_size, kv_heads]", shape_text(want)),
                shape_text(a.view->shape));
  }

  // Scale caches are strided views (vLLM keeps each scale inline in a padded head
  // dimension), so only their alignment is required.
  void layout() const {
    if (!has_per_token_head(v_)) return;
    for (const TensorArg& a : args_) c_.aligned_only(a);
  }

 private:
  const ArgumentChecks& c_;
  const ir::Variant& v_;
  TensorArg args_[2];
};

// The per_tensor kv scales (k_descale / v_descale of paged, k_scale / v_scale of
// cache_write): used only when the variant has per_tensor kv scales.
void check_kv_scales(const ArgumentChecks& c, const ir::Variant& v, const char* k_name,
                     float k_value, const char* v_name, float v_value) {
  const bool per_tensor = v.kv_scale == ir::ScaleGranularity::per_tensor;
  const std::string unused =
      fmt::format("because {} has no per_tensor kv scales", variant_name(v));
  c.scale(k_name, k_value, per_tensor, unused);
  c.scale(v_name, v_value, per_tensor, unused);
}

// --- paged -----------------------------------------------------------------------------

class PagedCheck {
 public:
  PagedCheck(const ir::Variant& variant, const PagedArgs& args, DeviceKind device,
             const std::string& where)
      : v_(variant),
        a_(args),
        device_(device),
        where_(where),
        c_(device, where),
        scales_(c_, variant, args.k_scale_cache, args.v_scale_cache) {}

  PagedShape run() {
    require_paged_variant(c_, v_);
    check_presence();
    build_args();
    for (const TensorArg& a : args_) c_.device(a);
    check_dtypes();
    for (const TensorArg& a : args_) c_.rank(a);
    check_sizes();
    check_layout();
    check_scalars();
    if (a_.block_table.device == DeviceKind::cpu && a_.seq_lens.device == DeviceKind::cpu &&
        a_.cu_seqlens_q.device == DeviceKind::cpu)
      check_host_tables();
    validate_variant_values(v_, variant_values_of(a_), shape_.num_seqs, device_, where_);
    return shape_;
  }

 private:
  void check_presence() const {
    const std::pair<const char*, const TensorView*> required[] = {
        {"q", &a_.q},
        {"k_cache", &a_.k_cache},
        {"v_cache", &a_.v_cache},
        {"block_table", &a_.block_table},
        {"seq_lens", &a_.seq_lens},
        {"cu_seqlens_q", &a_.cu_seqlens_q},
        {"out", &a_.out}};
    for (auto [name, view] : required) c_.present(name, *view, "a data pointer");
    if (v_.lse)
      c_.present("lse", a_.lse,
                 fmt::format("an f32 tensor [q_heads, total_q] because {} writes lse",
                             variant_name(v_)));
    else
      c_.absent("lse", a_.lse, fmt::format("because {} does not write lse", variant_name(v_)));
    scales_.presence("");
  }

  void build_args() {
    const std::vector<const char*> cache = cache_dims(v_);
    args_ = {{"q", &a_.q, {"total_q", "q_heads", "head_dim"}},
             {"k_cache", &a_.k_cache, cache},
             {"v_cache", &a_.v_cache, cache},
             {"block_table", &a_.block_table, {"num_seqs", "max_blocks_per_seq"}},
             {"seq_lens", &a_.seq_lens, {"num_seqs"}},
             {"cu_seqlens_q", &a_.cu_seqlens_q, {"num_seqs + 1"}},
             {"out", &a_.out, {"total_q", "q_heads", "head_dim"}}};
    if (a_.lse.defined()) args_.push_back({"lse", &a_.lse, {"q_heads", "total_q"}});
    scales_.add_to(args_);
  }

  const TensorArg& arg(const char* name) const {
    for (const TensorArg& a : args_)
      if (std::string_view(a.name) == name) return a;
    throw std::logic_error(std::string("PagedCheck: no argument ") + name);
  }

  void check_dtypes() const {
    const std::string tag = fmt::format(" {}", variant_tag(v_));
    c_.dtype("q", a_.q, v_.q_type, tag);
    c_.dtype("k_cache", a_.k_cache, v_.kv_type, tag);
    c_.dtype("v_cache", a_.v_cache, v_.kv_type, tag);
    c_.dtype("block_table", a_.block_table, DType::i32, "");
    c_.dtype("seq_lens", a_.seq_lens, DType::i32, "");
    c_.dtype("cu_seqlens_q", a_.cu_seqlens_q, DType::i32, "");
    c_.dtype("out", a_.out, v_.out_type, tag);
    if (a_.lse.defined()) c_.dtype("lse", a_.lse, DType::f32, "");
    scales_.dtypes();
  }

  void check_sizes() {
    const std::string tag = fmt::format(" {}", variant_tag(v_));
    const TensorArg &q = arg("q"), &k = arg("k_cache");
    c_.extent(q, 1, v_.q_heads, tag);
    c_.extent(q, 2, v_.head_dim, tag);
    check_cache_shape(c_, v_, k);
    c_.same_shape(arg("v_cache"), k);
    c_.same_shape(arg("out"), q);

    shape_.total_q = static_cast<int>(a_.q.shape[0]);
    shape_.num_blocks = static_cast<int>(a_.k_cache.shape[0]);
    shape_.num_seqs = static_cast<int>(a_.block_table.shape[0]);
    shape_.max_blocks_per_seq = static_cast<int>(a_.block_table.shape[1]);
    const std::string per_seq = " (one per sequence: block_table has that many rows)";
    c_.extent(arg("seq_lens"), 0, shape_.num_seqs, per_seq);
    c_.extent(arg("cu_seqlens_q"), 0, int64_t{shape_.num_seqs} + 1,
              " (num_seqs + 1: block_table has num_seqs rows)");
    if (a_.lse.defined()) {
      const std::vector<int64_t> want{v_.q_heads, a_.q.shape[0]};
      if (a_.lse.shape != want)
        c_.fail("lse", fmt::format("shape {} [q_heads, total_q]", shape_text(want)),
                shape_text(a_.lse.shape));
    }
    scales_.shapes(a_.k_cache.shape[0]);
  }

  void check_layout() const {
    for (const char* name : {"q", "k_cache", "v_cache", "out"}) c_.rows(arg(name));
    if (a_.lse.defined()) c_.elementwise(arg("lse"));
    // The block table may be a slice of a wider one (any row stride), but each row
    // is read as a plain array.
    const TensorArg& table = arg("block_table");
    if (a_.block_table.shape[1] > 1 && a_.block_table.stride(1) != 1)
      c_.fail("block_table", "stride 1 along max_blocks_per_seq",
              std::to_string(a_.block_table.stride(1)));
    c_.elementwise(table);
    c_.int_array(arg("seq_lens"));
    c_.int_array(arg("cu_seqlens_q"));
    scales_.layout();
  }

  void check_scalars() const {
    check_kv_scales(c_, v_, "k_descale", a_.k_descale, "v_descale", a_.v_descale);
    c_.scale("out_scale", a_.out_scale, is_fp8(v_.out_type),
             fmt::format("because {} has out = {}, not fp8", variant_name(v_),
                         dtype_name(v_.out_type)));
    if (shape_.total_q > 0 && a_.max_seqlen_q < 1)
      c_.fail("max_seqlen_q", "a positive value (q has queries)", std::to_string(a_.max_seqlen_q));
    if (a_.max_seqlen_q < 0)
      c_.fail("max_seqlen_q", "a value >= 0", std::to_string(a_.max_seqlen_q));
    if (a_.num_splits < kStreamSplit)
      c_.fail("num_splits", "0 (heuristic), 1 (off), a forced count >= 2 or -1 (stream)",
              std::to_string(a_.num_splits));
    if (a_.num_splits == kStreamSplit && !uses_decode_tile(v_, a_.max_seqlen_q))
      c_.fail("num_splits",
              fmt::format("the stream split (-1) only for decode batches (max_seqlen_q x {} "
                          "query heads per KV head <= 16)",
                          v_.group_size()),
              fmt::format("-1 with max_seqlen_q {}", a_.max_seqlen_q));
    if (a_.num_splits == kStreamSplit && shape_.num_seqs > kStreamSplitMaxSeqs)
      c_.fail("num_splits",
              fmt::format("the stream split (-1) only for at most {} sequences",
                          kStreamSplitMaxSeqs),
              fmt::format("-1 with {} sequences", shape_.num_seqs));
  }

  // Tables on the host are read in full; the kernel trusts them.
  void check_host_tables() const {
    const TensorView &cu = a_.cu_seqlens_q, &lens = a_.seq_lens, &table = a_.block_table;
    const int n = shape_.num_seqs;
    const int64_t page = v_.kv_cache.page_size;
    const int64_t capacity = int64_t{shape_.max_blocks_per_seq} * page;

    const int64_t first = host_integer(cu, 0);
    if (first != 0) c_.fail("cu_seqlens_q", "cu_seqlens_q[0] == 0", std::to_string(first));
    int longest = 0;
    for (int s = 0; s < n; ++s) {
      const int64_t begin = host_integer(cu, s * cu.stride(0));
      const int64_t end = host_integer(cu, (s + 1) * cu.stride(0));
      if (end < begin)
        c_.fail("cu_seqlens_q", "non-decreasing offsets",
                fmt::format("cu_seqlens_q[{}] = {} after cu_seqlens_q[{}] = {}", s + 1, end, s, begin));
      longest = std::max(longest, static_cast<int>(end - begin));
    }
    const int64_t last = host_integer(cu, n * cu.stride(0));
    if (last != shape_.total_q)
      c_.fail("cu_seqlens_q", fmt::format("the last offset to equal q's total tokens {}", shape_.total_q),
              std::to_string(last));
    // The launch grid covers max_seqlen_q rows per sequence; a longer chunk would be
    // silently cut short.
    if (longest > a_.max_seqlen_q)
      c_.fail("max_seqlen_q", fmt::format("at least {} (the longest query chunk in cu_seqlens_q)", longest),
              std::to_string(a_.max_seqlen_q));

    for (int s = 0; s < n; ++s) {
      const int64_t q_len =
          host_integer(cu, (s + 1) * cu.stride(0)) - host_integer(cu, s * cu.stride(0));
      const int64_t len = host_integer(lens, s * lens.stride(0));
      // A length is a count (int32, so at most ir::kMaxSequenceLength).
      if (len < 0)
        c_.fail("seq_lens", fmt::format("seq_lens[{}] >= 0", s), std::to_string(len));
      // The query chunk is the end of its sequence, so the sequence holds it.
      if (len < q_len)
        c_.fail("seq_lens",
                fmt::format("seq_lens[{}] >= {} (the sequence's query chunk in cu_seqlens_q)", s, q_len),
                std::to_string(len));
      if (len > capacity)
        c_.fail("seq_lens",
                fmt::format("seq_lens[{}] <= {} (block_table capacity: {} blocks of {} tokens)", s,
                            capacity, shape_.max_blocks_per_seq, page),
                std::to_string(len));
      const int64_t used = (len + page - 1) / page;
      for (int64_t b = 0; b < used; ++b) {
        const int64_t id = host_integer(table, s * table.stride(0) + b * table.stride(1));
        if (id < 0 || id >= shape_.num_blocks)
          c_.fail("block_table",
                  fmt::format("page ids in [0, {}) (num_blocks of k_cache) for the {} pages "
                              "sequence {} uses",
                              shape_.num_blocks, used, s),
                  fmt::format("block_table[{}][{}] = {}", s, b, id));
      }
    }
  }

  const ir::Variant& v_;
  const PagedArgs& a_;
  DeviceKind device_;
  const std::string& where_;
  ArgumentChecks c_;
  ScaleCacheChecks scales_;
  std::vector<TensorArg> args_;
  PagedShape shape_;
};

// --- cache_write --------------------------------------------------------------------------

class CacheWriteCheck {
 public:
  CacheWriteCheck(const ir::Variant& variant, const CacheWriteArgs& args, DeviceKind device,
                  const std::string& where)
      : v_(variant),
        a_(args),
        c_(device, where),
        scales_(c_, variant, args.k_scale_cache, args.v_scale_cache) {}

  void run() {
    require_paged_variant(c_, v_);
    check_presence();
    build_args();
    for (const TensorArg& a : args_) c_.device(a);
    check_dtypes();
    for (const TensorArg& a : args_) c_.rank(a);
    check_sizes();
    check_layout();
    check_kv_scales(c_, v_, "k_scale", a_.k_scale, "v_scale", a_.v_scale);
    if (a_.slot_mapping.device == DeviceKind::cpu) check_host_slots();
  }

 private:
  void check_presence() const {
    const std::pair<const char*, const TensorView*> required[] = {
        {"k", &a_.k}, {"v", &a_.v}, {"k_cache", &a_.k_cache}, {"v_cache", &a_.v_cache},
        {"slot_mapping", &a_.slot_mapping}};
    for (auto [name, view] : required) c_.present(name, *view, "a data pointer");
    scales_.presence(" to receive the scales");
  }

  void build_args() {
    const std::vector<const char*> cache = cache_dims(v_);
    args_ = {{"k", &a_.k, {"num_tokens", "kv_heads", "head_dim"}},
             {"v", &a_.v, {"num_tokens", "kv_heads", "head_dim"}},
             {"k_cache", &a_.k_cache, cache},
             {"v_cache", &a_.v_cache, cache},
             {"slot_mapping", &a_.slot_mapping, {"num_tokens"}}};
    scales_.add_to(args_);
  }

  const TensorArg& arg(size_t i) const { return args_[i]; }

  void check_dtypes() const {
    const std::string tag = fmt::format(" (the q type of {})", variant_name(v_));
    c_.dtype("k", a_.k, v_.q_type, tag);
    c_.dtype("v", a_.v, v_.q_type, tag);
    const std::string cache_tag = fmt::format(" {}", variant_tag(v_));
    c_.dtype("k_cache", a_.k_cache, v_.kv_type, cache_tag);
    c_.dtype("v_cache", a_.v_cache, v_.kv_type, cache_tag);
    // vLLM's slot mappings are int64; int32 ones are accepted as well.
    if (a_.slot_mapping.dtype != DType::i32 && a_.slot_mapping.dtype != DType::i64)
      c_.fail("slot_mapping", "dtype int32 or int64",
              std::string(dtype_name(a_.slot_mapping.dtype)));
    scales_.dtypes();
  }

  void check_sizes() const {
    const std::string tag = fmt::format(" {}", variant_tag(v_));
    const TensorArg &k = arg(0), &v = arg(1), &kc = arg(2), &vc = arg(3), &slots = arg(4);
    c_.extent(k, 1, v_.kv_heads, tag);
    c_.extent(k, 2, v_.head_dim, tag);
    c_.same_shape(v, k);
    check_cache_shape(c_, v_, kc);
    c_.same_shape(vc, kc);
    c_.extent(slots, 0, a_.k.shape[0], " (one slot per token of k)");
    scales_.shapes(a_.k_cache.shape[0]);
  }

  void check_layout() const {
    for (size_t i = 0; i < 4; ++i) c_.rows(arg(i));
    c_.int_array(arg(4));
    scales_.layout();
  }

  void check_host_slots() const {
    const TensorView& slots = a_.slot_mapping;
    const int64_t limit = a_.k_cache.shape[0] * int64_t{v_.kv_cache.page_size};
    for (int64_t t = 0; t < slots.shape[0]; ++t) {
      const int64_t slot = host_integer(slots, t * slots.stride(0));
      if (slot >= limit)  // negative slots are padding: skipped
        c_.fail("slot_mapping",
                fmt::format("slots < {} (num_blocks {} x page_size {}), or < 0 to skip a token",
                            limit, a_.k_cache.shape[0], v_.kv_cache.page_size),
                fmt::format("slot_mapping[{}] = {}", t, slot));
    }
  }

  const ir::Variant& v_;
  const CacheWriteArgs& a_;
  ArgumentChecks c_;
  ScaleCacheChecks scales_;
  std::vector<TensorArg> args_;
};

// --- merge -----------------------------------------------------------------------------

bool is_float_output(DType t) { return t == DType::f16 || t == DType::bf16 || t == DType::f32; }

void check_merge(const MergeArgs& m, DeviceKind device, const std::string& where) {
  const ArgumentChecks c(device, where);
  const std::pair<const char*, const TensorView*> required[] = {
      {"out_a", &m.out_a}, {"lse_a", &m.lse_a}, {"out_b", &m.out_b}, {"lse_b", &m.lse_b},
      {"out", &m.out}};
  for (auto [name, view] : required) c.present(name, *view, "a data pointer");

  const std::vector<const char*> out_dims{"tokens", "heads", "head_dim"};
  const std::vector<const char*> lse_dims{"heads", "tokens"};
  std::vector<TensorArg> outs{{"out_a", &m.out_a, out_dims}, {"out_b", &m.out_b, out_dims},
                        {"out", &m.out, out_dims}};
  std::vector<TensorArg> lses{{"lse_a", &m.lse_a, lse_dims}, {"lse_b", &m.lse_b, lse_dims}};
  if (m.lse.defined()) lses.push_back({"lse", &m.lse, lse_dims});

  for (const TensorArg& a : outs) c.device(a);
  for (const TensorArg& a : lses) c.device(a);
  for (const TensorArg& a : outs)
    if (!is_float_output(a.view->dtype))
      c.fail(a.name, "dtype fp16, bf16 or f32", std::string(dtype_name(a.view->dtype)));
  c.dtype("out_b", m.out_b, m.out_a.dtype, " (as out_a)");
  for (const TensorArg& a : lses) c.dtype(a.name, *a.view, DType::f32, "");
  for (const TensorArg& a : outs) c.rank(a);
  for (const TensorArg& a : lses) c.rank(a);

  c.same_shape(outs[1], outs[0]);
  c.same_shape(outs[2], outs[0]);
  const std::vector<int64_t> want{m.out_a.shape[1], m.out_a.shape[0]};
  for (const TensorArg& a : lses)
    if (a.view->shape != want)
      c.fail(a.name, fmt::format("shape {} [heads, tokens] (from out_a)", shape_text(want)),
             shape_text(a.view->shape));
  for (const TensorArg& a : outs) c.rows(a);
  for (const TensorArg& a : lses) c.elementwise(a);
}

}  // namespace

PagedShape validate_paged(const ir::Variant& variant, const PagedArgs& args,
                          DeviceKind expected_device, const std::string& where) {
  return PagedCheck(variant, args, expected_device, where).run();
}

void validate_cache_write(const ir::Variant& variant, const CacheWriteArgs& args,
                          DeviceKind expected_device, const std::string& where) {
  CacheWriteCheck(variant, args, expected_device, where).run();
}

void validate_merge(const MergeArgs& args, DeviceKind expected_device, const std::string& where) {
  check_merge(args, expected_device, where);
}

}  // namespace attnjit
