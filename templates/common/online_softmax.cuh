// The online softmax of one query row (FlashAttention's running max and sum, in the
// exp2 domain), for every main loop. A main loop keeps one SoftmaxRow per query row a
// thread holds and maps its score fragment onto rows: it finds the tile's max of a row
// over all threads that share the row, rescales, and calls prob() for each of the row's
// scores the thread holds. Scores are in the units the score transform leaves
// (ScoreTransform::exp2_scale takes them to log2 units).
//
// Probabilities come out times 2^prob_log2 (a power of two a main loop may need to keep
// products of small operands in range; 0 otherwise), and so does the sum; totals()
// takes the factor back.

namespace attnjit {

// A finished row: its max in log2 units and its full denominator (the sum over every
// thread that holds part of the row, without the sink).
struct RowTotals {
  float max_log2;
  float sum;
};

// One query row's state (all of the row, or this thread's share of it when several
// threads hold parts of the row).
struct SoftmaxRow {
  float max;  // running max of the row's scores; -inf until a key is visible
  float sum;  // this thread's share of the running denominator, times 2^prob_log2

  // What one tile's update needs: alpha rescales everything accumulated before the
  // tile (the sum here, the output row by the caller); exp2_bias turns the tile's
  // scaled scores into probabilities.
  struct Step {
    float alpha;
    float exp2_bias;
  };

  static __device__ __forceinline__ SoftmaxRow start() { return {neg_inf(), 0.f}; }

  // Begins a tile: `tile_max` is the max of the running max and the row's scores in
  // the tile, over every thread that holds part of the row.
  __device__ __forceinline__ Step rescale(float tile_max, float exp2_scale, int prob_log2) {
    // A row that has seen only masked keys keeps max -inf; subtract 0 instead so exp2
    // gives 0 rather than NaN from (-inf) - (-inf).
    const float max_scaled = tile_max == neg_inf() ? 0.f : tile_max * exp2_scale;
    const float alpha = fast_exp2(max * exp2_scale - max_scaled);
    const float exp2_bias = static_cast<float>(prob_log2) - max_scaled;
    max = tile_max;
    sum *= alpha;
    return {alpha, exp2_bias};
  }

  // rescale() for a main loop that skips multiplying its output rows while it can: the
  // running max moves only when the tile's max exceeds it by more than kLazyMaxLog2 in
  // log2 units (and always from -inf). Until then alpha is exactly 1 and probabilities
  // reach at most 2^kLazyMaxLog2 instead of 1, which the fp32 sum holds exactly and
  // fp16 or bf16 P holds with its usual relative precision; the LSE and the output's
  // normalization take the same max and sum, so the result is the softmax's. After the
  // first tiles a row's max rarely grows that much, so most tiles skip the rescale.
  static constexpr float kLazyMaxLog2 = 8.f;
  __device__ __forceinline__ Step rescale_lazily(float tile_max, float exp2_scale) {
    // From -inf the difference is NaN or inf: the max moves.
    if ((tile_max - max) * exp2_scale <= kLazyMaxLog2) return {1.f, -max * exp2_scale};
    return rescale(tile_max, exp2_scale, 0);
  }

  // The probability of one of the row's scores in the tile (times 2^prob_log2), added
  // to the sum; exp2 (fast_exp2 unless a main loop moves some of its exponentials to
  // another pipe) computes it from its log2.
  template <typename Exp2>
  __device__ __forceinline__ float prob(float score, float exp2_scale, const Step& step, Exp2 exp2) {
    const float p = exp2(fmaf(score, exp2_scale, step.exp2_bias));
    sum += p;
    return p;
  }
  __device__ __forceinline__ float prob(float score, float exp2_scale, const Step& step) {
    return prob(score, exp2_scale, step, [](float x) { return fast_exp2(x); });
  }

  // The finished row; `row_sum` is `sum` summed over every thread that holds part of it.
  __device__ __forceinline__ RowTotals totals(float row_sum, float exp2_scale, int prob_log2) const {
    return {max == neg_inf() ? neg_inf() : max * exp2_scale, row_sum * pow2(-prob_log2)};
  }
};

// How a finished row is written: out = accumulated row * out_scale, and its LSE
// (natural log) for the LSE output or a merge.
struct RowNormalization {
  float out_scale;
  float lse;
};

// out_multiplier scales the normalized row (dequantization, fp8 output scale). A fully
// masked row outputs zeros.
__device__ __forceinline__ RowNormalization normalize_row(RowTotals row, float out_multiplier) {
  const float sum = row.sum;
  return {sum > 0.f ? out_multiplier / sum : 0.f,
          sum > 0.f ? (row.max_log2 + fast_log2(sum)) * kLn2 : neg_inf()};
}

// With an attention sink: the sink's logit joins the denominator but has no value row.
__device__ __forceinline__ RowNormalization normalize_row_with_sink(RowTotals row, float sink_logit,
                                                                     float out_multiplier) {
  const float sink_log2 = sink_logit * kLog2e;
  const float top = fmaxf(row.max_log2, sink_log2);
  const float keep = fast_exp2(row.max_log2 - top);  // 0 for a fully masked row
  const float total = row.sum * keep + fast_exp2(sink_log2 - top);
  return {keep / total * out_multiplier, (top + fast_log2(total)) * kLn2};
}

}  // namespace attnjit
