// Paged entry with one thread block per (query block, KV head, split-KV segment).
// Grid: x = query blocks over all sequences, y = KV heads, z = segments. With more
// than one segment each block writes f32 partial rows and LSEs of an even share of the
// visible tiles to its segment's slice of `out` / `lse`, and a merge launch combines them.

extern "C" __global__ void ATTNJIT_LAUNCH_BOUNDS
    ATTNJIT_ENTRY(const AttnjitPagedParams p) {
  using namespace attnjit;
  extern __shared__ __align__(128) unsigned char shared[];

  const int kv_head = blockIdx.y;
  const int split = blockIdx.z;
  const int seq = find_sequence(p.cu_seqlens_q, p.num_seqs, blockIdx.x);
  const int q_start = p.cu_seqlens_q[seq];
  const int q_len = p.cu_seqlens_q[seq + 1] - q_start;
  const int token0 = (blockIdx.x - (q_start / kTokensPerBlock + seq)) * kTokensPerBlock;
  if (token0 >= q_len || (p.decode_q_len_max > 0 && q_len > p.decode_q_len_max)) return;
  const int kv_len = p.seq_lens[seq];
  const int tokens = min(kTokensPerBlock, q_len - token0);

  const PackedRows rows = packed_rows(p, q_start, q_len, kv_len, kv_head, token0, tokens, split);
  const PagedKeys keys = paged_keys(p, seq, kv_head, kv_len);

  AttendOptions opt = paged_options(p, seq);
  opt.tiles = even_share(visible_kv_tiles(rows.q_pos_first, rows.q_pos_last, kv_len, opt.ranges,
                                          opt.range_count),
                         split, p.num_splits);
  attend(shared, rows, keys, p.variant, opt);
}
