#pragma once
// What one tune run works on: the variants grouped by the config entry (kind and
// bucket) that serves them, and each entry's candidate tiles after the static rules.
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/support/result.h"
#include "tools/tune/candidate.h"
#include "tools/tune/search_space.h"

namespace attnjit::tune {

// What the bucket conditions of a config look at, as the engine derives them from a
// variant when it picks a tile (Engine::make_spec).
struct Features {
  int head_dim = 0;
  bool causal = false;           // the mask bounds keys above (kv_pos <= q_pos + c)
  bool sliding_window = false;   // ... and below (a window)
  bool score_transform = false;  // `score = ...`
  bool kv_8bit = false;          // fp8 / int8 K/V
};
Features features_of(const ir::Variant& v);
// The config entry `table` gives `features` for `kind`: its bucket index, -1 for the
// default; nullopt when the table has no such kind.
std::optional<int> bucket_of(const TuningTable& table, TuneKind kind, const Features& f);
// The tile `table` gives (nullopt when the table has no such kind).
std::optional<TileConfig> tile_of(const TuningTable& table, TuneKind kind, const Features& f);

// A config entry to tune and the variants it serves.
struct Task {
  TuneKind kind = TuneKind::prefill;
  // Index in the kind's buckets, or -1 when these variants fall to the default: the
  // result then goes into a new bucket appended after the others (so no variant that
  // an earlier bucket serves changes tile), limited to the variants' head_dim and the
  // conditions they meet.
  int bucket = -1;
  TuningBucket conditions;  // the bucket's conditions; config = the baseline tile
  TileConfig baseline;
  std::vector<ir::Variant> variants;
  std::vector<Candidate> candidates;  // baseline first

  bool new_bucket() const { return bucket < 0; }
  // "prefill bucket 3 (head_dim 129..256)", "paged_decode new bucket (head_dim 128, causal)".
  std::string describe() const;
};

// Whether two buckets have the same conditions (their configs aside).
bool same_conditions(const TuningBucket& a, const TuningBucket& b);
// The bucket conditions a new bucket for `f` gets: its head_dim and each condition it meets.
TuningBucket new_bucket_conditions(const Features& f);
// "head_dim 65..128, causal": the conditions of a bucket in words.
std::string describe_conditions(const TuningBucket& b);

// Groups `variants` (each with the kinds in `kinds` its cache serves; a variant with
// none is an error) by the entry of `table` that serves them. A kind `table` lacks
// takes its baselines from `fallback` (the arch's built-in table) and gets new buckets.
Result<std::vector<Task>, std::string> plan_tasks(const std::vector<ir::Variant>& variants,
                                                  const std::vector<TuneKind>& kinds,
                                                  const TuningTable& table,
                                                  const TuningTable& fallback);

// Why `tile` cannot serve every variant of `task` on `arch` ("" = it can): the config
// validator's tile and shared-memory rules (at each variant's head_dim, and at the
// bucket's largest head_dim so the written file loads), the engine's own check of the
// spec (shared memory for the variant's K/V format), and the paged rule that BLOCK_M
// holds a token's query heads.
std::string static_prune_reason(const Task& task, const TileConfig& tile, const std::string& arch);

// Fills task.candidates: the baseline, then the kind's enumeration (without a
// duplicate of the baseline), each with its static prune reason.
void add_static_candidates(Task& task, const std::string& arch);

}  // namespace attnjit::tune
