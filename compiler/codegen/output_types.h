#pragma once
// How each output type is written by generated code: its storage type and the
// vocabulary type that writes it. One table for every kind that writes outputs.
#include <string>

#include "compiler/ir/dtype.h"
#include "compiler/support/result.h"

namespace attnjit {

// 16-bit outputs are staged through shared memory and written with 16-byte stores
// (`writer` packs two floats: pack2); f32 and fp8 pairs are written from registers
// ("direct": `writer` has store_pair). Every writer also has store_pair.
struct OutputTypes {
  const char* storage;
  const char* writer;
  bool direct;
};

Result<OutputTypes, std::string> output_types(DType t);

}  // namespace attnjit
