// Checks of the paged, cache_write and merge arguments. Each validator walks its
// checks in a fixed order (presence, device, dtype, rank, sizes, memory layout,
// scalars, host-side contents) so the first problem reported is the most basic one.
#include "runtime/api/paged_args.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/variant_values.h"

namespace attnjit {

namespace {

// Kernels load head_dim rows with 16-byte vector loads, so every row must start on a
// 16-byte boundary (as in validate_prefill).
constexpr int64_t kRowAlignmentBytes = 16;

const char* device_name(DeviceKind d) { return d == DeviceKind::cpu ? "cpu" : "cuda"; }

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string variant_name(const ir::Variant& v) {
  return fmt::format("variant {}", v.name.empty() ? "<unnamed>" : v.name);
}

bool is_fp8(DType t) { return t == DType::fp8_e4m3 || t == DType::fp8_e5m2; }

// A named tensor argument and the names of its dimensions (for messages).
struct Arg {
  const char* name;
  const TensorView* view;
  std::vector<const char*> dims;
};

// The checks every validator here shares; each throws on the first failure.
class Checks {
 public:
  Checks(DeviceKind device, const std::string& where) : device_(device), where_(where) {}

  [[noreturn]] void fail(const std::string& name, const std::string& expected,
                         const std::string& got) const {
    throw ArgumentError(
        fmt::format("{}: argument '{}': expected {}, got {}", where_, name, expected, got));
  }

  void present(const char* name, const TensorView& t, const std::string& what) const {
    if (!t.defined()) fail(name, what, "null");
  }
  void absent(const char* name, const TensorView& t, const std::string& why) const {
    if (t.defined()) fail(name, fmt::format("no tensor {}", why), t.describe());
  }

  void device(const Arg& a) const {
    if (a.view->device != device_)
      fail(a.name, fmt::format("a tensor on {}", device_name(device_)),
           fmt::format("a tensor on {}", device_name(a.view->device)));
  }

  void dtype(const char* name, const TensorView& t, DType want, const std::string& why) const {
    if (t.dtype != want)
      fail(name, fmt::format("dtype {}{}", dtype_name(want), why), std::string(dtype_name(t.dtype)));
  }

  // Rank, one stride per dimension (or none), and sizes that fit the kernels' ints.
  void rank(const Arg& a) const {
    const TensorView& t = *a.view;
    const int want = static_cast<int>(a.dims.size());
    if (t.rank() != want)
      fail(a.name, fmt::format("rank {} [{}]", want, fmt::join(a.dims, ", ")),
           fmt::format("rank {} ({})", t.rank(), t.describe()));
    if (!t.strides.empty() && static_cast<int>(t.strides.size()) != want)
      fail(a.name, fmt::format("{} strides (one per dimension) or none", want),
           fmt::format("{} strides", t.strides.size()));
    for (int64_t extent : t.shape)
      if (extent < 0 || extent > INT_MAX)
        fail(a.name, fmt::format("sizes in [0, {}]", INT_MAX), shape_text(t.shape));
  }

  void extent(const Arg& a, int dim, int64_t want, const std::string& why) const {
    const int64_t got = a.view->shape[dim];
    if (got != want)
      fail(a.name, fmt::format("{} {}{}", a.dims[dim], want, why), std::to_string(got));
  }

  void same_shape(const Arg& a, const Arg& as) const {
    if (a.view->shape != as.view->shape)
      fail(a.name, fmt::format("shape {} (as {})", shape_text(as.view->shape), as.name),
           shape_text(a.view->shape));
  }

  // head_dim rows read with 16-byte vector accesses: innermost stride 1, an aligned
  // pointer, and every other stride (in bytes) a multiple of 16.
  void rows(const Arg& a) const {
    const TensorView& t = *a.view;
    const int inner = t.rank() - 1;
    if (t.shape[inner] > 1 && t.stride(inner) != 1)
      fail(a.name, fmt::format("stride 1 along {}", a.dims[inner]), std::to_string(t.stride(inner)));
    const auto address = reinterpret_cast<uintptr_t>(t.data);
    if (address % kRowAlignmentBytes != 0)
      fail(a.name, "a 16-byte aligned data pointer (head_dim rows are loaded 16 bytes at a time)",
           fmt::format("{} ({} bytes past a 16-byte boundary)", t.data,
                       address % kRowAlignmentBytes));
    const int64_t bytes = dtype_bytes(t.dtype);
    for (int d = 0; d < inner; ++d) {
      // A dimension of extent 1 is never stepped along (PyTorch reports any stride).
      if (t.shape[d] <= 1) continue;
      const int64_t s = t.stride(d);
      if (s <= 0)
        fail(a.name, fmt::format("a positive stride along {}", a.dims[d]), std::to_string(s));
      if (s * bytes % kRowAlignmentBytes != 0)
        fail(a.name,
             fmt::format("stride along {} to be a multiple of 16 bytes ({} {} elements) so "
                         "every head_dim row stays 16-byte aligned",
                         a.dims[d], kRowAlignmentBytes / bytes, dtype_name(t.dtype)),
             fmt::format("{} ({} bytes)", s, s * bytes));
    }
  }

  // Written or read one element at a time: natural alignment and positive strides.
  void elementwise(const Arg& a) const {
    const TensorView& t = *a.view;
    if (reinterpret_cast<uintptr_t>(t.data) % dtype_bytes(t.dtype) != 0)
      fail(a.name, fmt::format("a {}-byte aligned data pointer", dtype_bytes(t.dtype)),
           fmt::format("{}", t.data));
    for (int d = 0; d < t.rank(); ++d)
      if (t.shape[d] > 1 && t.stride(d) <= 0)
        fail(a.name, fmt::format("a positive stride along {}", a.dims[d]),
             std::to_string(t.stride(d)));
  }

  // Read as a plain int array by the kernel: stride 1, naturally aligned.
  void int_array(const Arg& a) const {
    const TensorView& t = *a.view;
    const int bytes = dtype_bytes(t.dtype);
    if (t.shape[0] > 1 && t.stride(0) != 1)
      fail(a.name, fmt::format("stride 1 (a contiguous {} array)", dtype_name(t.dtype)),
           std::to_string(t.stride(0)));
    if (reinterpret_cast<uintptr_t>(t.data) % bytes != 0)
      fail(a.name, fmt::format("a {}-byte aligned data pointer", bytes), fmt::format("{}", t.data));
  }

  // Only read at computed offsets: any strides, natural alignment.
  void aligned_only(const Arg& a) const {
    if (reinterpret_cast<uintptr_t>(a.view->data) % dtype_bytes(a.view->dtype) != 0)
      fail(a.name, fmt::format("a {}-byte aligned data pointer", dtype_bytes(a.view->dtype)),
           fmt::format("{}", a.view->data));
  }

  void scale(const char* name, float value, bool used, const std::string& why_unused) const {
    if (used) {
      if (!std::isfinite(value) || value <= 0.0f)
        fail(name, "a finite positive scale", fmt::format("{}", value));
    } else if (value != 1.0f) {
      // A scale that would be silently ignored is a caller bug, not a no-op.
      fail(name, fmt::format("1 (the default) {}", why_unused), fmt::format("{}", value));
    }
  }

 private:
  DeviceKind device_;
  const std::string& where_;
};

// The element at `offset` of a host int32 array.
int32_t host_int(const TensorView& t, int64_t offset) {
  int32_t v;
  std::memcpy(&v, static_cast<const unsigned char*>(t.data) + offset * sizeof(int32_t), sizeof v);
  return v;
}

// The element at `offset` of a host int32 or int64 array (slot mappings).
int64_t host_index(const TensorView& t, int64_t offset) {
  const auto* p = static_cast<const unsigned char*>(t.data);
  if (t.dtype == DType::i64) {
    int64_t v;
    std::memcpy(&v, p + offset * sizeof(int64_t), sizeof v);
    return v;
  }
  return host_int(t, offset);
}

void require_paged_variant(const Checks& c, const ir::Variant& v) {
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
void check_cache_shape(const Checks& c, const ir::Variant& v, const Arg& cache) {
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
  c.extent(cache, 3, v.head_dim, fmt::format(" ({})", variant_name(v)));
}

// --- paged -----------------------------------------------------------------------------

class PagedCheck {
 public:
  PagedCheck(const ir::Variant& variant, const PagedArgs& args, DeviceKind device,
             const std::string& where)
      : v_(variant), a_(args), device_(device), where_(where), c_(device, where) {}

  PagedShape run() {
    require_paged_variant(c_, v_);
    check_presence();
    build_args();
    for (const Arg& a : args_) c_.device(a);
    check_dtypes();
    for (const Arg& a : args_) c_.rank(a);
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
  bool per_token_head() const { return v_.kv_scale == ir::ScaleGranularity::per_token_head; }

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
    const std::pair<const char*, const TensorView*> scales[] = {
        {"k_scale_cache", &a_.k_scale_cache}, {"v_scale_cache", &a_.v_scale_cache}};
    for (auto [name, view] : scales) {
      if (per_token_head())
        c_.present(name, *view,
                   fmt::format("an f32 tensor [num_blocks, page_size, kv_heads] because {} has "
                               "kv = {} per_token_head",
                               variant_name(v_), dtype_name(v_.kv_type)));
      else
        c_.absent(name, *view,
                  fmt::format("because {} has no per_token_head scales", variant_name(v_)));
    }
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
    if (per_token_head()) {
      args_.push_back({"k_scale_cache", &a_.k_scale_cache, {"num_blocks", "page_size", "kv_heads"}});
      args_.push_back({"v_scale_cache", &a_.v_scale_cache, {"num_blocks", "page_size", "kv_heads"}});
    }
  }

  const Arg& arg(const char* name) const {
    for (const Arg& a : args_)
      if (std::string_view(a.name) == name) return a;
    throw std::logic_error(std::string("PagedCheck: no argument ") + name);
  }

  void check_dtypes() const {
    const std::string tag = fmt::format(" ({})", variant_name(v_));
    c_.dtype("q", a_.q, v_.q_type, tag);
    c_.dtype("k_cache", a_.k_cache, v_.kv_type, tag);
    c_.dtype("v_cache", a_.v_cache, v_.kv_type, tag);
    c_.dtype("block_table", a_.block_table, DType::i32, "");
    c_.dtype("seq_lens", a_.seq_lens, DType::i32, "");
    c_.dtype("cu_seqlens_q", a_.cu_seqlens_q, DType::i32, "");
    c_.dtype("out", a_.out, v_.out_type, tag);
    if (a_.lse.defined()) c_.dtype("lse", a_.lse, DType::f32, "");
    if (per_token_head()) {
      c_.dtype("k_scale_cache", a_.k_scale_cache, DType::f32, "");
      c_.dtype("v_scale_cache", a_.v_scale_cache, DType::f32, "");
    }
  }

  void check_sizes() {
    const std::string tag = fmt::format(" ({})", variant_name(v_));
    const Arg &q = arg("q"), &k = arg("k_cache");
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
    if (per_token_head()) {
      const std::vector<int64_t> want{a_.k_cache.shape[0], v_.kv_cache.page_size, v_.kv_heads};
      for (const char* name : {"k_scale_cache", "v_scale_cache"}) {
        const TensorView& t = *arg(name).view;
        if (t.shape != want)
          c_.fail(name, fmt::format("shape {} [num_blocks, page_size, kv_heads]", shape_text(want)),
                  shape_text(t.shape));
      }
    }
  }

  void check_layout() const {
    for (const char* name : {"q", "k_cache", "v_cache", "out"}) c_.rows(arg(name));
    if (a_.lse.defined()) c_.elementwise(arg("lse"));
    // The block table may be a slice of a wider one (any row stride), but each row
    // is read as a plain array.
    const Arg& table = arg("block_table");
    if (a_.block_table.shape[1] > 1 && a_.block_table.stride(1) != 1)
      c_.fail("block_table", "stride 1 along max_blocks_per_seq",
              std::to_string(a_.block_table.stride(1)));
    c_.elementwise(table);
    c_.int_array(arg("seq_lens"));
    c_.int_array(arg("cu_seqlens_q"));
    // Scale caches are strided views (vLLM keeps each scale inline in a padded head
    // dimension), so only their alignment is required.
    if (per_token_head()) {
      c_.aligned_only(arg("k_scale_cache"));
      c_.aligned_only(arg("v_scale_cache"));
    }
  }

  void check_scalars() const {
    const bool per_tensor = v_.kv_scale == ir::ScaleGranularity::per_tensor;
    const std::string no_per_tensor =
        fmt::format("because {} has no per_tensor kv scales", variant_name(v_));
    c_.scale("k_descale", a_.k_descale, per_tensor, no_per_tensor);
    c_.scale("v_descale", a_.v_descale, per_tensor, no_per_tensor);
    c_.scale("out_scale", a_.out_scale, is_fp8(v_.out_type),
             fmt::format("because {} has out = {}, not fp8", variant_name(v_),
                         dtype_name(v_.out_type)));
    if (shape_.total_q > 0 && a_.max_seqlen_q < 1)
      c_.fail("max_seqlen_q", "a positive value (q has queries)", std::to_string(a_.max_seqlen_q));
    if (a_.max_seqlen_q < 0)
      c_.fail("max_seqlen_q", "a value >= 0", std::to_string(a_.max_seqlen_q));
    if (a_.num_splits < 0)
      c_.fail("num_splits", "0 (heuristic), 1 (off) or a forced count >= 2",
              std::to_string(a_.num_splits));
  }

  // Tables on the host are read in full; the kernel trusts them.
  void check_host_tables() const {
    const TensorView &cu = a_.cu_seqlens_q, &lens = a_.seq_lens, &table = a_.block_table;
    const int n = shape_.num_seqs;
    const int64_t page = v_.kv_cache.page_size;
    const int64_t capacity = int64_t{shape_.max_blocks_per_seq} * page;

    const int32_t first = host_int(cu, 0);
    if (first != 0) c_.fail("cu_seqlens_q", "cu_seqlens_q[0] == 0", std::to_string(first));
    int longest = 0;
    for (int s = 0; s < n; ++s) {
      const int32_t begin = host_int(cu, s * cu.stride(0)), end = host_int(cu, (s + 1) * cu.stride(0));
      if (end < begin)
        c_.fail("cu_seqlens_q", "non-decreasing offsets",
                fmt::format("cu_seqlens_q[{}] = {} after cu_seqlens_q[{}] = {}", s + 1, end, s, begin));
      longest = std::max(longest, end - begin);
    }
    const int32_t last = host_int(cu, n * cu.stride(0));
    if (last != shape_.total_q)
      c_.fail("cu_seqlens_q", fmt::format("the last offset to equal q's total tokens {}", shape_.total_q),
              std::to_string(last));
    // The launch grid covers max_seqlen_q rows per sequence; a longer chunk would be
    // silently cut short.
    if (longest > a_.max_seqlen_q)
      c_.fail("max_seqlen_q", fmt::format("at least {} (the longest query chunk in cu_seqlens_q)", longest),
              std::to_string(a_.max_seqlen_q));

    for (int s = 0; s < n; ++s) {
      const int32_t q_len = host_int(cu, (s + 1) * cu.stride(0)) - host_int(cu, s * cu.stride(0));
      const int32_t len = host_int(lens, s * lens.stride(0));
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
        const int32_t id = host_int(table, s * table.stride(0) + b * table.stride(1));
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
  Checks c_;
  std::vector<Arg> args_;
  PagedShape shape_;
};

// --- cache_write --------------------------------------------------------------------------

class CacheWriteCheck {
 public:
  CacheWriteCheck(const ir::Variant& variant, const CacheWriteArgs& args, DeviceKind device,
                  const std::string& where)
      : v_(variant), a_(args), c_(device, where) {}

  void run() {
    require_paged_variant(c_, v_);
    check_presence();
    build_args();
    for (const Arg& a : args_) c_.device(a);
    check_dtypes();
    for (const Arg& a : args_) c_.rank(a);
    check_sizes();
    check_layout();
    const bool per_tensor = v_.kv_scale == ir::ScaleGranularity::per_tensor;
    const std::string unused = fmt::format("because {} has no per_tensor kv scales", variant_name(v_));
    c_.scale("k_scale", a_.k_scale, per_tensor, unused);
    c_.scale("v_scale", a_.v_scale, per_tensor, unused);
    if (a_.slot_mapping.device == DeviceKind::cpu) check_host_slots();
  }

 private:
  bool per_token_head() const { return v_.kv_scale == ir::ScaleGranularity::per_token_head; }

  void check_presence() const {
    const std::pair<const char*, const TensorView*> required[] = {
        {"k", &a_.k}, {"v", &a_.v}, {"k_cache", &a_.k_cache}, {"v_cache", &a_.v_cache},
        {"slot_mapping", &a_.slot_mapping}};
    for (auto [name, view] : required) c_.present(name, *view, "a data pointer");
    const std::pair<const char*, const TensorView*> scales[] = {
        {"k_scale_cache", &a_.k_scale_cache}, {"v_scale_cache", &a_.v_scale_cache}};
    for (auto [name, view] : scales) {
      if (per_token_head())
        c_.present(name, *view,
                   fmt::format("an f32 tensor [num_blocks, page_size, kv_heads] to receive the "
                               "scales because {} has kv = {} per_token_head",
                               variant_name(v_), dtype_name(v_.kv_type)));
      else
        c_.absent(name, *view,
                  fmt::format("because {} has no per_token_head scales", variant_name(v_)));
    }
  }

  void build_args() {
    const std::vector<const char*> cache = cache_dims(v_);
    args_ = {{"k", &a_.k, {"num_tokens", "kv_heads", "head_dim"}},
             {"v", &a_.v, {"num_tokens", "kv_heads", "head_dim"}},
             {"k_cache", &a_.k_cache, cache},
             {"v_cache", &a_.v_cache, cache},
             {"slot_mapping", &a_.slot_mapping, {"num_tokens"}}};
    if (per_token_head()) {
      args_.push_back({"k_scale_cache", &a_.k_scale_cache, {"num_blocks", "page_size", "kv_heads"}});
      args_.push_back({"v_scale_cache", &a_.v_scale_cache, {"num_blocks", "page_size", "kv_heads"}});
    }
  }

  const Arg& arg(size_t i) const { return args_[i]; }

  void check_dtypes() const {
    const std::string tag = fmt::format(" (the q type of {})", variant_name(v_));
    c_.dtype("k", a_.k, v_.q_type, tag);
    c_.dtype("v", a_.v, v_.q_type, tag);
    const std::string cache_tag = fmt::format(" ({})", variant_name(v_));
    c_.dtype("k_cache", a_.k_cache, v_.kv_type, cache_tag);
    c_.dtype("v_cache", a_.v_cache, v_.kv_type, cache_tag);
    // vLLM's slot mappings are int64; int32 ones are accepted as well.
    if (a_.slot_mapping.dtype != DType::i32 && a_.slot_mapping.dtype != DType::i64)
      c_.fail("slot_mapping", "dtype int32 or int64",
              std::string(dtype_name(a_.slot_mapping.dtype)));
    if (per_token_head()) {
      c_.dtype("k_scale_cache", a_.k_scale_cache, DType::f32, "");
      c_.dtype("v_scale_cache", a_.v_scale_cache, DType::f32, "");
    }
  }

  void check_sizes() const {
    const std::string tag = fmt::format(" ({})", variant_name(v_));
    const Arg &k = arg(0), &v = arg(1), &kc = arg(2), &vc = arg(3), &slots = arg(4);
    c_.extent(k, 1, v_.kv_heads, tag);
    c_.extent(k, 2, v_.head_dim, tag);
    c_.same_shape(v, k);
    check_cache_shape(c_, v_, kc);
    c_.same_shape(vc, kc);
    c_.extent(slots, 0, a_.k.shape[0], " (one slot per token of k)");
    if (per_token_head()) {
      const std::vector<int64_t> want{a_.k_cache.shape[0], v_.kv_cache.page_size, v_.kv_heads};
      for (size_t i = 5; i < 7; ++i)
        if (arg(i).view->shape != want)
          c_.fail(arg(i).name,
                  fmt::format("shape {} [num_blocks, page_size, kv_heads]", shape_text(want)),
                  shape_text(arg(i).view->shape));
    }
  }

  void check_layout() const {
    for (size_t i = 0; i < 4; ++i) c_.rows(arg(i));
    c_.int_array(arg(4));
    if (per_token_head()) {
      c_.aligned_only(arg(5));
      c_.aligned_only(arg(6));
    }
  }

  void check_host_slots() const {
    const TensorView& slots = a_.slot_mapping;
    const int64_t limit = a_.k_cache.shape[0] * int64_t{v_.kv_cache.page_size};
    for (int64_t t = 0; t < slots.shape[0]; ++t) {
      const int64_t slot = host_index(slots, t * slots.stride(0));
      if (slot >= limit)  // negative slots are padding: skipped
        c_.fail("slot_mapping",
                fmt::format("slots < {} (num_blocks {} x page_size {}), or < 0 to skip a token",
                            limit, a_.k_cache.shape[0], v_.kv_cache.page_size),
                fmt::format("slot_mapping[{}] = {}", t, slot));
    }
  }

  const ir::Variant& v_;
  const CacheWriteArgs& a_;
  Checks c_;
  std::vector<Arg> args_;
};

// --- merge -----------------------------------------------------------------------------

bool is_float_output(DType t) { return t == DType::f16 || t == DType::bf16 || t == DType::f32; }

void check_merge(const MergeArgs& m, DeviceKind device, const std::string& where) {
  const Checks c(device, where);
  const std::pair<const char*, const TensorView*> required[] = {
      {"out_a", &m.out_a}, {"lse_a", &m.lse_a}, {"out_b", &m.out_b}, {"lse_b", &m.lse_b},
      {"out", &m.out}};
  for (auto [name, view] : required) c.present(name, *view, "a data pointer");

  const std::vector<const char*> out_dims{"tokens", "heads", "head_dim"};
  const std::vector<const char*> lse_dims{"heads", "tokens"};
  std::vector<Arg> outs{{"out_a", &m.out_a, out_dims}, {"out_b", &m.out_b, out_dims},
                        {"out", &m.out, out_dims}};
  std::vector<Arg> lses{{"lse_a", &m.lse_a, lse_dims}, {"lse_b", &m.lse_b, lse_dims}};
  if (m.lse.defined()) lses.push_back({"lse", &m.lse, lse_dims});

  for (const Arg& a : outs) c.device(a);
  for (const Arg& a : lses) c.device(a);
  for (const Arg& a : outs)
    if (!is_float_output(a.view->dtype))
      c.fail(a.name, "dtype fp16, bf16 or f32", std::string(dtype_name(a.view->dtype)));
  c.dtype("out_b", m.out_b, m.out_a.dtype, " (as out_a)");
  for (const Arg& a : lses) c.dtype(a.name, *a.view, DType::f32, "");
  for (const Arg& a : outs) c.rank(a);
  for (const Arg& a : lses) c.rank(a);

  c.same_shape(outs[1], outs[0]);
  c.same_shape(outs[2], outs[0]);
  const std::vector<int64_t> want{m.out_a.shape[1], m.out_a.shape[0]};
  for (const Arg& a : lses)
    if (a.view->shape != want)
      c.fail(a.name, fmt::format("shape {} [heads, tokens] (from out_a)", shape_text(want)),
             shape_text(a.view->shape));
  for (const Arg& a : outs) c.rows(a);
  for (const Arg& a : lses) c.elementwise(a);
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
