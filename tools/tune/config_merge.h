#pragma once
// Writing tune results into a per-arch config (docs/tune.md "The JSON merge"): the
// tuned entries are replaced or appended, every other key stays as it was, and a
// "_meta" block records where the numbers came from.
#include <optional>
#include <string>
#include <vector>

#include "compiler/spec/tuning_config.h"
#include "compiler/support/result.h"
#include "tools/tune/search_space.h"

namespace attnjit::tune {

// Provenance of a tune run, written as the config's "_meta" object.
struct Meta {
  std::string attnjit_version;
  std::string device;          // the GPU's name, e.g. "NVIDIA H200"
  int sm_count = 0;
  std::string driver_version;  // "13.0"
  std::string compiler;        // "NVRTC 13.0"
  std::string date;            // ISO 8601, UTC
  // What this run changed, one line per entry; merged after the base's earlier lines.
  std::vector<std::string> tuned;
};

// One tuned entry: bucket `bucket` of `kind` (an index into the base file's buckets),
// or with bucket -1 a new bucket with `conditions` appended after the others.
struct TunedEntry {
  TuneKind kind = TuneKind::prefill;
  int bucket = -1;
  TuningBucket conditions;  // for a new bucket; checked against an existing one
  TileConfig tile;
};

// Refitted split cost constants to write into the config's "split_cost" block; a set
// left empty keeps what the base has (or its absence).
struct SplitCostUpdate {
  std::optional<SplitCostModel> kv_16bit;
  std::optional<SplitCostModel> kv_8bit;
  bool empty() const { return !kv_16bit && !kv_8bit; }
};

// The config text after merging `entries` (and `split_costs`) into `base_text` for
// `arch`: the file being
// updated (`base_is_file`), or the built-in table's text when there is none (possibly
// an older arch's, which the result then names `arch`); `base_name` names it in
// errors. A kind the base lacks is added with `fallback`'s default and the new
// buckets. Refuses (error) a file that is a config for another arch, and one whose
// "_meta" names another device unless `force`. The result is checked by the loader
// before it is returned.
Result<std::string, std::string> merge_config(const std::string& base_text,
                                              const std::string& base_name,
                                              const std::string& arch,
                                              const std::vector<TunedEntry>& entries,
                                              const Meta& meta, const TuningTable& fallback,
                                              bool base_is_file, bool force,
                                              const SplitCostUpdate& split_costs = {});

// The device a config's "_meta" names ("" when it has none or the text is no JSON).
std::string meta_device(const std::string& config_text);

// "13.0" from cuDriverGetVersion's 13000.
std::string driver_version_name(int version);

}  // namespace attnjit::tune
