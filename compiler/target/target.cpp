// The table of compile targets.
#include "compiler/target/target.h"

#include <algorithm>

#include <fmt/format.h>

namespace attnjit {

namespace {

// A CUDA target's CUBIN and PTX spellings: "sm_90a" and "compute_90a".
std::vector<TargetBinary> cuda_binaries(std::string_view real, std::string_view virtual_arch) {
  return {{BinaryFormat::cubin, real}, {BinaryFormat::ptx, virtual_arch}};
}

// Every kernel kind on sm_80 and later is built from the mma.sync mainloop (attention)
// or plain threads (merge, cache write).
const std::vector<Mainloop> kSm80Mainloops = {Mainloop::simt, Mainloop::mma_sync};
// sm_90a adds the warpgroup MMAs that only its arch-specific binaries may use.
const std::vector<Mainloop> kSm90aMainloops = {Mainloop::simt, Mainloop::mma_sync, Mainloop::wgmma};

// CDNA 2 and 3 (gfx90a: MI200; gfx942: MI300): plain per-thread kernels and the MFMA
// attention mainloop (mainloop_has_kernels() says which have templates yet).
const std::vector<Mainloop> kCdnaMainloops = {Mainloop::simt, Mainloop::mfma};

constexpr int kCudaWarp = 32;
// CDNA runs wave64 only (RDNA's wave32 mode does not exist there).
constexpr int kCdnaWave = 64;
// LDS per workgroup on CDNA 2 and 3 (MI300's 64 KiB; gfx950 raises it to 160 KiB).
constexpr int kCdnaLdsBytes = 65536;

// Shared memory: the opt-in maximum per block (cudaDevAttrMaxSharedMemoryPerBlockOptin)
// of each capability: 163 KiB on 8.0, 99 KiB on 8.6 and 8.9, 227 KiB on 9.0.
// AMD rows have one binary, HSACO, named by the processor as --offload-arch takes it;
// which compiler builds it is compiler/backend/backend.cpp's choice.
std::vector<Target> make_table() {
  return {
      {.name = "sm_80", .vendor = Vendor::cuda, .capability = {8, 0}, .arch_specific = false,
       .binaries = cuda_binaries("sm_80", "compute_80"), .max_shared_bytes = 166912,
       .wave_size = kCudaWarp, .mainloops = kSm80Mainloops},
      {.name = "sm_86", .vendor = Vendor::cuda, .capability = {8, 6}, .arch_specific = false,
       .binaries = cuda_binaries("sm_86", "compute_86"), .max_shared_bytes = 101376,
       .wave_size = kCudaWarp, .mainloops = kSm80Mainloops},
      {.name = "sm_89", .vendor = Vendor::cuda, .capability = {8, 9}, .arch_specific = false,
       .binaries = cuda_binaries("sm_89", "compute_89"), .max_shared_bytes = 101376,
       .wave_size = kCudaWarp, .mainloops = kSm80Mainloops},
      {.name = "sm_90", .vendor = Vendor::cuda, .capability = {9, 0}, .arch_specific = false,
       .binaries = cuda_binaries("sm_90", "compute_90"), .max_shared_bytes = 232448,
       .wave_size = kCudaWarp, .mainloops = kSm80Mainloops},
      {.name = "sm_90a", .vendor = Vendor::cuda, .capability = {9, 0}, .arch_specific = true,
       .binaries = cuda_binaries("sm_90a", "compute_90a"), .max_shared_bytes = 232448,
       .wave_size = kCudaWarp, .mainloops = kSm90aMainloops},
      {.name = "gfx90a", .vendor = Vendor::hip, .capability = {9, 0, 10}, .arch_specific = false,
       .binaries = {{BinaryFormat::hsaco, "gfx90a"}}, .max_shared_bytes = kCdnaLdsBytes,
       .wave_size = kCdnaWave, .mainloops = kCdnaMainloops},
      {.name = "gfx942", .vendor = Vendor::hip, .capability = {9, 4, 2}, .arch_specific = false,
       .binaries = {{BinaryFormat::hsaco, "gfx942"}}, .max_shared_bytes = kCdnaLdsBytes,
       .wave_size = kCdnaWave, .mainloops = kCdnaMainloops},
  };
}

// The mainloops with kernel templates, per vendor (mainloop_has_kernels()).
struct VendorMainloop {
  Vendor vendor;
  Mainloop mainloop;
};
constexpr VendorMainloop kMainloopsWithKernels[] = {
    {Vendor::cuda, Mainloop::simt},
    {Vendor::cuda, Mainloop::mma_sync},
    {Vendor::hip, Mainloop::simt},
    {Vendor::hip, Mainloop::mfma},
    {Vendor::cuda, Mainloop::wgmma},
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// One lower-case hexadecimal digit's value, or -1.
int hex_digit(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "sm_87", "sm_90a", "sm_100" (see parse_arch_name).
std::optional<ArchName> parse_cuda_arch(std::string_view number) {
  ArchName arch;
  if (number.ends_with('a')) {
    arch.arch_specific = true;
    number.remove_suffix(1);
  }
  if (number.size() < 2 || number.size() > 3 || !std::all_of(number.begin(), number.end(), is_digit))
    return std::nullopt;
  // The last digit is the minor version: sm_87 is 8.7, sm_100 is 10.0.
  arch.capability.minor = number.back() - '0';
  arch.capability.major = 0;
  for (char c : number.substr(0, number.size() - 1))
    arch.capability.major = arch.capability.major * 10 + (c - '0');
  return arch;
}

// "942", "90a", "1100" after "gfx" (see parse_arch_name).
std::optional<ArchName> parse_amd_arch(std::string_view number) {
  if (number.size() < 3 || number.size() > 4 || number.front() == '0') return std::nullopt;
  const std::string_view major = number.substr(0, number.size() - 2);
  const char minor = number[number.size() - 2];
  const int stepping = hex_digit(number.back());
  if (!std::all_of(major.begin(), major.end(), is_digit) || !is_digit(minor) || stepping < 0)
    return std::nullopt;
  ArchName arch;
  arch.vendor = Vendor::hip;
  for (char c : major) arch.capability.major = arch.capability.major * 10 + (c - '0');
  arch.capability.minor = minor - '0';
  arch.capability.stepping = stepping;
  return arch;
}

}  // namespace

const char* vendor_name(Vendor v) {
  switch (v) {
    case Vendor::cuda: return "CUDA";
    case Vendor::hip: return "HIP";
  }
  return "?";
}

const char* binary_format_name(BinaryFormat f) {
  switch (f) {
    case BinaryFormat::cubin: return "cubin";
    case BinaryFormat::ptx: return "ptx";
    case BinaryFormat::hsaco: return "hsaco";
  }
  return "unknown";
}

const char* mainloop_name(Mainloop m) {
  switch (m) {
    case Mainloop::simt: return "simt";
    case Mainloop::mma_sync: return "mma_sync";
    case Mainloop::mfma: return "mfma";
    case Mainloop::wgmma: return "wgmma";
  }
  return "?";
}

bool mainloop_has_kernels(Vendor vendor, Mainloop m) {
  for (const VendorMainloop& entry : kMainloopsWithKernels)
    if (entry.vendor == vendor && entry.mainloop == m) return true;
  return false;
}

const TargetBinary* Target::binary(BinaryFormat format) const {
  for (const TargetBinary& b : binaries)
    if (b.format == format) return &b;
  return nullptr;
}

bool Target::has_mainloop(Mainloop m) const {
  return std::find(mainloops.begin(), mainloops.end(), m) != mainloops.end();
}

bool Target::runs_on(Vendor device_vendor, ComputeCapability device, BinaryFormat format) const {
  if (device_vendor != vendor || binary(format) == nullptr) return false;
  if (arch_specific) return device == capability;
  switch (format) {
    case BinaryFormat::cubin: return device.major == capability.major && device >= capability;
    case BinaryFormat::ptx: return device >= capability;
    case BinaryFormat::hsaco: return device == capability;
  }
  return false;
}

const std::vector<Target>& all_targets() {
  static const std::vector<Target> table = make_table();
  return table;
}

const Target* find_target(std::string_view name) {
  for (const Target& t : all_targets())
    if (t.name == name) return &t;
  return nullptr;
}

std::string target_names() {
  std::string names;
  for (const Target& t : all_targets()) {
    if (!names.empty()) names += ", ";
    names += t.name;
  }
  return names;
}

Vendor vendor_of_arch(std::string_view name) {
  if (const Target* t = find_target(name)) return t->vendor;
  const std::optional<ArchName> parsed = parse_arch_name(name);
  return parsed ? parsed->vendor : Vendor::cuda;
}

std::optional<ArchName> parse_arch_name(std::string_view name) {
  constexpr std::string_view cuda_prefix = "sm_", amd_prefix = "gfx";
  if (name.starts_with(cuda_prefix)) return parse_cuda_arch(name.substr(cuda_prefix.size()));
  if (name.starts_with(amd_prefix)) return parse_amd_arch(name.substr(amd_prefix.size()));
  return std::nullopt;
}

std::string cuda_arch_name(ComputeCapability capability) {
  return fmt::format("sm_{}{}", capability.major, capability.minor);
}

std::string amd_arch_name(ComputeCapability version) {
  return fmt::format("gfx{}{}{:x}", version.major, version.minor, version.stepping);
}

std::vector<const Target*> runnable_targets(Vendor vendor, ComputeCapability device,
                                            BinaryFormat format) {
  std::vector<const Target*> runnable;
  for (const Target& t : all_targets())
    if (t.runs_on(vendor, device, format)) runnable.push_back(&t);
  return runnable;
}

const Target* device_target(Vendor vendor, ComputeCapability device) {
  const Target* best = nullptr;
  for (const Target& t : all_targets()) {
    if (!t.runs_on(vendor, device, t.default_format())) continue;
    const bool newer = !best || t.capability > best->capability;
    const bool plainer = best && t.capability == best->capability && best->arch_specific &&
                         !t.arch_specific;
    if (newer || plainer) best = &t;
  }
  return best;
}

}  // namespace attnjit
