// SHA-256 against the FIPS 180-4 / NIST example vectors, plus the property the cache
// relies on: feeding the bytes in pieces gives the same digest as feeding them at once.
#include <string>

#include "catch.h"
#include "compiler/support/sha256.h"

using attnjit::Sha256;
using attnjit::sha256_hex;

namespace {
std::string hex_of(const std::array<uint8_t, 32>& digest) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string text;
  for (uint8_t byte : digest) {
    text.push_back(kHexDigits[byte >> 4]);
    text.push_back(kHexDigits[byte & 0xF]);
  }
  return text;
}
}  // namespace

TEST_CASE("sha256 matches the standard test vectors", "[runtime][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 448 bits: the padding no longer fits in the message's last block.
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjkl"
                   "mnopqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("sha256 of one million 'a'", "[runtime][sha256]") {
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  // Same message in 1000-byte updates (not a multiple of the 64-byte block).
  Sha256 hasher;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) hasher.update(thousand);
  CHECK(hex_of(hasher.finish()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 is independent of how the input is split", "[runtime][sha256]") {
  // Lengths around the block (64) and padding (56) boundaries exercise every branch.
  std::string message;
  for (int i = 0; i < 200; ++i) message.push_back(static_cast<char>(i * 37 + 11));
  for (size_t length : {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200}) {
    const std::string_view text(message.data(), length);
    const std::string whole = sha256_hex(text);
    for (size_t split : {size_t(1), size_t(7), size_t(64)}) {
      Sha256 hasher;
      for (size_t at = 0; at < length; at += split) hasher.update(text.substr(at, split));
      INFO("length " << length << ", pieces of " << split);
      CHECK(hex_of(hasher.finish()) == whole);
    }
  }
}

TEST_CASE("sha256 object is reusable after finish", "[runtime][sha256]") {
  Sha256 hasher;
  hasher.update("something else");
  hasher.finish();
  hasher.update("abc");
  CHECK(hex_of(hasher.finish()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
