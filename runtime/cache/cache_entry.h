#pragma once
// One kernel cache entry as stored on disk: the binary plus everything it was built
// for, under one checksum. The byte layout is described in cache_entry.cpp.
#include <string>
#include <string_view>

#include "compiler/backend/artifact.h"

namespace attnjit {

// What a lookup asks for. An entry is served only when it was written for exactly
// this: the same key, target, symbol, format and compiler.
struct CacheRequest {
  std::string key;               // the full lookup key, <uri>-<hash>
  std::string arch;              // target the binary must run on: "sm_90", "sm_90a"
  std::string entry;             // kernel symbol the binary must define
  BinaryFormat format = BinaryFormat::cubin;
  std::string compiler_version;  // e.g. NVRTC's "13.0"; "" for an AOT lookup, which
                                 // takes the binary whatever compiler built it
};

struct CacheEntry {
  std::string key;
  std::string arch;
  std::string compiler_version;
  Artifact artifact;  // format, entry symbol, binary, compiler log
};

// The entry a compile for `request` produces.
CacheEntry make_cache_entry(const CacheRequest& request, Artifact artifact);

enum class EntryDecode {
  valid,
  stale,    // a well-formed entry of an older format version: rebuilt without a warning
  invalid,  // anything else (corrupt, truncated, a newer format): `why` says what
};

std::string encode_cache_entry(const CacheEntry& entry);
EntryDecode decode_cache_entry(std::string_view bytes, CacheEntry* out, std::string* why);

// "" when `entry` was written for `request` and its binary is code for the requested
// target that defines the requested symbol; otherwise the first difference found.
std::string cache_entry_mismatch(const CacheEntry& entry, const CacheRequest& request);

}  // namespace attnjit
