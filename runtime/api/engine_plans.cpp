// The engine's side of launch plans: the specs the planner's tiles come from, the
// device facts it needs, and launching a planned kernel.
#include <stdexcept>

#include <fmt/format.h>

#include "runtime/api/engine.h"
#include "runtime/api/engine_config.h"

namespace attnjit {

const Engine::Resolved& Engine::resolve(const ir::Variant& variant, const std::string& dsl,
                                        const KernelRole& role, const std::string& where) {
  return resolve(variant, dsl, role.kind, where, role.tuning_kind, role.split);
}

Result<const KernelSpec*, std::string> Engine::cached_spec(const ir::Variant& variant,
                                                           const std::string& dsl,
                                                           KernelKind kind,
                                                           const std::string& tuning_kind) {
  const std::string key = fmt::format("{}|{}|{}", kernel_kind_name(kind), tuning_kind, dsl);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = specs_.find(key);
    if (it != specs_.end()) return &it->second;
  }
  // The target the device runs (an sm_87 device runs sm_86 kernels), not its own name.
  auto spec = make_spec(variant, kind, std::string(device_target().name), tuning_kind);
  if (!spec) return fail(spec.error());
  std::lock_guard<std::mutex> lock(mutex_);
  // A concurrent call may have made it first: the first one stays.
  return &specs_.emplace(key, std::move(*spec)).first->second;
}

TileLookup Engine::tiles_for(const ir::Variant& variant, const std::string& dsl) {
  return [this, &variant, &dsl](KernelKind kind,
                                const std::string& tuning_kind) -> Result<TileConfig, std::string> {
    auto spec = cached_spec(variant, dsl, kind, tuning_kind);
    if (!spec) return fail(spec.error());
    return (*spec)->tile;
  };
}

DeviceFacts Engine::device_facts() {
  std::shared_ptr<GpuRuntime> device = gpu();
  const std::string arch(device_target().name);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!device_facts_) {
    DeviceFacts facts;
    facts.arch = arch;
    facts.sm_count = device->multiprocessor_count();
    // The split cost model's constants are the config's, as the tiles are.
    auto config = engine_config(options_, arch);
    if (!config) throw std::runtime_error("attnjit: " + config.error());
    facts.split_costs = config->split_costs();
    device_facts_ = facts;
  }
  return *device_facts_;
}

void Engine::launch(const ir::Variant& variant, const std::string& dsl,
                    const PlannedLaunch& planned, const std::string& where, GpuStream stream,
                    const void* params, size_t params_size) {
  const Resolved& resolved = resolve(variant, dsl, planned.role, where);
  // Both tiles come from the same cached spec; a difference is a bug in attnjit, and
  // launching would use the wrong geometry.
  if (!(resolved.spec.tile == planned.tile))
    throw std::logic_error(fmt::format("{}: the plan's tile differs from kernel {}'s", where,
                                       resolved.spec.uri()));
  resolved.kernel->launch(planned.grid[0], planned.grid[1], planned.grid[2], planned.threads,
                          planned.shared_bytes, stream, params, params_size);
}

}  // namespace attnjit
