// Engine::paged, Engine::write_kv_cache and Engine::merge: their launch plans (kernels,
// split-KV, grids, workspace: runtime/plan) and the arguments of their parameter blocks.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "compiler/ir/print.h"
#include "runtime/api/engine.h"
#include "runtime/api/launch_common.h"
#include "templates/kernels/cache_write_params.h"
#include "templates/kernels/merge_params.h"
#include "templates/kernels/paged_params.h"

namespace attnjit {

namespace {

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
                          int stream_blocks_per_sm, int kv_bytes, const SplitCosts& costs) {
  return attnjit::choose_splits(
      SplitProblem{blocks, max_kv_tiles, sm_count, blocks_per_sm, stream_blocks_per_sm},
      costs.for_kv_bytes(kv_bytes));
}

void Engine::paged(const ir::Variant& variant, const PagedArgs& args, GpuStream stream) {
  const PagedShape shape = validate_paged(variant, args, DeviceKind::cuda, "attnjit::paged");
  if (shape.num_seqs == 0 || shape.total_q == 0) return;
  const std::string dsl = ir::print_dsl(variant);
  // With the Hopper path, prefill chunks run on the wgmma kernel after the mma.sync
  // launches, which skip them; the merge of a split launch writes every row, the chunks'
  // rows too, so the chunks' launch must come last.
  const int decode_q_len_max =
      std::max(0, options_.hopper_paged_decode_q_len_max.value_or(paged_decode_q_len_max(variant)));
  const HopperKernel* chunks =
      args.max_seqlen_q > decode_q_len_max ? hopper_kernel(variant, dsl, KernelKind::paged) : nullptr;
  // A cut at 0 leaves the mma.sync kernels nothing.
  if (!chunks || decode_q_len_max > 0) paged_mma_sync(variant, dsl, args, shape, chunks ? decode_q_len_max : 0, stream);
  else last_paged_splits_ = 1;
  if (chunks) {
    AttnjitPagedParams p = paged_params(variant, args, shape);
    p.decode_q_len_max = decode_q_len_max;
    p.num_splits = 1;
    p.out_multiplier = p.v_descale * args.out_scale;
    p.out = args.out.data;
    p.o_row_stride = args.out.stride(0), p.o_head_stride = args.out.stride(1);
    if (variant.lse) {
      p.lse = static_cast<float*>(args.lse.data);
      p.lse_head_stride = args.lse.stride(0), p.lse_row_stride = args.lse.stride(1);
    }
    paged_chunks_on_hopper(*chunks, variant, args, shape, p, stream.cuda());
  }
  last_paged_prefill_mainloop_ = chunks ? Mainloop::wgmma : Mainloop::mma_sync;
}

void Engine::paged_mma_sync(const ir::Variant& variant, const std::string& dsl, const PagedArgs& args,
                            const PagedShape& shape, int decode_q_len_max, GpuStream stream) {
  const std::string where = "attnjit::paged";
  const TileLookup tiles = tiles_for(variant, dsl);
  PagedCall call;
  call.num_seqs = shape.num_seqs;
  call.total_q = shape.total_q;
  // Skipped chunks leave the decode tokens: the decode tile's.
  call.max_seqlen_q = decode_q_len_max > 0 ? std::min(args.max_seqlen_q, decode_q_len_max) : args.max_seqlen_q;
  call.skips_chunks = decode_q_len_max > 0;
  call.max_seqlen_k = args.max_seqlen_k;
  call.max_blocks_per_seq = shape.max_blocks_per_seq;
  call.num_splits = args.num_splits;

  // The split choice weighs the split kernels' occupancy, which the driver knows once
  // they are loaded.
  DeviceFacts device = device_facts();
  auto queries = occupancy_needed(variant, call, device.arch, device.sm_count, tiles);
  if (!queries) throw std::runtime_error(where + ": " + queries.error());
  for (const OccupancyQuery& q : *queries) {
    const int blocks =
        blocks_per_sm(*resolve(variant, dsl, q.role, where).kernel, q.threads, q.shared_bytes);
    if (q.role.split == KvSplit::stream) device.stream_blocks_per_sm = blocks;
    else device.segments_blocks_per_sm = blocks;
  }
  auto plan = plan_for_call(variant, call, device, tiles);
  if (!plan) throw std::runtime_error(where + ": " + plan.error());
  const int splits = plan->splits;
  const Workspace& planned = plan->workspace;
  last_paged_splits_ = splits;
  AttnjitPagedParams p = paged_params(variant, args, shape);
  p.decode_q_len_max = decode_q_len_max;
  if (splits == kStreamSplit) {
    // Cut pieces are f32 with the V descale applied; their merge applies the output scale.
    GpuBuffer& ws = workspace(planned.bytes());
    p.piece_out = static_cast<float*>(ws.data());
    p.piece_lse = p.piece_out + planned.row_floats;
    p.pieces_done = static_cast<int*>(piece_counts(planned.counters).data());
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
    launch(variant, dsl, plan->launches.at(0), where, stream, &p, sizeof(p));
    return;
  }
  p.out_multiplier = p.v_descale * (splits > 1 ? 1.f : args.out_scale);
  p.num_splits = splits;

  float* partial_lse = nullptr;
  float* partial_out = nullptr;
  if (splits > 1) {
    // Partial results: f32 [splits, total_q, heads, dim] and LSEs [splits, heads, total_q].
    GpuBuffer& ws = workspace(planned.bytes());
    partial_out = static_cast<float*>(ws.data());
    partial_lse = partial_out + planned.row_floats;
    p.out = partial_out;
    p.o_row_stride = static_cast<long long>(variant.q_heads) * variant.head_dim;
    p.o_head_stride = variant.head_dim;
    p.o_split_stride = static_cast<long long>(planned.part_row_floats);
    p.lse = partial_lse;
    p.lse_head_stride = shape.total_q, p.lse_row_stride = 1;
    p.lse_split_stride = static_cast<long long>(planned.part_lse_floats);
  } else {
    p.out = args.out.data;
    p.o_row_stride = args.out.stride(0), p.o_head_stride = args.out.stride(1);
    if (variant.lse) {
      p.lse = static_cast<float*>(args.lse.data);
      p.lse_head_stride = args.lse.stride(0), p.lse_row_stride = args.lse.stride(1);
    }
  }
  launch(variant, dsl, plan->launches.at(0), where, stream, &p, sizeof(p));
  if (splits == 1) return;

  // Combine the segments; sinks and the output type belong to this step.
  AttnjitMergeParams m{};
  for (int i = 0; i < splits; ++i) {
    m.o_parts[i] = partial_out + i * planned.part_row_floats;
    m.lse_parts[i] = partial_lse + i * planned.part_lse_floats;
  }
  m.num_parts = splits;
  m.rows = shape.total_q;
  m.heads = variant.q_heads;
  m.part_row_stride = static_cast<long long>(variant.q_heads) * variant.head_dim;
  m.part_head_stride = variant.head_dim;
  m.part_lse_row_stride = 1, m.part_lse_head_stride = shape.total_q;
  m.out = args.out.data;
  m.o_row_stride = args.out.stride(0), m.o_head_stride = args.out.stride(1);
  if (variant.lse) {
    m.lse = static_cast<float*>(args.lse.data);
    m.lse_head_stride = args.lse.stride(0), m.lse_row_stride = args.lse.stride(1);
  }
  m.sinks = variant.sinks_per_head ? static_cast<const float*>(args.sinks.data) : nullptr;
  m.out_multiplier = args.out_scale;
  launch(variant, dsl, plan->launches.at(1), where, stream, &m, sizeof(m));
}

void Engine::merge(const ir::Variant& variant, const MergeArgs& args, GpuStream stream) {
  validate_merge(args, DeviceKind::cuda, "attnjit::merge");
  const std::string where = "attnjit::merge";
  const std::string dsl = ir::print_dsl(variant);
  MergeCall call;
  call.rows = static_cast<int>(args.out_a.shape[0]);
  call.heads = static_cast<int>(args.out_a.shape[1]);
  auto plan = plan_for_call(variant, call, device_facts(), tiles_for(variant, dsl));
  if (!plan) throw std::runtime_error(where + ": " + plan.error());
  AttnjitMergeParams m{};
  m.o_parts[0] = args.out_a.data, m.o_parts[1] = args.out_b.data;
  m.lse_parts[0] = static_cast<const float*>(args.lse_a.data);
  m.lse_parts[1] = static_cast<const float*>(args.lse_b.data);
  m.num_parts = 2;
  m.rows = call.rows;
  m.heads = call.heads;
  m.part_row_stride = args.out_a.stride(0), m.part_head_stride = args.out_a.stride(1);
  m.part_lse_head_stride = args.lse_a.stride(0), m.part_lse_row_stride = args.lse_a.stride(1);
  m.out = args.out.data;
  m.o_row_stride = args.out.stride(0), m.o_head_stride = args.out.stride(1);
  if (args.lse.defined()) {
    m.lse = static_cast<float*>(args.lse.data);
    m.lse_head_stride = args.lse.stride(0), m.lse_row_stride = args.lse.stride(1);
  }
  m.out_multiplier = 1.f;
  launch(variant, dsl, plan->launches.at(0), where, stream, &m, sizeof(m));
}

void Engine::write_kv_cache(const ir::Variant& variant, const CacheWriteArgs& args,
                            GpuStream stream) {
  validate_cache_write(variant, args, DeviceKind::cuda, "attnjit::write_kv_cache");
  const int tokens = static_cast<int>(args.k.shape[0]);
  if (tokens == 0) return;
  const std::string where = "attnjit::write_kv_cache";
  const std::string dsl = ir::print_dsl(variant);
  auto plan = plan_for_call(variant, CacheWriteCall{tokens}, device_facts(), tiles_for(variant, dsl));
  if (!plan) throw std::runtime_error(where + ": " + plan.error());
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
  launch(variant, dsl, plan->launches.at(0), where, stream, &p, sizeof(p));
}

}  // namespace attnjit
