#include "compiler/ir/dtype.h"

namespace attnjit {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  int bytes;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::f16, "fp16", 2},         {DType::bf16, "bf16", 2},
    {DType::f32, "f32", 4},          {DType::fp8_e4m3, "fp8_e4m3", 1},
    {DType::fp8_e5m2, "fp8_e5m2", 1}, {DType::i8, "int8", 1},
    {DType::u16, "uint16", 2},       {DType::i32, "int32", 4},
    {DType::i64, "int64", 8},
    {DType::f64, "f64", 8},
};
}  // namespace

std::string_view dtype_name(DType t) {
  for (const DTypeInfo& info : kDTypes)
    if (info.type == t) return info.name;
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeInfo& info : kDTypes)
    if (info.name == name) return info.type;
  if (name == "f16" || name == "float16") return DType::f16;
  if (name == "fp32" || name == "float32") return DType::f32;
  return std::nullopt;
}

int dtype_bytes(DType t) {
  for (const DTypeInfo& info : kDTypes)
    if (info.type == t) return info.bytes;
  return 0;
}

}  // namespace attnjit
