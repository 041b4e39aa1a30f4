// Tensor-map specs (runtime/driver/tensor_map.h) against cuTensorMapEncodeTiled's rules:
// a valid spec passes and each broken rule is named. Encoding itself needs the driver
// (the GPU tests).
#include <string>

#include "catch.h"
#include "runtime/driver/tensor_map.h"

namespace {

using attnjit::cuda::TensorMapElement;
using attnjit::cuda::TensorMapSpec;
using attnjit::cuda::tensor_map_problem;

alignas(256) unsigned char g_storage[256];

// A [batch 2, rows 100, heads 4, dim 128] bf16 tensor, boxes of 64 dims x 128 rows.
TensorMapSpec valid_spec() {
  TensorMapSpec s;
  s.element = TensorMapElement::bf16;
  s.address = g_storage;
  s.dims = {128, 100, 4, 2};
  s.strides = {4 * 128 * 2, 128 * 2, 100 * 4 * 128 * 2};
  s.box = {64, 128, 1, 1};
  return s;
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a tensor map spec that follows the driver's rules passes", "[runtime][tensor_map]") {
  CHECK(tensor_map_problem(valid_spec()).empty());
  TensorMapSpec s = valid_spec();
  s.element = TensorMapElement::f16;
  s.swizzle_128b = false;
  s.box[0] = 128;  // 256 bytes: allowed without the swizzle
  CHECK(tensor_map_problem(s).empty());
}

TEST_CASE("tensor map specs that break a rule are refused with the rule", "[runtime][tensor_map]") {
  struct Case {
    const char* what;
    void (*edit)(TensorMapSpec&);
    const char* message;
  };
  const Case cases[] = {
      {"rank 0", [](TensorMapSpec& s) { s.dims.clear(), s.strides.clear(), s.box.clear(); }, "1 to 5 dimensions"},
      {"rank 6", [](TensorMapSpec& s) { s.dims.assign(6, 2), s.strides.assign(5, 16), s.box.assign(6, 1); },
       "1 to 5 dimensions"},
      {"strides count", [](TensorMapSpec& s) { s.strides.pop_back(); }, "takes 3 strides"},
      {"box count", [](TensorMapSpec& s) { s.box.pop_back(); }, "takes 4 box extents"},
      {"null address", [](TensorMapSpec& s) { s.address = nullptr; }, "null"},
      {"misaligned address", [](TensorMapSpec& s) { s.address = g_storage + 8; }, "not a multiple of 16 bytes"},
      {"empty dimension", [](TensorMapSpec& s) { s.dims[2] = 0; }, "dimension 2 has 0 elements"},
      {"dimension past 2^32", [](TensorMapSpec& s) { s.dims[1] = (1ULL << 32) + 1; }, "dimension 1"},
      {"stride not a multiple of 16", [](TensorMapSpec& s) { s.strides[1] = 200; }, "stride of dimension 2 is 200"},
      {"stride of 2^40", [](TensorMapSpec& s) { s.strides[2] = 1ULL << 40; }, "less than 2^40"},
      {"empty box", [](TensorMapSpec& s) { s.box[1] = 0; }, "box extent 1 is 0"},
      {"box past 256", [](TensorMapSpec& s) { s.box[1] = 257; }, "box extent 1 is 257"},
      {"inner box of 12 bytes", [](TensorMapSpec& s) { s.box[0] = 6; }, "12 bytes, not a multiple of 16"},
      {"inner box wider than the swizzle", [](TensorMapSpec& s) { s.box[0] = 128; }, "at most 128"},
  };
  for (const Case& c : cases) {
    TensorMapSpec s = valid_spec();
    c.edit(s);
    const std::string why = tensor_map_problem(s);
    INFO(c.what << ": " << why);
    CHECK(mentions(why, c.message));
  }
}
