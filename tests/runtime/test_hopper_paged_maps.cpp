// The Hopper paged path's host side without a GPU: the K/V caches' tensor maps (NHD,
// HND, K and V unbound from one fused tensor, a single KV head), and the calls whose
// tiles are gathered instead (page sizes that are not whole boxes, views tensor copies
// cannot read).
#include "catch.h"
#include "compiler/passes/pipeline.h"
#include "runtime/api/hopper_paged_maps.h"

namespace {

using namespace attnjit;

alignas(256) unsigned char g_device[1 << 12];  // addresses only: nothing is read

TensorView view(std::vector<int64_t> shape, std::vector<int64_t> strides, unsigned char* data = g_device) {
  TensorView t;
  t.data = data;
  t.dtype = DType::bf16;
  t.shape = std::move(shape);
  t.strides = std::move(strides);
  return t;
}

ir::Variant paged(int page, const char* layout, const char* heads = "8 / 2") {
  const std::string text = "variant p { heads = " + std::string(heads) +
                           "; head_dim = 128; q = bf16; kv = bf16; out = bf16; kv_cache = paged(page_size = " +
                           std::to_string(page) + ", layout = " + layout + "); }";
  auto module = compile_variants(SourceFile{"<test>", text});
  if (!module) FAIL(render(module.error(), SourceFile{"<test>", text}));
  return module->variants.at(0);
}

using Dims = std::vector<unsigned long long>;

}  // namespace

TEST_CASE("Hopper paged tensor maps: (head dim, slot, KV head, page) with a box per page",
          "[hopper][paged][runtime]") {
  // NHD [blocks, page, kv_heads, dim].
  PagedArgs nhd;
  nhd.k_cache = view({40, 16, 2, 128}, {16 * 2 * 128, 2 * 128, 128, 1});
  nhd.v_cache = view({40, 16, 2, 128}, {16 * 2 * 128, 2 * 128, 128, 1}, g_device + 512);
  auto maps = hopper_paged_tensor_maps(paged(16, "NHD"), nhd, 128);
  REQUIRE(maps.ok());
  const cuda::TensorMapSpec& k = (*maps)[0];
  CHECK(k.dims == Dims{128, 16, 2, 40});
  CHECK(k.strides == Dims{2 * 128 * 2, 128 * 2, 16 * 2 * 128 * 2});
  CHECK(k.box == std::vector<unsigned>{64, 16, 1, 1});
  CHECK(k.swizzle_128b);
  CHECK((*maps)[1].address == g_device + 512);

  // HND [blocks, kv_heads, page, dim], pages larger than the tile: boxes of the tile.
  PagedArgs hnd;
  hnd.k_cache = view({3, 2, 256, 128}, {2 * 256 * 128, 256 * 128, 128, 1});
  hnd.v_cache = hnd.k_cache;
  auto hnd_maps = hopper_paged_tensor_maps(paged(256, "HND"), hnd, 64);
  REQUIRE(hnd_maps.ok());
  CHECK((*hnd_maps)[0].dims == Dims{128, 256, 2, 3});
  CHECK((*hnd_maps)[0].strides == Dims{128 * 2, 256 * 128 * 2, 2 * 256 * 128 * 2});
  CHECK((*hnd_maps)[0].box == std::vector<unsigned>{64, 64, 1, 1});

  // K and V unbound from one [blocks, 2, page, kv_heads, dim] tensor: the page stride doubles.
  PagedArgs fused;
  const int64_t page_elems = 32 * 2 * 128;
  fused.k_cache = view({10, 32, 2, 128}, {2 * page_elems, 2 * 128, 128, 1});
  fused.v_cache = view({10, 32, 2, 128}, {2 * page_elems, 2 * 128, 128, 1}, g_device + 256);
  auto fused_maps = hopper_paged_tensor_maps(paged(32, "NHD"), fused, 128);
  REQUIRE(fused_maps.ok());
  CHECK((*fused_maps)[1].strides[2] == static_cast<unsigned long long>(2 * page_elems * 2));
  CHECK((*fused_maps)[1].box[1] == 32);

  // One KV head: the argument checks leave its stride free; the map takes a packed one.
  PagedArgs mqa;
  mqa.k_cache = view({4, 16, 1, 128}, {16 * 128, 128, 3, 1});
  mqa.v_cache = mqa.k_cache;
  auto mqa_maps = hopper_paged_tensor_maps(paged(16, "NHD", "8 / 1"), mqa, 128);
  REQUIRE(mqa_maps.ok());
  CHECK((*mqa_maps)[0].strides == Dims{128 * 2, 16 * 128 * 2, 16 * 128 * 2});
}

TEST_CASE("Hopper paged calls whose tiles are gathered instead of copied", "[hopper][paged][runtime]") {
  PagedArgs args;
  args.k_cache = view({40, 48, 2, 128}, {48 * 2 * 128, 2 * 128, 128, 1});
  args.v_cache = args.k_cache;
  // Pages of 48 slots straddle 128-key tiles (and 64-key ones).
  auto straddle = hopper_paged_tensor_maps(paged(48, "NHD"), args, 128);
  REQUIRE_FALSE(straddle.ok());
  CHECK(straddle.error().find("pages of 48 slots") != std::string::npos);
  CHECK_FALSE(hopper_paged_tensor_maps(paged(48, "NHD"), args, 64).ok());
  CHECK(hopper_paged_tensor_maps(paged(48, "NHD"), args, 16).ok());  // a 16-key tile would nest

  // A cache past what a tensor map addresses (a stride of 2^40 bytes or more).
  PagedArgs far;
  far.k_cache = view({2, 16, 2, 128}, {int64_t{1} << 40, 2 * 128, 128, 1});
  far.v_cache = far.k_cache;
  auto refused = hopper_paged_tensor_maps(paged(16, "NHD"), far, 128);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().find("k_cache") != std::string::npos);
}
