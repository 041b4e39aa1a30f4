#pragma once
// Per-arch tile configurations, loaded from JSON files in configs/ (aiter style):
//
//   { "arch": "sm_90",
//     "prefill": { "default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2},
//                  "buckets": [ {"head_dim_min": 129, "head_dim_max": 256,
//                                "config": {"BLOCK_M": 64, ...}} ] } }
//
// Paged configs may add "num_splits" to fix the split-KV segment count; any config may
// add "min_blocks_per_sm" (a register cap), an AMD target's "waves_per_eu" (aiter's
// register cap, 1 to 8); buckets may also ask for "kv_8bit": true. sm_90a's wgmma tiles
// may switch on "softmax_overlap", "pingpong" and "persistent" (true/false;
// compiler/spec/hopper_geometry.h).
// An optional top-level "split_cost" block holds the split-KV cost model's constants
// (compiler/spec/split_cost.h), a set per K/V width:
//
//   "split_cost": { "kv_16bit": {"fixed_per_block": 22.0, "merge": 16.0, "partial_floor": 0.75,
//                                "stream_per_unit": 16.0, "stream_per_cut": 14.0},
//                   "kv_8bit": {...} }
//
// A set the file leaves out is kDefaultSplitCosts'; a set given names all five fields.
//
// An arch-specific target's file tiles only the main loop its plain twin lacks:
// configs/sm_90a.json holds the prefill tiles of the wgmma main loop (its rules:
// compiler/spec/hopper_geometry.h), and sm_90a's mma.sync kernels take sm_90.json's
// tiles (tuning_arch()).
//
// The first bucket whose bounds hold wins; otherwise "default". Every file is
// validated on load; an error names the file and the JSON path of the bad key. A
// "_meta" object (provenance written by `attnjit tune`) is allowed and ignored.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/spec/split_cost.h"
#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit {

struct TileConfig {
  int block_m = 128;    // query rows per thread block (16 per warp)
  int block_n = 64;     // keys per main-loop iteration
  int warps = 8;
  int stages = 2;       // cp.async pipeline depth for K/V tiles
  int num_splits = 0;   // paged kinds: split-KV segments per sequence; 0 = heuristic
  int min_blocks_per_sm = 0;  // registers capped for this many resident blocks; 0 = free
  // The wgmma main loop's schedule switches (sm_90a only; all off: one block per query
  // tile, each consumer's MMAs and softmax in turn). Named and explained once, in
  // compiler/spec/hopper_geometry.h (hopper_schedule_switches()).
  bool softmax_overlap = false;
  bool pingpong = false;
  bool persistent = false;
  // AMD's MFMA main loop only (aiter's term): at least this many waves resident per SIMD
  // (amdgpu_waves_per_eu), which caps the registers a wave may use; 0 = the compiler's
  // choice. The AMD counterpart of min_blocks_per_sm.
  int waves_per_eu = 0;
  bool operator==(const TileConfig&) const = default;
};

struct TuningBucket {
  int head_dim_min = 0;
  int head_dim_max = 1 << 30;
  bool causal_only = false;   // "causal": true limits the bucket to causal masks
  // "sliding_window": true limits it to masks with a lower KV bound (windows), where a
  // shorter query tile wastes fewer keys at the window's two diagonal edges.
  bool sliding_window_only = false;
  // "score_transform": true limits it to variants with a `score = ...` expression,
  // whose per-score work (a tanh for soft-capping) a shorter, narrower tile with more
  // resident warps hides better.
  bool score_transform_only = false;
  // "kv_8bit": true limits it to 8-bit K/V (fp8, int8), whose tiles stream in half the
  // time, so occupancy matters more.
  bool kv_8bit_only = false;
  TileConfig config;
};

struct KindTuning {
  TileConfig default_config;
  std::vector<TuningBucket> buckets;
};

class TuningTable {
 public:
  // `source_name` is what errors print as the file (a path, or "<embedded sm_90.json>").
  static Result<TuningTable, std::string> parse(const std::string& json_text,
                                                const std::string& source_name);
  // A regular file, its size and nesting limited (kMaxConfigBytes, kMaxJsonDepth).
  static Result<TuningTable, std::string> load_file(const std::string& path);
  // The table embedded at build time that tiles `mainloop`'s kernels on `arch` (unset:
  // the arch's attention main loop): configs/<tuning_arch(arch, mainloop)>.json, else
  // for a plain main loop the table of the newest plain target of no higher
  // capability (sm_87 -> sm_86). embedded("sm_90a") is sm_90's table (its mma.sync
  // kernels); embedded("sm_90a", Mainloop::wgmma) is sm_90a's.
  static Result<TuningTable, std::string> embedded(const std::string& arch,
                                                   std::optional<Mainloop> mainloop = std::nullopt);

  const std::string& arch() const { return arch_; }
  // Tile config for a kind ("prefill") and problem; the kind must be present.
  std::optional<TileConfig> pick(const std::string& kind, int head_dim, bool causal,
                                 bool sliding_window = false, bool score_transform = false,
                                 bool kv_8bit = false) const;
  // Which entry pick() uses: the index in the kind's buckets, or -1 for its default;
  // nullopt when the kind is absent. The tuner writes its result back to that entry.
  std::optional<int> pick_bucket(const std::string& kind, int head_dim, bool causal,
                                 bool sliding_window = false, bool score_transform = false,
                                 bool kv_8bit = false) const;
  // A kind's table as loaded; null when the file has none.
  const KindTuning* kind(const std::string& name) const;
  // The split-KV cost model's constants: the file's, defaults for a set it lacks.
  const SplitCosts& split_costs() const { return split_costs_; }

 private:
  std::string arch_;
  std::map<std::string, KindTuning> kinds_;
  SplitCosts split_costs_ = kDefaultSplitCosts;
};

// The arch whose config file tiles `mainloop`'s kernels on `arch`: an arch-specific
// target's own file for the main loop only it has (sm_90a, wgmma), its plain twin's
// for the main loops they share (sm_90a, mma_sync -> sm_90); `arch` itself otherwise.
std::string tuning_arch(const std::string& arch, Mainloop mainloop);
// The main loop `arch`'s config file tiles: for an arch-specific target the one its
// plain twin lacks (sm_90a: wgmma), else the arch's attention main loop.
Mainloop own_mainloop(const std::string& arch);
// The main loop a kind's table in `arch`'s file is checked against; nullopt when such a
// file may not hold the kind (sm_90a's file: prefill only, the wgmma main loop's kind).
std::optional<Mainloop> config_mainloop(const std::string& arch, const std::string& kind);

// Tiles are checked by validate_tile() (compiler/spec/kernel_geometry.h).
// Opt-in shared memory per block of a target ("sm_86" -> 101376, from the target
// table); for an arch the table lacks, the smallest limit of its vendor's targets.
int shared_memory_limit(const std::string& arch);
// Parses "BLOCK_M,BLOCK_N,WARPS,STAGES", optionally followed by the names of wgmma
// schedule switches to turn on ("128,128,12,2,softmax_overlap,persistent"), and checks
// its structure (tile_rule_problem, head_dim unknown) by the rules of `mainloop`, the
// main loop the tile's kernels will run (attention_mainloop(arch): mma_sync on CUDA,
// mfma on AMD; wgmma for the Hopper kernel's tile). Unset, before the target is known: a
// tile no attention main loop takes is refused with the mma.sync loop's reason (with
// switches, by the wgmma loop's rules); the target's own rules check it once it is known
// (validate_tile_for).
Result<TileConfig, std::string> parse_tile_override(const std::string& text,
                                                    std::optional<Mainloop> mainloop = std::nullopt);

}  // namespace attnjit
