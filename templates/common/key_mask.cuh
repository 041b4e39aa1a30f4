// Which keys a query row sees, for every main loop: the KV band the compiler derived
// from the mask (VariantHooks' band constants), widened by bidirectional ranges; the
// tiles a block of rows visits; which of them are full (no per-element mask); and the
// per-element mask of the others.

namespace attnjit {

// The keys that share a bidirectional [start, end) range with a query row at q_pos: the
// ranges that hold the row all contain q_pos, so their union is one interval, from the
// lowest start to the highest end, and a key shares a range with the row exactly when it
// lies in that interval. Empty when no range holds the row. Found once per row, so the
// per-element mask compares two bounds instead of reading every range.
struct RangeKeys {
  int begin, end;
};

__device__ __forceinline__ RangeKeys keys_sharing_a_range(const int* ranges, int count, int q_pos) {
  RangeKeys keys{0, 0};
  for (int r = 0; r < count; ++r) {
    const int start = ranges[2 * r], end = ranges[2 * r + 1];
    if (start <= q_pos && q_pos < end) {
      keys.begin = keys.end > keys.begin ? min(keys.begin, start) : start;
      keys.end = max(keys.end, end);
    }
  }
  return keys;
}

// The KV positions [begin, end) a block of query rows must visit: the band the
// compiler derived from the mask, widened by bidirectional ranges that hold some of
// the rows (tiles in a range are then masked per element).
struct KvRange {
  int begin, end;
  bool widened_by_range;
};

__device__ __forceinline__ KvRange visible_kv_range(int q_pos_first, int q_pos_last, int kv_len,
                                                    const int* ranges, int range_count) {
  KvRange r{0, kv_len, false};
  // A position plus a band offset can leave int (both reach 2^31 - 2 in magnitude):
  // sum them as long long, then clamp to the keys.
  if (VariantHooks::kHasLowerBand)
    r.begin = static_cast<int>(min(static_cast<long long>(kv_len),
                                   max(0LL, static_cast<long long>(q_pos_first) + VariantHooks::kLowerOffset)));
  if (VariantHooks::kHasUpperBand)
    r.end = static_cast<int>(max(0LL, min(static_cast<long long>(kv_len),
                                          static_cast<long long>(q_pos_last) + VariantHooks::kUpperOffset + 1)));
  if constexpr (kHasRanges) {
    for (int i = 0; i < range_count; ++i) {
      const int start = max(ranges[2 * i], 0), end = min(ranges[2 * i + 1], kv_len);
      if (start >= end || start > q_pos_last || end <= q_pos_first) continue;
      if (r.end <= r.begin) r.begin = start, r.end = end;
      else r.begin = min(r.begin, start), r.end = max(r.end, end);
      r.widened_by_range = true;
    }
  }
  return r;
}

// The KV tiles [begin, end) of the rows' visible positions (tile n holds keys
// [n * kBlockN, (n + 1) * kBlockN)). Entries pass attend() these tiles or a share of them.
struct KvTiles {
  int begin, end;
  bool widened_by_range;
};

__device__ __forceinline__ KvTiles visible_kv_tiles(int q_pos_first, int q_pos_last, int kv_len,
                                                    const int* ranges, int range_count) {
  const KvRange r = visible_kv_range(q_pos_first, q_pos_last, kv_len, ranges, range_count);
  const int begin = r.begin / kBlockN;
  return {begin, r.end > r.begin ? (r.end + kBlockN - 1) / kBlockN : begin, r.widened_by_range};
}

// Share `index` of `count` even shares of `all` (split-KV segments).
__device__ __forceinline__ KvTiles even_share(KvTiles all, int index, int count) {
  const int per_share = (all.end - all.begin + count - 1) / count;
  const int begin = min(all.end, all.begin + index * per_share);
  return {begin, min(all.end, begin + per_share), all.widened_by_range};
}

// True when keys [kv_first, kv_first + kKeys) are all visible to every query row in
// [q_pos_first, q_pos_last]: wholly inside an exact band and the sequence, so the tile
// needs neither sequence-end nor per-element checks.
template <int kKeys>
__device__ __forceinline__ bool tile_is_full(int kv_first, int kv_len, int q_pos_first, int q_pos_last,
                                             bool widened_by_range) {
  return VariantHooks::kBandIsExact && !widened_by_range && kv_first + kKeys <= kv_len &&
         (!VariantHooks::kHasUpperBand ||
          kv_first + kKeys - 1 <= static_cast<long long>(q_pos_first) + VariantHooks::kUpperOffset) &&
         (!VariantHooks::kHasLowerBand ||
          kv_first >= static_cast<long long>(q_pos_last) + VariantHooks::kLowerOffset);
}

// The mask of one score of a tile that is not full: -inf unless its key is inside the
// sequence, the band and the variant's mask, or (when ranges widened the block's keys)
// in one bidirectional range with the query (`ranged`: the query row's
// keys_sharing_a_range()). (Written as one function that stores, not one that returns a
// bool: the compiler then keeps the checks free of branches.)
__device__ __forceinline__ void mask_score(float& score, const Position& at, const AttnjitVariantArgs& args,
                                           const AttnjitBoundInputs& bound, bool widened_by_range,
                                           RangeKeys ranged) {
  bool visible = at.kv_pos < at.kv_len;
  if (VariantHooks::kHasUpperBand)
    visible = visible && at.kv_pos <= static_cast<long long>(at.q_pos) + VariantHooks::kUpperOffset;
  if (VariantHooks::kHasLowerBand)
    visible = visible && at.kv_pos >= static_cast<long long>(at.q_pos) + VariantHooks::kLowerOffset;
  if (!VariantHooks::kBandIsExact) visible = visible && VariantHooks::mask(at, args, bound);
  if constexpr (kHasRanges) {
    if (widened_by_range && !visible && at.kv_pos < at.kv_len)
      visible = ranged.begin <= at.kv_pos && at.kv_pos < ranged.end;
  }
  if (!visible) score = neg_inf();
}

}  // namespace attnjit
