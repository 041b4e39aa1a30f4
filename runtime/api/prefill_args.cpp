#include "runtime/api/prefill_args.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/api/argument_checks.h"
#include "runtime/api/variant_values.h"

namespace attnjit {

namespace {

// Walks the checks in a fixed order; the first failure throws.
class Validator {
 public:
  Validator(const ir::Variant& variant, const PrefillArgs& args, DeviceKind device,
            const std::string& where)
      : variant_(variant), args_(args), device_(device), where_(where), c_(device, where) {}

  PrefillShape run() {
    check_presence();
    build_arg_list();
    check_devices();
    check_dtypes();
    check_ranks();
    check_heads_and_head_dim();
    check_batch_agreement();
    check_lengths();
    check_out_shape();
    check_strides();
    check_lse_shape();
    if (ragged_) check_ragged();
    const PrefillShape s = shape();
    // Last: inputs over `seqs` and the ranges need the batch size.
    validate_variant_values(variant_, variant_values_of(args_), s.batch, device_, where_);
    return s;
  }

 private:
  // --- which arguments are given ---------------------------------------------------
  void check_presence() {
    const std::pair<const char*, const TensorView*> required[] = {
        {"q", &args_.q}, {"k", &args_.k}, {"v", &args_.v}, {"out", &args_.out}};
    for (auto [name, view] : required) c_.present(name, *view, "a data pointer");

    if (variant_.lse)
      c_.present("lse", args_.lse,
                 fmt::format("an f32 tensor because {} writes lse", variant_name(variant_)));
    else
      c_.absent("lse", args_.lse,
                fmt::format("because {} does not write lse", variant_name(variant_)));

    // Ragged mode needs both prefix-sum arrays; one alone is a caller bug.
    const bool has_q = args_.cu_seqlens_q.defined(), has_k = args_.cu_seqlens_k.defined();
    if (has_q && !has_k) c_.fail("cu_seqlens_k", "a tensor (cu_seqlens_q is given)", "null");
    if (has_k && !has_q) c_.fail("cu_seqlens_q", "a tensor (cu_seqlens_k is given)", "null");
    ragged_ = has_q;
  }

  void build_arg_list() {
    if (ragged_) {
      tensors_ = {{"q", &args_.q, {"total_q", "q_heads", "head_dim"}},
                  {"k", &args_.k, {"total_k", "kv_heads", "head_dim"}},
                  {"v", &args_.v, {"total_k", "kv_heads", "head_dim"}},
                  {"out", &args_.out, {"total_q", "q_heads", "head_dim"}}};
    } else {
      tensors_ = {{"q", &args_.q, {"batch", "seqlen_q", "q_heads", "head_dim"}},
                  {"k", &args_.k, {"batch", "seqlen_k", "kv_heads", "head_dim"}},
                  {"v", &args_.v, {"batch", "seqlen_k", "kv_heads", "head_dim"}},
                  {"out", &args_.out, {"batch", "seqlen_q", "q_heads", "head_dim"}}};
    }
    others_.clear();
    if (args_.lse.defined())
      others_.push_back(ragged_ ? TensorArg{"lse", &args_.lse, {"q_heads", "total_q"}}
                                : TensorArg{"lse", &args_.lse, {"batch", "q_heads", "seqlen_q"}});
    if (ragged_) {
      others_.push_back({"cu_seqlens_q", &args_.cu_seqlens_q, {"batch + 1"}});
      others_.push_back({"cu_seqlens_k", &args_.cu_seqlens_k, {"batch + 1"}});
    }
  }

  // The entry of others_ for lse or a cu_seqlens tensor (it is there once given).
  const TensorArg& other(const TensorView& t) const {
    for (const TensorArg& a : others_)
      if (a.view == &t) return a;
    throw std::logic_error("validate_prefill: argument missing from the list");
  }

  std::vector<TensorArg> all_args() const {
    std::vector<TensorArg> all = tensors_;
    all.insert(all.end(), others_.begin(), others_.end());
    return all;
  }

  // --- device, dtype, rank -----------------------------------------------------------
  void check_devices() const {
    for (const TensorArg& a : all_args()) c_.device(a);
  }

  void check_dtypes() const {
    const std::string tag = fmt::format(" {}", variant_tag(variant_));
    c_.dtype("q", args_.q, variant_.q_type, tag);
    c_.dtype("k", args_.k, variant_.kv_type, tag);
    c_.dtype("v", args_.v, variant_.kv_type, tag);
    c_.dtype("out", args_.out, variant_.out_type, tag);
    if (args_.lse.defined()) c_.dtype("lse", args_.lse, DType::f32, "");
    if (ragged_) {
      c_.dtype("cu_seqlens_q", args_.cu_seqlens_q, DType::i32, "");
      c_.dtype("cu_seqlens_k", args_.cu_seqlens_k, DType::i32, "");
    }
  }

  void check_ranks() const {
    for (const TensorArg& a : all_args()) {
      const TensorView& t = *a.view;
      const int want = static_cast<int>(a.dims.size());
      // The fixed-length layout is the common mistake's neighbour: say how to go ragged.
      const bool main_tensor = a.view == &args_.q || a.view == &args_.k ||
                               a.view == &args_.v || a.view == &args_.out;
      const char* hint = !ragged_ && main_tensor && t.rank() == want - 1
                             ? " (rank 3 is the ragged layout and needs cu_seqlens_q/k)"
                             : "";
      c_.rank(a, hint);
    }
  }

  // --- sizes against the variant and each other --------------------------------------
  void check_heads_and_head_dim() const {
    const int head_axis = ragged_ ? 1 : 2;
    for (const TensorArg& a : tensors_) {
      if (a.view == &args_.out) continue;  // out is compared with q as a whole
      const bool is_q = a.view == &args_.q;
      const int64_t heads = a.view->shape[head_axis];
      const int want = is_q ? variant_.q_heads : variant_.kv_heads;
      if (heads != want)
        c_.fail(a.name,
                fmt::format("{} {} heads {}", want, is_q ? "query" : "kv", variant_tag(variant_)),
                std::to_string(heads));
    }
    for (const TensorArg& a : tensors_) {
      if (a.view == &args_.out) continue;
      const int64_t dim = a.view->shape.back();
      if (dim != variant_.head_dim)
        c_.fail(a.name, fmt::format("head_dim {} {}", variant_.head_dim, variant_tag(variant_)),
                std::to_string(dim));
    }
  }

  void check_batch_agreement() const {
    const TensorView &q = args_.q, &k = args_.k, &v = args_.v;
    if (ragged_) {
      // Batch comes from cu_seqlens; k and v must hold the same tokens.
      if (v.shape[0] != k.shape[0])
        c_.fail("v", fmt::format("{} tokens (as k)", k.shape[0]), std::to_string(v.shape[0]));
      return;
    }
    if (k.shape[0] != q.shape[0])
      c_.fail("k", fmt::format("batch {} (as q)", q.shape[0]), std::to_string(k.shape[0]));
    if (v.shape[0] != q.shape[0])
      c_.fail("v", fmt::format("batch {} (as q)", q.shape[0]), std::to_string(v.shape[0]));
    if (v.shape[1] != k.shape[1])
      c_.fail("v", fmt::format("seqlen_k {} (as k)", k.shape[1]), std::to_string(v.shape[1]));
  }

  // Any lengths are fine (the causal mask aligns the ends, FlashAttention style), but a
  // query needs at least one key to attend to.
  void check_lengths() const {
    if (ragged_) return;  // per-sequence lengths are checked from cu_seqlens
    if (args_.q.shape[1] >= 1 && args_.k.shape[1] < 1)
      c_.fail("k", "seqlen_k >= 1 (q has queries)", std::to_string(args_.k.shape[1]));
  }

  void check_out_shape() const { c_.same_shape(tensors_[3], tensors_[0]); }

  // --- memory layout -------------------------------------------------------------------
  void check_strides() const {
    // Every innermost stride first, then each tensor's alignment and outer strides.
    for (const TensorArg& a : tensors_) c_.unit_inner_stride(a);
    for (const TensorArg& a : tensors_) c_.row_alignment(a);
  }

  void check_lse_shape() const {
    if (!args_.lse.defined()) return;
    const TensorView& lse = args_.lse;
    const TensorView& q = args_.q;
    std::vector<int64_t> want =
        ragged_ ? std::vector<int64_t>{variant_.q_heads, q.shape[0]}
                : std::vector<int64_t>{q.shape[0], variant_.q_heads, q.shape[1]};
    const std::string layout = ragged_ ? "[q_heads, total_q]" : "[batch, q_heads, seqlen_q]";
    if (lse.shape != want)
      c_.fail("lse", fmt::format("shape {} {}", shape_text(want), layout), shape_text(lse.shape));
    // Written one float at a time: natural alignment and positive strides suffice.
    c_.elementwise(other(lse));
  }

  // --- ragged batches ------------------------------------------------------------------
  void check_ragged() {
    const TensorView &cq = args_.cu_seqlens_q, &ck = args_.cu_seqlens_k;
    if (cq.shape[0] < 1)
      c_.fail("cu_seqlens_q", "at least 1 entry (batch + 1)", "0");
    if (ck.shape[0] != cq.shape[0])
      c_.fail("cu_seqlens_k", fmt::format("{} entries (batch + 1, as cu_seqlens_q)", cq.shape[0]),
              std::to_string(ck.shape[0]));
    // The kernel indexes these as plain int arrays.
    c_.int_array(other(cq));
    c_.int_array(other(ck));
    if (args_.max_seqlen_q < 1)
      c_.fail("max_seqlen_q", "a positive value", std::to_string(args_.max_seqlen_q));
    if (args_.max_seqlen_k < 1)
      c_.fail("max_seqlen_k", "a positive value", std::to_string(args_.max_seqlen_k));
    batch_ = static_cast<int>(cq.shape[0] - 1);
    // Device arrays cannot be read here; host arrays are checked in full.
    if (cq.device == DeviceKind::cpu && ck.device == DeviceKind::cpu) check_host_offsets();
  }

  static std::vector<int32_t> read_offsets(const TensorView& t) {
    std::vector<int32_t> values(t.shape[0]);
    const auto* base = static_cast<const unsigned char*>(t.data);
    for (int64_t i = 0; i < t.shape[0]; ++i)
      std::memcpy(&values[i], base + i * t.stride(0) * sizeof(int32_t), sizeof(int32_t));
    return values;
  }

  void check_offsets(const char* name, const std::vector<int32_t>& cu, int64_t total,
                     const char* tensor, const char* max_name, int max_len) const {
    if (cu[0] != 0) c_.fail(name, fmt::format("{}[0] == 0", name), std::to_string(cu[0]));
    for (size_t i = 1; i < cu.size(); ++i) {
      if (cu[i] < cu[i - 1])
        c_.fail(name, "non-decreasing offsets",
                fmt::format("{}[{}] = {} after {}[{}] = {}", name, i, cu[i], name, i - 1,
                            cu[i - 1]));
    }
    if (cu.back() != total)
      c_.fail(name, fmt::format("the last offset to equal {}'s total tokens {}", tensor, total),
              std::to_string(cu.back()));
    // The launch grid covers max_seqlen rows per sequence; a longer sequence would be
    // silently cut short.
    int longest = 0;
    for (size_t i = 1; i < cu.size(); ++i) longest = std::max(longest, cu[i] - cu[i - 1]);
    if (longest > max_len)
      c_.fail(max_name, fmt::format("at least {} (the longest sequence in {})", longest, name),
              std::to_string(max_len));
  }

  void check_host_offsets() const {
    const std::vector<int32_t> cq = read_offsets(args_.cu_seqlens_q);
    const std::vector<int32_t> ck = read_offsets(args_.cu_seqlens_k);
    check_offsets("cu_seqlens_q", cq, args_.q.shape[0], "q", "max_seqlen_q", args_.max_seqlen_q);
    check_offsets("cu_seqlens_k", ck, args_.k.shape[0], "k", "max_seqlen_k", args_.max_seqlen_k);
    for (size_t b = 0; b + 1 < cq.size(); ++b) {
      const int q_len = cq[b + 1] - cq[b], kv_len = ck[b + 1] - ck[b];
      if (q_len >= 1 && kv_len < 1)
        c_.fail("cu_seqlens_k",
                fmt::format("at least 1 key in sequence {} (it has {} queries)", b, q_len),
                std::to_string(kv_len));
    }
  }

  PrefillShape shape() const {
    PrefillShape s;
    s.ragged = ragged_;
    if (ragged_) {
      s.batch = batch_;
      s.seqlen_q = args_.max_seqlen_q;
      s.seqlen_k = args_.max_seqlen_k;
    } else {
      s.batch = static_cast<int>(args_.q.shape[0]);
      s.seqlen_q = static_cast<int>(args_.q.shape[1]);
      s.seqlen_k = static_cast<int>(args_.k.shape[1]);
    }
    return s;
  }

  const ir::Variant& variant_;
  const PrefillArgs& args_;
  DeviceKind device_;
  const std::string& where_;
  ArgumentChecks c_;
  bool ragged_ = false;
  int batch_ = 0;
  std::vector<TensorArg> tensors_;  // q, k, v, out
  std::vector<TensorArg> others_;   // lse and cu_seqlens, where given
};

}  // namespace

PrefillShape validate_prefill(const ir::Variant& variant, const PrefillArgs& args,
                              DeviceKind expected_device, const std::string& where) {
  return Validator(variant, args, expected_device, where).run();
}

}  // namespace attnjit
