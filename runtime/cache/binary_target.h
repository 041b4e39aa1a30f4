#pragma once
// What a compiled binary says about itself: the GPU architecture a CUBIN's ELF header,
// a PTX module's `.target` line or an HSACO's header and metadata note names, and
// whether it defines a kernel symbol. The kernel cache uses this to refuse an entry
// whose binary is not for the target the lookup asked for, whatever the entry's own
// header claims.
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

// The target recorded in an AMDGPU code object (HSACO).
struct HsacoTarget {
  int code_object_version = 0;  // 3, 4, 5 or 6 (from e_ident[EI_ABIVERSION])
  int mach = 0;                 // EF_AMDGPU_MACH: e_flags bits 0-7 (0x4c for gfx942)
  std::string mach_name;        // the processor `mach` stands for ("gfx942"); "" if unknown
  // The amdhsa.target of the metadata note, a target ID such as
  // "amdgcn-amd-amdhsa--gfx90a:sramecc+:xnack-"; "" when the note has none.
  std::string target_id;
  std::string processor() const;  // target_id's processor: "gfx90a"; "" without one
};

// Reads the ELF header and the metadata note of an HSACO. False with `why` set when
// the bytes are not a 64-bit little-endian AMDGPU ELF (EM_AMDGPU) for the HSA OS ABI in
// code object version 3 or later, or its section headers or notes lie outside it.
bool read_hsaco_target(std::string_view elf, HsacoTarget* out, std::string* why);

// Whether the HSACO defines the kernel descriptor `symbol`.kd (what the HIP runtime
// looks up to launch `symbol`) in its .symtab or .dynsym. False with `why` set when
// not, or when the symbol tables cannot be read.
bool hsaco_defines_kernel(std::string_view elf, std::string_view symbol, std::string* why);

// "" when `binary` (of `format`) is code for `arch` ("sm_90", "sm_90a", the compute_
// spelling, or "gfx942") and defines the kernel `symbol`; otherwise why not.
std::string binary_target_mismatch(BinaryFormat format, std::string_view binary,
                                   std::string_view arch, std::string_view symbol);

}  // namespace attnjit
