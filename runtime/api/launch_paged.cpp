// Engine::paged, Engine::write_kv_cache and Engine::merge: arguments to parameter
// blocks, the split-KV decision and the launches.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "compiler/ir/print.h"
#include "runtime/api/engine.h"
#include "runtime/api/launch_common.h"
#include "templates/kernels/cache_write_params.h"
#include "templates/kernels/merge_params.h"
#include "templates/kernels/paged_params.h"

namespace attnjit {

namespace {

constexpr int kMergeWarps = 4;  // rows (x heads) per merge / cache_write block

// Element strides of a paged cache view as (block, slot, head), whatever the layout.
struct PageStrides {
  long long block, slot, head;
};
PageStrides page_strides(const TensorView& cache, ir::KvLayout layout) {
  if (layout == ir::KvLayout::HND) return {cache.stride(0), cache.stride(2), cache.stride(1)};
  return {cache.stride(0), cache.stride(1), cache.stride(2)};
}

// Scale caches are [num_blocks, page_size, kv_heads] in every layout.
PageStrides scale_strides(const TensorView& scales) {
  return {scales.stride(0), scales.stride(1), scales.stride(2)};
}

void launch_merge(const cuda::LoadedKernel& kernel, const AttnjitMergeParams& p, int warps,
                  cuda::CUstream stream) {
  const long long items = static_cast<long long>(p.rows) * p.heads;
  const unsigned blocks = static_cast<unsigned>((items + warps - 1) / warps);
  kernel.launch(blocks, 1, 1, warps * 32, 0, stream, &p, sizeof(p));
}

// The parameter block's inputs, scales and variant values: everything but where the
// results go, which depends on how the launch splits the KV tiles.
AttnjitPagedParams paged_params(const ir::Variant& variant, const PagedArgs& args,
                                const PagedShape& shape) {
  AttnjitPagedParams p{};
  p.q = args.q.data;
  p.k_cache = args.k_cache.data;
  p.v_cache = args.v_cache.data;
  p.cu_seqlens_q = static_cast<const int*>(args.cu_seqlens_q.data);
  p.seq_lens = static_cast<const int*>(args.seq_lens.data);
  p.block_table = static_cast<const int*>(args.block_table.data);
  p.num_seqs = shape.num_seqs;
  p.block_table_stride = static_cast<int>(args.block_table.stride(0));
  p.q_row_stride = args.q.stride(0);
  p.q_head_stride = args.q.stride(1);
  const PageStrides k = page_strides(args.k_cache, variant.kv_cache.layout);
  const PageStrides v = page_strides(args.v_cache, variant.kv_cache.layout);
  p.k_block_stride = k.block, p.k_slot_stride = k.slot, p.k_head_stride = k.head;
  p.v_block_stride = v.block, p.v_slot_stride = v.slot, p.v_head_stride = v.head;

  const bool per_tensor = variant.kv_scale == ir::ScaleGranularity::per_tensor;
  p.k_descale = per_tensor ? args.k_descale : 1.f;
  p.v_descale = per_tensor ? args.v_descale : 1.f;
  if (variant.kv_scale == ir::ScaleGranularity::per_token_head) {
    p.k_scales = static_cast<const float*>(args.k_scale_cache.data);
    p.v_scales = static_cast<const float*>(args.v_scale_cache.data);
    const PageStrides ks = scale_strides(args.k_scale_cache), vs = scale_strides(args.v_scale_cache);
    p.ks_block_stride = ks.block, p.ks_slot_stride = ks.slot, p.ks_head_stride = ks.head;
    p.vs_block_stride = vs.block, p.vs_slot_stride = vs.slot, p.vs_head_stride = vs.head;
  }
  // A per-tensor K descale multiplies every logit: fold it into the softmax scale. The
  // V descale multiplies every output: fold it into the output multiplier.
  const double scale = variant.softmax_scale() * p.k_descale;
  p.softmax_scale = static_cast<float>(scale);
  p.softmax_scale_log2 = static_cast<float>(scale * M_LOG2E);
  p.variant = variant_args(variant, args);
  p.debug_tile_counts = args.debug_tile_counts;
  return p;
}

}  // namespace

int Engine::choose_splits(long long blocks, int max_kv_tiles, int sm_count, int blocks_per_sm,
                          int stream_blocks_per_sm, int kv_bytes) {
  // Never give a segment fewer than two tiles.
  const int most = std::min(ATTNJIT_MAX_MERGE_PARTS, max_kv_tiles / 2);
  if (most < 2 || blocks <= 0) return 1;
  // Estimated time of a launch cut into `s` segments per sequence, in units of one
  // tile's streaming time for a block of a full wave. Blocks run in waves of
  // sm_count * blocks_per_sm. A full wave costs its blocks' tiles plus a fixed cost
  // per block (start, Q load, pipeline fill, epilogue); a partial wave's blocks share
  // the memory bandwidth among fewer of them and stream faster, but not without
  // limit (partial_floor); splitting adds the merge pass.
  //
  // The stream split: one wave whose blocks share all tiles evenly. Each block pays
  // the fixed cost, stream_per_unit per unit of work in its share (a unit is a
  // sequence's tiles for one KV head: a piece's start, epilogue and the work-line
  // search), and stream_per_cut when shares cut units (partial rows written, counted
  // and merged in the launch).
  //
  // Constants fitted on the H200 to grids of measured times (32 query / 8 KV heads,
  // d128, 16-key tiles, every split count and the stream split; bf16 K/V: batch 1-72
  // x context 512, 2048, 8192 and 1-8 x 32768, 224 points; fp8, with the sm_90 config's
  // three resident blocks per SM: batch 1-72 x context 512, 2048 and 8192, 216
  // points): the choice is within 5% of the fastest measured for 97% (bf16) and 96%
  // (fp8) of the points. The costs are in tiles, so one fitted set
  // per K/V element width: an 8-bit tile streams in half the time, while a block's
  // start and end are latency and cost the same (one byte-weighted set fitted worse).
  struct CostModel {
    double fixed_per_block, merge, partial_floor, stream_per_unit, stream_per_cut;
  };
  static constexpr CostModel kSixteenBit{22.0, 16.0, 0.75, 16.0, 14.0};
  static constexpr CostModel kEightBit{12.0, 32.0, 0.9, 24.0, 42.0};
  const CostModel& m = kv_bytes == 1 ? kEightBit : kSixteenBit;
  const long long wave = static_cast<long long>(sm_count) * std::max(1, blocks_per_sm);
  auto cost = [&](int s) {
    const double tiles = (max_kv_tiles + s - 1) / s;
    const long long segments = blocks * s;
    const long long full_waves = segments / wave, rest = segments % wave;
    double t = full_waves * (tiles + m.fixed_per_block);
    if (rest > 0)
      t += tiles * std::max(static_cast<double>(rest) / wave, m.partial_floor) + m.fixed_per_block;
    return t + (s > 1 ? m.merge : 0.0);
  };
  int best = 1;
  double best_cost = cost(1);
  for (int s = 2; s <= most; ++s) {
    const double c = cost(s);
    if (c < best_cost) best = s, best_cost = c;
  }
  if (stream_blocks_per_sm > 0) {
    const double stream_wave = static_cast<double>(sm_count) * stream_blocks_per_sm;
    const double share = static_cast<double>(blocks) * max_kv_tiles / stream_wave;
    const double units_per_block = share / max_kv_tiles;
    const bool cuts = std::abs(units_per_block - std::round(units_per_block)) > 1e-9;
    const double stream_cost = std::ceil(share) + m.fixed_per_block +
                               m.stream_per_unit * units_per_block +
                               (cuts ? m.stream_per_cut : 0.0);
    if (stream_cost < best_cost) return kStreamSplit;
  }
  return best;
}

void Engine::paged(const ir::Variant& variant, const PagedArgs& args, cuda::CUstream stream) {
  const PagedShape shape = validate_paged(variant, args, DeviceKind::cuda, "attnjit::paged");
  if (shape.num_seqs == 0 || shape.total_q == 0) return;
  std::shared_ptr<cuda::Driver> gpu = driver();
  const int group = variant.group_size();

  // Short chunks everywhere (decode, speculative tokens): the small decode tile.
  const bool decode = uses_decode_tile(variant, args.max_seqlen_q);
  const std::string tuning = decode ? "paged_decode" : "";
  const std::string dsl = ir::print_dsl(variant);
  const TileConfig tile =
      resolve(variant, dsl, KernelKind::paged, "attnjit::paged", tuning).spec.tile;
  const int tokens_per_block = tile.block_m / group;
  if (tokens_per_block < 1)
    throw std::runtime_error(fmt::format(
        "attnjit::paged: BLOCK_M {} cannot hold the {} query heads of one KV head",
        tile.block_m, group));

  const long long grid_x = shape.total_q / tokens_per_block + shape.num_seqs;
  const int page_size = variant.kv_cache.page_size;
  const int max_kv = args.max_seqlen_k > 0 ? args.max_seqlen_k
                                           : shape.max_blocks_per_seq * page_size;
  const int max_tiles = (max_kv + tile.block_n - 1) / tile.block_n;
  const int shared_bytes = attention_shared_bytes(tile, variant);
  // The stream kernel keeps the work line's prefix (an int per sequence) after the
  // main loop's buffers; past a few thousand sequences it would cost occupancy, and
  // such batches fill the GPU without it.
  const int stream_shared_bytes = (shared_bytes + 15) / 16 * 16 + 4 * (shape.num_seqs + 1);
  const bool stream_possible = decode && shape.num_seqs <= kStreamSplitMaxSeqs;
  const int sms = gpu->attribute(cuda::kMultiprocessorCount);
  auto stream_kernel = [&]() -> const cuda::LoadedKernel& {
    return *resolve(variant, dsl, KernelKind::paged, "attnjit::paged", tuning, KvSplit::stream)
                .kernel;
  };
  // The caller's count, else the config's, else the heuristic's.
  int splits = args.num_splits != 0 ? args.num_splits : tile.num_splits;
  splits = std::min(splits, ATTNJIT_MAX_MERGE_PARTS);
  if (splits == 0) {
    // Blocks that do work: one per sequence when decoding (grid_x also counts blocks
    // that find no rows and exit).
    const long long blocks = (decode ? shape.num_seqs : grid_x) * variant.kv_heads;
    int per_sm = 1, stream_per_sm = 0;
    // The split kernels' occupancy sizes a wave; past 32 blocks per SM (the hardware
    // limit) nothing would split, so the queries are skipped.
    if (blocks < 32LL * sms) {
      per_sm = blocks_per_sm(
          *resolve(variant, dsl, KernelKind::paged, "attnjit::paged", tuning, KvSplit::segments)
               .kernel,
          tile.warps * 32, shared_bytes);
      if (stream_possible)
        stream_per_sm = blocks_per_sm(stream_kernel(), tile.warps * 32, stream_shared_bytes);
    }
    splits = choose_splits(blocks, max_tiles, sms, per_sm, stream_per_sm,
                           dtype_bytes(variant.kv_type));
  }
  last_paged_splits_ = splits;
  AttnjitPagedParams p = paged_params(variant, args, shape);
  const int threads = tile.warps * 32;
  if (splits == kStreamSplit) {
    // One resident wave of blocks (the kernel uses fewer when the tiles are few). Cut
    // pieces are f32 with the V descale applied; their merge applies the output scale.
    const cuda::LoadedKernel& kernel = stream_kernel();
    const int blocks = sms * std::max(1, blocks_per_sm(kernel, threads, stream_shared_bytes));
    const size_t slot_floats = static_cast<size_t>(blocks) * 2 * tile.block_m;
    cuda::DeviceBuffer& ws = workspace(slot_floats * (variant.head_dim + 1) * sizeof(float));
    p.piece_out = static_cast<float*>(ws.data());
    p.piece_lse = p.piece_out + slot_floats * variant.head_dim;
    p.pieces_done = static_cast<int*>(
        piece_counts(static_cast<size_t>(shape.num_seqs) * variant.kv_heads).data());
    p.kv_heads = variant.kv_heads;
    p.num_splits = 1;
    p.out_multiplier = p.v_descale * args.out_scale;
    p.piece_multiplier = p.v_descale;
    p.merged_out_scale = args.out_scale;
    p.out = args.out.data;
    p.o_row_stride = args.out.stride(0), p.o_head_stride = args.out.stride(1);
    if (variant.lse) {
      p.lse = static_cast<float*>(args.lse.data);
      p.lse_head_stride = args.lse.stride(0), p.lse_row_stride = args.lse.stride(1);
    }
    kernel.launch(static_cast<unsigned>(blocks), 1, 1, threads, stream_shared_bytes, stream, &p,
                  sizeof(p));
    return;
  }
  const cuda::LoadedKernel& kernel =
      *resolve(variant, dsl, KernelKind::paged, "attnjit::paged", tuning,
               splits > 1 ? KvSplit::segments : KvSplit::none).kernel;
  p.out_multiplier = p.v_descale * (splits > 1 ? 1.f : args.out_scale);
  p.num_splits = splits;

  const int heads = variant.q_heads, dim = variant.head_dim;
  float* partial_lse = nullptr;
  float* partial_out = nullptr;
  if (splits > 1) {
    // Partial results: f32 [splits, total_q, heads, dim] and LSEs [splits, heads, total_q].
    const size_t out_elems = static_cast<size_t>(shape.total_q) * heads * dim;
    const size_t lse_elems = static_cast<size_t>(shape.total_q) * heads;
    cuda::DeviceBuffer& ws = workspace(splits * (out_elems + lse_elems) * sizeof(float));
    partial_out = static_cast<float*>(ws.data());
    partial_lse = partial_out + splits * out_elems;
    p.out = partial_out;
    p.o_row_stride = static_cast<long long>(heads) * dim, p.o_head_stride = dim;
    p.o_split_stride = static_cast<long long>(out_elems);
    p.lse = partial_lse;
    p.lse_head_stride = shape.total_q, p.lse_row_stride = 1;
    p.lse_split_stride = static_cast<long long>(lse_elems);
  } else {
    p.out = args.out.data;
    p.o_row_stride = args.out.stride(0), p.o_head_stride = args.out.stride(1);
    if (variant.lse) {
      p.lse = static_cast<float*>(args.lse.data);
      p.lse_head_stride = args.lse.stride(0), p.lse_row_stride = args.lse.stride(1);
    }
  }
  kernel.launch(static_cast<unsigned>(grid_x), variant.kv_heads, splits, tile.warps * 32,
                shared_bytes, stream, &p, sizeof(p));
  if (splits == 1) return;

  // Combine the segments; sinks and the output type belong to this step.
  const Resolved& merge =
      resolve(variant, dsl, KernelKind::merge, "attnjit::paged", "", KvSplit::segments);
  AttnjitMergeParams m{};
  const size_t out_elems = static_cast<size_t>(shape.total_q) * heads * dim;
  for (int i = 0; i < splits; ++i) {
    m.o_parts[i] = partial_out + i * out_elems;
    m.lse_parts[i] = partial_lse + static_cast<size_t>(i) * shape.total_q * heads;
  }
  m.num_parts = splits;
  m.rows = shape.total_q;
  m.heads = heads;
  m.part_row_stride = static_cast<long long>(heads) * dim, m.part_head_stride = dim;
  m.part_lse_row_stride = 1, m.part_lse_head_stride = shape.total_q;
  m.out = args.out.data;
  m.o_row_stride = args.out.stride(0), m.o_head_stride = args.out.stride(1);
  if (variant.lse) {
    m.lse = static_cast<float*>(args.lse.data);
    m.lse_head_stride = args.lse.stride(0), m.lse_row_stride = args.lse.stride(1);
  }
  m.sinks = variant.sinks_per_head ? static_cast<const float*>(args.sinks.data) : nullptr;
  m.out_multiplier = args.out_scale;
  launch_merge(*merge.kernel, m, merge.spec.tile.warps, stream);
}

void Engine::merge(const ir::Variant& variant, const MergeArgs& args, cuda::CUstream stream) {
  validate_merge(args, DeviceKind::cuda, "attnjit::merge");
  const Resolved& resolved = resolve(variant, KernelKind::merge, "attnjit::merge");
  AttnjitMergeParams m{};
  m.o_parts[0] = args.out_a.data, m.o_parts[1] = args.out_b.data;
  m.lse_parts[0] = static_cast<const float*>(args.lse_a.data);
  m.lse_parts[1] = static_cast<const float*>(args.lse_b.data);
  m.num_parts = 2;
  m.rows = static_cast<int>(args.out_a.shape[0]);
  m.heads = static_cast<int>(args.out_a.shape[1]);
  m.part_row_stride = args.out_a.stride(0), m.part_head_stride = args.out_a.stride(1);
  m.part_lse_head_stride = args.lse_a.stride(0), m.part_lse_row_stride = args.lse_a.stride(1);
  m.out = args.out.data;
  m.o_row_stride = args.out.stride(0), m.o_head_stride = args.out.stride(1);
  if (args.lse.defined()) {
    m.lse = static_cast<float*>(args.lse.data);
    m.lse_head_stride = args.lse.stride(0), m.lse_row_stride = args.lse.stride(1);
  }
  m.out_multiplier = 1.f;
  launch_merge(*resolved.kernel, m, resolved.spec.tile.warps, stream);
}

void Engine::write_kv_cache(const ir::Variant& variant, const CacheWriteArgs& args,
                            cuda::CUstream stream) {
  validate_cache_write(variant, args, DeviceKind::cuda, "attnjit::write_kv_cache");
  const int tokens = static_cast<int>(args.k.shape[0]);
  if (tokens == 0) return;
  const cuda::LoadedKernel& kernel =
      *resolve(variant, KernelKind::cache_write, "attnjit::write_kv_cache").kernel;
  AttnjitCacheWriteParams p{};
  p.k = args.k.data, p.v = args.v.data;
  p.k_row_stride = args.k.stride(0), p.k_head_stride = args.k.stride(1);
  p.v_row_stride = args.v.stride(0), p.v_head_stride = args.v.stride(1);
  p.k_cache = args.k_cache.data, p.v_cache = args.v_cache.data;
  const PageStrides k = page_strides(args.k_cache, variant.kv_cache.layout);
  const PageStrides v = page_strides(args.v_cache, variant.kv_cache.layout);
  p.k_block_stride = k.block, p.k_slot_stride = k.slot, p.k_head_stride_cache = k.head;
  p.v_block_stride = v.block, p.v_slot_stride = v.slot, p.v_head_stride_cache = v.head;
  p.slot_mapping = args.slot_mapping.data;
  p.slot_is_64bit = args.slot_mapping.dtype == DType::i64;
  p.num_tokens = tokens;
  p.kv_heads = variant.kv_heads;
  const bool per_tensor = variant.kv_scale == ir::ScaleGranularity::per_tensor;
  p.k_scale = per_tensor ? args.k_scale : 1.f;
  p.v_scale = per_tensor ? args.v_scale : 1.f;
  if (variant.kv_scale == ir::ScaleGranularity::per_token_head) {
    p.k_scales = static_cast<float*>(args.k_scale_cache.data);
    p.v_scales = static_cast<float*>(args.v_scale_cache.data);
    const PageStrides ks = scale_strides(args.k_scale_cache), vs = scale_strides(args.v_scale_cache);
    p.ks_block_stride = ks.block, p.ks_slot_stride = ks.slot, p.ks_head_stride = ks.head;
    p.vs_block_stride = vs.block, p.vs_slot_stride = vs.slot, p.vs_head_stride = vs.head;
  }
  const long long items = static_cast<long long>(tokens) * variant.kv_heads;
  kernel.launch(static_cast<unsigned>((items + kMergeWarps - 1) / kMergeWarps), 1, 1,
                kMergeWarps * 32, 0, stream, &p, sizeof(p));
}

}  // namespace attnjit
