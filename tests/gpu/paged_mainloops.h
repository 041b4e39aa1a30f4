#pragma once
// The main loops a paged GPU test runs a problem on, after prefill_mainloops.h: the
// mma.sync kernels (the Hopper path switched off) always, and, when the problem has
// prefill chunks (a sequence of more than paged_decode_q_len_max() new tokens), the
// Hopper path too where this device and the variant take it (compute capability 9.0,
// wgmma_variant_problem() empty): its chunks on the wgmma kernel, its decode tokens on
// the mma.sync kernels. Each run asserts Engine::last_paged_prefill_mainloop().
#include <algorithm>
#include <vector>

#include "prefill_mainloops.h"

namespace attnjit::testing {

inline bool has_prefill_chunks(const ir::Variant& v, const std::vector<int>& query_lens) {
  return std::any_of(query_lens.begin(), query_lens.end(),
                     [&](int q_len) { return q_len > paged_decode_q_len_max(v); });
}

inline std::vector<PrefillMainloop> paged_mainloops(const ir::Variant& v, const std::vector<int>& query_lens) {
  std::vector<PrefillMainloop> runs = {{&prefill_engine(false), Mainloop::mma_sync}};
  Engine& on = prefill_engine(true);
  const Target* hopper = find_target(wgmma_arch());
  if (has_prefill_chunks(v, query_lens) && hopper &&
      hopper->runs_on(Vendor::cuda, on.driver()->capability(), hopper->default_format()) &&
      wgmma_variant_problem(v, KernelKind::paged).empty())
    runs.push_back({&on, Mainloop::wgmma});
  return runs;
}

}  // namespace attnjit::testing
