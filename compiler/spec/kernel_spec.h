#pragma once
// What to build: a kernel kind, a canonical variant, a target arch and a tile config.
// Everything that changes the generated source is here, so the readable part of the
// cache key (uri) is derived from this alone.
#include <optional>
#include <string>

#include "compiler/ir/variant.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/target/target.h"

namespace attnjit {

// prefill: Q/K/V in memory. paged: queries against a paged KV cache (mixed prefill
// and decode). merge: combines partial results with their LSEs (split-KV reduce,
// cascade attention). cache_write: new K/V tokens into the paged cache.
enum class KernelKind { prefill, paged, merge, cache_write };
const char* kernel_kind_name(KernelKind k);
bool parse_kernel_kind(const std::string& name, KernelKind* out);

// The mainloop a kind is built from on `target`: the attention kinds on the target
// family's matrix instructions (mma_sync on CUDA, mfma on CDNA), merge and cache_write
// on plain threads. A target builds the kinds whose mainloop it has and has kernels for.
Mainloop kernel_mainloop(KernelKind k, const Target& target);

// How a paged launch covers each query block's KV tiles: whole, with one thread block
// per (query block, KV head); in segments, even shares written as f32 partial results
// that a merge launch combines; or streamed, a resident wave of thread blocks sharing
// the tiles of every (sequence, KV head) evenly and merging the pieces in the same
// launch (decode tiles only). For the merge kind, segments means f32 parts.
enum class KvSplit { none, segments, stream };

struct KernelSpec {
  KernelKind kind = KernelKind::prefill;
  ir::Variant variant;  // canonical (after passes)
  std::string arch = "sm_90";  // a target's name (compiler/target)
  TileConfig tile;
  // paged: segments write f32 partial results and LSEs for the merge launch, which
  // owns the output type and sinks; stream kernels own both (their cut pieces go to
  // f32 slots at run time).
  KvSplit kv_split = KvSplit::none;
  bool f32_segments() const { return kv_split == KvSplit::segments; }
  // The mainloop, when not the kind's default on the target (kernel_mainloop()): today
  // Mainloop::wgmma for the prefill kind on sm_90a, which the engine asks for on a 9.0
  // device unless the Hopper path is switched off (EngineOptions::hopper). Part of the uri.
  std::optional<Mainloop> mainloop;

  // Readable, filesystem-safe name, e.g. prefill.llama3.bf16.h32x8.d128.causal.sm_90.m128n64w8s2
  std::string uri() const;
  std::string entry_name() const;  // the kernel's extern "C" symbol
};

// The mainloop `spec` is built from: its own choice, else kernel_mainloop() on its
// target (mma_sync for an arch no row names).
Mainloop spec_mainloop(const KernelSpec& spec);

}  // namespace attnjit
