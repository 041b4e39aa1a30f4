#pragma once
// The index of an ahead-of-time (AOT) kernel directory: `DIR/index.json` lists every
// kernel the directory holds, and each binary lives beside it in a file named by its
// content, `<sha256>.<format>` (`3f2a...e1.cubin`). The format is documented in
// docs/aot.md; this file is its one reader and writer.
//
// An index says everything a lookup needs without a compiler: the key it is found by
// (aot_key(): the generated source, target and format, no compiler version), the
// target, the binary's format, size, SHA-256 and entry symbol, and who built it
// (compiler name, version, options), for people and for `attnjit aot verify`.
//
// Encoding is deterministic: entries sorted by key, object keys in a fixed order, no
// dates and no paths, so one set of kernels always gives byte-identical indexes,
// whichever machine, --jobs or shards built them.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/support/result.h"
#include "compiler/target/target.h"

namespace attnjit {

inline constexpr const char* kAotIndexFileName = "index.json";
// The value of the index's "format" field; a reader refuses any other.
inline constexpr const char* kAotIndexFormat = "attnjit-aot-1";
// The largest index read: a few hundred bytes per kernel, so this is room for far
// more kernels than any deployment builds.
constexpr uint64_t kMaxAotIndexBytes = uint64_t(64) << 20;

struct AotIndexEntry {
  std::string key;          // aot_key() of the kernel: what a lookup finds it by
  std::string name;         // the readable kernel name (its uri)
  std::string variant;      // the variant's name
  std::string kind;         // "prefill", "paged", "merge", "cache_write"
  std::string target;       // "sm_90"
  BinaryFormat format = BinaryFormat::cubin;
  std::string file;         // "<sha256>.<format>", in the index's directory
  uint64_t size = 0;        // bytes of the binary
  std::string sha256;       // 64 lowercase hex digits of the binary
  std::string symbol;       // the kernel's entry symbol
  int threads = 0;          // block size it is launched with
  long long shared_bytes = 0;  // dynamic shared memory of its main loop
  std::string compiler;     // "nvrtc"
  std::string compiler_version;  // "13.0"
  std::vector<std::string> options;  // the exact compiler options
  std::string log;          // the compiler's log of a compile that succeeded (warnings)

  bool operator==(const AotIndexEntry&) const = default;
};

struct AotIndex {
  std::string attnjit_version;          // of the attnjit that built it
  std::vector<AotIndexEntry> entries;   // sorted by key, keys unique
};

// The file a binary of `format` with SHA-256 `sha256_hex` is stored in.
std::string aot_binary_file_name(std::string_view sha256_hex, BinaryFormat format);
// Whether `name` has that form (64 lowercase hex digits, ".cubin", ".ptx" or ".hsaco").
bool is_aot_binary_file_name(std::string_view name);

// Sorts the entries by key. Two entries of one key are an error unless they are equal
// (merging shards that both built a kernel), which are kept once.
Result<AotIndex, std::string> normalized_aot_index(AotIndex index);

// The index as index.json's bytes; `index` must be normalized.
std::string encode_aot_index(const AotIndex& index);

// Parses and checks an index: the format, every field's type and value (a known
// target and format, a well-formed SHA-256 and the file name it implies, no path in a
// file name), entries sorted with unique keys. Errors name the entry and field.
Result<AotIndex, std::string> decode_aot_index(std::string_view text);

}  // namespace attnjit
