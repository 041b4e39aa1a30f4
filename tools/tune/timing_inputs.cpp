#include "tools/tune/timing_inputs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "runtime/harness/random_source.h"
#include "runtime/harness/random_values.h"
#include "runtime/reference/cpu_reference.h"

namespace attnjit::tune {

namespace {

using harness::RandomSource;

// Random values are drawn for one block of this many elements, which then repeats
// through the buffer: drawing gigabytes of them on the host would dominate the run,
// and a kernel's speed does not depend on which values repeat.
constexpr int64_t kRandomBlockElements = int64_t(1) << 20;
// int8 codes: a normal spread over most of the range (a standard normal would round
// to -1, 0 or 1 and leave most codes zero).
constexpr double kInt8Spread = 40.0;

std::vector<unsigned char> random_block(DType t, int64_t elements, RandomSource& random) {
  std::vector<unsigned char> block(static_cast<size_t>(elements) * dtype_bytes(t));
  for (int64_t i = 0; i < elements; ++i) {
    double x = random.normal();
    if (t == DType::i8) x = std::clamp(std::nearbyint(x * kInt8Spread), -127.0, 127.0);
    if (t == DType::i32 || t == DType::i64 || t == DType::u16)
      throw std::logic_error("random_block: index types are not random data");
    store_element(block.data(), t, i, x);
  }
  return block;
}

// A device tensor of `shape` and `t` filled by `fill(host_block, elements)` blocks.
struct Builder {
  std::shared_ptr<cuda::Driver> gpu;
  std::vector<cuda::DeviceBuffer>* buffers;
  size_t* bytes;

  TensorView tensor(DType t, std::vector<int64_t> shape, const std::vector<unsigned char>& block) {
    int64_t elements = 1;
    for (int64_t d : shape) elements *= d;
    const size_t size = static_cast<size_t>(elements) * dtype_bytes(t);
    cuda::DeviceBuffer buffer(gpu, std::max<size_t>(size, 1));
    for (size_t at = 0; at < size && !block.empty(); at += block.size())
      buffer.upload(block.data(), std::min(block.size(), size - at), at);
    *bytes += size;
    TensorView view = contiguous_view(buffer.data(), t, std::move(shape));
    buffers->push_back(std::move(buffer));
    return view;
  }
  TensorView random(DType t, std::vector<int64_t> shape, RandomSource& random) {
    int64_t elements = 1;
    for (int64_t d : shape) elements *= d;
    return tensor(t, std::move(shape),
                  random_block(t, std::min(elements, kRandomBlockElements), random));
  }
  // Uninitialized output, as a caller's would be.
  TensorView output(DType t, std::vector<int64_t> shape) { return tensor(t, std::move(shape), {}); }
  TensorView host(const harness::HostTensor& h) {
    if (!h.defined()) return {};
    return tensor(h.dtype, h.shape, h.bytes);
  }
  TensorView ints(const std::vector<int32_t>& values, std::vector<int64_t> shape) {
    std::vector<unsigned char> bytes(values.size() * sizeof(int32_t));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return tensor(DType::i32, std::move(shape), bytes);
  }
  TensorView scales(std::vector<int64_t> shape, double lo, double hi, RandomSource& random) {
    int64_t elements = 1;
    for (int64_t d : shape) elements *= d;
    std::vector<unsigned char> block(static_cast<size_t>(std::min(elements, kRandomBlockElements)) * 4);
    for (size_t i = 0; i < block.size() / 4; ++i)
      store_element(block.data(), DType::f32, static_cast<int64_t>(i), random.uniform(lo, hi));
    return tensor(DType::f32, std::move(shape), block);
  }
};

// The variant's params, input arrays, sinks and ranges, drawn as the harness draws them.
harness::HostProblem runtime_values(const ir::Variant& v, int batch, const std::vector<int>& kv_lens,
                                    RandomSource& random) {
  harness::HostProblem values;
  values.batch = batch;
  harness::ProblemShape s;
  s.batch = batch;
  harness::add_runtime_values(v, s, kv_lens, random, values);
  return values;
}

template <typename Args>
void bind_runtime_values(Builder& b, const harness::HostProblem& values, Args& args) {
  args.params = values.params;
  for (const auto& [name, array] : values.inputs) args.inputs[name] = b.host(array);
  args.sinks = b.host(values.sinks);
  args.bidirectional_ranges = b.host(values.bidirectional_ranges);
}

}  // namespace

TimingInputs::TimingInputs(std::shared_ptr<cuda::Driver> gpu, const ir::Variant& v, TuneKind kind,
                           const Shape& shape, uint64_t seed)
    : gpu_(std::move(gpu)), kind_(kind), shape_(shape) {
  gpu_->make_current();
  copies_.push_back(make_copy(v, seed));
  const double l2 = gpu_->attribute(cuda::kL2CacheSize);
  const int wanted = static_cast<int>(
      std::ceil(kL2Multiple * l2 / std::max<double>(1.0, static_cast<double>(bytes_per_copy_))));
  const int copies = std::clamp(wanted, 1, kMaxCopies);
  const size_t one_copy = bytes_per_copy_;
  while (static_cast<int>(copies_.size()) < copies) copies_.push_back(make_copy(v, seed + copies_.size()));
  bytes_per_copy_ = one_copy;
}

TimingInputs::Copy TimingInputs::make_copy(const ir::Variant& v, uint64_t seed) {
  bytes_per_copy_ = 0;
  return kind_ == TuneKind::prefill ? make_prefill_copy(v, seed) : make_paged_copy(v, seed);
}

TimingInputs::Copy TimingInputs::make_prefill_copy(const ir::Variant& v, uint64_t seed) {
  Copy c;
  Builder b{gpu_, &c.buffers, &bytes_per_copy_};
  RandomSource random(seed);
  const int64_t batch = shape_.batch, sq = shape_.query_len, sk = shape_.kv_len;
  PrefillArgs& a = c.prefill;
  a.q = b.random(v.q_type, {batch, sq, v.q_heads, v.head_dim}, random);
  a.k = b.random(v.kv_type, {batch, sk, v.kv_heads, v.head_dim}, random);
  a.v = b.random(v.kv_type, {batch, sk, v.kv_heads, v.head_dim}, random);
  a.out = b.output(v.out_type, {batch, sq, v.q_heads, v.head_dim});
  if (v.lse) a.lse = b.output(DType::f32, {batch, v.q_heads, sq});
  const std::vector<int> kv_lens(static_cast<size_t>(batch), shape_.kv_len);
  bind_runtime_values(b, runtime_values(v, shape_.batch, kv_lens, random), a);
  return c;
}

TimingInputs::Copy TimingInputs::make_paged_copy(const ir::Variant& v, uint64_t seed) {
  Copy c;
  Builder b{gpu_, &c.buffers, &bytes_per_copy_};
  RandomSource random(seed);
  const int batch = shape_.batch, q_len = shape_.query_len;
  const int seq_len = shape_.kv_len + q_len;
  const int page = v.kv_cache.page_size;
  const int pages_per_seq = (seq_len + page - 1) / page;
  const int64_t num_blocks = static_cast<int64_t>(batch) * pages_per_seq;
  const int64_t total_q = static_cast<int64_t>(batch) * q_len;
  if (num_blocks > INT32_MAX || total_q > INT32_MAX)
    throw std::runtime_error(fmt::format("shape {} is too large for int32 page ids",
                                         shape_name(kind_, shape_)));

  // Pages of all sequences shuffled, as a serving engine's allocator leaves them.
  std::vector<int32_t> pages(static_cast<size_t>(num_blocks));
  std::iota(pages.begin(), pages.end(), 0);
  for (size_t i = pages.size(); i > 1; --i)
    std::swap(pages[i - 1], pages[static_cast<size_t>(random.below(static_cast<int64_t>(i)))]);

  PagedArgs& a = c.paged;
  const int64_t heads = v.kv_heads, dim = v.head_dim;
  const std::vector<int64_t> cache_shape =
      v.kv_cache.layout == ir::KvLayout::HND ? std::vector<int64_t>{num_blocks, heads, page, dim}
                                             : std::vector<int64_t>{num_blocks, page, heads, dim};
  a.k_cache = b.random(v.kv_type, cache_shape, random);
  a.v_cache = b.random(v.kv_type, cache_shape, random);
  if (v.kv_scale == ir::ScaleGranularity::per_token_head) {
    // int8 codes of about +-40 times these scales give values of about unit size.
    const bool int8 = v.kv_type == DType::i8;
    const double lo = int8 ? 0.01 : 0.5, hi = int8 ? 0.05 : 2.0;
    a.k_scale_cache = b.scales({num_blocks, page, heads}, lo, hi, random);
    a.v_scale_cache = b.scales({num_blocks, page, heads}, lo, hi, random);
  }
  if (v.kv_scale == ir::ScaleGranularity::per_tensor) {
    a.k_descale = static_cast<float>(random.uniform(0.5, 2.0));
    a.v_descale = static_cast<float>(random.uniform(0.5, 2.0));
  }
  a.block_table = b.ints(pages, {batch, pages_per_seq});
  a.seq_lens = b.ints(std::vector<int32_t>(static_cast<size_t>(batch), seq_len), {batch});
  std::vector<int32_t> cu(static_cast<size_t>(batch) + 1);
  for (int i = 0; i <= batch; ++i) cu[static_cast<size_t>(i)] = i * q_len;
  a.cu_seqlens_q = b.ints(cu, {batch + 1});
  a.max_seqlen_q = q_len;
  a.max_seqlen_k = seq_len;
  a.q = b.random(v.q_type, {total_q, v.q_heads, dim}, random);
  a.out = b.output(v.out_type, {total_q, v.q_heads, dim});
  if (v.lse) a.lse = b.output(DType::f32, {v.q_heads, total_q});
  const std::vector<int> kv_lens(static_cast<size_t>(batch), seq_len);
  bind_runtime_values(b, runtime_values(v, batch, kv_lens, random), a);
  return c;
}

void TimingInputs::launch(Engine& engine, const ir::Variant& v, int run, int num_splits) const {
  const Copy& c = copies_[static_cast<size_t>(run) % copies_.size()];
  if (kind_ == TuneKind::prefill) {
    engine.prefill(v, c.prefill, nullptr);
  } else if (num_splits == 0) {
    engine.paged(v, c.paged, nullptr);
  } else {
    PagedArgs forced = c.paged;
    forced.num_splits = num_splits;
    engine.paged(v, forced, nullptr);
  }
}

PagedCall TimingInputs::paged_call() const {
  const PagedArgs& a = copies_.front().paged;
  PagedCall call;
  call.num_seqs = shape_.batch;
  call.total_q = shape_.batch * shape_.query_len;
  call.max_seqlen_q = a.max_seqlen_q;
  call.max_seqlen_k = a.max_seqlen_k;
  call.max_blocks_per_seq = static_cast<int>(a.block_table.shape[1]);
  call.num_splits = a.num_splits;
  return call;
}

}  // namespace attnjit::tune
