#pragma once
// The compile targets: one table (target.cpp) that every other part asks which
// architectures exist, what a binary for each is called and how to spell it to the
// compiler, how much shared memory a block may use, which mainloops a target has and
// which devices run its binaries. Nothing else lists architectures.
//
// sm_90 and sm_90a are different targets: an arch-specific ("a") binary may use
// features (wgmma, TMA multicast) that only a device of exactly that compute
// capability has, so it is never served for another target, even of the same SM.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnjit {

// Whose toolchain and source dialect a target takes: CUDA (NVIDIA) or HIP (AMD).
enum class Vendor { cuda, hip };
const char* vendor_name(Vendor v);  // "CUDA", "HIP"

// What a backend produces and a loader takes.
enum class BinaryFormat { cubin, ptx, hsaco };
const char* binary_format_name(BinaryFormat f);  // "cubin", "ptx", "hsaco"

// The inner loops kernels are built from. simt: plain per-thread code (the merge and
// cache-write kernels). mma_sync: the attention mainloop on m16n8k16 tensor-core MMAs
// with ldmatrix and cp.async (sm_80 and later). mfma: the attention mainloop on CDNA's
// matrix-fused-multiply-add instructions (gfx90a, gfx942). wgmma: the attention
// mainloop on Hopper's warpgroup MMAs fed by tensor-memory copies (sm_90a only): a spec
// asks for it (KernelSpec::mainloop); the engine does for the prefill calls it can run on
// a 9.0 device (choose_wgmma_prefill(), tiles from configs/sm_90a.json).
enum class Mainloop { simt, mma_sync, mfma, wgmma };
const char* mainloop_name(Mainloop m);

// Whether attnjit has kernel templates built on mainloop `m` for `vendor`'s targets. A
// row lists the mainloops its hardware runs; a kind whose mainloop has no templates yet
// is refused as "not yet" (Engine::make_spec) rather than rendered. Today: every CUDA
// mainloop (wgmma: the prefill kind only); HIP's simt (merge, cache_write) and mfma
// (prefill, paged).
bool mainloop_has_kernels(Vendor vendor, Mainloop m);

// A device's architecture version: a CUDA compute capability (9.0 is {9, 0}), or an AMD
// GFX version major.minor.stepping (gfx942 is {9, 4, 2}, gfx90a is {9, 0, 10}; CUDA's
// stepping is always 0). Orders as a number would (8.9 < 9.0); among AMD versions the
// order says nothing about which binaries run where (HSACO runs on its exact version).
struct ComputeCapability {
  int major = 0;
  int minor = 0;
  int stepping = 0;
  auto operator<=>(const ComputeCapability&) const = default;
};

// One binary format a target is built in, with the architecture as the compiler's
// option takes it: NVRTC's --gpu-architecture wants the real architecture (sm_90a)
// for CUBIN and the virtual one (compute_90a) for PTX; hiprtc's and clang's
// --offload-arch the processor name (gfx942).
struct TargetBinary {
  BinaryFormat format;
  std::string_view arch_option;
};

struct Target {
  std::string_view name;  // "sm_90a": spec field, cache key part, config file name
  Vendor vendor;
  ComputeCapability capability;
  // Runs only on a device of exactly `capability` (CUDA's "a" targets).
  bool arch_specific;
  std::vector<TargetBinary> binaries;  // the first is the default format
  int max_shared_bytes;                // opt-in dynamic shared memory (LDS) per block
  int wave_size;                       // threads that execute in lockstep: warp / wavefront
  std::vector<Mainloop> mainloops;     // what its hardware runs (see mainloop_has_kernels)

  BinaryFormat default_format() const { return binaries.front().format; }
  // The format's entry, or null when no binary of `format` is built for this target.
  const TargetBinary* binary(BinaryFormat format) const;
  bool has_mainloop(Mainloop m) const;
  // Whether a device of `vendor` and `device` capability runs this target's binary of
  // `format`. CUBIN: same major, minor at least the target's (sm_80 code runs on 8.6,
  // not on 9.0). PTX: any capability at least the target's (the driver compiles it for
  // the device). Arch-specific targets: exactly their capability, either format.
  // HSACO: exactly its GFX version (gfx90a code does not run on gfx942).
  bool runs_on(Vendor device_vendor, ComputeCapability device, BinaryFormat format) const;
};

// Every target, in the table's order (by vendor, then capability).
const std::vector<Target>& all_targets();
// The target named `name` ("sm_90a"), or null.
const Target* find_target(std::string_view name);
// "sm_80, sm_86, sm_89, sm_90, sm_90a, gfx90a, gfx942", for messages.
std::string target_names();
// The vendor of an architecture name (a target's or parse_arch_name()'s); CUDA for a
// name that is neither (the code generator's dialect for a spec whose arch was never
// checked).
Vendor vendor_of_arch(std::string_view name);

// An architecture name as devices and config files spell it, which need not be a
// target ("sm_87" is a device no row is for, served by sm_86 binaries; "gfx908" is an
// AMD device attnjit builds nothing for). CUDA: "sm_" with two or three digits (major,
// then one minor digit) and an optional "a". AMD: "gfx", a major of one or two decimal
// digits (no leading zero), one decimal minor digit and one lower-case hexadecimal
// stepping digit (gfx90a: 9.0.10; gfx1100: 11.0.0). The spelling is checked, not whether AMD
// ever made such a processor: "gfx999" parses, and find_target() says it is no target.
struct ArchName {
  Vendor vendor = Vendor::cuda;
  ComputeCapability capability;
  bool arch_specific = false;
};
std::optional<ArchName> parse_arch_name(std::string_view name);
// The name of a CUDA device of `capability`: {8, 7} -> "sm_87".
std::string cuda_arch_name(ComputeCapability capability);
// The name of an AMD device of GFX version `version`: {9, 0, 10} -> "gfx90a".
std::string amd_arch_name(ComputeCapability version);

// The targets whose binaries of `format` a device runs, in table order: for an sm_90
// device, CUBIN: sm_90, sm_90a; PTX: sm_80, sm_86, sm_89, sm_90, sm_90a.
std::vector<const Target*> runnable_targets(Vendor vendor, ComputeCapability device,
                                            BinaryFormat format);
// The target to build for a device: the newest one whose default-format binary it
// runs, a plain target over an arch-specific one of the same capability (the mma.sync
// and simt kernels need no arch-specific feature; the engine builds only the wgmma
// prefill kernel for sm_90a, beside these). An sm_87 device gets sm_86; null when none
// runs (an sm_75 or sm_100 device).
const Target* device_target(Vendor vendor, ComputeCapability device);

}  // namespace attnjit
