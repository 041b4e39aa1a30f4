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

// Where the GPU kernels round (templates/kernels/attention_core.cuh), for the
// low-precision twin the reference computes beside each float64 row: the same
// attention with the roundings a correct kernel cannot avoid in its precision, so its
// distance from the float64 row is the error a correct kernel makes (the yardstick of
// the harness's verdict, docs/TESTING.md). Scores and the softmax sum stay exact here:
// the kernel forms them in f32 from exact products, far below these roundings.
struct LowPrecision {
  // Tensor-core operand type: P = exp(score - max), the probabilities fed to the
  // P.V product, is rounded to it (the softmax denominator sums P unrounded).
  DType compute = DType::bf16;
  // f32 q / k,v storage: the kernel rounds each element to `compute` as it loads it.
  bool round_q = false, round_kv = false;
  DType out = DType::bf16;  // the output is rounded to it ...
  double out_scale = 1.0;   // ... after multiplying by this (an fp8 output's scale)
  // The score transform calls tanh, which the kernel evaluates with tanh.approx.f32
  // (relative error up to 2^-11, kTanhRelativeError): modelled by rounding the
  // transformed score to a grid of that relative spacing.
  bool approximate_tanh = false;
};
inline constexpr double kTanhRelativeError = 0x1p-11;

// The kernel's rounding points for a variant: compute type fp16 for fp16 queries,
// else bf16 (f32 inputs compute in bf16); 8-bit K/V decode exactly into it, so only f32
// storage rounds inputs. `out_scale` is the paged fp8 output scale (1 elsewhere).
LowPrecision kernel_precision(const ir::Variant& variant, double out_scale = 1.0);

// Where one row's low-precision twin goes; filled by AttentionRows::row.
struct LowPrecisionRow {
  double* out_unrounded = nullptr;  // head_dim values before the output's rounding
  double* out = nullptr;            // head_dim values as stored, divided back by out_scale
  double lse = 0;
  // First-order bound of the LSE error the modelled approximation (tanh) may add:
  // kTanhRelativeError * sum p|score| / sum p. 0 without one.
  double lse_model_error = 0;
};

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
  // With `low` (not owned, outliving this object) every row also computes its
  // low-precision twin.
  AttentionRows(const ir::Variant& variant, const RuntimeValues& values, const SequenceKv& kv,
                int kv_head, const LowPrecision* low = nullptr);

  // Query row i (0 <= i < q_len) of query head `q_head` (in this KV head's group);
  // `query` holds head_dim values. The row sits at q_pos = kv_len - q_len + i
  // (queries at the end of their sequence, FlashAttention's causal alignment).
  // Writes head_dim outputs to `out` and returns the row's LSE: natural log of the
  // softmax denominator including the sink. A row that sees no key gets output 0
  // and LSE -inf (the sink's logit with sinks). `low` receives the twin; it must be
  // given exactly when the object was made with a LowPrecision.
  double row(int q_head, int64_t i, const double* query, double* out,
             LowPrecisionRow* low = nullptr);

 private:
  bool in_shared_range(int64_t q_pos, int64_t kv_pos) const;
  // The twin's logit of key j for a visible key whose float64 logit is `exact`.
  double low_logit(int64_t j, double exact);
  void finish_low_row(double row_max_low, double sum_low, double tanh_weight,
                      LowPrecisionRow& low) const;

  const ir::Variant& variant_;
  const RuntimeValues& values_;
  SequenceKv kv_;
  bool mask_reads_score_;
  std::optional<ExprEvaluator> mask_, score_;  // the variant's expressions, classified once
  ExprEnv env_;
  std::vector<double> logits_;
  std::vector<char> visible_;
  // The twin: its spec, its logits when they differ from logits_ (f32 inputs or a
  // modelled tanh), K/V rounded to the compute type (f32 storage), the query rounded
  // likewise, and its P.V accumulator.
  const LowPrecision* low_;
  bool low_logits_differ_ = false;
  std::vector<double> low_logits_, low_keys_, low_values_, low_query_, low_acc_;
};

// The references' unit of parallel work: query rows [first_row, end_row) of one
// (sequence, KV head). A long query chunk is cut into shares of kRowsPerWorkItem rows
// so that one long sequence still spreads over the threads; each share gathers its
// keys again, which costs far less than attending with that many rows.
struct WorkItem {
  int64_t seq = 0;
  int kv_head = 0;
  int64_t first_row = 0, end_row = 0;
};
inline constexpr int64_t kRowsPerWorkItem = 32;
// Items for sequences with these query lengths (an empty sequence gets none).
std::vector<WorkItem> work_items(const std::vector<int64_t>& q_lens, int kv_heads);

// Runs fn(0) .. fn(n - 1) on a few threads (the references' work items write
// disjoint outputs); rethrows the first exception after all threads stop.
void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace attnjit
