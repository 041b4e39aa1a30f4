// Score transforms: how a variant's `score = ...` reaches a main loop. Codegen
// recognizes the form of the variant's transform and renders, after its VariantHooks,
//   template <bool kKeyBiasStart> using ScoreTransform = attnjit::<Form><VariantHooks, kKeyBiasStart>;
// so a main loop never asks which variant it runs: it makes one ScoreTransform and
// calls the same five steps for every form, in this order:
//   ScoreTransform<b> xf(args, first_row_bound, softmax_scale, softmax_scale_log2, q_ref);
//     once, before the loop; xf.exp2_scale is what the softmax multiplies a
//     transformed score by (in log2 units) before exp2;
//   xf.row(args, bound)                  once per query row: the row's constants (Row);
//   xf.start(kv_pos_f)                   the value a score accumulator starts from;
//   xf.tile_row(row, kv_first_f, q_pos_f) once per tile and row (TileRow), kv_first_f
//                                        being the thread's first key of the tile;
//   xf.apply(x, row, tile_row, column, args, bound, at)  once per score x (q.k as the
//                                        MMA left it), the key at kv_first_f + column;
//                                        at() makes the score's Position (only the
//                                        general form calls it);
//   xf.row_max_log2(max_log2, row, q_pos_f)  once per row at the end: the row's max
//                                        in log2 units as the LSE and sinks need it.
// Each form also says whether apply() issues a special-function (MUFU) instruction per
// score (kSpecialFunctionPerScore), so a main loop can move work off that unit, and
// whether a row's running max settles after the first tiles (kRowMaxSettles: false
// where a bias grows along the keys, as ALiBi's toward the diagonal, or where the form
// cannot tell), so a main loop can skip rescaling its output while the max holds.
// kKeyBiasStart is the main loop's promise that every row of the block belongs to one
// query head and that nothing scales the scores between the MMA and apply(): a bias
// that depends on the key alone may then be the accumulators' starting value.
// Forms take the hooks as a template parameter, so only the hook functions a form
// calls need exist.

namespace attnjit {

// No transform: the softmax scale folds into the exp2 FMA.
template <typename Hooks, bool kKeyBiasStart>
struct PlainScore {
  static constexpr bool kSpecialFunctionPerScore = false;
  static constexpr bool kRowMaxSettles = true;
  struct Row {};
  struct TileRow {};
  float exp2_scale;

  __device__ __forceinline__ PlainScore(const AttnjitVariantArgs&, const AttnjitBoundInputs&, float,
                                        float softmax_scale_log2, float)
      : exp2_scale(softmax_scale_log2) {}
  __device__ __forceinline__ Row row(const AttnjitVariantArgs&, const AttnjitBoundInputs&) const { return {}; }
  __device__ __forceinline__ float start(float) const { return 0.f; }
  __device__ __forceinline__ TileRow tile_row(const Row&, float, float) const { return {}; }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row&, const TileRow&, float,
                                         const AttnjitVariantArgs&, const AttnjitBoundInputs&, At) const {
    return x;
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float) const { return max_log2; }
};

// Any expression: Hooks::score(scale * q.k, position, ...), brought into the log2
// domain per score (measured faster than folding log2(e) into the exp2 FMA).
template <typename Hooks, bool kKeyBiasStart>
struct GeneralScore {
  static constexpr bool kSpecialFunctionPerScore = false;
  static constexpr bool kRowMaxSettles = false;
  struct Row {};
  struct TileRow {};
  float exp2_scale;
  float softmax_scale;

  __device__ __forceinline__ GeneralScore(const AttnjitVariantArgs&, const AttnjitBoundInputs&,
                                          float softmax_scale_, float, float)
      : exp2_scale(1.f), softmax_scale(softmax_scale_) {}
  __device__ __forceinline__ Row row(const AttnjitVariantArgs&, const AttnjitBoundInputs&) const { return {}; }
  __device__ __forceinline__ float start(float) const { return 0.f; }
  __device__ __forceinline__ TileRow tile_row(const Row&, float, float) const { return {}; }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row&, const TileRow&, float,
                                         const AttnjitVariantArgs& args, const AttnjitBoundInputs& bound,
                                         At at) const {
    return Hooks::score(x * softmax_scale, at(), args, bound) * kLog2e;
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float) const { return max_log2; }
};

// Soft-capping with a cap fixed per launch, cap * tanh(score / cap) (Hooks::soft_cap()
// gives the cap): scores are kept as tanh(score / |cap|) in [-1, 1] (one multiply and
// the tanh; the function is the same for -cap) and |cap| * log2(e) becomes the exp2
// scale.
template <typename Hooks, bool kKeyBiasStart>
struct SoftCapScore {
  static constexpr bool kSpecialFunctionPerScore = true;
  static constexpr bool kRowMaxSettles = true;
  struct Row {};
  struct TileRow {};
  float exp2_scale;
  float inner;  // softmax_scale / |cap|

  __device__ __forceinline__ SoftCapScore(const AttnjitVariantArgs& args, const AttnjitBoundInputs&,
                                          float softmax_scale, float, float) {
    const float cap = fabsf(Hooks::soft_cap(args));
    inner = softmax_scale / cap;
    exp2_scale = cap * kLog2e;
  }
  __device__ __forceinline__ Row row(const AttnjitVariantArgs&, const AttnjitBoundInputs&) const { return {}; }
  __device__ __forceinline__ float start(float) const { return 0.f; }
  __device__ __forceinline__ TileRow tile_row(const Row&, float, float) const { return {}; }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row&, const TileRow&, float,
                                         const AttnjitVariantArgs&, const AttnjitBoundInputs&, At) const {
    return tanh_approx(x * inner);
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float) const { return max_log2; }
};

// ALiBi's form, score + slope * (kv_pos - q_pos), with a slope fixed per row
// (Hooks::position_slope()).
//
// Per score (kKeyBiasStart false): log2(e) * (scale * s + slope * (kv_pos - q_pos)) as
// two FMAs, the row's part of the bias once per tile, the column's a constant.
//
// From the start (kKeyBiasStart: one slope for the whole block): the bias's query part,
// slope * q_pos, is constant along a row and cancels in the softmax, so scores carry
// slope * (kv_pos - q_ref) instead, q_ref being the block's first position. That
// depends on the key alone, so it is the accumulators' starting value (in units of
// q.k, made once per tile) and costs nothing per score; row_max_log2() puts
// slope * (q_ref - q_pos) back into each row's max, for the LSE and the sinks.
template <typename Hooks, bool kKeyBiasStart>
struct LinearBiasScore {
  static constexpr bool kSpecialFunctionPerScore = false;
  static constexpr bool kRowMaxSettles = false;
  struct Row {
    float slope_log2;  // the row's slope times log2(e)
  };
  struct TileRow {
    float bias;  // slope * log2(e) * (the thread's first key - q_pos)
  };
  float exp2_scale;
  float softmax_scale_log2;
  float block_slope_log2;  // kKeyBiasStart: the slope of every row, times log2(e)
  float key_slope;         // kKeyBiasStart: slope / softmax_scale, the bias per key in units of q.k
  float q_ref;

  __device__ __forceinline__ LinearBiasScore(const AttnjitVariantArgs& args,
                                             const AttnjitBoundInputs& first_row, float,
                                             float softmax_scale_log2_, float q_ref_)
      : exp2_scale(kKeyBiasStart ? softmax_scale_log2_ : 1.f),
        softmax_scale_log2(softmax_scale_log2_),
        block_slope_log2(Hooks::position_slope(args, first_row) * kLog2e),
        key_slope(kKeyBiasStart ? block_slope_log2 / softmax_scale_log2_ : 0.f),
        q_ref(q_ref_) {}
  __device__ __forceinline__ Row row(const AttnjitVariantArgs& args, const AttnjitBoundInputs& bound) const {
    return {Hooks::position_slope(args, bound) * kLog2e};
  }
  __device__ __forceinline__ float start(float kv_pos_f) const {
    return kKeyBiasStart ? key_slope * (kv_pos_f - q_ref) : 0.f;
  }
  __device__ __forceinline__ TileRow tile_row(const Row& row, float kv_first_f, float q_pos_f) const {
    return {kKeyBiasStart ? 0.f : row.slope_log2 * (kv_first_f - q_pos_f)};
  }
  template <typename At>
  __device__ __forceinline__ float apply(float x, const Row& row, const TileRow& tile_row, float column,
                                         const AttnjitVariantArgs&, const AttnjitBoundInputs&, At) const {
    if constexpr (kKeyBiasStart) return x;
    else return fmaf(x, softmax_scale_log2, fmaf(row.slope_log2, column, tile_row.bias));
  }
  __device__ __forceinline__ float row_max_log2(float max_log2, const Row&, float q_pos_f) const {
    if constexpr (kKeyBiasStart) return max_log2 + block_slope_log2 * (q_ref - q_pos_f);
    else return max_log2;
  }
};

}  // namespace attnjit
