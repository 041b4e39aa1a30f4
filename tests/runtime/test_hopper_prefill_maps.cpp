// The Hopper prefill path's host side without a GPU: the tensor maps a call's views give
// (layout, boxes, and the views that must fall back to the mma.sync kernel), and how the
// path is switched on.
#include <cstdint>

#include "catch.h"
#include "scoped_env.h"
#include "compiler/spec/hopper_geometry.h"
#include "runtime/api/engine.h"
#include "runtime/api/hopper_prefill_maps.h"

namespace {

using namespace attnjit;

alignas(256) unsigned char g_device[1 << 12];  // addresses only: nothing is read

TensorView view(std::vector<int64_t> shape, std::vector<int64_t> strides, void* data = g_device) {
  TensorView t;
  t.data = data;
  t.dtype = DType::bf16;
  t.shape = std::move(shape);
  t.strides = std::move(strides);
  return t;
}

}  // namespace

TEST_CASE("Hopper prefill tensor maps: (head dim, row, head, sequence) with the tile's boxes",
          "[hopper][runtime]") {
  const TileConfig tile{128, 128, 12, 2};  // BLOCK_N 128
  PrefillArgs args;
  args.q = view({2, 300, 8, 128}, {300 * 8 * 128, 8 * 128, 128, 1});
  args.k = view({2, 500, 2, 128}, {500 * 2 * 128, 2 * 128, 128, 1});
  args.v = args.k;
  PrefillShape shape{2, 300, 500, false};
  auto maps = hopper_prefill_tensor_maps(args, shape, tile);
  REQUIRE(maps.ok());
  const cuda::TensorMapSpec& q = (*maps)[0];
  CHECK(q.dims == std::vector<unsigned long long>{128, 300, 8, 2});
  CHECK(q.strides == std::vector<unsigned long long>{8 * 128 * 2, 128 * 2, 300 * 8 * 128 * 2});
  CHECK(q.box == std::vector<unsigned>{64, 128, 1, 1});
  CHECK(q.swizzle_128b);
  const cuda::TensorMapSpec& k = (*maps)[1];
  CHECK(k.dims == std::vector<unsigned long long>{128, 500, 2, 2});
  CHECK(k.box == std::vector<unsigned>{64, static_cast<unsigned>(tile.block_n), 1, 1});

  // Ragged: [tokens, heads, dim] is one sequence of every token.
  PrefillArgs ragged;
  ragged.q = view({700, 8, 64}, {8 * 64, 64, 1});
  ragged.k = view({900, 2, 64}, {2 * 64, 64, 1});
  ragged.v = ragged.k;
  ragged.q.dtype = ragged.k.dtype = ragged.v.dtype = DType::f16;
  auto ragged_maps = hopper_prefill_tensor_maps(ragged, PrefillShape{3, 400, 500, true}, TileConfig{128, 128, 12, 3});
  REQUIRE(ragged_maps.ok());
  CHECK((*ragged_maps)[0].dims == std::vector<unsigned long long>{64, 700, 8, 1});
  CHECK((*ragged_maps)[0].element == cuda::TensorMapElement::f16);
  CHECK((*ragged_maps)[2].dims == std::vector<unsigned long long>{64, 900, 2, 1});
}

TEST_CASE("views the tensor copies cannot read are named, for the mma.sync fallback", "[hopper][runtime]") {
  const TileConfig tile{128, 128, 12, 3};
  PrefillArgs good;
  good.q = view({1, 10, 2, 64}, {10 * 2 * 64, 2 * 64, 64, 1});
  good.k = good.v = good.q;
  const PrefillShape shape{1, 10, 10, false};
  REQUIRE(hopper_prefill_tensor_maps(good, shape, tile).ok());

  PrefillArgs strided = good;
  strided.k = view({1, 10, 2, 64}, {10 * 2 * 128, 2 * 128, 128, 2});  // every other element
  auto a = hopper_prefill_tensor_maps(strided, shape, tile);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error() == "k's head dim is not contiguous");

  PrefillArgs odd_rows = good;
  odd_rows.v = view({1, 10, 1, 64}, {650, 65, 64, 1});  // rows 130 bytes apart
  auto b = hopper_prefill_tensor_maps(odd_rows, shape, tile);
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().find("v: the stride of dimension 1 is 130 bytes") == 0);

  PrefillArgs unaligned = good;
  unaligned.q.data = g_device + 2;
  auto c = hopper_prefill_tensor_maps(unaligned, shape, tile);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("q: the tensor's address") == 0);
}

TEST_CASE("the Hopper prefill path is on unless switched off", "[hopper][runtime]") {
  {
    attnjit::testing::ScopedEnv env("ATTNJIT_HOPPER", nullptr);
    CHECK(hopper_enabled(EngineOptions{}));
    EngineOptions off;
    off.hopper = false;
    CHECK_FALSE(hopper_enabled(off));
  }
  {
    attnjit::testing::ScopedEnv env("ATTNJIT_HOPPER", "1");
    CHECK(hopper_enabled(EngineOptions{}));
    EngineOptions off;
    off.hopper = false;
    CHECK_FALSE(hopper_enabled(off));
  }
  {
    attnjit::testing::ScopedEnv env("ATTNJIT_HOPPER", "0");
    CHECK_FALSE(hopper_enabled(EngineOptions{}));
    EngineOptions on;
    on.hopper = true;
    CHECK(hopper_enabled(on));
  }
}
