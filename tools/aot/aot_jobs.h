#pragma once
// What an ahead-of-time build compiles: every kernel the launch planner says the given
// variants can need on the given targets (kernels_a_variant_can_need, the list the
// engine's launch path plans from; for sm_90 and sm_90a with sm_90a's wgmma prefill
// kernels), optionally only some kinds, with the per-arch
// tuning configs the deployment will run with, plus kernels for tile overrides. The
// list is sorted by AOT key, so it, its shards and everything built from them are the
// same on every machine.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "compiler/spec/kernel_spec.h"
#include "compiler/support/result.h"

namespace attnjit::aot {

// A variant file, already checked.
struct VariantSet {
  std::string path;  // as given, for messages
  ir::Module module;
};

// Kernels built as if EngineOptions::tile_override were `tile` (every attention kernel
// of the variants on the targets uses it), beside the config's.
struct TileOverride {
  std::vector<std::string> variants;  // names; empty = every variant
  std::vector<std::string> archs;     // empty = every target of the build
  TileConfig tile;
};

struct BuildInputs {
  std::vector<VariantSet> variant_sets;
  std::vector<std::string> archs;             // targets, each in the target table
  std::vector<KernelKind> kinds;              // empty = every kind
  // arch -> JSON config; else embedded. A target's kernels read the file of the arch
  // tuning_arch() names: sm_90a's for the wgmma kernels, sm_90's for sm_90a's mma.sync ones.
  std::map<std::string, std::string> config_files;
  std::vector<TileOverride> tile_overrides;
  // Files of recorded kernels (EngineOptions::record_file): each line one kernel,
  // built as recorded, whatever the targets and kinds above.
  std::vector<std::string> kernel_files;
};

// One kernel to build.
struct Job {
  std::string variant_file;
  KernelSpec spec;
  BinaryFormat format = BinaryFormat::cubin;
  std::string key;  // aot_key() of its generated source
};

// Every job of `inputs`, sorted by key, each key once. Errors: a config that cannot be
// read, a variant the planner cannot list kernels for, a source that cannot be
// generated; each names the variant, file and target.
Result<std::vector<Job>, std::string> list_jobs(const BuildInputs& inputs);

// The jobs of shard `index` of `count` (0-based): every count-th job of the sorted
// list, so shards are balanced and together are exactly the list.
std::vector<Job> shard(const std::vector<Job>& jobs, int index, int count);

// "I/N" as --shard takes it.
Result<std::pair<int, int>, std::string> parse_shard(const std::string& text);

// A manifest (docs/aot.md): variant files and recorded-kernel files (relative to the
// manifest), targets, kinds, per-arch configs and tile overrides. The command line adds its own (cmd_aot.cpp).
struct Manifest {
  std::vector<std::string> variant_files;
  std::vector<std::string> kernel_files;
  std::vector<std::string> archs;
  std::vector<KernelKind> kinds;
  std::map<std::string, std::string> config_files;
  std::vector<TileOverride> tile_overrides;
};
Result<Manifest, std::string> read_manifest(const std::filesystem::path& path);

}  // namespace attnjit::aot
