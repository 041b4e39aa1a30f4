#include "runtime/harness/prefill_problem.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>

#include "runtime/driver/cuda_driver.h"
#include "runtime/harness/random_source.h"
#include "runtime/harness/random_values.h"
#include "runtime/reference/attention_rows.h"

namespace attnjit::harness {

namespace {

HostTensor make_tensor(DType dtype, std::vector<int64_t> shape) {
  return make_host_tensor(dtype, std::move(shape));
}

void fill_normal(HostTensor& t, RandomSource& random) {
  for (int64_t i = 0; i < t.numel(); ++i) store_element(t.bytes.data(), t.dtype, i, random.normal());
}

HostTensor prefix_sums(const std::vector<int>& lengths, int* max_length) {
  HostTensor t = make_tensor(DType::i32, {static_cast<int64_t>(lengths.size()) + 1});
  int total = 0;
  *max_length = 0;
  store_element(t.bytes.data(), DType::i32, 0, 0);
  for (size_t i = 0; i < lengths.size(); ++i) {
    total += lengths[i];
    *max_length = std::max(*max_length, lengths[i]);
    store_element(t.bytes.data(), DType::i32, static_cast<int64_t>(i) + 1, total);
  }
  return t;
}

int64_t sum(const std::vector<int>& values) {
  int64_t total = 0;
  for (int v : values) total += v;
  return total;
}

void check_shape(const ProblemShape& s) {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("make_random_problem: " + what);
  };
  bool ragged = !s.seqlens_q.empty() || !s.seqlens_k.empty();
  if (s.batch < 1) bad("batch must be at least 1, got " + std::to_string(s.batch));
  if (!ragged) {
    if (s.seqlen_q < 1 || s.seqlen_k < 1)
      bad(fmt::format("seqlen_q and seqlen_k must be at least 1, got {} and {}", s.seqlen_q,
                      s.seqlen_k));
    return;
  }
  if (s.seqlens_q.size() != static_cast<size_t>(s.batch) ||
      s.seqlens_k.size() != static_cast<size_t>(s.batch))
    bad(fmt::format("ragged problem with batch {} needs {} lengths each, got {} query and {} key",
                    s.batch, s.batch, s.seqlens_q.size(), s.seqlens_k.size()));
  for (int n : s.seqlens_q)
    if (n < 0) bad("negative query length " + std::to_string(n));
  for (int n : s.seqlens_k)
    if (n < 0) bad("negative key length " + std::to_string(n));
  // cu_seqlens are int32 on the device.
  if (sum(s.seqlens_q) > INT32_MAX || sum(s.seqlens_k) > INT32_MAX)
    bad("total length does not fit in int32 cu_seqlens");
}

}  // namespace

// --- host tensors --------------------------------------------------------------------

HostTensor make_host_tensor(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.assign(static_cast<size_t>(t.numel()) * dtype_bytes(dtype), 0);
  return t;
}

int64_t HostTensor::numel() const {
  if (shape.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorView HostTensor::view() const {
  if (!defined()) return {};
  return contiguous_view(const_cast<unsigned char*>(bytes.data()), dtype, shape, DeviceKind::cpu);
}

PrefillArgs HostProblem::host_args() const {
  PrefillArgs args;
  args.q = q.view();
  args.k = k.view();
  args.v = v.view();
  args.out = out.view();
  args.lse = lse.view();
  if (ragged) {
    args.cu_seqlens_q = cu_seqlens_q.view();
    args.cu_seqlens_k = cu_seqlens_k.view();
    args.max_seqlen_q = max_seqlen_q;
    args.max_seqlen_k = max_seqlen_k;
  }
  args.params = params;
  for (const auto& [name, values] : inputs) args.inputs[name] = values.view();
  args.sinks = sinks.view();
  args.bidirectional_ranges = bidirectional_ranges.view();
  return args;
}

HostProblem make_random_problem(const ir::Variant& v, const ProblemShape& s, uint64_t seed) {
  check_shape(s);
  HostProblem p;
  p.batch = s.batch;
  p.ragged = !s.seqlens_q.empty();
  const int64_t hq = v.q_heads, hkv = v.kv_heads, d = v.head_dim;
  if (p.ragged) {
    p.cu_seqlens_q = prefix_sums(s.seqlens_q, &p.max_seqlen_q);
    p.cu_seqlens_k = prefix_sums(s.seqlens_k, &p.max_seqlen_k);
    const int64_t total_q = sum(s.seqlens_q), total_k = sum(s.seqlens_k);
    p.q = make_tensor(v.q_type, {total_q, hq, d});
    p.k = make_tensor(v.kv_type, {total_k, hkv, d});
    p.v = make_tensor(v.kv_type, {total_k, hkv, d});
    p.out = make_tensor(v.out_type, {total_q, hq, d});
    if (v.lse) p.lse = make_tensor(DType::f32, {hq, total_q});
  } else {
    p.max_seqlen_q = s.seqlen_q;
    p.max_seqlen_k = s.seqlen_k;
    const int64_t b = s.batch, sq = s.seqlen_q, sk = s.seqlen_k;
    p.q = make_tensor(v.q_type, {b, sq, hq, d});
    p.k = make_tensor(v.kv_type, {b, sk, hkv, d});
    p.v = make_tensor(v.kv_type, {b, sk, hkv, d});
    p.out = make_tensor(v.out_type, {b, sq, hq, d});
    if (v.lse) p.lse = make_tensor(DType::f32, {b, hq, sq});
  }
  RandomSource random(seed);
  fill_normal(p.q, random);
  fill_normal(p.k, random);
  fill_normal(p.v, random);
  // After q/k/v, so adding a feature to a variant leaves its q/k/v unchanged.
  const std::vector<int> kv_lens =
      p.ragged ? s.seqlens_k : std::vector<int>(static_cast<size_t>(s.batch), s.seqlen_k);
  add_runtime_values(v, s, kv_lens, random, p);
  return p;
}

// --- comparison -----------------------------------------------------------------------

ReferenceResult compute_reference(const ir::Variant& v, const HostProblem& problem) {
  PrefillArgs args = problem.host_args();
  // Undefined outputs: the reference must not overwrite the device result under test.
  args.out = {};
  args.lse = {};
  return reference_prefill(v, args, /*low_precision=*/true);
}

std::vector<double> lse_in_output_layout(const HostProblem& problem,
                                         const std::vector<double>& rows_by_heads) {
  if (!problem.lse.defined()) return {};
  std::vector<double> out(static_cast<size_t>(problem.lse.numel()));
  ATTNJIT_ASSERT(rows_by_heads.size() == out.size(), "reference LSE size mismatch");
  if (problem.ragged) {
    // [q_heads, total_q] from [total_q, q_heads].
    const int64_t heads = problem.lse.shape[0], total = problem.lse.shape[1];
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t t = 0; t < total; ++t) out[h * total + t] = rows_by_heads[t * heads + h];
  } else {
    // [batch, q_heads, seqlen_q] from [batch * seqlen_q, q_heads].
    const int64_t batch = problem.lse.shape[0], heads = problem.lse.shape[1],
                  rows = problem.lse.shape[2];
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t s = 0; s < rows; ++s)
          out[(b * heads + h) * rows + s] = rows_by_heads[(b * rows + s) * heads + h];
  }
  return out;
}

std::vector<double> reference_lse_in_output_layout(const HostProblem& problem,
                                                   const ReferenceResult& ref) {
  return lse_in_output_layout(problem, ref.lse);
}

CheckResult compare_with_reference(const ir::Variant& v, const HostProblem& problem) {
  return compare_with_reference(v, problem, compute_reference(v, problem));
}

CheckResult compare_with_reference(const ir::Variant& v, const HostProblem& problem,
                                   const ReferenceResult& ref) {
  if (ref.low.empty())
    throw std::invalid_argument(
        "compare_with_reference: the reference has no low-precision twin (use compute_reference)");
  CheckResult r;
  judge_outputs(problem.out, 1.0, kernel_precision(v).compute, v.head_dim, ref.out, ref.low, r);
  if (problem.lse.defined())
    judge_lse(problem.lse, lse_in_output_layout(problem, ref.lse),
              lse_in_output_layout(problem, ref.low.lse),
              lse_in_output_layout(problem, ref.low.lse_model_error), r);
  decide(r);
  return r;
}

// --- device round trip ----------------------------------------------------------------

namespace {

// A host tensor's device copy and a view of it with the host's shape and strides.
struct DeviceTensor {
  cuda::DeviceBuffer buffer;
  TensorView view;
};

DeviceTensor upload(const std::shared_ptr<cuda::Driver>& driver, const HostTensor& t) {
  DeviceTensor d;
  if (!t.defined()) return d;
  // A zero-byte allocation is an error in the driver; an empty tensor still needs an
  // address so its view counts as defined.
  d.buffer = cuda::DeviceBuffer(driver, std::max<size_t>(t.bytes.size(), 1));
  if (!t.bytes.empty()) d.buffer.upload(t.bytes.data(), t.bytes.size());
  d.view = t.view();
  d.view.data = d.buffer.data();
  d.view.device = DeviceKind::cuda;
  return d;
}

void download(const DeviceTensor& d, HostTensor& t) {
  if (t.defined() && !t.bytes.empty()) d.buffer.download(t.bytes.data(), t.bytes.size());
}

}  // namespace

void run_on_device(Engine& engine, const ir::Variant& v, HostProblem& problem) {
  std::shared_ptr<cuda::Driver> driver = engine.driver();
  driver->make_current();
  DeviceTensor q = upload(driver, problem.q), k = upload(driver, problem.k),
               val = upload(driver, problem.v), out = upload(driver, problem.out),
               lse = upload(driver, problem.lse), cu_q = upload(driver, problem.cu_seqlens_q),
               cu_k = upload(driver, problem.cu_seqlens_k);
  // NaN in every output byte: an element the kernel forgets to write fails the check
  // instead of passing by matching leftover memory.
  constexpr unsigned char kNaNBytes = 0xFF;
  if (problem.out.defined()) out.buffer.fill_bytes(kNaNBytes);
  if (problem.lse.defined()) lse.buffer.fill_bytes(kNaNBytes);

  // Runtime value arrays go to the device like the tensors; params stay on the host.
  std::map<std::string, DeviceTensor> inputs;
  for (const auto& [name, values] : problem.inputs) inputs.emplace(name, upload(driver, values));
  DeviceTensor sinks = upload(driver, problem.sinks),
               ranges = upload(driver, problem.bidirectional_ranges);

  PrefillArgs args = problem.host_args();
  args.q = q.view;
  args.k = k.view;
  args.v = val.view;
  args.out = out.view;
  args.lse = lse.view;
  if (problem.ragged) {
    args.cu_seqlens_q = cu_q.view;
    args.cu_seqlens_k = cu_k.view;
  }
  for (auto& [name, device_values] : inputs) args.inputs[name] = device_values.view;
  args.sinks = sinks.view;
  args.bidirectional_ranges = ranges.view;
  engine.prefill(v, args, nullptr);
  cuda::synchronize(*driver);
  download(out, problem.out);
  download(lse, problem.lse);
}

CheckResult run_and_check(Engine& engine, const ir::Variant& v, HostProblem& problem) {
  run_on_device(engine, v, problem);
  return compare_with_reference(v, problem);
}

}  // namespace attnjit::harness
