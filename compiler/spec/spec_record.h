#pragma once
// A kernel spec as one line of JSON, for recording which kernels a workload built
// (EngineOptions::record_file, $ATTNJIT_AOT_RECORD) and building exactly those ahead of
// time (`attnjit aot build --kernels FILE`). The variant travels in its DSL form, which
// parses back to the same IR, so a recorded spec renders the same source and gets the
// same AOT key as the one recorded.
#include <string>
#include <string_view>

#include "compiler/spec/kernel_spec.h"
#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit {

struct RecordedKernel {
  KernelSpec spec;
  BinaryFormat format = BinaryFormat::cubin;
};

// One line (no newline inside, none at the end).
std::string encode_kernel_record(const KernelSpec& spec, BinaryFormat format);
// Parses a line encode_kernel_record() wrote; errors say which field is wrong.
Result<RecordedKernel, std::string> decode_kernel_record(std::string_view line);

}  // namespace attnjit
