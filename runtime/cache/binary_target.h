#pragma once
// What a compiled binary says about itself: the GPU architecture a CUBIN's ELF header
// or a PTX module's `.target` line names, and whether it defines a kernel symbol. The
// kernel cache uses this to refuse an entry whose binary is not for the target the
// lookup asked for, whatever the entry's own header claims.
#include <string>
#include <string_view>

#include "compiler/backend/artifact.h"

namespace attnjit {

// The target recorded in a CUDA ELF header.
struct CubinTarget {
  int sm = 0;                  // 80 for sm_80, 90 for sm_90 and sm_90a, 100 for sm_100
  bool arch_specific = false;  // the header's "accelerators" flag ('a' targets)
  int abi_version = 0;         // e_ident[EI_ABIVERSION]: selects the e_flags layout
};

// Reads the ELF header of a CUBIN. False with `why` set when the bytes are not a
// 64-bit little-endian CUDA ELF (EM_CUDA) or use an e_flags layout this reader does
// not know.
bool read_cubin_target(std::string_view elf, CubinTarget* out, std::string* why);

// The `sm_XX[a|f]` named by a PTX module's `.target` directive. False with `why` set
// when the text has none.
bool read_ptx_target(std::string_view ptx, std::string* target, std::string* why);

// "" when `binary` (of `format`) is code for `arch` ("sm_90", "sm_90a", or the
// compute_ spelling) and defines the kernel `symbol`; otherwise why not. HSACO is
// not inspected (NVRTC never produces it); only its symbol is looked for.
std::string binary_target_mismatch(BinaryFormat format, std::string_view binary,
                                   std::string_view arch, std::string_view symbol);

}  // namespace attnjit
