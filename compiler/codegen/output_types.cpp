#include "compiler/codegen/output_types.h"

#include <fmt/format.h>

namespace attnjit {

Result<OutputTypes, std::string> output_types(DType t) {
  switch (t) {
    case DType::bf16: return OutputTypes{"attnjit::u16", "attnjit::Bf16", false};
    case DType::f16: return OutputTypes{"attnjit::u16", "attnjit::Fp16", false};
    case DType::f32: return OutputTypes{"float", "attnjit::StoreF32", true};
    case DType::fp8_e4m3:
      return OutputTypes{"unsigned char", "attnjit::StoreFp8<attnjit::EncodeE4m3>", true};
    case DType::fp8_e5m2:
      return OutputTypes{"unsigned char", "attnjit::StoreFp8<attnjit::EncodeE5m2>", true};
    default: return fail(fmt::format("out type {} is not supported", dtype_name(t)));
  }
}

}  // namespace attnjit
