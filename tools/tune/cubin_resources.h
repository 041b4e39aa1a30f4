#pragma once
// What a compiled kernel costs per thread, read from its CUBIN without a GPU: the
// register count and the stack frame (where ptxas puts spilled registers), as
// `cuobjdump --dump-resource-usage` reports them.
#include <string>
#include <string_view>

#include "compiler/support/result.h"

namespace attnjit::tune {

struct KernelResources {
  int registers = 0;
  int stack_bytes = 0;  // per-thread stack frame
};

// Reads the resources of kernel `entry` from a CUDA ELF: the ".nv.info" section's
// EIATTR_REGCOUNT and EIATTR_FRAME_SIZE records for the entry's symbol. An error says
// what is missing or malformed (never reads outside `elf`).
Result<KernelResources, std::string> read_cubin_resources(std::string_view elf,
                                                          std::string_view entry);

}  // namespace attnjit::tune
