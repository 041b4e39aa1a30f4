#pragma once
// Element types of tensors that cross the kernel boundary.
#include <optional>
#include <string>
#include <string_view>

namespace attnjit {

enum class DType { f16, bf16, f32, fp8_e4m3, fp8_e5m2, i8, u16, i32, i64, f64 };

// DSL spelling: fp16, bf16, f32, fp8_e4m3, fp8_e5m2, int8 (and the others for tensors).
std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);
int dtype_bytes(DType t);

}  // namespace attnjit
