// The launch checks enforce the bounds the DSL's range analysis assumes for its builtins
// (compiler/ir/numeric.h): lengths and positions within 32 bits, lengths never negative.
#include <cstdint>
#include <string>
#include <vector>

#include "catch.h"
#include "compiler/ir/numeric.h"
#include "compiler/ir/variant.h"
#include "runtime/api/paged_args.h"
#include "runtime/api/prefill_args.h"

using namespace attnjit;

namespace {

alignas(16) unsigned char g_storage[256];

TensorView cpu(DType t, std::vector<int64_t> shape, void* data = g_storage) {
  return contiguous_view(data, t, std::move(shape), DeviceKind::cpu);
}

ir::Variant variant(ir::KvCacheKind cache) {
  ir::Variant v;
  v.name = "bounds";
  v.q_heads = v.kv_heads = 1;
  v.head_dim = 64;
  v.q_type = v.kv_type = v.out_type = DType::bf16;
  v.kv_cache.kind = cache;
  if (cache == ir::KvCacheKind::paged) v.kv_cache.page_size = 16;
  return v;
}

template <typename Fn>
std::string error_of(Fn validate) {
  try {
    validate();
  } catch (const ArgumentError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("paged launches refuse negative sequence lengths", "[validation][numeric]") {
  // Sequence 1 has no queries, so only its length's sign can be wrong.
  std::vector<int32_t> table{0, -1}, lens{5, -3}, cu{0, 1, 1};
  PagedArgs a;
  a.q = cpu(DType::bf16, {1, 1, 64});
  a.k_cache = a.v_cache = cpu(DType::bf16, {1, 16, 1, 64});
  a.out = cpu(DType::bf16, {1, 1, 64});
  a.max_seqlen_q = 1;
  a.block_table = cpu(DType::i32, {2, 1}, table.data());
  a.seq_lens = cpu(DType::i32, {2}, lens.data());
  a.cu_seqlens_q = cpu(DType::i32, {3}, cu.data());
  const ir::Variant v = variant(ir::KvCacheKind::paged);
  CHECK(error_of([&] { validate_paged(v, a, DeviceKind::cpu, "attnjit::paged"); }) ==
        "attnjit::paged: argument 'seq_lens': expected seq_lens[1] >= 0, got -3");
  lens[1] = 0;
  CHECK(error_of([&] { validate_paged(v, a, DeviceKind::cpu, "attnjit::paged"); }).empty());
}

TEST_CASE("prefill extents beyond the builtins' bounds are refused", "[validation][numeric]") {
  PrefillArgs a;
  a.q = a.out = cpu(DType::bf16, {1, 2, 1, 64});
  a.k = a.v = cpu(DType::bf16, {1, ir::kMaxSequenceLength + 1, 1, 64});
  const ir::Variant v = variant(ir::KvCacheKind::contiguous);
  const std::string error = error_of([&] { validate_prefill(v, a, DeviceKind::cpu, "attnjit::prefill"); });
  CHECK(error.find("argument 'k': expected sizes in [0, 2147483647]") != std::string::npos);
}
