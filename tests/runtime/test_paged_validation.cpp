// validate_paged, validate_cache_write and validate_merge: one test per error class.
// Every message names the argument, what was expected and what was given.
#include <cstdint>
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/ir/variant.h"
#include "runtime/api/engine.h"
#include "runtime/api/paged_args.h"

using namespace attnjit;

namespace {

// Validation reads only the int tables; big tensors may share one aligned block.
alignas(16) unsigned char g_storage[256];

ir::Variant paged_variant() {
  ir::Variant v;
  v.name = "pg";
  v.q_heads = 4;
  v.kv_heads = 2;
  v.head_dim = 64;
  v.q_type = v.kv_type = v.out_type = DType::bf16;
  v.kv_cache.kind = ir::KvCacheKind::paged;
  v.kv_cache.page_size = 16;
  v.kv_cache.layout = ir::KvLayout::NHD;
  return v;
}

TensorView cpu(DType t, std::vector<int64_t> shape, void* data = g_storage) {
  return contiguous_view(data, t, std::move(shape), DeviceKind::cpu);
}

// A valid mixed batch: sequence 0 has 20 cached tokens and a 3-token chunk (23 keys,
// 2 pages), sequence 1 decodes one token at position 9 (10 keys, 1 page). 4 pages,
// tables 3 wide; unused table entries hold -1, which nothing reads.
struct Paged {
  ir::Variant variant = paged_variant();
  std::vector<int32_t> table{2, 0, -1, 3, -1, -1};
  std::vector<int32_t> lens{23, 10};
  std::vector<int32_t> cu{0, 3, 4};
  PagedArgs args;

  Paged() {
    args.q = cpu(DType::bf16, {4, 4, 64});
    args.k_cache = cpu(DType::bf16, {4, 16, 2, 64});
    args.v_cache = cpu(DType::bf16, {4, 16, 2, 64});
    args.out = cpu(DType::bf16, {4, 4, 64});
    args.max_seqlen_q = 3;
    bind();
  }
  // Re-points the table views after a test edits them.
  void bind() {
    args.block_table = cpu(DType::i32, {2, 3}, table.data());
    args.seq_lens = cpu(DType::i32, {2}, lens.data());
    args.cu_seqlens_q = cpu(DType::i32, {3}, cu.data());
  }
  std::string error(DeviceKind device = DeviceKind::cpu) const {
    try {
      validate_paged(variant, args, device, "attnjit::paged");
    } catch (const ArgumentError& e) {
      return e.what();
    }
    FAIL("validate_paged accepted the arguments");
    return "";
  }
};

constexpr const char* kPrefix = "attnjit::paged: argument ";

}  // namespace

TEST_CASE("paged: valid arguments give the problem shape", "[paged]") {
  Paged p;
  const PagedShape s = validate_paged(p.variant, p.args, DeviceKind::cpu, "x");
  CHECK(s.num_seqs == 2);
  CHECK(s.total_q == 4);
  CHECK(s.num_blocks == 4);
  CHECK(s.max_blocks_per_seq == 3);
}

TEST_CASE("paged: the variant must have a paged cache", "[paged]") {
  Paged p;
  p.variant.kv_cache = {};
  CHECK(p.error() == std::string(kPrefix) +
                         "'variant': expected kv_cache = paged(...), got variant pg with "
                         "kv_cache = contiguous (call prefill for contiguous K/V)");
}

TEST_CASE("paged: required and forbidden tensors", "[paged]") {
  Paged p;
  p.args.block_table.data = nullptr;
  CHECK(p.error() == std::string(kPrefix) + "'block_table': expected a data pointer, got null");

  Paged with_lse;
  with_lse.variant.lse = true;
  CHECK(with_lse.error() == std::string(kPrefix) +
                                "'lse': expected an f32 tensor [q_heads, total_q] because "
                                "variant pg writes lse, got null");
  Paged extra;
  extra.args.lse = cpu(DType::f32, {4, 4});
  CHECK(extra.error().starts_with(std::string(kPrefix) +
                                  "'lse': expected no tensor because variant pg does not write lse"));
}

TEST_CASE("paged: device", "[paged]") {
  Paged p;
  p.args.seq_lens.device = DeviceKind::cuda;
  CHECK(p.error() == std::string(kPrefix) +
                         "'seq_lens': expected a tensor on cpu, got a tensor on cuda");
  CHECK(Paged().error(DeviceKind::cuda) ==
        std::string(kPrefix) + "'q': expected a tensor on cuda, got a tensor on cpu");
}

TEST_CASE("paged: dtypes", "[paged]") {
  Paged p;
  p.args.v_cache.dtype = DType::f16;
  CHECK(p.error() ==
        std::string(kPrefix) + "'v_cache': expected dtype bf16 (variant pg), got fp16");
  Paged fp8;
  fp8.variant.kv_type = DType::fp8_e4m3;
  CHECK(fp8.error() ==
        std::string(kPrefix) + "'k_cache': expected dtype fp8_e4m3 (variant pg), got bf16");
  Paged table;
  table.args.block_table.dtype = DType::u16;
  CHECK(table.error() == std::string(kPrefix) + "'block_table': expected dtype int32, got uint16");
}

TEST_CASE("paged: ranks", "[paged]") {
  Paged p;
  p.args.k_cache = cpu(DType::bf16, {64, 2, 64});
  CHECK(p.error().starts_with(std::string(kPrefix) +
                              "'k_cache': expected rank 4 [num_blocks, page_size, kv_heads, "
                              "head_dim], got rank 3"));
  Paged hnd;
  hnd.variant.kv_cache.layout = ir::KvLayout::HND;
  hnd.args.k_cache = cpu(DType::bf16, {64, 2, 64});
  CHECK(hnd.error().starts_with(std::string(kPrefix) +
                                "'k_cache': expected rank 4 [num_blocks, kv_heads, page_size, "
                                "head_dim], got rank 3"));
}

TEST_CASE("paged: page size, heads and head_dim of the cache", "[paged]") {
  Paged p;
  p.args.k_cache = cpu(DType::bf16, {4, 32, 2, 64});
  CHECK(p.error() == std::string(kPrefix) +
                         "'k_cache': expected page_size 16 (variant pg: kv_cache = "
                         "paged(page_size = 16, layout = NHD)), got 32");
  // An HND tensor given to an NHD variant: say which layout it looks like.
  Paged swapped;
  swapped.args.k_cache = cpu(DType::bf16, {4, 2, 16, 64});
  CHECK(swapped.error() == std::string(kPrefix) +
                               "'k_cache': expected page_size 16 (variant pg: kv_cache = "
                               "paged(page_size = 16, layout = NHD); the tensor looks like the "
                               "HND layout), got 2");
  Paged heads;
  heads.args.k_cache = cpu(DType::bf16, {4, 16, 4, 64});
  CHECK(heads.error() == std::string(kPrefix) +
                             "'k_cache': expected kv_heads 2 (variant pg: kv_cache = "
                             "paged(page_size = 16, layout = NHD)), got 4");
  Paged dim;
  dim.args.k_cache = cpu(DType::bf16, {4, 16, 2, 128});
  CHECK(dim.error() ==
        std::string(kPrefix) + "'k_cache': expected head_dim 64 (variant pg), got 128");
  Paged v;
  v.args.v_cache = cpu(DType::bf16, {5, 16, 2, 64});
  CHECK(v.error() == std::string(kPrefix) +
                         "'v_cache': expected shape [4, 16, 2, 64] (as k_cache), got [5, 16, 2, 64]");
  Paged q;
  q.args.q = cpu(DType::bf16, {4, 2, 64});
  CHECK(q.error() == std::string(kPrefix) + "'q': expected q_heads 4 (variant pg), got 2");
  Paged out;
  out.args.out = cpu(DType::bf16, {3, 4, 64});
  CHECK(out.error() ==
        std::string(kPrefix) + "'out': expected shape [4, 4, 64] (as q), got [3, 4, 64]");
}

TEST_CASE("paged: HND caches", "[paged]") {
  Paged p;
  p.variant.kv_cache.layout = ir::KvLayout::HND;
  p.args.k_cache = cpu(DType::bf16, {4, 2, 16, 64});
  p.args.v_cache = cpu(DType::bf16, {4, 2, 16, 64});
  CHECK_NOTHROW(validate_paged(p.variant, p.args, DeviceKind::cpu, "x"));
  p.args.v_cache = cpu(DType::bf16, {4, 16, 2, 64});
  CHECK(p.error() == std::string(kPrefix) +
                         "'v_cache': expected shape [4, 2, 16, 64] (as k_cache), got [4, 16, 2, 64]");
}

TEST_CASE("paged: table sizes", "[paged]") {
  Paged p;
  p.args.seq_lens = cpu(DType::i32, {3}, p.lens.data());
  CHECK(p.error() == std::string(kPrefix) +
                         "'seq_lens': expected num_seqs 2 (one per sequence: block_table has "
                         "that many rows), got 3");
  Paged cu;
  cu.args.cu_seqlens_q = cpu(DType::i32, {2}, cu.cu.data());
  CHECK(cu.error() == std::string(kPrefix) +
                          "'cu_seqlens_q': expected num_seqs + 1 3 (num_seqs + 1: block_table "
                          "has num_seqs rows), got 2");
  Paged lse;
  lse.variant.lse = true;
  lse.args.lse = cpu(DType::f32, {4, 3});
  CHECK(lse.error() ==
        std::string(kPrefix) + "'lse': expected shape [4, 4] [q_heads, total_q], got [4, 3]");
}

TEST_CASE("paged: memory layout", "[paged]") {
  Paged inner;
  inner.args.q.strides = {256, 1, 4};
  CHECK(inner.error() == std::string(kPrefix) + "'q': expected stride 1 along head_dim, got 4");

  Paged misaligned;
  misaligned.args.k_cache.data = g_storage + 2;
  CHECK(misaligned.error().starts_with(std::string(kPrefix) +
                                       "'k_cache': expected a 16-byte aligned data pointer"));

  Paged padded;
  padded.args.v_cache.strides = {16 * 2 * 64 + 4, 2 * 64, 64, 1};  // pages 8 bytes apart
  CHECK(padded.error() == std::string(kPrefix) +
                              "'v_cache': expected stride along num_blocks to be a multiple of "
                              "16 bytes (8 bf16 elements) so every head_dim row stays 16-byte "
                              "aligned, got 2052 (4104 bytes)");
}

TEST_CASE("paged: fused K/V views are accepted", "[paged]") {
  // One [num_blocks, 2, page_size, kv_heads, head_dim] tensor unbound into K and V.
  Paged p;
  const std::vector<int64_t> strides{2 * 16 * 2 * 64, 2 * 64, 64, 1};
  p.args.k_cache.strides = strides;
  p.args.v_cache.strides = strides;
  p.args.v_cache.data = g_storage + 16;  // V starts one K page later; never read
  CHECK_NOTHROW(validate_paged(p.variant, p.args, DeviceKind::cpu, "x"));

  Paged table;
  table.args.block_table.strides = {3, 2};
  CHECK(table.error() ==
        std::string(kPrefix) + "'block_table': expected stride 1 along max_blocks_per_seq, got 2");
  Paged lens;
  lens.args.seq_lens.strides = {2};
  CHECK(lens.error() ==
        std::string(kPrefix) + "'seq_lens': expected stride 1 (a contiguous int32 array), got 2");
}

TEST_CASE("paged: host tables", "[paged]") {
  Paged p;
  p.cu = {1, 3, 4};
  p.bind();
  CHECK(p.error() == std::string(kPrefix) + "'cu_seqlens_q': expected cu_seqlens_q[0] == 0, got 1");

  p = Paged();
  p.cu = {0, 3, 2};
  p.bind();
  CHECK(p.error() == std::string(kPrefix) +
                         "'cu_seqlens_q': expected non-decreasing offsets, got cu_seqlens_q[2] = "
                         "2 after cu_seqlens_q[1] = 3");
  p = Paged();
  p.cu = {0, 1, 2};
  p.bind();
  CHECK(p.error() == std::string(kPrefix) +
                         "'cu_seqlens_q': expected the last offset to equal q's total tokens 4, "
                         "got 2");
  p = Paged();
  p.args.max_seqlen_q = 2;
  CHECK(p.error() == std::string(kPrefix) +
                         "'max_seqlen_q': expected at least 3 (the longest query chunk in "
                         "cu_seqlens_q), got 2");
  p = Paged();
  p.lens = {2, 10};
  p.bind();
  CHECK(p.error() == std::string(kPrefix) +
                         "'seq_lens': expected seq_lens[0] >= 3 (the sequence's query chunk in "
                         "cu_seqlens_q), got 2");
  p = Paged();
  p.lens = {23, 49};
  p.bind();
  CHECK(p.error() == std::string(kPrefix) +
                         "'seq_lens': expected seq_lens[1] <= 48 (block_table capacity: 3 blocks "
                         "of 16 tokens), got 49");
  p = Paged();
  p.table[1] = 4;
  p.bind();
  CHECK(p.error() == std::string(kPrefix) +
                         "'block_table': expected page ids in [0, 4) (num_blocks of k_cache) for "
                         "the 2 pages sequence 0 uses, got block_table[0][1] = 4");
  p = Paged();
  p.lens = {23, 17};  // now sequence 1 uses its second page, which holds -1
  p.bind();
  CHECK(p.error() == std::string(kPrefix) +
                         "'block_table': expected page ids in [0, 4) (num_blocks of k_cache) for "
                         "the 2 pages sequence 1 uses, got block_table[1][1] = -1");
}

TEST_CASE("paged: per-tensor scales", "[paged]") {
  Paged p;
  p.variant.kv_type = DType::fp8_e4m3;
  p.variant.kv_scale = ir::ScaleGranularity::per_tensor;
  p.args.k_cache.dtype = p.args.v_cache.dtype = DType::fp8_e4m3;
  p.args.k_cache.strides = p.args.v_cache.strides = {};
  CHECK_NOTHROW(validate_paged(p.variant, p.args, DeviceKind::cpu, "x"));
  p.args.v_descale = 0.0f;
  CHECK(p.error() == std::string(kPrefix) + "'v_descale': expected a finite positive scale, got 0");

  // A descale the variant would ignore is a caller bug.
  Paged plain;
  plain.args.k_descale = 2.0f;
  CHECK(plain.error() == std::string(kPrefix) +
                             "'k_descale': expected 1 (the default) because variant pg has no "
                             "per_tensor kv scales, got 2");
  Paged out;
  out.args.out_scale = 0.5f;
  CHECK(out.error() == std::string(kPrefix) +
                           "'out_scale': expected 1 (the default) because variant pg has out = "
                           "bf16, not fp8, got 0.5");
}

TEST_CASE("paged: per-token-head scale caches", "[paged]") {
  Paged p;
  p.variant.kv_type = DType::i8;
  p.variant.kv_scale = ir::ScaleGranularity::per_token_head;
  p.args.k_cache.dtype = p.args.v_cache.dtype = DType::i8;
  CHECK(p.error() == std::string(kPrefix) +
                         "'k_scale_cache': expected an f32 tensor [num_blocks, page_size, "
                         "kv_heads] because variant pg has kv = int8 per_token_head, got null");
  // vLLM keeps each scale inline in a padded head dimension: any strides will do.
  p.args.k_scale_cache = cpu(DType::f32, {4, 16, 2});
  p.args.k_scale_cache.strides = {16 * 2 * 20, 2 * 20, 20};
  p.args.v_scale_cache = p.args.k_scale_cache;
  p.args.v_scale_cache.data = g_storage + 4;
  CHECK_NOTHROW(validate_paged(p.variant, p.args, DeviceKind::cpu, "x"));

  p.args.v_scale_cache.shape = {4, 2, 16};
  CHECK(p.error() == std::string(kPrefix) +
                         "'v_scale_cache': expected shape [4, 16, 2] [num_blocks, page_size, "
                         "kv_heads], got [4, 2, 16]");
  p.args.v_scale_cache.shape = {4, 16, 2};
  p.args.v_scale_cache.data = g_storage + 2;
  CHECK(p.error().starts_with(std::string(kPrefix) +
                              "'v_scale_cache': expected a 4-byte aligned data pointer"));
  p.args.v_scale_cache.data = g_storage;
  p.args.v_scale_cache.dtype = DType::bf16;
  CHECK(p.error() == std::string(kPrefix) + "'v_scale_cache': expected dtype f32, got bf16");

  Paged plain;
  plain.args.k_scale_cache = cpu(DType::f32, {4, 16, 2});
  CHECK(plain.error().starts_with(std::string(kPrefix) +
                                  "'k_scale_cache': expected no tensor because variant pg has no "
                                  "per_token_head scales"));
}

TEST_CASE("paged: runtime values and scalars", "[paged]") {
  Paged p;
  p.variant.sinks_per_head = true;
  CHECK(p.error() == std::string(kPrefix) +
                         "'sinks': expected an f32 tensor [q_heads] because variant pg has "
                         "sinks = per_head, got null");
  Paged seqs;
  seqs.variant.inputs.push_back({"prefix", ir::InputExtent::seqs, {}});
  seqs.args.inputs["prefix"] = cpu(DType::f32, {3});
  CHECK(seqs.error() ==
        std::string(kPrefix) + "'inputs[prefix]': expected 2 values (one per sequence), got 3");
  Paged params;
  params.args.params["cap"] = 1.0f;
  CHECK(params.error() == std::string(kPrefix) +
                              "'params[cap]': expected a param of variant pg (it declares none), "
                              "got an unknown name");
  Paged splits;
  splits.args.num_splits = -2;
  CHECK(splits.error() == std::string(kPrefix) +
                              "'num_splits': expected 0 (heuristic), 1 (off), a forced count >= 2 "
                              "or -1 (stream), got -2");
  Paged stream;
  stream.args.num_splits = kStreamSplit;
  CHECK_NOTHROW(validate_paged(stream.variant, stream.args, DeviceKind::cpu, "attnjit::paged"));
  stream.args.max_seqlen_q = 9;  // 9 tokens x 2 heads: not the decode tile
  CHECK(stream.error() ==
        std::string(kPrefix) +
            "'num_splits': expected the stream split (-1) only for decode batches (max_seqlen_q "
            "x 2 query heads per KV head <= 16), got -1 with max_seqlen_q 9");
  // More sequences than the stream kernel's prefix holds (decode tokens, one page each).
  Paged many;
  const int n = kStreamSplitMaxSeqs + 1;
  many.table.assign(n, 0);
  many.lens.assign(n, 1);
  many.cu.resize(n + 1);
  for (int i = 0; i <= n; ++i) many.cu[i] = i;
  many.args.block_table = cpu(DType::i32, {n, 1}, many.table.data());
  many.args.seq_lens = cpu(DType::i32, {n}, many.lens.data());
  many.args.cu_seqlens_q = cpu(DType::i32, {n + 1}, many.cu.data());
  std::vector<unsigned char> rows(static_cast<size_t>(n) * 4 * 64 * 2);
  many.args.q = cpu(DType::bf16, {n, 4, 64}, rows.data());
  many.args.out = cpu(DType::bf16, {n, 4, 64}, rows.data());
  many.args.max_seqlen_q = 1;
  many.args.num_splits = kStreamSplit;
  CHECK(many.error() == std::string(kPrefix) +
                            "'num_splits': expected the stream split (-1) only for at most 4096 "
                            "sequences, got -1 with 4097 sequences");
}

// --- cache_write ----------------------------------------------------------------------

namespace {

struct Write {
  ir::Variant variant = paged_variant();
  std::vector<int32_t> slots{5, -1, 63};
  CacheWriteArgs args;
  Write() {
    args.k = cpu(DType::bf16, {3, 2, 64});
    args.v = cpu(DType::bf16, {3, 2, 64});
    args.k_cache = cpu(DType::bf16, {4, 16, 2, 64});
    args.v_cache = cpu(DType::bf16, {4, 16, 2, 64});
    args.slot_mapping = cpu(DType::i32, {3}, slots.data());
  }
  std::string error() const {
    try {
      validate_cache_write(variant, args, DeviceKind::cpu, "attnjit::cache_write");
    } catch (const ArgumentError& e) {
      return e.what();
    }
    FAIL("validate_cache_write accepted the arguments");
    return "";
  }
};

constexpr const char* kWritePrefix = "attnjit::cache_write: argument ";

}  // namespace

TEST_CASE("cache_write: valid arguments, padding slots", "[paged]") {
  Write w;
  CHECK_NOTHROW(validate_cache_write(w.variant, w.args, DeviceKind::cpu, "x"));
  // vLLM's slot mappings are int64.
  alignas(8) int64_t wide[3] = {5, -1, 63};
  w.args.slot_mapping = cpu(DType::i64, {3}, wide);
  CHECK_NOTHROW(validate_cache_write(w.variant, w.args, DeviceKind::cpu, "x"));
  wide[0] = int64_t{1} << 40;
  CHECK(w.error() == std::string(kWritePrefix) +
                         "'slot_mapping': expected slots < 64 (num_blocks 4 x page_size 16), or "
                         "< 0 to skip a token, got slot_mapping[0] = 1099511627776");
  w.args.slot_mapping.dtype = DType::f32;
  CHECK(w.error() ==
        std::string(kWritePrefix) + "'slot_mapping': expected dtype int32 or int64, got f32");
}

TEST_CASE("cache_write: errors", "[paged]") {
  Write dtype;
  dtype.variant.q_type = DType::f16;
  CHECK(dtype.error() == std::string(kWritePrefix) +
                             "'k': expected dtype fp16 (the q type of variant pg), got bf16");
  Write slots;
  slots.args.slot_mapping = cpu(DType::i32, {2}, slots.slots.data());
  CHECK(slots.error() == std::string(kWritePrefix) +
                             "'slot_mapping': expected num_tokens 3 (one slot per token of k), got 2");
  Write range;
  range.slots[2] = 64;
  CHECK(range.error() == std::string(kWritePrefix) +
                             "'slot_mapping': expected slots < 64 (num_blocks 4 x page_size 16), "
                             "or < 0 to skip a token, got slot_mapping[2] = 64");
  Write heads;
  heads.args.v = cpu(DType::bf16, {3, 1, 64});
  CHECK(heads.error() ==
        std::string(kWritePrefix) + "'v': expected shape [3, 2, 64] (as k), got [3, 1, 64]");
  Write scale;
  scale.variant.kv_type = DType::fp8_e5m2;
  scale.variant.kv_scale = ir::ScaleGranularity::per_tensor;
  scale.args.k_cache.dtype = scale.args.v_cache.dtype = DType::fp8_e5m2;
  scale.args.k_cache.strides = scale.args.v_cache.strides = {};
  scale.args.k_scale = -1.0f;
  CHECK(scale.error() ==
        std::string(kWritePrefix) + "'k_scale': expected a finite positive scale, got -1");
  Write token_head;
  token_head.variant.kv_type = DType::fp8_e4m3;
  token_head.variant.kv_scale = ir::ScaleGranularity::per_token_head;
  token_head.args.k_cache.dtype = token_head.args.v_cache.dtype = DType::fp8_e4m3;
  CHECK(token_head.error().starts_with(std::string(kWritePrefix) +
                                       "'k_scale_cache': expected an f32 tensor [num_blocks, "
                                       "page_size, kv_heads] to receive the scales"));
}

// --- merge ------------------------------------------------------------------------------

namespace {

struct Merge {
  MergeArgs args;
  Merge() {
    args.out_a = cpu(DType::f32, {5, 4, 64});
    args.out_b = cpu(DType::f32, {5, 4, 64});
    args.lse_a = cpu(DType::f32, {4, 5});
    args.lse_b = cpu(DType::f32, {4, 5});
    args.out = cpu(DType::bf16, {5, 4, 64});
  }
  std::string error() const {
    try {
      validate_merge(args, DeviceKind::cpu, "attnjit::merge");
    } catch (const ArgumentError& e) {
      return e.what();
    }
    FAIL("validate_merge accepted the arguments");
    return "";
  }
};

constexpr const char* kMergePrefix = "attnjit::merge: argument ";

}  // namespace

TEST_CASE("merge: valid arguments and errors", "[paged]") {
  CHECK_NOTHROW(validate_merge(Merge().args, DeviceKind::cpu, "x"));

  Merge shape;
  shape.args.out_b = cpu(DType::f32, {5, 4, 32});
  CHECK(shape.error() == std::string(kMergePrefix) +
                             "'out_b': expected shape [5, 4, 64] (as out_a), got [5, 4, 32]");
  Merge lse;
  lse.args.lse_b = cpu(DType::f32, {5, 4});
  CHECK(lse.error() == std::string(kMergePrefix) +
                           "'lse_b': expected shape [4, 5] [heads, tokens] (from out_a), got [5, 4]");
  Merge dtype;
  dtype.args.lse_a.dtype = DType::bf16;
  CHECK(dtype.error() == std::string(kMergePrefix) + "'lse_a': expected dtype f32, got bf16");
  Merge mixed;
  mixed.args.out_b.dtype = DType::f16;
  CHECK(mixed.error() == std::string(kMergePrefix) +
                             "'out_b': expected dtype f32 (as out_a), got fp16");
  Merge bad_type;
  bad_type.args.out.dtype = DType::i8;
  CHECK(bad_type.error() ==
        std::string(kMergePrefix) + "'out': expected dtype fp16, bf16 or f32, got int8");
  Merge missing;
  missing.args.lse_a.data = nullptr;
  CHECK(missing.error() == std::string(kMergePrefix) + "'lse_a': expected a data pointer, got null");
}

TEST_CASE("split-KV heuristic: waves of blocks, a fixed cost per block, a merge cost", "[paged]") {
  const int sms = 132, per_sm = 2;  // H200, two decode blocks per SM: a wave of 264
  // One sequence of 32768 keys (2048 tiles) over 8 KV heads: a wave of segments.
  CHECK(Engine::choose_splits(8, 2048, sms, per_sm) == 32);
  // 64 x 8192 with fp8 K/V (three blocks per SM): three segments.
  CHECK(Engine::choose_splits(512, 512, sms, 3, 0, 1) == 3);
  // Never more segments than the merge takes or than half the tiles; a short
  // sequence is not worth the merge.
  CHECK(Engine::choose_splits(1, 100000, sms, per_sm) == 64);
  CHECK(Engine::choose_splits(8, 10, sms, per_sm) == 1);
  CHECK(Engine::choose_splits(8, 3, sms, per_sm) == 1);
  // Four or five sequences of 2048 keys: about one wave of segments.
  CHECK(Engine::choose_splits(32, 128, sms, per_sm) == 8);
  CHECK(Engine::choose_splits(40, 128, sms, per_sm) == 5);
  // Exactly a wave of sequences runs unsplit; one more sequence than a wave splits in
  // two rather than leave a nearly empty second wave.
  CHECK(Engine::choose_splits(264, 128, sms, per_sm) == 1);
  CHECK(Engine::choose_splits(272, 128, sms, per_sm) == 2);
  // Large batches (64 x 8192, 128 x 4096 at 8 KV heads) fill the GPU unsplit.
  CHECK(Engine::choose_splits(512, 512, sms, per_sm) == 1);
  CHECK(Engine::choose_splits(1024, 256, sms, per_sm) == 1);
  CHECK(Engine::choose_splits(100000, 512, sms, per_sm) == 1);
  for (long long blocks = 1; blocks <= 1200; ++blocks) {
    INFO("blocks " << blocks);
    const int s = Engine::choose_splits(blocks, 128, sms, per_sm);
    CHECK(s >= 1);
    CHECK(s <= 64);
  }
}

TEST_CASE("split-KV heuristic with the stream split available", "[paged]") {
  const int sms = 132, per_sm = 2, stream_per_sm = 2;
  // One sequence past a wave of (sequence, KV head) blocks: the stream split instead
  // of a nearly empty second wave or halved segments.
  CHECK(Engine::choose_splits(272, 128, sms, per_sm, stream_per_sm) == kStreamSplit);
  CHECK(Engine::choose_splits(536, 128, sms, per_sm, stream_per_sm) == kStreamSplit);
  // Whole waves of blocks run unsplit: nothing to even out, and no pieces to merge.
  CHECK(Engine::choose_splits(264, 128, sms, per_sm, stream_per_sm) == 1);
  CHECK(Engine::choose_splits(512, 512, sms, per_sm, stream_per_sm) == 1);
  CHECK(Engine::choose_splits(1024, 256, sms, per_sm, stream_per_sm) == 1);
  // One long sequence: the stream split cuts it over the whole wave.
  CHECK(Engine::choose_splits(8, 2048, sms, per_sm, stream_per_sm) == kStreamSplit);
  // fp8 K/V (three blocks per SM): 64 x 8192 splits in three, 34 x 8192 takes the
  // stream split, one long sequence is cut.
  CHECK(Engine::choose_splits(512, 512, sms, 3, 3, 1) == 3);
  CHECK(Engine::choose_splits(272, 512, sms, 3, 3, 1) == kStreamSplit);
  CHECK(Engine::choose_splits(8, 2048, sms, 3, 3, 1) != 1);
  // Without the stream kernel (its occupancy unknown, 0) the choice is a segment count.
  CHECK(Engine::choose_splits(272, 128, sms, per_sm, 0) == 2);
  for (long long blocks = 1; blocks <= 1200; ++blocks) {
    INFO("blocks " << blocks);
    const int s = Engine::choose_splits(blocks, 128, sms, per_sm, stream_per_sm);
    CHECK((s == kStreamSplit || (s >= 1 && s <= 64)));
  }
}
