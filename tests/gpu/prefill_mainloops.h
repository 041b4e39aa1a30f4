#pragma once
// The prefill main loops a GPU test runs each problem on: mma.sync (the Hopper path
// switched off) always, and the Hopper wgmma kernel where the engine's default takes the
// variant on this device (compute capability 9.0 and wgmma_variant_problem() empty).
// Each run asserts Engine::last_prefill_mainloop() is the one asked for.
#include <vector>

#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/tile_choice.h"
#include "runtime/api/engine.h"

namespace attnjit::testing {

// One engine per choice, shared by every case (kernels load once).
inline Engine& prefill_engine(bool hopper) {
  static Engine on([] {
    EngineOptions options;
    options.hopper = true;
    return options;
  }());
  static Engine off([] {
    EngineOptions options;
    options.hopper = false;
    return options;
  }());
  return hopper ? on : off;
}

struct PrefillMainloop {
  Engine* engine;
  Mainloop expected;  // what last_prefill_mainloop() must say after the run
};

// mma.sync first, then wgmma where this device and the variant take it.
inline std::vector<PrefillMainloop> prefill_mainloops(const ir::Variant& v) {
  std::vector<PrefillMainloop> runs = {{&prefill_engine(false), Mainloop::mma_sync}};
  Engine& on = prefill_engine(true);
  const Target* hopper = find_target(wgmma_arch());
  if (hopper && hopper->runs_on(Vendor::cuda, on.driver()->capability(), hopper->default_format()) &&
      wgmma_variant_problem(v, KernelKind::prefill).empty())
    runs.push_back({&on, Mainloop::wgmma});
  return runs;
}

}  // namespace attnjit::testing
