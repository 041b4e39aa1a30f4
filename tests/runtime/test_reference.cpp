// The CPU reference (the test oracle): element conversions, the expression
// interpreter, and attention results against hand-computed and independent answers.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <random>
#include <vector>

#include "catch.h"
#include "compiler/ir/expr.h"
#include "compiler/ir/numeric.h"
#include "compiler/ir/variant.h"
#include "compiler/passes/pipeline.h"
#include "runtime/reference/cpu_reference.h"
#include "runtime/reference/expr_eval.h"

using namespace attnjit;
#if defined(ATTNJIT_CATCH3)
using Catch::Approx;
#endif
using ir::Builtin;
using ir::Op;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// --- host tensors -------------------------------------------------------------------

// A cpu tensor that owns its bytes; strides may describe any (padded, permuted) layout.
struct HostTensor {
  DType dtype = DType::f32;
  std::vector<int64_t> shape, strides;
  std::vector<unsigned char> bytes;

  TensorView view() {
    TensorView v;
    v.data = bytes.data();
    v.dtype = dtype;
    v.shape = shape;
    v.strides = strides;
    v.device = DeviceKind::cpu;
    return v;
  }
  int64_t offset(const std::vector<int64_t>& index) const {
    int64_t o = 0;
    for (size_t d = 0; d < index.size(); ++d) o += index[d] * strides[d];
    return o;
  }
  double get(const std::vector<int64_t>& index) const {
    return load_element(bytes.data(), dtype, offset(index));
  }
  void set(const std::vector<int64_t>& index, double value) {
    store_element(bytes.data(), dtype, offset(index), value);
  }
};

void for_each_index(const std::vector<int64_t>& shape,
                    const std::function<void(const std::vector<int64_t>&)>& fn) {
  std::vector<int64_t> index(shape.size(), 0);
  for (int64_t e : shape)
    if (e == 0) return;
  while (true) {
    fn(index);
    int d = static_cast<int>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

HostTensor zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.strides.assign(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d)
    t.strides[d] = t.strides[d + 1] * shape[d + 1];
  int64_t n = 1;
  for (int64_t e : shape) n *= e;
  t.bytes.assign(n * dtype_bytes(dtype), 0);
  return t;
}

// Normal random values (never all zeros), rounded to the dtype.
HostTensor random_tensor(DType dtype, std::vector<int64_t> shape, std::mt19937& rng) {
  HostTensor t = zeros(dtype, shape);
  std::normal_distribution<double> normal(0.0, 1.0);
  for_each_index(shape, [&](const std::vector<int64_t>& i) { t.set(i, normal(rng)); });
  return t;
}

// The same values in a different memory layout.
HostTensor relayout(const HostTensor& src, std::vector<int64_t> strides, int64_t storage_elems) {
  HostTensor t;
  t.dtype = src.dtype;
  t.shape = src.shape;
  t.strides = std::move(strides);
  t.bytes.assign(storage_elems * dtype_bytes(src.dtype), 0xAB);  // poison the padding
  for_each_index(src.shape, [&](const std::vector<int64_t>& i) { t.set(i, src.get(i)); });
  return t;
}

HostTensor int32_tensor(const std::vector<int32_t>& values) {
  HostTensor t = zeros(DType::i32, {static_cast<int64_t>(values.size())});
  std::memcpy(t.bytes.data(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

// A 1-D f32 array (an input or the sinks).
HostTensor f32_values(const std::vector<double>& values) {
  HostTensor t = zeros(DType::f32, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) t.set({static_cast<int64_t>(i)}, values[i]);
  return t;
}

ir::Variant make_variant(int q_heads, int kv_heads, int head_dim, DType t = DType::f32) {
  ir::Variant v;
  v.name = "test";
  v.q_heads = q_heads;
  v.kv_heads = kv_heads;
  v.head_dim = head_dim;
  v.q_type = v.kv_type = v.out_type = t;
  return v;
}

ir::ExprRef causal_mask() {
  return ir::make_binary(Op::ge, ir::make_builtin(Builtin::q_pos),
                         ir::make_builtin(Builtin::kv_pos));
}

// A fixed-length problem's tensors.
struct Problem {
  HostTensor q, k, v;
  PrefillArgs args() {
    PrefillArgs a;
    a.q = q.view();
    a.k = k.view();
    a.v = v.view();
    return a;
  }
};

Problem random_problem(const ir::Variant& var, int batch, int seqlen_q, int seqlen_k,
                       uint32_t seed) {
  std::mt19937 rng(seed);
  Problem p;
  p.q = random_tensor(var.q_type, {batch, seqlen_q, var.q_heads, var.head_dim}, rng);
  p.k = random_tensor(var.kv_type, {batch, seqlen_k, var.kv_heads, var.head_dim}, rng);
  p.v = random_tensor(var.kv_type, {batch, seqlen_k, var.kv_heads, var.head_dim}, rng);
  return p;
}

// Independent single-row attention: softmax over the keys where logit(j) is finite.
// A value rounded to f32, as every real operation of a score is.
double f32(double v) { return ir::round_f32(v); }

std::vector<double> naive_row(const std::vector<double>& logits,
                              const std::vector<std::vector<double>>& values, double* lse) {
  double m = -kInf;
  for (double x : logits) m = std::max(m, x);
  std::vector<double> out(values.empty() ? 0 : values[0].size(), 0.0);
  double sum = 0;
  for (size_t j = 0; j < logits.size(); ++j) sum += std::exp(logits[j] - m);
  for (size_t j = 0; j < logits.size(); ++j)
    for (size_t d = 0; d < out.size(); ++d)
      out[d] += std::exp(logits[j] - m) / sum * values[j][d];
  *lse = m + std::log(sum);
  return out;
}

}  // namespace

// --- element conversions --------------------------------------------------------------

namespace {
uint32_t encode_bits(DType t, double value) {
  unsigned char buf[8] = {};
  store_element(buf, t, 0, value);
  uint32_t bits = 0;
  std::memcpy(&bits, buf, dtype_bytes(t) < 4 ? dtype_bytes(t) : 4);
  return bits;
}
double decode_bits(DType t, uint32_t bits) {
  unsigned char buf[8] = {};
  std::memcpy(buf, &bits, 4);
  return load_element(buf, t, 0);
}
}  // namespace

TEST_CASE("bf16 and fp16 conversions round to nearest even", "[reference]") {
  CHECK(encode_bits(DType::bf16, 1.0) == 0x3f80);
  CHECK(encode_bits(DType::bf16, -2.0) == 0xc000);
  CHECK(encode_bits(DType::bf16, 1.0 + std::ldexp(1, -8)) == 0x3f80);      // tie: to even
  CHECK(encode_bits(DType::bf16, 1.0 + 3 * std::ldexp(1, -8)) == 0x3f82);  // tie: to even
  CHECK(encode_bits(DType::bf16, 1.0 + std::ldexp(1, -8) + 1e-12) == 0x3f81);
  CHECK(encode_bits(DType::bf16, 1e39) == 0x7f80);  // overflow: inf
  CHECK(decode_bits(DType::bf16, 0x4049) == 3.140625);

  CHECK(encode_bits(DType::f16, 1.0 / 3.0) == 0x3555);
  CHECK(encode_bits(DType::f16, 65504.0) == 0x7bff);
  CHECK(encode_bits(DType::f16, 65519.0) == 0x7bff);
  CHECK(encode_bits(DType::f16, 65520.0) == 0x7c00);  // halfway to 2^16: rounds to inf
  CHECK(encode_bits(DType::f16, std::ldexp(1, -24)) == 0x0001);  // smallest subnormal
  CHECK(encode_bits(DType::f16, std::ldexp(1, -26)) == 0x0000);  // below half of it
  CHECK(encode_bits(DType::f16, -0.0) == 0x8000);
  CHECK(std::isnan(decode_bits(DType::f16, 0x7e00)));
  CHECK(decode_bits(DType::f16, 0xfc00) == -kInf);

  // Every non-NaN pattern survives decode -> encode.
  for (DType t : {DType::f16, DType::bf16}) {
    for (uint32_t bits = 0; bits < 0x10000; ++bits) {
      const double x = decode_bits(t, bits);
      if (std::isnan(x)) continue;
      REQUIRE(encode_bits(t, x) == bits);
    }
  }
}

TEST_CASE("fp8 conversions saturate to the largest finite value", "[reference]") {
  // e4m3fn: bias 7, no inf, 0x7f / 0xff are NaN, max 448.
  CHECK(decode_bits(DType::fp8_e4m3, 0x7e) == 448.0);
  CHECK(decode_bits(DType::fp8_e4m3, 0x38) == 1.0);
  CHECK(decode_bits(DType::fp8_e4m3, 0x01) == std::ldexp(1, -9));
  CHECK(std::isnan(decode_bits(DType::fp8_e4m3, 0x7f)));
  CHECK(std::isnan(decode_bits(DType::fp8_e4m3, 0xff)));
  CHECK(encode_bits(DType::fp8_e4m3, 1000.0) == 0x7e);
  CHECK(encode_bits(DType::fp8_e4m3, -1000.0) == 0xfe);
  CHECK(encode_bits(DType::fp8_e4m3, kInf) == 0x7e);
  CHECK(encode_bits(DType::fp8_e4m3, 464.0) == 0x7e);  // tie between 448 and 480: even
  CHECK(encode_bits(DType::fp8_e4m3, std::nan("")) == 0x7f);
  CHECK(encode_bits(DType::fp8_e4m3, 1.0625) == 0x38);  // tie: to even (1.0)
  CHECK(encode_bits(DType::fp8_e4m3, 1.1875) == 0x3a);  // tie: to even (1.25)

  // e5m2: bias 15, IEEE specials, max 57344.
  CHECK(decode_bits(DType::fp8_e5m2, 0x7b) == 57344.0);
  CHECK(decode_bits(DType::fp8_e5m2, 0x7c) == kInf);
  CHECK(std::isnan(decode_bits(DType::fp8_e5m2, 0x7e)));
  CHECK(encode_bits(DType::fp8_e5m2, 1.25) == 0x3d);
  CHECK(encode_bits(DType::fp8_e5m2, 1e6) == 0x7b);
  CHECK(encode_bits(DType::fp8_e5m2, -kInf) == 0xfb);
  CHECK(encode_bits(DType::fp8_e5m2, std::ldexp(1, -16)) == 0x01);

  for (DType t : {DType::fp8_e4m3, DType::fp8_e5m2}) {
    for (uint32_t bits = 0; bits < 0x100; ++bits) {
      const double x = decode_bits(t, bits);
      if (std::isnan(x)) continue;
      if (std::isinf(x)) continue;  // saturating stores never produce inf
      REQUIRE(encode_bits(t, x) == bits);
    }
  }
}

TEST_CASE("integer and wide float stores", "[reference]") {
  CHECK(static_cast<int8_t>(encode_bits(DType::i8, 200.0)) == 127);
  CHECK(static_cast<int8_t>(encode_bits(DType::i8, -3.5)) == -4);
  CHECK(static_cast<int8_t>(encode_bits(DType::i8, 2.5)) == 2);
  CHECK(encode_bits(DType::u16, -5.0) == 0);
  CHECK(encode_bits(DType::u16, 70000.0) == 65535);
  CHECK(static_cast<int32_t>(encode_bits(DType::i32, -123456.0)) == -123456);
  int64_t wide = 0;
  store_element(&wide, DType::i64, 0, -(double{1LL << 40}) - 3);
  CHECK(wide == -(int64_t{1} << 40) - 3);
  CHECK(load_element(&wide, DType::i64, 0) == -(double{1LL << 40}) - 3);
  store_element(&wide, DType::i64, 0, 1e30);  // clamps, no undefined conversion
  CHECK(wide == std::numeric_limits<int64_t>::max());
  CHECK(decode_bits(DType::f32, encode_bits(DType::f32, 0.1)) == static_cast<double>(0.1f));
  double buf = 0;
  store_element(&buf, DType::f64, 0, 0.1);
  CHECK(load_element(&buf, DType::f64, 0) == 0.1);
}

// --- the expression interpreter -------------------------------------------------------

TEST_CASE("expression interpreter semantics", "[reference]") {
  std::map<std::string, double> params{{"cap", 5.0}};
  std::map<std::string, std::vector<double>> arrays{{"slope", {0.5, 0.25}}};
  ExprEnv env;
  env.params = &params;
  env.arrays = &arrays;
  env[Builtin::score] = 10.0;
  env[Builtin::q_pos] = 7;
  env[Builtin::kv_pos] = 3;
  env[Builtin::q_head] = 1;

  auto c = [](double x) { return ir::make_constant(x); };
  auto b = [](Builtin x) { return ir::make_builtin(x); };
  CHECK(evaluate(*ir::make_binary(Op::mod, c(-7), c(3)), env) == -1.0);  // C: dividend's sign
  CHECK(evaluate(*ir::make_binary(Op::mod, c(7), c(-3)), env) == 1.0);
  CHECK(evaluate(*ir::make_binary(Op::div, c(7), c(2)), env) == 3.5);
  CHECK(evaluate(*ir::make_binary(Op::sub, b(Builtin::q_pos), b(Builtin::kv_pos)), env) == 4.0);
  CHECK(evaluate(*ir::make_unary(Op::neg, b(Builtin::score)), env) == -10.0);

  auto softcap = ir::make_binary(
      Op::mul, ir::make_param("cap"),
      ir::make_call("tanh", {ir::make_binary(Op::div, b(Builtin::score), ir::make_param("cap"))}));
  CHECK(evaluate(*softcap, env) == Approx(5.0 * std::tanh(2.0)));

  auto slope = ir::make_input("slope", b(Builtin::q_head));
  CHECK(evaluate(*slope, env) == 0.25);

  auto window = ir::make_binary(
      Op::logical_and, causal_mask(),
      ir::make_binary(Op::lt, ir::make_binary(Op::sub, b(Builtin::q_pos), b(Builtin::kv_pos)),
                      c(4)));
  CHECK(evaluate(*window, env) == 0.0);  // distance 4 is outside a window of 4
  env[Builtin::kv_pos] = 4;
  CHECK(evaluate(*window, env) == 1.0);
  CHECK(evaluate(*ir::make_unary(Op::logical_not, window), env) == 0.0);

  CHECK(evaluate(*ir::make_select(window, c(1), c(2)), env) == 1.0);
  CHECK(evaluate(*ir::make_call("min", {c(3), c(-2)}), env) == -2.0);
  CHECK(evaluate(*ir::make_call("max", {c(3), c(-2)}), env) == 3.0);
  CHECK(evaluate(*ir::make_call("exp2", {c(3)}), env) == 8.0);
  CHECK(evaluate(*ir::make_call("abs", {c(-3)}), env) == 3.0);
  CHECK(evaluate(*ir::make_call("sqrt", {c(9)}), env) == 3.0);
  CHECK(evaluate(*ir::make_call("log", {c(1)}), env) == 0.0);
  CHECK(evaluate(*ir::make_call("exp", {c(0)}), env) == 1.0);
  CHECK(evaluate(*ir::make_binary(Op::ne, c(1), c(2)), env) == 1.0);
  CHECK(evaluate(*ir::make_binary(Op::le, c(2), c(2)), env) == 1.0);
  CHECK(evaluate(*ir::make_binary(Op::logical_or, ir::make_bool(false), ir::make_bool(true)),
                 env) == 1.0);

  CHECK_THROWS_WITH(evaluate(*ir::make_param("nope"), env),
                    "expression reads param 'nope', which has no value");
  env[Builtin::q_head] = 2;
  CHECK_THROWS_AS(evaluate(*slope, env), std::invalid_argument);

  CHECK(reads_builtin(softcap, Builtin::score));
  CHECK_FALSE(reads_builtin(window, Builtin::score));
  CHECK_FALSE(reads_builtin(nullptr, Builtin::score));
}

// --- attention ------------------------------------------------------------------------

TEST_CASE("two keys: a hand-computed softmax", "[reference]") {
  ir::Variant var = make_variant(1, 1, 8);
  var.scale = 1.0;
  HostTensor q = zeros(DType::f32, {1, 1, 1, 8}), k = zeros(DType::f32, {1, 2, 1, 8}),
             v = zeros(DType::f32, {1, 2, 1, 8});
  // logits: q.k0 = 1, q.k1 = 0.
  q.set({0, 0, 0, 0}, 1.0);
  q.set({0, 0, 0, 1}, 0.5);
  k.set({0, 0, 0, 0}, 1.0);
  k.set({0, 1, 0, 2}, 1.0);
  for (int d = 0; d < 8; ++d) {
    v.set({0, 0, 0, d}, d);
    v.set({0, 1, 0, d}, 10.0 - d);
  }
  HostTensor out = zeros(DType::f32, {1, 1, 1, 8});
  PrefillArgs args;
  args.q = q.view();
  args.k = k.view();
  args.v = v.view();
  args.out = out.view();
  ReferenceResult r = reference_prefill(var, args);

  const double p0 = std::exp(1.0) / (std::exp(1.0) + 1.0), p1 = 1.0 - p0;
  REQUIRE(r.out.size() == 8);
  for (int d = 0; d < 8; ++d) {
    CHECK(r.out[d] == Approx(p0 * d + p1 * (10.0 - d)).epsilon(1e-14));
    CHECK(out.get({0, 0, 0, d}) == Approx(p0 * d + p1 * (10.0 - d)).epsilon(1e-6));
  }
  REQUIRE(r.lse.size() == 1);
  CHECK(r.lse[0] == Approx(std::log(std::exp(1.0) + 1.0)).epsilon(1e-14));
}

TEST_CASE("a fully masked row gives 0 and -inf", "[reference]") {
  ir::Variant var = make_variant(2, 1, 16);
  var.lse = true;
  // Causal, and row 0 (q_pos 0) additionally sees nothing.
  var.mask = ir::make_binary(Op::logical_and, causal_mask(),
                             ir::make_binary(Op::ge, ir::make_builtin(Builtin::q_pos),
                                             ir::make_constant(1)));
  Problem p = random_problem(var, 1, 3, 3, 7);
  HostTensor out = zeros(DType::f32, {1, 3, 2, 16});
  HostTensor lse = zeros(DType::f32, {1, 2, 3});
  PrefillArgs args = p.args();
  args.out = out.view();
  args.lse = lse.view();
  ReferenceResult r = reference_prefill(var, args);

  for (int h = 0; h < 2; ++h) {
    CHECK(r.lse[0 * 2 + h] == -kInf);
    CHECK(lse.get({0, h, 0}) == -kInf);
    for (int d = 0; d < 16; ++d) {
      CHECK(r.out[(0 * 2 + h) * 16 + d] == 0.0);
      CHECK(out.get({0, 0, h, d}) == 0.0);
    }
    // Row 1 sees keys 0..1: finite.
    CHECK(std::isfinite(r.lse[1 * 2 + h]));
    CHECK(lse.get({0, h, 1}) == Approx(r.lse[1 * 2 + h]).epsilon(1e-6));
  }
}

TEST_CASE("causal masks align the ends of q and kv", "[reference]") {
  // With scale 0 every visible key weighs the same, so with v[j] = j the output is the
  // mean of the visible positions, (n - 1) / 2, and lse = log(n).
  ir::Variant var = make_variant(1, 1, 8);
  var.scale = 0.0;
  var.mask = causal_mask();
  const int q_len = 3, kv_len = 7;
  Problem p = random_problem(var, 1, q_len, kv_len, 11);
  for (int j = 0; j < kv_len; ++j)
    for (int d = 0; d < 8; ++d) p.v.set({0, j, 0, d}, j);
  ReferenceResult r = reference_prefill(var, p.args());
  for (int i = 0; i < q_len; ++i) {
    const int visible = kv_len - q_len + 1 + i;  // first row: 5 keys; last row: all 7
    INFO("row " << i);
    CHECK(r.out[i * 8] == Approx((visible - 1) / 2.0));
    CHECK(r.lse[i] == Approx(std::log(visible)));
  }
}

TEST_CASE("GQA: query head h reads kv head h / group", "[reference]") {
  ir::Variant gqa = make_variant(4, 2, 16, DType::bf16);
  gqa.mask = causal_mask();
  Problem p = random_problem(gqa, 2, 5, 9, 21);
  ReferenceResult r = reference_prefill(gqa, p.args());

  // The same problem as MHA with each kv head repeated for its query heads.
  ir::Variant mha = gqa;
  mha.kv_heads = 4;
  HostTensor k4 = zeros(DType::bf16, {2, 9, 4, 16}), v4 = zeros(DType::bf16, {2, 9, 4, 16});
  for_each_index(k4.shape, [&](const std::vector<int64_t>& i) {
    const std::vector<int64_t> src{i[0], i[1], i[2] / 2, i[3]};
    k4.set(i, p.k.get(src));
    v4.set(i, p.v.get(src));
  });
  PrefillArgs args = p.args();
  args.k = k4.view();
  args.v = v4.view();
  ReferenceResult expected = reference_prefill(mha, args);
  CHECK(r.out == expected.out);
  CHECK(r.lse == expected.lse);
}

TEST_CASE("a ragged batch equals its sequences run one by one", "[reference]") {
  ir::Variant var = make_variant(2, 1, 16, DType::bf16);
  var.mask = causal_mask();
  var.lse = true;
  const std::vector<int> q_lens{3, 5, 1}, k_lens{4, 5, 6};
  std::vector<int32_t> cu_q{0}, cu_k{0};
  for (size_t b = 0; b < q_lens.size(); ++b) {
    cu_q.push_back(cu_q.back() + q_lens[b]);
    cu_k.push_back(cu_k.back() + k_lens[b]);
  }
  std::mt19937 rng(5);
  HostTensor q = random_tensor(DType::bf16, {cu_q.back(), 2, 16}, rng);
  HostTensor k = random_tensor(DType::bf16, {cu_k.back(), 1, 16}, rng);
  HostTensor v = random_tensor(DType::bf16, {cu_k.back(), 1, 16}, rng);
  HostTensor cq = int32_tensor(cu_q), ck = int32_tensor(cu_k);
  HostTensor out = zeros(DType::f32, {cu_q.back(), 2, 16});
  HostTensor lse = zeros(DType::f32, {2, cu_q.back()});
  var.out_type = DType::f32;
  PrefillArgs args;
  args.q = q.view();
  args.k = k.view();
  args.v = v.view();
  args.out = out.view();
  args.lse = lse.view();
  args.cu_seqlens_q = cq.view();
  args.cu_seqlens_k = ck.view();
  args.max_seqlen_q = 5;
  args.max_seqlen_k = 6;
  ReferenceResult ragged = reference_prefill(var, args);

  for (size_t b = 0; b < q_lens.size(); ++b) {
    INFO("sequence " << b);
    Problem one;
    one.q = zeros(DType::bf16, {1, q_lens[b], 2, 16});
    one.k = zeros(DType::bf16, {1, k_lens[b], 1, 16});
    one.v = zeros(DType::bf16, {1, k_lens[b], 1, 16});
    for_each_index(one.q.shape, [&](const std::vector<int64_t>& i) {
      one.q.set(i, q.get({cu_q[b] + i[1], i[2], i[3]}));
    });
    for_each_index(one.k.shape, [&](const std::vector<int64_t>& i) {
      one.k.set(i, k.get({cu_k[b] + i[1], i[2], i[3]}));
      one.v.set(i, v.get({cu_k[b] + i[1], i[2], i[3]}));
    });
    ReferenceResult fixed = reference_prefill(var, one.args());
    for (int i = 0; i < q_lens[b]; ++i) {
      const int64_t row = cu_q[b] + i;
      for (int h = 0; h < 2; ++h) {
        CHECK(ragged.lse[row * 2 + h] == fixed.lse[i * 2 + h]);
        CHECK(lse.get({h, row}) == Approx(fixed.lse[i * 2 + h]).epsilon(1e-6));
        for (int d = 0; d < 16; ++d) {
          CHECK(ragged.out[(row * 2 + h) * 16 + d] == fixed.out[(i * 2 + h) * 16 + d]);
          CHECK(out.get({row, h, d}) == Approx(fixed.out[(i * 2 + h) * 16 + d]).epsilon(1e-6));
        }
      }
    }
  }
}

TEST_CASE("strided views give the same answer as contiguous copies", "[reference]") {
  ir::Variant var = make_variant(4, 2, 32, DType::f16);
  var.mask = causal_mask();
  var.lse = true;
  const int B = 2, Sq = 6, Sk = 10;
  Problem p = random_problem(var, B, Sq, Sk, 33);
  HostTensor out = zeros(DType::f16, {B, Sq, 4, 32});
  HostTensor lse = zeros(DType::f32, {B, 4, Sq});
  PrefillArgs args = p.args();
  args.out = out.view();
  args.lse = lse.view();
  ReferenceResult contiguous = reference_prefill(var, args);

  // q laid out [seq, batch, heads, dim] with heads padded to 40 elements; k/v with rows
  // padded; out padded; lse transposed to [seq, head, batch] order in memory.
  HostTensor q2 = relayout(p.q, {4 * 40, B * 4 * 40, 40, 1}, Sq * B * 4 * 40);
  HostTensor k2 = relayout(p.k, {Sk * 80, 80, 32, 1}, B * Sk * 80);
  HostTensor v2 = relayout(p.v, {Sk * 2 * 48, 2 * 48, 48, 1}, B * Sk * 2 * 48);
  HostTensor out2 = relayout(out, {Sq * 4 * 48, 4 * 48, 48, 1}, B * Sq * 4 * 48);
  HostTensor lse2 = relayout(lse, {1, B, 4 * B}, Sq * 4 * B);
  args.q = q2.view();
  args.k = k2.view();
  args.v = v2.view();
  args.out = out2.view();
  args.lse = lse2.view();
  ReferenceResult strided = reference_prefill(var, args);

  CHECK(strided.out == contiguous.out);
  CHECK(strided.lse == contiguous.lse);
  for_each_index(out.shape, [&](const std::vector<int64_t>& i) {
    REQUIRE(out2.get(i) == out.get(i));
  });
  for_each_index(lse.shape, [&](const std::vector<int64_t>& i) {
    REQUIRE(lse2.get(i) == lse.get(i));
  });
}

TEST_CASE("score expressions, params and inputs", "[reference]") {
  // Soft-capping with a runtime cap plus an ALiBi-style per-head slope.
  ir::Variant var = make_variant(2, 2, 16);
  var.params.push_back({"cap", 50.0, false, {}});
  var.inputs.push_back({"slope", ir::InputExtent::q_heads, {}});
  auto b = [](Builtin x) { return ir::make_builtin(x); };
  auto cap = ir::make_param("cap");
  auto capped = ir::make_binary(
      Op::mul, cap, ir::make_call("tanh", {ir::make_binary(Op::div, b(Builtin::score), cap)}));
  var.score = ir::make_binary(
      Op::add, capped,
      ir::make_binary(Op::mul, ir::make_input("slope", b(Builtin::q_head)),
                      ir::make_binary(Op::sub, b(Builtin::kv_pos), b(Builtin::q_pos))));
  var.mask = causal_mask();
  Problem p = random_problem(var, 1, 4, 6, 44);

  const std::vector<double> slopes{0.25, 0.125};
  HostTensor slope = f32_values(slopes);
  PrefillArgs args = p.args();
  args.params["cap"] = 0.5f;  // small enough that the cap matters
  args.inputs["slope"] = slope.view();
  ReferenceResult r = reference_prefill(var, args);

  const double scale = 1.0 / std::sqrt(16.0);
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      const int q_pos = i + 6 - 4;
      std::vector<double> logits;
      std::vector<std::vector<double>> values;
      for (int j = 0; j <= q_pos; ++j) {
        double dot = 0;
        for (int d = 0; d < 16; ++d) dot += p.q.get({0, i, h, d}) * p.k.get({0, j, h, d});
        // Each real operation rounds to f32 (the score arrives as an f32 too).
        const double capped = f32(0.5 * f32(std::tanh(f32(f32(scale * dot) / 0.5))));
        logits.push_back(f32(capped + f32(slopes[h] * (j - q_pos))));
        std::vector<double> row;
        for (int d = 0; d < 16; ++d) row.push_back(p.v.get({0, j, h, d}));
        values.push_back(row);
      }
      double lse = 0;
      const std::vector<double> expected = naive_row(logits, values, &lse);
      CHECK(r.lse[i * 2 + h] == Approx(lse).epsilon(1e-12));
      for (int d = 0; d < 16; ++d)
        CHECK(r.out[(i * 2 + h) * 16 + d] == Approx(expected[d]).epsilon(1e-12));
    }
  }

  // Without a value the default applies, which changes the answer.
  args.params.clear();
  CHECK(reference_prefill(var, args).out != r.out);
}

TEST_CASE("sinks join the softmax denominator", "[reference]") {
  ir::Variant var = make_variant(2, 1, 16);
  var.sinks_per_head = true;
  Problem p = random_problem(var, 1, 3, 5, 55);
  const std::vector<double> sink_values{0.5, -1.0};
  HostTensor sinks = f32_values(sink_values);
  PrefillArgs args = p.args();
  args.sinks = sinks.view();
  ReferenceResult with = reference_prefill(var, args);
  ir::Variant plain = var;
  plain.sinks_per_head = false;
  ReferenceResult without = reference_prefill(plain, p.args());
  for (int row = 0; row < 3; ++row) {
    for (int h = 0; h < 2; ++h) {
      const double l = without.lse[row * 2 + h];
      const double l_sink = std::log(std::exp(l) + std::exp(sink_values[h]));
      CHECK(with.lse[row * 2 + h] == Approx(l_sink).epsilon(1e-12));
      // The sink takes weight away from every value uniformly.
      const double keep = std::exp(l - l_sink);
      for (int d = 0; d < 16; ++d)
        CHECK(with.out[(row * 2 + h) * 16 + d] ==
              Approx(keep * without.out[(row * 2 + h) * 16 + d]).epsilon(1e-12));
    }
  }
}

TEST_CASE("reference argument errors", "[reference]") {
  ir::Variant var = make_variant(2, 1, 16);
  var.params.push_back({"cap", 50.0, false, {}});
  var.params.push_back({"w", 8.0, true, {}});
  var.inputs.push_back({"slope", ir::InputExtent::q_heads, {}});
  Problem p = random_problem(var, 1, 2, 2, 66);

  // The runtime values are checked by validate_prefill, as on the GPU path.
  PrefillArgs args = p.args();
  CHECK_THROWS_WITH(reference_prefill(var, args),
                    "attnjit::reference_prefill: argument 'inputs[slope]': expected an f32 tensor "
                    "[q_heads] (variant test declares input slope : f32[q_heads]), got null");
  HostTensor short_slope = f32_values({1});
  args.inputs["slope"] = short_slope.view();
  CHECK_THROWS_WITH(reference_prefill(var, args),
                    "attnjit::reference_prefill: argument 'inputs[slope]': expected 2 values (one "
                    "per query head), got 1");
  HostTensor slope = f32_values({1, 2});
  args.inputs["slope"] = slope.view();
  args.params["cpa"] = 1.0f;
  CHECK_THROWS_WITH(reference_prefill(var, args),
                    "attnjit::reference_prefill: argument 'params[cpa]': expected a param of "
                    "variant test (its params: cap), got an unknown name");
  args.params = {{"w", 1.0f}};
  CHECK_THROWS_AS(reference_prefill(var, args), ArgumentError);
  args.params.clear();
  HostTensor sinks = f32_values({1.0, 2.0});
  args.sinks = sinks.view();
  CHECK_THROWS_WITH(reference_prefill(var, args),
                    "attnjit::reference_prefill: argument 'sinks': expected no tensor because "
                    "variant test has no sinks, got f32[2] strides [1] on cpu");
  // Validation is the GPU path's.
  PrefillArgs bad = p.args();
  bad.k.dtype = DType::bf16;
  CHECK_THROWS_WITH(reference_prefill(var, bad),
                    "attnjit::reference_prefill: argument 'k': expected dtype f32 (variant test), "
                    "got bf16");
}

// --- variant features -------------------------------------------------------------------

namespace {

// The canonical IR of one DSL variant.
ir::Variant from_dsl(const std::string& text) {
  SourceFile file{"<reference test>", text};
  auto module = compile_variants(file);
  INFO((module.ok() ? std::string() : render(module.error(), file)));
  REQUIRE(module.ok());
  return module->variants.at(0);
}

// With scale 0 every visible key weighs the same, and with v[j] = e_j (one-hot, so
// head_dim >= kv_len) output element j of a row is 1 / visible when key j is visible
// and 0 when not: the row's output spells out its visible keys.
Problem one_hot_problem(const ir::Variant& var, int batch, int seqlen_q, int seqlen_k) {
  Problem p = random_problem(var, batch, seqlen_q, seqlen_k, 99);
  for_each_index(p.v.shape, [&](const std::vector<int64_t>& i) {
    p.v.set(i, i[1] == i[3] ? 1.0 : 0.0);
  });
  return p;
}

std::vector<int> visible_keys(const ReferenceResult& r, int64_t flat_row, int q_heads, int head,
                              int head_dim, int kv_len) {
  std::vector<int> keys;
  const double* row = &r.out[(flat_row * q_heads + head) * head_dim];
  for (int j = 0; j < kv_len; ++j)
    if (row[j] > 0) keys.push_back(j);
  return keys;
}

std::vector<int> positions(int from, int to) {  // [from, to]
  std::vector<int> out;
  for (int j = from; j <= to; ++j) out.push_back(j);
  return out;
}

// int32 [batch, ranges, 2] from a flat list of bounds.
HostTensor ranges_tensor(int64_t batch, int64_t ranges, const std::vector<int32_t>& bounds) {
  HostTensor t = zeros(DType::i32, {batch, ranges, 2});
  REQUIRE(bounds.size() == static_cast<size_t>(batch * ranges * 2));
  std::memcpy(t.bytes.data(), bounds.data(), bounds.size() * sizeof(int32_t));
  return t;
}

}  // namespace

TEST_CASE("bidirectional ranges: queries and keys inside one range see each other",
          "[reference]") {
  ir::Variant var = from_dsl(
      "variant mm { heads = 1 / 1; head_dim = 16; q = f32; kv = f32; out = f32; lse = true;\n"
      "  scale = 1; mask = causal; bidirectional_ranges = per_seq; }");
  var.scale = 0.0;
  // Sequence 0: one image at [2, 5) and a padding range; sequence 1: [6, 8) and [0, 1).
  HostTensor ranges = ranges_tensor(2, 2, {2, 5, 0, 0, 6, 8, 0, 1});
  Problem p = one_hot_problem(var, 2, 8, 8);
  PrefillArgs args = p.args();
  args.bidirectional_ranges = ranges.view();
  ReferenceResult r = reference_prefill(var, args);

  // A query inside the range sees the later keys inside it, not those after it.
  CHECK(visible_keys(r, 2, 1, 0, 16, 8) == positions(0, 4));
  CHECK(visible_keys(r, 3, 1, 0, 16, 8) == positions(0, 4));
  CHECK(visible_keys(r, 4, 1, 0, 16, 8) == positions(0, 4));
  // Outside the range, the mask alone decides (causal).
  CHECK(visible_keys(r, 1, 1, 0, 16, 8) == positions(0, 1));
  CHECK(visible_keys(r, 5, 1, 0, 16, 8) == positions(0, 5));
  // Each sequence has its own ranges: [6, 8) in sequence 1, and [0, 1) adds nothing.
  CHECK(visible_keys(r, 8 + 2, 1, 0, 16, 8) == positions(0, 2));
  CHECK(visible_keys(r, 8 + 6, 1, 0, 16, 8) == positions(0, 7));
  CHECK(visible_keys(r, 8 + 0, 1, 0, 16, 8) == positions(0, 0));
  CHECK(r.lse[2] == Approx(std::log(5.0)));
  CHECK(r.out[2 * 16 + 4] == Approx(1.0 / 5));

  // Without the ranges the same variant is plain causal.
  ir::Variant causal = var;
  causal.bidirectional_ranges = false;
  ReferenceResult plain = reference_prefill(causal, p.args());
  CHECK(visible_keys(plain, 2, 1, 0, 16, 8) == positions(0, 2));
}

TEST_CASE("bidirectional ranges use absolute positions", "[reference]") {
  // 3 queries after 5 cached keys: q_pos = 5, 6, 7. The range [4, 7) holds q_pos 5
  // and 6, which then see key 6; q_pos 7 is outside it.
  ir::Variant var = from_dsl(
      "variant mm { heads = 2 / 1; head_dim = 16; q = f32; kv = f32; out = f32;\n"
      "  mask = causal; bidirectional_ranges = per_seq; }");
  var.scale = 0.0;
  HostTensor ranges = ranges_tensor(1, 1, {4, 7});
  Problem p = one_hot_problem(var, 1, 3, 8);
  PrefillArgs args = p.args();
  args.bidirectional_ranges = ranges.view();
  ReferenceResult r = reference_prefill(var, args);
  for (int h = 0; h < 2; ++h) {
    CHECK(visible_keys(r, 0, 2, h, 16, 8) == positions(0, 6));
    CHECK(visible_keys(r, 1, 2, h, 16, 8) == positions(0, 6));
    CHECK(visible_keys(r, 2, 2, h, 16, 8) == positions(0, 7));
  }
}

TEST_CASE("bidirectional ranges open a fully masked row", "[reference]") {
  // A mask that hides everything: only the range gives the row keys to attend to.
  ir::Variant var = from_dsl(
      "variant mm { heads = 1 / 1; head_dim = 16; q = f32; kv = f32; out = f32; lse = true;\n"
      "  mask = kv_pos > q_pos + 100; bidirectional_ranges = per_seq; }");
  var.scale = 0.0;
  HostTensor ranges = ranges_tensor(1, 1, {1, 3});
  Problem p = one_hot_problem(var, 1, 4, 4);
  PrefillArgs args = p.args();
  args.bidirectional_ranges = ranges.view();
  ReferenceResult r = reference_prefill(var, args);
  CHECK(visible_keys(r, 0, 1, 0, 16, 4).empty());
  CHECK(r.lse[0] == -kInf);
  CHECK(visible_keys(r, 1, 1, 0, 16, 4) == positions(1, 2));
  CHECK(visible_keys(r, 2, 1, 0, 16, 4) == positions(1, 2));
  CHECK(r.lse[3] == -kInf);
}

TEST_CASE("alibi_sqrt matches a hand-computed row", "[reference]") {
  ir::Variant var = from_dsl(
      "variant a { heads = 2 / 2; head_dim = 16; q = f32; kv = f32; out = f32; lse = true;\n"
      "  input slopes : f32[q_heads]; score = alibi_sqrt(slopes); }");
  var.scale = 0.0;  // the logits are the bias alone
  HostTensor slopes = f32_values({0.5, 0.25});
  Problem p = one_hot_problem(var, 1, 4, 4);
  PrefillArgs args = p.args();
  args.inputs["slopes"] = slopes.view();
  ReferenceResult r = reference_prefill(var, args);

  // Row 3 (q_pos 3), head 0: biases -0.5 sqrt(3), -0.5 sqrt(2), -0.5, 0.
  const double b[4] = {-0.5 * std::sqrt(3.0), -0.5 * std::sqrt(2.0), -0.5, 0.0};
  double sum = 0;
  for (double x : b) sum += std::exp(x);
  for (int j = 0; j < 4; ++j) CHECK(r.out[(3 * 2 + 0) * 16 + j] == Approx(std::exp(b[j]) / sum));
  CHECK(r.lse[3 * 2 + 0] == Approx(std::log(sum)));

  // Row 1 (q_pos 1), head 1: keys after the query get no bias (select's 0), not a NaN.
  const double b1[4] = {-0.25, 0.0, 0.0, 0.0};
  sum = 0;
  for (double x : b1) sum += std::exp(x);
  for (int j = 0; j < 4; ++j) CHECK(r.out[(1 * 2 + 1) * 16 + j] == Approx(std::exp(b1[j]) / sum));
  CHECK(r.lse[1 * 2 + 1] == Approx(std::log(sum)));
}

TEST_CASE("sinks of large magnitude stay finite and exact", "[reference]") {
  ir::Variant var = make_variant(2, 1, 16);
  var.sinks_per_head = true;
  var.lse = true;
  var.mask = causal_mask();
  Problem p = random_problem(var, 1, 5, 7, 77);
  HostTensor sinks = f32_values({30.0, -30.0});
  PrefillArgs args = p.args();
  args.sinks = sinks.view();
  ReferenceResult with = reference_prefill(var, args);
  ir::Variant plain = var;
  plain.sinks_per_head = false;
  ReferenceResult without = reference_prefill(plain, p.args());

  for (int row = 0; row < 5; ++row) {
    for (int h = 0; h < 2; ++h) {
      INFO("row " << row << " head " << h);
      const double sink = h == 0 ? 30.0 : -30.0;
      const double l = without.lse[row * 2 + h];
      // log(e^l + e^sink) without overflow.
      const double both = std::max(l, sink) + std::log1p(std::exp(-std::abs(l - sink)));
      REQUIRE(std::isfinite(with.lse[row * 2 + h]));
      CHECK(with.lse[row * 2 + h] == Approx(both).epsilon(1e-12));
      const double keep = std::exp(l - both);  // about e^-30 for the +30 sink
      for (int d = 0; d < 16; ++d) {
        const double got = with.out[(row * 2 + h) * 16 + d];
        REQUIRE(std::isfinite(got));
        CHECK(got == Approx(keep * without.out[(row * 2 + h) * 16 + d]).epsilon(1e-10));
      }
    }
  }
  // The +30 sink takes nearly all the weight; the -30 one almost none.
  CHECK(std::abs(with.out[0]) < 1e-10);
  CHECK(with.out[1 * 16] == Approx(without.out[1 * 16]).epsilon(1e-12));
}

TEST_CASE("a fully masked row with a sink gives 0 and the sink's logit", "[reference]") {
  ir::Variant var = make_variant(1, 1, 16);
  var.sinks_per_head = true;
  var.lse = true;
  var.mask = ir::make_binary(Op::lt, ir::make_builtin(Builtin::q_pos), ir::make_constant(0));
  Problem p = random_problem(var, 1, 2, 3, 78);
  HostTensor sinks = f32_values({1.5});
  PrefillArgs args = p.args();
  args.sinks = sinks.view();
  ReferenceResult r = reference_prefill(var, args);
  for (int row = 0; row < 2; ++row) {
    CHECK(r.lse[row] == 1.5);
    for (int d = 0; d < 16; ++d) CHECK(r.out[row * 16 + d] == 0.0);
  }
}

TEST_CASE("a saturating soft-cap bounds every logit", "[reference]") {
  ir::Variant var = from_dsl(
      "variant g { heads = 1 / 1; head_dim = 16; q = f32; kv = f32; out = f32; lse = true;\n"
      "  param cap : f32 = 50; score = softcap(cap); mask = causal; }");
  Problem p = random_problem(var, 1, 4, 4, 79);
  // Logits in the hundreds against a cap of 0.25: tanh is +-1 to double precision.
  for_each_index(p.q.shape, [&](const std::vector<int64_t>& i) { p.q.set(i, 100 * p.q.get(i)); });
  PrefillArgs args = p.args();
  args.params["cap"] = 0.25f;
  ReferenceResult r = reference_prefill(var, args);

  const double scale = var.softmax_scale();
  for (int i = 0; i < 4; ++i) {
    std::vector<double> logits;
    std::vector<std::vector<double>> values;
    for (int j = 0; j <= i; ++j) {
      double dot = 0;
      for (int d = 0; d < 16; ++d) dot += p.q.get({0, i, 0, d}) * p.k.get({0, j, 0, d});
      const double x = f32(0.25 * f32(std::tanh(f32(f32(scale * dot) / 0.25))));
      CHECK(std::abs(x) <= 0.25);
      logits.push_back(x);
      std::vector<double> row;
      for (int d = 0; d < 16; ++d) row.push_back(p.v.get({0, j, 0, d}));
      values.push_back(row);
    }
    double lse = 0;
    const std::vector<double> expected = naive_row(logits, values, &lse);
    INFO("row " << i);
    CHECK(r.lse[i] == Approx(lse).epsilon(1e-12));
    // |logit| <= cap keeps the LSE within cap of log(visible keys).
    CHECK(std::abs(r.lse[i] - std::log(i + 1.0)) <= 0.25 + 1e-12);
    for (int d = 0; d < 16; ++d) CHECK(r.out[i * 16 + d] == Approx(expected[d]).epsilon(1e-12));
  }
}

TEST_CASE("window semantics: window(left) and window(left, right)", "[reference]") {
  auto keys_of = [](const std::string& mask) {
    ir::Variant var = from_dsl(
        "variant w { heads = 1 / 1; head_dim = 16; q = f32; kv = f32; out = f32;\n"
        "  mask = " + mask + "; }");
    var.scale = 0.0;
    Problem p = one_hot_problem(var, 1, 8, 8);
    ReferenceResult r = reference_prefill(var, p.args());
    std::vector<std::vector<int>> rows;
    for (int i = 0; i < 8; ++i) rows.push_back(visible_keys(r, i, 1, 0, 16, 8));
    return rows;
  };
  // causal && window(2): the query and the two keys before it.
  std::vector<std::vector<int>> rows = keys_of("causal && window(2)");
  for (int i = 0; i < 8; ++i) CHECK(rows[i] == positions(std::max(0, i - 2), i));
  // window(2, 1): two keys back and one ahead, clipped to the sequence.
  rows = keys_of("window(2, 1)");
  for (int i = 0; i < 8; ++i) CHECK(rows[i] == positions(std::max(0, i - 2), std::min(7, i + 1)));
  // window(left) alone bounds only the distance back: every later key stays visible.
  rows = keys_of("window(3)");
  for (int i = 0; i < 8; ++i) CHECK(rows[i] == positions(std::max(0, i - 3), 7));
}

// --- numbers: integers and reals ----------------------------------------------------------

namespace {

// The canonical mask or score of a one-variant DSL text.
ir::ExprRef expression_of(const std::string& key, const std::string& expr) {
  ir::Variant var = from_dsl("variant n { heads = 4 / 2; head_dim = 16; q = f32; kv = f32; out = f32;\n"
                             "  " + key + " = " + expr + "; }");
  return key == "mask" ? var.mask : var.score;
}

ExprEnv positions_env(int64_t q_pos, int64_t kv_pos) {
  ExprEnv env;
  env[Builtin::q_pos] = static_cast<double>(q_pos);
  env[Builtin::kv_pos] = static_cast<double>(kv_pos);
  env[Builtin::q_len] = 1;
  env[Builtin::kv_len] = static_cast<double>(q_pos + 1);
  return env;
}

}  // namespace

TEST_CASE("integer expressions evaluate exactly in 64 bits", "[reference][numeric]") {
  // q_pos * 65536 passes 2^31 at q_pos 32768; q_pos * q_pos passes 2^53 (where doubles
  // stop being exact) near 2^27. Both stay exact near the largest position.
  const ExprEvaluator product(expression_of("score", "score + (q_pos * 65536 + kv_pos) % 7"));
  const ExprEvaluator square(expression_of("score", "score + (q_pos * q_pos + kv_pos) % 7"));
  const ExprEvaluator mask(expression_of("mask", "causal && (q_pos * 65536 + kv_pos) % 7 != 0"));
  int checked = 0;
  for (int64_t q0 : {int64_t{39990}, int64_t{2147483646} - 20}) {
    for (int64_t q = q0; q <= q0 + 20; ++q) {
      for (int64_t kv : {int64_t{0}, int64_t{1}, int64_t{6}, q / 2, q - 3, q}) {
        ExprEnv env = positions_env(q, kv);
        env[Builtin::score] = 0.0;
        const int64_t wide = (q * 65536 + kv) % 7;
        const int64_t squared = (q * q + kv) % 7;
        INFO("q_pos " << q << " kv_pos " << kv);
        CHECK(product(env) == static_cast<double>(wide));
        CHECK(square(env) == static_cast<double>(squared));
        CHECK(mask(env) == (kv <= q && wide != 0 ? 1.0 : 0.0));
        ++checked;
      }
    }
  }
  CHECK(checked == 2 * 21 * 6);
  // The exact value, not only its f32: 2^53 + 1 survives.
  const ir::ExprRef sum = expression_of("score", "score + (q_pos * 4194304 + 1)");
  const ExprEnv env = positions_env(int64_t{1} << 31, 0);
  CHECK(evaluate_number(*sum->args[1], env).i == (int64_t{1} << 53) + 1);
}

TEST_CASE("reals are f32: every operation rounds, overflow gives inf", "[reference][numeric]") {
  ExprEnv env = positions_env(16777217, 0);
  env[Builtin::score] = 1.0;
  // 1e30 * 1e30 overflows f32 (a double would hold 1e60).
  CHECK(std::isinf(evaluate(*expression_of("score", "score * 1e30 * 1e30"), env)));
  CHECK(std::isinf(evaluate(*expression_of("score", "score * 1e30 * 1e30 / 1e30"), env)));
  // An integer meeting a real becomes the nearest f32: 16777217 -> 16777216.
  CHECK(evaluate(*expression_of("mask", "q_pos / 1 <= 16777216"), env) == 1.0);
  CHECK(evaluate(*expression_of("mask", "q_pos <= 16777216"), env) == 0.0);
  // Each step rounds: (1/3) * 3 in f32 is exactly 1.
  CHECK(evaluate(*expression_of("score", "score * (1 / 3) * 3"), env) == 1.0);
  // NaN: min and max return the other operand; comparisons (but !=) are false.
  env[Builtin::score] = std::nan("");
  CHECK(evaluate(*expression_of("score", "max(score, 2)"), env) == 2.0);
  CHECK(evaluate(*expression_of("score", "min(3, score)"), env) == 3.0);
  CHECK(std::isnan(evaluate(*expression_of("score", "score + 1"), env)));
}

TEST_CASE("real division in a mask decides exact ties as the kernel does", "[reference][numeric]") {
  // kv_pos <= q_pos / 3: f32 division is correctly rounded, so q_pos = 3k gives k exactly.
  const ExprEvaluator mask(expression_of("mask", "kv_pos <= q_pos / 3"));
  for (int64_t k : {int64_t{1}, int64_t{1000}, int64_t{5592405}}) {
    INFO("k " << k);
    CHECK(mask(positions_env(3 * k, k)) == 1.0);
    CHECK(mask(positions_env(3 * k, k + 1)) == 0.0);
    CHECK(mask(positions_env(3 * k + 2, k + 1)) == 0.0);
  }
}

TEST_CASE("a window wider than any sequence is no window", "[reference][numeric]") {
  for (const char* wide : {"causal && window(4294967296)", "causal && window(1e18)",
                           "causal && q_pos - kv_pos <= 2147483646"}) {
    INFO(wide);
    ir::Variant var = from_dsl("variant w { heads = 1 / 1; head_dim = 16; q = f32; kv = f32; out = f32;\n"
                               "  mask = " + std::string(wide) + "; }");
    CHECK_FALSE(var.band.lower_offset.has_value());
    CHECK(var.band.exact);
    ir::Variant causal = var;
    causal.mask = causal_mask();
    Problem p = random_problem(var, 1, 20, 300, 91);
    ReferenceResult a = reference_prefill(var, p.args());
    ReferenceResult b = reference_prefill(causal, p.args());
    CHECK(a.out == b.out);
    CHECK(a.lse == b.lse);
  }
}
