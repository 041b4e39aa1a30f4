// Engine::prefill: its launch plan and the arguments of the prefill kernel's parameter
// block (which the Hopper kernel's block holds too).
#include <cmath>
#include <stdexcept>

#include "compiler/ir/print.h"
#include "runtime/api/engine.h"
#include "runtime/api/launch_common.h"
#include "runtime/api/launch_prefill.h"
#include "templates/kernels/prefill_params.h"

namespace attnjit {

namespace {

// Strides of a [batch?, rows, heads, dim] view as the kernel's (batch, row, head).
struct Strides3 {
  long long batch = 0, row = 0, head = 0;
};
Strides3 row_head_strides(const TensorView& t, bool ragged) {
  if (ragged) return {0, t.stride(0), t.stride(1)};
  return {t.stride(0), t.stride(1), t.stride(2)};
}

}  // namespace

AttnjitPrefillParams prefill_params(const ir::Variant& variant, const PrefillArgs& args,
                                    const PrefillShape& shape) {
  AttnjitPrefillParams p{};
  p.q = args.q.data;
  p.k = args.k.data;
  p.v = args.v.data;
  p.out = args.out.data;
  p.lse = variant.lse ? static_cast<float*>(args.lse.data) : nullptr;
  p.cu_seqlens_q = shape.ragged ? static_cast<const int*>(args.cu_seqlens_q.data) : nullptr;
  p.cu_seqlens_k = shape.ragged ? static_cast<const int*>(args.cu_seqlens_k.data) : nullptr;
  p.batch = shape.batch;
  p.seqlen_q = shape.seqlen_q;
  p.seqlen_k = shape.seqlen_k;
  const Strides3 q = row_head_strides(args.q, shape.ragged),
                 k = row_head_strides(args.k, shape.ragged),
                 v = row_head_strides(args.v, shape.ragged),
                 o = row_head_strides(args.out, shape.ragged);
  p.q_batch_stride = q.batch, p.q_row_stride = q.row, p.q_head_stride = q.head;
  p.k_batch_stride = k.batch, p.k_row_stride = k.row, p.k_head_stride = k.head;
  p.v_batch_stride = v.batch, p.v_row_stride = v.row, p.v_head_stride = v.head;
  p.o_batch_stride = o.batch, p.o_row_stride = o.row, p.o_head_stride = o.head;
  if (variant.lse) {
    // lse is [batch, heads, seqlen_q] or, ragged, [heads, total_q].
    if (shape.ragged) {
      p.lse_batch_stride = 0;
      p.lse_head_stride = args.lse.stride(0);
      p.lse_row_stride = args.lse.stride(1);
    } else {
      p.lse_batch_stride = args.lse.stride(0);
      p.lse_head_stride = args.lse.stride(1);
      p.lse_row_stride = args.lse.stride(2);
    }
  }
  p.softmax_scale = static_cast<float>(variant.softmax_scale());
  p.softmax_scale_log2 = static_cast<float>(variant.softmax_scale() * M_LOG2E);
  p.variant = variant_args(variant, args);
  p.debug_tile_counts = args.debug_tile_counts;
  return p;
}

void Engine::prefill(const ir::Variant& variant, const PrefillArgs& args, GpuStream stream) {
  const PrefillShape shape = validate_prefill(variant, args, DeviceKind::cuda, "attnjit::prefill");
  if (shape.batch == 0 || shape.seqlen_q == 0) return;
  // Printed once per call: both paths key their kernels by it.
  const std::string dsl = ir::print_dsl(variant);
  // The Hopper kernel where it can run the call (runtime/api/launch_prefill_hopper.cpp:
  // on unless switched off, CUDA's only).
  if (prefill_on_hopper(variant, dsl, args, shape, stream.cuda())) return;
  const std::string where = "attnjit::prefill";
  const DeviceFacts facts = device_facts();
  // mma_sync on CUDA, mfma on AMD: the target's prefill main loop.
  last_prefill_mainloop_ = kernel_mainloop(KernelKind::prefill, *find_target(facts.arch));
  auto plan = plan_for_call(variant, PrefillCall{shape.batch, shape.seqlen_q}, facts,
                            tiles_for(variant, dsl));
  if (!plan) throw std::runtime_error(where + ": " + plan.error());

  const AttnjitPrefillParams p = prefill_params(variant, args, shape);
  launch(variant, dsl, plan->launches.at(0), where, stream, &p, sizeof(p));
}

}  // namespace attnjit
