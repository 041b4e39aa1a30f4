#include "compiler/spec/kernel_spec.h"

#include "compiler/spec/hopper_geometry.h"

#include <fmt/format.h>

namespace attnjit {

namespace {
// Short readable tag of the mask for the cache uri: which band, and whether an
// expression beyond the band remains.
std::string mask_tag(const ir::Variant& v) {
  if (!v.mask) return "bidir";
  const ir::KvBand& b = v.band;
  std::string tag;
  if (b.upper_offset && *b.upper_offset == 0 && !b.lower_offset) tag = "causal";
  else if (b.lower_offset || b.upper_offset)
    tag = fmt::format("band{}_{}", b.lower_offset ? std::to_string(*b.lower_offset) : "x",
                      b.upper_offset ? std::to_string(*b.upper_offset) : "x");
  else tag = "mask";
  if (!b.exact && tag != "mask") tag += "+mask";
  return tag;
}
}  // namespace

const char* kernel_kind_name(KernelKind k) {
  switch (k) {
    case KernelKind::prefill: return "prefill";
    case KernelKind::paged: return "paged";
    case KernelKind::merge: return "merge";
    case KernelKind::cache_write: return "cache_write";
  }
  return "?";
}

bool parse_kernel_kind(const std::string& name, KernelKind* out) {
  for (KernelKind k :
       {KernelKind::prefill, KernelKind::paged, KernelKind::merge, KernelKind::cache_write})
    if (name == kernel_kind_name(k)) {
      *out = k;
      return true;
    }
  return false;
}

Mainloop kernel_mainloop(KernelKind k, const Target& target) {
  switch (k) {
    case KernelKind::prefill:
    case KernelKind::paged:
      return target.vendor == Vendor::hip ? Mainloop::mfma : Mainloop::mma_sync;
    case KernelKind::merge:
    case KernelKind::cache_write: return Mainloop::simt;
  }
  return Mainloop::simt;
}

Mainloop spec_mainloop(const KernelSpec& spec) {
  if (spec.mainloop) return *spec.mainloop;
  const Target* target = find_target(spec.arch);
  return target ? kernel_mainloop(spec.kind, *target) : Mainloop::mma_sync;
}

std::string KernelSpec::uri() const {
  const ir::Variant& v = variant;
  if (kind == KernelKind::cache_write)
    return fmt::format("cache_write.{}.{}-{}.d{}.p{}{}.{}", v.name, dtype_name(v.q_type),
                       dtype_name(v.kv_type), v.head_dim, v.kv_cache.page_size,
                       v.kv_scale == ir::ScaleGranularity::per_token_head ? ".pth" : "", arch);
  if (kind == KernelKind::merge)
    return fmt::format("merge.{}.{}{}.d{}{}.{}.w{}", v.name, f32_segments() ? "f32-" : "",
                       dtype_name(v.out_type), v.head_dim,
                       v.sinks_per_head && f32_segments() ? ".sinks" : "",
                       arch, tile.warps);
  std::string types = std::string(dtype_name(v.q_type));
  if (v.kv_type != v.q_type) types += fmt::format("-{}", dtype_name(v.kv_type));
  if (v.out_type != v.q_type) types += fmt::format("-o{}", dtype_name(v.out_type));
  std::string features;
  if (v.score) features += ".score";
  if (v.sinks_per_head) features += ".sinks";
  if (v.bidirectional_ranges) features += ".ranges";
  if (v.lse) features += ".lse";
  if (kv_split == KvSplit::segments) features += ".split";
  if (kv_split == KvSplit::stream) features += ".stream";
  if (mainloop == Mainloop::wgmma) features += ".wgmma";
  if (kind == KernelKind::paged)
    features += fmt::format(".p{}{}{}", v.kv_cache.page_size,
                            v.kv_cache.layout == ir::KvLayout::HND ? "hnd" : "nhd",
                            v.kv_scale == ir::ScaleGranularity::per_token_head ? ".pth" : "");
  return fmt::format("{}.{}.{}.h{}x{}.d{}.{}{}.{}.m{}n{}w{}s{}{}{}{}", kernel_kind_name(kind), v.name,
                     types, v.q_heads, v.kv_heads, v.head_dim, mask_tag(v), features, arch,
                     tile.block_m, tile.block_n, tile.warps, tile.stages,
                     tile.min_blocks_per_sm > 0 ? fmt::format("b{}", tile.min_blocks_per_sm) : "",
                     tile.waves_per_eu > 0 ? fmt::format("e{}", tile.waves_per_eu) : "",
                     hopper_schedule_tag(tile));
}

std::string KernelSpec::entry_name() const {
  return fmt::format("attnjit_{}_{}", kernel_kind_name(kind), variant.name);
}

}  // namespace attnjit
