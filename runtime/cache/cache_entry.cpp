// Cache entry encoding. All integers little-endian; every string is a 4-byte length
// followed by that many bytes:
//
//   offset  size  field
//   0       8     magic "ATTNJITK"
//   8       4     entry format version (kEntryVersion)
//   12      4     binary format (0 cubin, 1 ptx, 2 hsaco)
//   16      4+K   lookup key (complete, however long the file name that holds it)
//   ..      4+A   target arch ("sm_90a")
//   ..      4+C   compiler version ("13.0")
//   ..      4+E   entry symbol
//   ..      4+L   compiler log (warnings of the compile)
//   ..      8     P = payload size
//   ..      32    SHA-256 over every byte above plus the payload
//   ..      P     payload (the binary)
//
// The file ends exactly after the payload. The checksum covers the header, so a
// changed key, arch or symbol is caught like a flipped bit in the binary; an entry
// copied from another key's file decodes fine but names the other key, which
// cache_entry_mismatch() reports.
//
// The magic and the version keep their offsets in every format version, so an entry
// of an older version is recognized as such (stale) and rebuilt quietly. Version 1
// (before version 2 added key, arch and compiler) had no way to prove what it was for.
#include "runtime/cache/cache_entry.h"

#include <array>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "compiler/support/sha256.h"
#include "runtime/cache/binary_target.h"

namespace attnjit {
namespace {

constexpr char kMagic[8] = {'A', 'T', 'T', 'N', 'J', 'I', 'T', 'K'};
constexpr uint32_t kEntryVersion = 2;
constexpr size_t kDigestBytes = 32;

template <typename Int>
void put(std::string& out, Int value) {
  for (size_t i = 0; i < sizeof(Int); ++i) out.push_back(char(uint8_t(value >> (8 * i))));
}

void put_string(std::string& out, std::string_view text) {
  put<uint32_t>(out, static_cast<uint32_t>(text.size()));
  out += text;
}

// Reads fields front to back; every read is bounds-checked so a truncated file
// reports which field it ends in.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  template <typename Int>
  bool get(Int* value, const char* field, std::string* why) {
    if (remaining() < sizeof(Int)) return truncated(field, sizeof(Int), why);
    Int v = 0;
    for (size_t i = 0; i < sizeof(Int); ++i) v |= Int(uint8_t(bytes_[at_ + i])) << (8 * i);
    at_ += sizeof(Int);
    *value = v;
    return true;
  }
  bool get_bytes(uint64_t n, std::string* out, const char* field, std::string* why) {
    if (remaining() < n) return truncated(field, n, why);
    out->assign(bytes_.substr(at_, n));
    at_ += n;
    return true;
  }
  bool get_string(std::string* out, const char* field, std::string* why) {
    uint32_t size = 0;
    return get(&size, field, why) && get_bytes(size, out, field, why);
  }
  size_t position() const { return at_; }
  size_t remaining() const { return bytes_.size() - at_; }

 private:
  bool truncated(const char* field, uint64_t wanted, std::string* why) const {
    *why = fmt::format("truncated: {} needs {} bytes at offset {}, file has {} bytes", field,
                       wanted, at_, bytes_.size());
    return false;
  }
  std::string_view bytes_;
  size_t at_ = 0;
};

std::string hex(const uint8_t* digest) {
  std::string text;
  for (size_t i = 0; i < kDigestBytes; ++i) text += fmt::format("{:02x}", digest[i]);
  return text;
}

std::array<uint8_t, kDigestBytes> checksum(std::string_view header, std::string_view payload) {
  Sha256 hasher;
  hasher.update(header);
  hasher.update(payload);
  return hasher.finish();
}

}  // namespace

CacheEntry make_cache_entry(const CacheRequest& request, Artifact artifact) {
  return CacheEntry{request.key, request.arch, request.compiler_version, std::move(artifact)};
}

std::string encode_cache_entry(const CacheEntry& entry) {
  const Artifact& a = entry.artifact;
  std::string bytes(kMagic, sizeof(kMagic));
  put<uint32_t>(bytes, kEntryVersion);
  put<uint32_t>(bytes, static_cast<uint32_t>(a.format));
  put_string(bytes, entry.key);
  put_string(bytes, entry.arch);
  put_string(bytes, entry.compiler_version);
  put_string(bytes, a.entry);
  put_string(bytes, a.log);
  put<uint64_t>(bytes, a.binary.size());
  auto digest = checksum(bytes, a.binary);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  bytes += a.binary;
  return bytes;
}

EntryDecode decode_cache_entry(std::string_view bytes, CacheEntry* out, std::string* why) {
  Reader in(bytes);
  std::string magic;
  if (!in.get_bytes(sizeof(kMagic), &magic, "magic", why)) return EntryDecode::invalid;
  if (magic != std::string_view(kMagic, sizeof(kMagic))) {
    *why = "not an attnjit cache entry (bad magic)";
    return EntryDecode::invalid;
  }
  uint32_t version = 0, format = 0;
  if (!in.get(&version, "format version", why)) return EntryDecode::invalid;
  if (version >= 1 && version < kEntryVersion) {
    *why = fmt::format("entry format version {}, from an older attnjit (this build writes "
                       "version {})",
                       version, kEntryVersion);
    return EntryDecode::stale;
  }
  if (version != kEntryVersion) {
    *why = fmt::format("entry format version {}, this build reads version {}", version,
                       kEntryVersion);
    return EntryDecode::invalid;
  }
  if (!in.get(&format, "binary format", why)) return EntryDecode::invalid;
  if (format > static_cast<uint32_t>(BinaryFormat::hsaco)) {
    *why = fmt::format("unknown binary format {}", format);
    return EntryDecode::invalid;
  }
  CacheEntry entry;
  entry.artifact.format = static_cast<BinaryFormat>(format);
  if (!in.get_string(&entry.key, "key", why) || !in.get_string(&entry.arch, "arch", why) ||
      !in.get_string(&entry.compiler_version, "compiler version", why) ||
      !in.get_string(&entry.artifact.entry, "entry symbol", why) ||
      !in.get_string(&entry.artifact.log, "log", why))
    return EntryDecode::invalid;
  uint64_t payload_size = 0;
  if (!in.get(&payload_size, "payload size", why)) return EntryDecode::invalid;
  const size_t header_size = in.position();
  std::string stored_digest;
  if (!in.get_bytes(kDigestBytes, &stored_digest, "checksum", why)) return EntryDecode::invalid;
  if (payload_size != in.remaining()) {
    *why = payload_size > in.remaining()
               ? fmt::format("truncated: payload declares {} bytes, file has {}",
                             payload_size, in.remaining())
               : fmt::format("{} unexpected bytes after the {}-byte payload",
                             in.remaining() - payload_size, payload_size);
    return EntryDecode::invalid;
  }
  const std::string_view payload = bytes.substr(in.position());
  auto digest = checksum(bytes.substr(0, header_size), payload);
  if (std::memcmp(digest.data(), stored_digest.data(), kDigestBytes) != 0) {
    *why = fmt::format("checksum mismatch (stored {}, computed {})",
                       hex(reinterpret_cast<const uint8_t*>(stored_digest.data())),
                       hex(digest.data()));
    return EntryDecode::invalid;
  }
  entry.artifact.binary.assign(payload);
  *out = std::move(entry);
  return EntryDecode::valid;
}

std::string cache_entry_mismatch(const CacheEntry& entry, const CacheRequest& request) {
  const Artifact& a = entry.artifact;
  if (entry.key != request.key)
    return fmt::format("written for key {}, not {}", entry.key, request.key);
  if (entry.arch != request.arch)
    return fmt::format("written for {}, not {}", entry.arch, request.arch);
  if (a.format != request.format)
    return fmt::format("holds {}, not {}", binary_format_name(a.format),
                       binary_format_name(request.format));
  if (a.entry != request.entry)
    return fmt::format("holds kernel '{}', not '{}'", a.entry, request.entry);
  if (entry.compiler_version != request.compiler_version)
    return fmt::format("built by compiler version {}, not {}", entry.compiler_version,
                       request.compiler_version);
  return binary_target_mismatch(a.format, a.binary, request.arch, request.entry);
}

}  // namespace attnjit
