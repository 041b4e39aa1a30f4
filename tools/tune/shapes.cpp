#include "tools/tune/shapes.h"

#include <charconv>

#include <fmt/format.h>

#include "compiler/ir/numeric.h"
#include "runtime/api/paged_args.h"

namespace attnjit::tune {

namespace {

// A shape's tokens (batch x longest length) stay within what a launch accepts.
constexpr long long kMaxTokens = 1LL << 31;

// "64" -> 64; nullopt for anything else (signs, blanks, overflow).
std::optional<int> parse_count(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0)
    return std::nullopt;
  return value;
}

std::string expected_form(TuneKind kind) {
  switch (kind) {
    case TuneKind::prefill: return "BxS or BxSQxSK (batch x sequence lengths)";
    case TuneKind::paged: return "BxQxC or BxQ (batch x query chunk x cached context)";
    case TuneKind::paged_decode: return "BxC or BxQxC (batch x cached context, 1 query token)";
  }
  return "";
}

Result<Shape, std::string> parse_shape(TuneKind kind, std::string_view text) {
  const std::string bad = fmt::format("shape \"{}\": expected {}", printable(text, 60),
                                      expected_form(kind));
  std::vector<int> n;
  for (size_t at = 0; at <= text.size();) {
    size_t x = text.find('x', at);
    if (x == std::string_view::npos) x = text.size();
    std::optional<int> value = parse_count(text.substr(at, x - at));
    if (!value || n.size() == 3) return fail(bad);
    n.push_back(*value);
    at = x + 1;
  }
  if (n.size() < 2) return fail(bad);
  Shape s;
  s.batch = n[0];
  if (kind == TuneKind::prefill) {
    s.query_len = n[1];
    s.kv_len = n.size() == 3 ? n[2] : n[1];
  } else if (kind == TuneKind::paged_decode && n.size() == 2) {
    s.query_len = 1;
    s.kv_len = n[1];
  } else {
    s.query_len = n[1];
    s.kv_len = n.size() == 3 ? n[2] : 0;
  }
  // Only a paged context may be empty: every other count is a size.
  const bool context_may_be_zero = kind != TuneKind::prefill;
  if (s.batch < 1 || s.query_len < 1 || (s.kv_len < 1 && !context_may_be_zero))
    return fail(fmt::format("shape \"{}\": batch and lengths must be positive", printable(text, 60)));
  const long long longest = static_cast<long long>(s.query_len) + s.kv_len;
  if (longest > ir::kMaxSequenceLength || static_cast<long long>(s.batch) * longest > kMaxTokens)
    return fail(fmt::format("shape \"{}\": too large (at most {} tokens per sequence, {} in all)",
                            printable(text, 60), ir::kMaxSequenceLength, kMaxTokens));
  return s;
}

}  // namespace

std::string shape_name(TuneKind kind, const Shape& s) {
  switch (kind) {
    case TuneKind::prefill:
      return s.query_len == s.kv_len ? fmt::format("{}x{}", s.batch, s.query_len)
                                     : fmt::format("{}x{}x{}", s.batch, s.query_len, s.kv_len);
    case TuneKind::paged:
      return s.kv_len == 0 ? fmt::format("{}x{}", s.batch, s.query_len)
                           : fmt::format("{}x{}x{}", s.batch, s.query_len, s.kv_len);
    case TuneKind::paged_decode:
      return s.query_len == 1 ? fmt::format("{}x{}", s.batch, s.kv_len)
                              : fmt::format("{}x{}x{}", s.batch, s.query_len, s.kv_len);
  }
  return "";
}

Result<std::vector<Shape>, std::string> parse_shapes(TuneKind kind, const std::string& text) {
  std::vector<Shape> shapes;
  for (size_t at = 0; at <= text.size();) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    auto shape = parse_shape(kind, std::string_view(text).substr(at, comma - at));
    if (!shape) return fail(shape.error());
    shapes.push_back(*shape);
    at = comma + 1;
  }
  return shapes;
}

std::vector<Shape> default_shapes(TuneKind kind) {
  switch (kind) {
    // docs/BENCHMARKS.md's prefill rows: 16k tokens per batch at three lengths.
    case TuneKind::prefill: return {{16, 1024, 1024}, {4, 4096, 4096}, {1, 16384, 16384}};
    // Chunked prefill: long chunks after short and long contexts, and a fresh prompt.
    case TuneKind::paged: return {{8, 512, 2048}, {32, 256, 4096}, {4, 4096, 0}};
    // docs/BENCHMARKS.md's decode rows.
    case TuneKind::paged_decode:
      return {{64, 1, 8192}, {128, 1, 4096}, {1, 1, 32768}, {16, 1, 4096}, {32, 1, 16384}};
  }
  return {};
}

std::string shape_mismatch(TuneKind kind, const ir::Variant& v, const Shape& s) {
  if (kind == TuneKind::prefill) return "";
  const bool decode = uses_decode_tile(v, s.query_len);
  if (kind == TuneKind::paged_decode && !decode)
    return fmt::format(
        "shape {} does not use the decode tile for variant {}: {} query tokens x {} query heads "
        "per KV head exceed its 16 rows",
        shape_name(kind, s), v.name, s.query_len, v.group_size());
  if (kind == TuneKind::paged && decode)
    return fmt::format(
        "shape {} uses the decode tile for variant {} ({} query tokens x {} query heads per KV "
        "head fit its 16 rows): tune it as paged_decode",
        shape_name(kind, s), v.name, s.query_len, v.group_size());
  return "";
}

}  // namespace attnjit::tune
