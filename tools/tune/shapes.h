#pragma once
// The problem sizes a tile is timed on: per kind a default set (the shapes of
// docs/BENCHMARKS.md) or the --shapes list.
//
//   prefill       BxS (batch x sequence length) or BxSQxSK
//   paged         BxQxC: B sequences, each a chunk of Q new query tokens after C cached
//                 ones; BxQ = a fresh prefill (C 0)
//   paged_decode  BxC: one new token after C cached (Q 1), or BxQxC
#include <string>
#include <vector>

#include "compiler/ir/variant.h"
#include "compiler/support/result.h"
#include "tools/tune/search_space.h"

namespace attnjit::tune {

struct Shape {
  int batch = 1;
  int query_len = 0;  // prefill: seqlen_q; paged: new tokens per sequence
  int kv_len = 0;     // prefill: seqlen_k; paged: cached tokens before the chunk
  bool operator==(const Shape&) const = default;
};

// As --shapes spells it, in the kind's form ("4x4096", "64x8192", "8x512x2048").
std::string shape_name(TuneKind kind, const Shape& s);
// A comma-separated list in the kind's form; every number positive (a paged context
// may be 0), products bounded so no size overflows.
Result<std::vector<Shape>, std::string> parse_shapes(TuneKind kind, const std::string& text);
std::vector<Shape> default_shapes(TuneKind kind);
// Why `s` cannot be timed for `v` under `kind` ("" = it can): a paged_decode shape
// must use the decode tile for this variant (Q x query heads per KV head <= 16), a
// paged one must not.
std::string shape_mismatch(TuneKind kind, const ir::Variant& v, const Shape& s);

}  // namespace attnjit::tune
