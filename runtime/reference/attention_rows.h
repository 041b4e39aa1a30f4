#pragma once
// The reference's definition of attention for one query row, in float64, shared by
// every kernel kind's reference (prefill, paged): each kind only gathers a
// sequence's keys and values its own way (contiguous rows, pages through a block
// table, dequantized) and hands them here, so the semantics of scores, masks,
// sinks, ranges and LSE live in one place.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "compiler/ir/variant.h"
#include "runtime/reference/expr_eval.h"
#include "runtime/reference/runtime_values.h"

namespace attnjit {

// One sequence's keys and values for one KV head, decoded to float64, row-major
// [kv_len, head_dim]. Not owned.
struct SequenceKv {
  int64_t seq = 0;     // index in the batch: the `seq` builtin, the row of ranges/inputs
  int64_t q_len = 0;   // the sequence's queries: a chunk at the end of its keys
  int64_t kv_len = 0;  // the sequence's keys
  const double* keys = nullptr;
  const double* values = nullptr;
};

// Computes rows of one (sequence, KV head): the query heads of that head's GQA
// group attend to the same keys. Holds scratch space, so one object serves all rows
// of its (sequence, KV head); not thread-safe, cheap to make one per work item.
class AttentionRows {
 public:
  AttentionRows(const ir::Variant& variant, const RuntimeValues& values, const SequenceKv& kv,
                int kv_head);

  // Query row i (0 <= i < q_len) of query head `q_head` (in this KV head's group);
  // `query` holds head_dim values. The row sits at q_pos = kv_len - q_len + i
  // (queries at the end of their sequence, FlashAttention's causal alignment).
  // Writes head_dim outputs to `out` and returns the row's LSE: natural log of the
  // softmax denominator including the sink. A row that sees no key gets output 0
  // and LSE -inf (the sink's logit with sinks).
  double row(int q_head, int64_t i, const double* query, double* out);

 private:
  bool in_shared_range(int64_t q_pos, int64_t kv_pos) const;

  const ir::Variant& variant_;
  const RuntimeValues& values_;
  SequenceKv kv_;
  bool mask_reads_score_;
  std::optional<ExprEvaluator> mask_, score_;  // the variant's expressions, classified once
  ExprEnv env_;
  std::vector<double> logits_;
  std::vector<char> visible_;
};

// Runs fn(0) .. fn(n - 1) on a few threads (the references' work items write
// disjoint outputs); rethrows the first exception after all threads stop.
void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace attnjit
