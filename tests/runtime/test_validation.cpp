// validate_prefill: one test per error class. Every message must name the argument,
// what was expected and what was given.
#include <climits>
#include <limits>
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/ir/variant.h"
#include "runtime/api/prefill_args.h"

using namespace attnjit;

namespace {

// Validation reads only cu_seqlens; the other tensors may share one aligned block.
alignas(16) unsigned char g_storage[64];

ir::Variant test_variant() {
  ir::Variant v;
  v.name = "test";
  v.q_heads = 4;
  v.kv_heads = 2;
  v.head_dim = 64;
  v.q_type = v.kv_type = v.out_type = DType::bf16;
  return v;
}

// A valid fixed-length problem: batch 2, 5 queries and 7 keys per sequence.
PrefillArgs fixed_args() {
  PrefillArgs a;
  a.q = contiguous_view(g_storage, DType::bf16, {2, 5, 4, 64}, DeviceKind::cpu);
  a.k = contiguous_view(g_storage, DType::bf16, {2, 7, 2, 64}, DeviceKind::cpu);
  a.v = contiguous_view(g_storage, DType::bf16, {2, 7, 2, 64}, DeviceKind::cpu);
  a.out = contiguous_view(g_storage, DType::bf16, {2, 5, 4, 64}, DeviceKind::cpu);
  return a;
}

// A valid ragged problem: sequences of 3 and 5 queries, 4 and 6 keys.
struct Ragged {
  std::vector<int32_t> cu_q{0, 3, 8}, cu_k{0, 4, 10};
  PrefillArgs args;
  Ragged() {
    args.q = contiguous_view(g_storage, DType::bf16, {8, 4, 64}, DeviceKind::cpu);
    args.k = contiguous_view(g_storage, DType::bf16, {10, 2, 64}, DeviceKind::cpu);
    args.v = contiguous_view(g_storage, DType::bf16, {10, 2, 64}, DeviceKind::cpu);
    args.out = contiguous_view(g_storage, DType::bf16, {8, 4, 64}, DeviceKind::cpu);
    args.max_seqlen_q = 5;
    args.max_seqlen_k = 6;
    bind();
  }
  // Re-points the views after a test edits the offsets.
  void bind() {
    args.cu_seqlens_q = contiguous_view(cu_q.data(), DType::i32,
                                        {static_cast<int64_t>(cu_q.size())}, DeviceKind::cpu);
    args.cu_seqlens_k = contiguous_view(cu_k.data(), DType::i32,
                                        {static_cast<int64_t>(cu_k.size())}, DeviceKind::cpu);
  }
};

std::string error_of(const ir::Variant& v, const PrefillArgs& a,
                     DeviceKind device = DeviceKind::cpu) {
  try {
    validate_prefill(v, a, device, "attnjit::prefill");
  } catch (const ArgumentError& e) {
    return e.what();
  }
  FAIL("validate_prefill accepted the arguments");
  return "";
}

}  // namespace

TEST_CASE("valid arguments give the problem shape", "[validation]") {
  PrefillShape s = validate_prefill(test_variant(), fixed_args(), DeviceKind::cpu, "x");
  CHECK(s.batch == 2);
  CHECK(s.seqlen_q == 5);
  CHECK(s.seqlen_k == 7);
  CHECK_FALSE(s.ragged);

  Ragged r;
  s = validate_prefill(test_variant(), r.args, DeviceKind::cpu, "x");
  CHECK(s.batch == 2);
  CHECK(s.seqlen_q == 5);
  CHECK(s.seqlen_k == 6);
  CHECK(s.ragged);
}

TEST_CASE("null data pointers", "[validation]") {
  PrefillArgs a = fixed_args();
  a.v.data = nullptr;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'v': expected a data pointer, got null");
}

TEST_CASE("device", "[validation]") {
  PrefillArgs a = fixed_args();
  a.k.device = DeviceKind::cuda;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected a tensor on cpu, got a tensor on cuda");
  // On the GPU path every tensor must be device memory.
  CHECK(error_of(test_variant(), fixed_args(), DeviceKind::cuda) ==
        "attnjit::prefill: argument 'q': expected a tensor on cuda, got a tensor on cpu");
}

TEST_CASE("dtypes", "[validation]") {
  PrefillArgs a = fixed_args();
  a.k.dtype = DType::f16;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected dtype bf16 (variant test), got fp16");

  ir::Variant fp8 = test_variant();
  fp8.kv_type = DType::fp8_e4m3;
  CHECK(error_of(fp8, fixed_args()) ==
        "attnjit::prefill: argument 'k': expected dtype fp8_e4m3 (variant test), got bf16");

  a = fixed_args();
  a.out.dtype = DType::f32;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'out': expected dtype bf16 (variant test), got f32");

  ir::Variant with_lse = test_variant();
  with_lse.lse = true;
  a = fixed_args();
  a.lse = contiguous_view(g_storage, DType::f16, {2, 4, 5}, DeviceKind::cpu);
  CHECK(error_of(with_lse, a) == "attnjit::prefill: argument 'lse': expected dtype f32, got fp16");

  Ragged r;
  r.args.cu_seqlens_k.dtype = DType::u16;
  CHECK(error_of(test_variant(), r.args) ==
        "attnjit::prefill: argument 'cu_seqlens_k': expected dtype int32, got uint16");
}

TEST_CASE("ranks", "[validation]") {
  PrefillArgs a = fixed_args();
  a.q = contiguous_view(g_storage, DType::bf16, {10, 4, 64}, DeviceKind::cpu);
  const std::string e = error_of(test_variant(), a);
  CHECK(e.rfind("attnjit::prefill: argument 'q': expected rank 4 [batch, seqlen_q, q_heads, "
                "head_dim] (rank 3 is the ragged layout and needs cu_seqlens_q/k), got rank 3 "
                "(bf16[10, 4, 64]",
                0) == 0);

  Ragged r;
  r.args.cu_seqlens_q.shape = {1, 3};
  CHECK(error_of(test_variant(), r.args).rfind(
            "attnjit::prefill: argument 'cu_seqlens_q': expected rank 1 [batch + 1], got rank 2",
            0) == 0);

  a = fixed_args();
  a.k.strides = {1, 1, 1};
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected 4 strides (one per dimension) or none, got 3 "
        "strides");
}

TEST_CASE("sizes must fit the kernel's 32-bit sizes", "[validation]") {
  PrefillArgs a = fixed_args();
  a.k.shape[1] = a.v.shape[1] = int64_t{INT_MAX} + 1;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected sizes in [0, 2147483647], got [2, 2147483648, "
        "2, 64]");
  a = fixed_args();
  a.q.shape[1] = -1;
  CHECK(error_of(test_variant(), a).find("argument 'q': expected sizes in [0, 2147483647], got "
                                         "[2, -1, 4, 64]") != std::string::npos);
}

TEST_CASE("head counts", "[validation]") {
  PrefillArgs a = fixed_args();
  a.q.shape[2] = a.out.shape[2] = 16;
  a.q.strides.clear();
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'q': expected 4 query heads (variant test), got 16");
  a = fixed_args();
  a.v.shape[2] = 1;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'v': expected 2 kv heads (variant test), got 1");
}

TEST_CASE("head_dim", "[validation]") {
  PrefillArgs a = fixed_args();
  a.k.shape[3] = 32;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected head_dim 64 (variant test), got 32");
}

TEST_CASE("batch sizes agree", "[validation]") {
  PrefillArgs a = fixed_args();
  a.k.shape[0] = 3;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected batch 2 (as q), got 3");
  a = fixed_args();
  a.v.shape[1] = 6;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'v': expected seqlen_k 7 (as k), got 6");
  Ragged r;
  r.args.v.shape[0] = 9;
  CHECK(error_of(test_variant(), r.args) ==
        "attnjit::prefill: argument 'v': expected 10 tokens (as k), got 9");
}

TEST_CASE("sequence lengths", "[validation]") {
  PrefillArgs a = fixed_args();
  a.k.shape[1] = a.v.shape[1] = 0;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected seqlen_k >= 1 (q has queries), got 0");
  // Any other lengths are fine: more queries than keys, or no queries at all.
  a = fixed_args();
  a.q.shape[1] = a.out.shape[1] = 9;
  CHECK_NOTHROW(validate_prefill(test_variant(), a, DeviceKind::cpu, "x"));
  a.q.shape[1] = a.out.shape[1] = 0;
  a.k.shape[1] = a.v.shape[1] = 0;
  CHECK_NOTHROW(validate_prefill(test_variant(), a, DeviceKind::cpu, "x"));
}

TEST_CASE("out has q's shape", "[validation]") {
  PrefillArgs a = fixed_args();
  a.out.shape[1] = 4;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'out': expected shape [2, 5, 4, 64] (as q), got [2, 4, 4, 64]");
}

TEST_CASE("stride 1 along head_dim", "[validation]") {
  PrefillArgs a = fixed_args();
  a.q.strides = {2560, 512, 128, 2};
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'q': expected stride 1 along head_dim, got 2");
}

TEST_CASE("16-byte alignment of rows", "[validation]") {
  PrefillArgs a = fixed_args();
  a.out.data = g_storage + 2;
  const std::string e = error_of(test_variant(), a);
  CHECK(e.rfind("attnjit::prefill: argument 'out': expected a 16-byte aligned data pointer", 0) ==
        0);
  CHECK(e.find("(2 bytes past a 16-byte boundary)") != std::string::npos);

  // Padded heads (72 elements = 144 bytes) are fine; 68 elements = 136 bytes is not.
  a = fixed_args();
  a.k.strides = {7 * 2 * 72, 2 * 72, 72, 1};
  CHECK_NOTHROW(validate_prefill(test_variant(), a, DeviceKind::cpu, "x"));
  a.k.strides = {7 * 2 * 68, 2 * 68, 68, 1};
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'k': expected stride along kv_heads to be a multiple of 16 "
        "bytes (8 bf16 elements) so every head_dim row stays 16-byte aligned, got 68 (136 bytes)");

  a = fixed_args();
  a.v.strides = {0, 128, 64, 1};  // a broadcast batch
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'v': expected a positive stride along batch, got 0");

  // A dimension of extent 1 is never stepped along: any stride is accepted there.
  a = fixed_args();
  a.q.shape[0] = a.k.shape[0] = a.v.shape[0] = a.out.shape[0] = 1;
  a.q.strides = {3, 256, 64, 1};
  CHECK_NOTHROW(validate_prefill(test_variant(), a, DeviceKind::cpu, "x"));
}

TEST_CASE("lse present exactly when the variant writes it", "[validation]") {
  ir::Variant with_lse = test_variant();
  with_lse.lse = true;
  CHECK(error_of(with_lse, fixed_args()) ==
        "attnjit::prefill: argument 'lse': expected an f32 tensor because variant test writes "
        "lse, got null");

  PrefillArgs a = fixed_args();
  a.lse = contiguous_view(g_storage, DType::f32, {2, 4, 5}, DeviceKind::cpu);
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'lse': expected no tensor because variant test does not "
        "write lse, got f32[2, 4, 5] strides [20, 5, 1] on cpu");
  CHECK_NOTHROW(validate_prefill(with_lse, a, DeviceKind::cpu, "x"));

  a.lse.shape = {2, 5, 4};
  a.lse.strides.clear();
  CHECK(error_of(with_lse, a) ==
        "attnjit::prefill: argument 'lse': expected shape [2, 4, 5] [batch, q_heads, seqlen_q], "
        "got [2, 5, 4]");

  Ragged r;
  r.args.lse = contiguous_view(g_storage, DType::f32, {8, 4}, DeviceKind::cpu);
  CHECK(error_of(with_lse, r.args) ==
        "attnjit::prefill: argument 'lse': expected shape [4, 8] [q_heads, total_q], got [8, 4]");
}

TEST_CASE("ragged batches: cu_seqlens", "[validation]") {
  const ir::Variant v = test_variant();
  SECTION("both or neither") {
    Ragged r;
    r.args.cu_seqlens_k = {};
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_k': expected a tensor (cu_seqlens_q is given), "
          "got null");
  }
  SECTION("length batch + 1") {
    Ragged r;
    r.cu_k = {0, 4, 6, 10};
    r.bind();
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_k': expected 3 entries (batch + 1, as "
          "cu_seqlens_q), got 4");
  }
  SECTION("start at 0") {
    Ragged r;
    r.cu_q = {1, 3, 8};
    r.bind();
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_q': expected cu_seqlens_q[0] == 0, got 1");
  }
  SECTION("non-decreasing") {
    Ragged r;
    r.cu_k = {0, 6, 4, 10};
    r.cu_q = {0, 3, 3, 8};
    r.bind();
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_k': expected non-decreasing offsets, got "
          "cu_seqlens_k[2] = 4 after cu_seqlens_k[1] = 6");
  }
  SECTION("end at the total token count") {
    Ragged r;
    r.cu_q = {0, 3, 7};
    r.bind();
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_q': expected the last offset to equal q's "
          "total tokens 8, got 7");
  }
  SECTION("max_seqlen positive and long enough") {
    Ragged r;
    r.args.max_seqlen_k = 0;
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'max_seqlen_k': expected a positive value, got 0");
    r.args.max_seqlen_k = 6;
    r.args.max_seqlen_q = 4;
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'max_seqlen_q': expected at least 5 (the longest sequence "
          "in cu_seqlens_q), got 4");
  }
  SECTION("a sequence with queries needs a key") {
    Ragged r;
    r.cu_k = {0, 0, 10};
    r.bind();
    r.args.max_seqlen_k = 10;
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_k': expected at least 1 key in sequence 0 (it "
          "has 3 queries), got 0");
  }
  SECTION("contiguous") {
    Ragged r;
    r.cu_q = {0, 9, 3, 9, 8, 9};
    r.bind();
    r.args.cu_seqlens_q.shape = {3};
    r.args.cu_seqlens_q.strides = {2};
    CHECK(error_of(v, r.args) ==
          "attnjit::prefill: argument 'cu_seqlens_q': expected stride 1 (a contiguous int32 "
          "array), got 2");
  }
  SECTION("device arrays are not read") {
    Ragged r;
    r.cu_q = {5, 1, 2};  // garbage the GPU path cannot see
    r.bind();
    for (TensorView* t : {&r.args.q, &r.args.k, &r.args.v, &r.args.out, &r.args.cu_seqlens_q,
                          &r.args.cu_seqlens_k})
      t->device = DeviceKind::cuda;
    CHECK_NOTHROW(validate_prefill(v, r.args, DeviceKind::cuda, "x"));
  }
}

TEST_CASE("checks run in a fixed order", "[validation]") {
  // A wrong dtype is reported before a wrong rank, whatever the argument order.
  PrefillArgs a = fixed_args();
  a.q.shape = {1, 2};
  a.v.dtype = DType::f32;
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'v': expected dtype bf16 (variant test), got f32");
}

// --- runtime values of the variant ------------------------------------------------------

namespace {

// test_variant() with a runtime param, a const, and one input of each extent.
ir::Variant valued_variant() {
  ir::Variant v = test_variant();
  v.params.push_back({"cap", 50.0, false, {}});
  v.params.push_back({"width", 8.0, true, {}});
  v.inputs.push_back({"slope", ir::InputExtent::q_heads, {}});
  v.inputs.push_back({"bias", ir::InputExtent::kv_heads, {}});
  v.inputs.push_back({"prefix", ir::InputExtent::seqs, {}});
  return v;
}

// fixed_args() plus valid inputs for valued_variant() (batch 2, 4 / 2 heads).
PrefillArgs valued_args() {
  PrefillArgs a = fixed_args();
  a.inputs["slope"] = contiguous_view(g_storage, DType::f32, {4}, DeviceKind::cpu);
  a.inputs["bias"] = contiguous_view(g_storage, DType::f32, {2}, DeviceKind::cpu);
  a.inputs["prefix"] = contiguous_view(g_storage, DType::f32, {2}, DeviceKind::cpu);
  return a;
}

// int32 [batch, ranges, 2] bidirectional ranges on the cpu, from a flat list.
struct Ranges {
  std::vector<int32_t> values;
  TensorView view(int64_t batch, int64_t ranges) {
    return contiguous_view(values.data(), DType::i32, {batch, ranges, 2}, DeviceKind::cpu);
  }
};

}  // namespace

TEST_CASE("params: declared runtime names with finite values", "[validation]") {
  const ir::Variant v = valued_variant();
  PrefillArgs a = valued_args();
  a.params["cap"] = 30.0f;
  CHECK_NOTHROW(validate_prefill(v, a, DeviceKind::cpu, "x"));

  a.params["cpa"] = 1.0f;
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'params[cpa]': expected a param of variant test (its params: "
        "cap), got an unknown name");
  CHECK(error_of(test_variant(), PrefillArgs(a)).find(
            "expected a param of variant test (it declares none)") != std::string::npos);

  a.params = {{"width", 4.0f}};
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'params[width]': expected a runtime param, got a const of "
        "variant test (baked into the kernel; it cannot be set)");

  a.params = {{"cap", std::numeric_limits<float>::quiet_NaN()}};
  CHECK(error_of(v, a) == "attnjit::prefill: argument 'params[cap]': expected a finite value, got nan");
}

TEST_CASE("inputs: every declared one, f32, one value per head or sequence", "[validation]") {
  const ir::Variant v = valued_variant();
  CHECK_NOTHROW(validate_prefill(v, valued_args(), DeviceKind::cpu, "x"));

  PrefillArgs a = valued_args();
  a.inputs.erase("bias");
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[bias]': expected an f32 tensor [kv_heads] (variant "
        "test declares input bias : f32[kv_heads]), got null");

  a = valued_args();
  a.inputs["slopes"] = a.inputs["slope"];
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[slopes]': expected an input of variant test (its "
        "inputs: slope, bias, prefix), got f32[4] strides [1] on cpu");

  a = valued_args();
  a.inputs["slope"].dtype = DType::bf16;
  CHECK(error_of(v, a) == "attnjit::prefill: argument 'inputs[slope]': expected dtype f32, got bf16");

  a = valued_args();
  a.inputs["slope"].shape = {2, 2};
  CHECK(error_of(v, a).rfind(
            "attnjit::prefill: argument 'inputs[slope]': expected rank 1 [q_heads], got rank 2", 0) == 0);

  a = valued_args();
  a.inputs["slope"].shape = {2};
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[slope]': expected 4 values (one per query head), got 2");
  a = valued_args();
  a.inputs["bias"].shape = {4};
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[bias]': expected 2 values (one per kv head), got 4");
  a = valued_args();
  a.inputs["prefix"].shape = {3};
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[prefix]': expected 2 values (one per sequence), got 3");

  a = valued_args();
  a.inputs["slope"].strides = {2};
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[slope]': expected stride 1 (a contiguous f32 array), "
        "got 2");

  a = valued_args();
  a.inputs["slope"].device = DeviceKind::cuda;
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'inputs[slope]': expected a tensor on cpu, got a tensor on cuda");

  // Ragged: one value per sequence of cu_seqlens.
  Ragged r;
  r.args.inputs = valued_args().inputs;
  CHECK_NOTHROW(validate_prefill(v, r.args, DeviceKind::cpu, "x"));
}

TEST_CASE("sinks: f32 [q_heads] exactly when the variant has them", "[validation]") {
  ir::Variant v = test_variant();
  v.sinks_per_head = true;
  PrefillArgs a = fixed_args();
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'sinks': expected an f32 tensor [q_heads] because variant "
        "test has sinks = per_head, got null");
  a.sinks = contiguous_view(g_storage, DType::f32, {4}, DeviceKind::cpu);
  CHECK_NOTHROW(validate_prefill(v, a, DeviceKind::cpu, "x"));
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'sinks': expected no tensor because variant test has no "
        "sinks, got f32[4] strides [1] on cpu");
  a.sinks.shape = {2};
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'sinks': expected 4 values (one per query head), got 2");
  a.sinks.shape = {4};
  a.sinks.dtype = DType::f16;
  CHECK(error_of(v, a) == "attnjit::prefill: argument 'sinks': expected dtype f32, got fp16");
}

TEST_CASE("bidirectional ranges: int32 [batch, R, 2], each empty or 0 <= start < end",
          "[validation]") {
  ir::Variant v = test_variant();
  v.bidirectional_ranges = true;
  PrefillArgs a = fixed_args();
  CHECK(error_of(v, a) ==
        "attnjit::prefill: argument 'bidirectional_ranges': expected an int32 tensor [batch, "
        "max_ranges, 2] because variant test has bidirectional_ranges = per_seq, got null");

  // Sequence 0: [1, 4) and padding; sequence 1: [0, 7) and [2, 3).
  Ranges ranges{{1, 4, 0, 0, 0, 7, 2, 3}};
  a.bidirectional_ranges = ranges.view(2, 2);
  CHECK_NOTHROW(validate_prefill(v, a, DeviceKind::cpu, "x"));
  CHECK(error_of(test_variant(), a) ==
        "attnjit::prefill: argument 'bidirectional_ranges': expected no tensor because variant "
        "test has no bidirectional_ranges, got int32[2, 2, 2] strides [4, 2, 1] on cpu");

  SECTION("shape") {
    a.bidirectional_ranges = ranges.view(1, 4);
    CHECK(error_of(v, a) ==
          "attnjit::prefill: argument 'bidirectional_ranges': expected shape [2, R, 2] with R >= "
          "1 ([batch, max_ranges, [start, end)]), got [1, 4, 2]");
    a.bidirectional_ranges = contiguous_view(ranges.values.data(), DType::i32, {2, 4},
                                             DeviceKind::cpu);
    CHECK(error_of(v, a).rfind(
              "attnjit::prefill: argument 'bidirectional_ranges': expected rank 3 [batch, "
              "max_ranges, 2], got rank 2",
              0) == 0);
    a.bidirectional_ranges = ranges.view(2, 0);
    CHECK(error_of(v, a).find("with R >= 1") != std::string::npos);
  }
  SECTION("dtype and layout") {
    a.bidirectional_ranges.dtype = DType::f32;
    CHECK(error_of(v, a) ==
          "attnjit::prefill: argument 'bidirectional_ranges': expected dtype int32, got f32");
    a.bidirectional_ranges = ranges.view(2, 1);
    a.bidirectional_ranges.strides = {4, 2, 1};  // every other range of a [2, 2, 2] array
    CHECK(error_of(v, a) ==
          "attnjit::prefill: argument 'bidirectional_ranges': expected a contiguous int32 tensor "
          "(strides [2, 2, 1]), got strides [4, 2, 1]");
  }
  SECTION("bounds are read on the cpu") {
    ranges.values = {1, 4, 0, 0, 0, 7, 5, 3};
    a.bidirectional_ranges = ranges.view(2, 2);
    CHECK(error_of(v, a) ==
          "attnjit::prefill: argument 'bidirectional_ranges': expected 0 <= start < end in every "
          "range (start == end for an empty one), got [5, 3) in range 1 of sequence 1");
    ranges.values = {-2, 4, 0, 0, 0, 7, 2, 3};
    CHECK(error_of(v, a).find("got [-2, 4) in range 0 of sequence 0") != std::string::npos);
    // Ranges may reach past the sequence: positions that do not exist are never used.
    ranges.values = {1, 4, 9, 9, 0, 700, 2, 3};
    CHECK_NOTHROW(validate_prefill(v, a, DeviceKind::cpu, "x"));
  }
  SECTION("device arrays are not read") {
    ranges.values = {5, 1, 9, 2, 0, 0, 0, 0};
    for (TensorView* t : {&a.q, &a.k, &a.v, &a.out, &a.bidirectional_ranges})
      t->device = DeviceKind::cuda;
    CHECK_NOTHROW(validate_prefill(v, a, DeviceKind::cuda, "x"));
  }
}

TEST_CASE("runtime values are checked after the tensors", "[validation]") {
  PrefillArgs a = valued_args();
  a.inputs.clear();
  a.k.dtype = DType::f16;
  CHECK(error_of(valued_variant(), a) ==
        "attnjit::prefill: argument 'k': expected dtype bf16 (variant test), got fp16");
}
