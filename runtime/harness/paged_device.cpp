// The device round trip of a paged problem. Kept apart from paged_problem.cpp so the
// host side (generation, reference, comparison) builds on its own.
#include <algorithm>
#include <map>

#include "runtime/driver/cuda_driver.h"
#include "runtime/harness/paged_problem.h"

namespace attnjit::harness {

namespace {

// Device copies of the problem's host tensors, made on first use; views keep the
// host tensor's shape and strides with the device address.
class DeviceMirror {
 public:
  explicit DeviceMirror(std::shared_ptr<cuda::Driver> driver) : driver_(std::move(driver)) {}

  TensorView view(const HostTensor& t) {
    auto it = buffers_.find(&t);
    if (it == buffers_.end()) {
      // A zero-byte allocation is an error in the driver; an empty tensor still needs
      // an address so its view counts as defined.
      cuda::DeviceBuffer buffer(driver_, std::max<size_t>(t.bytes.size(), 1));
      if (!t.bytes.empty()) buffer.upload(t.bytes.data(), t.bytes.size());
      it = buffers_.emplace(&t, std::move(buffer)).first;
    }
    TensorView v = t.view();
    v.data = it->second.data();
    v.device = DeviceKind::cuda;
    return v;
  }

  cuda::DeviceBuffer& buffer(const HostTensor& t) {
    view(t);
    return buffers_.at(&t);
  }

  void download(HostTensor& t) const {
    auto it = buffers_.find(&t);
    if (it != buffers_.end() && !t.bytes.empty()) it->second.download(t.bytes.data(), t.bytes.size());
  }

 private:
  std::shared_ptr<cuda::Driver> driver_;
  std::map<const HostTensor*, cuda::DeviceBuffer> buffers_;
};

}  // namespace

void run_paged_on_device(Engine& engine, const ir::Variant& v, HostPagedProblem& problem,
                         const PagedRunOptions& options) {
  std::shared_ptr<cuda::Driver> driver = engine.driver();
  driver->make_current();
  DeviceMirror mirror(driver);
  const HostPagedProblem::Viewer on_device = [&](const HostTensor& t) { return mirror.view(t); };
  // NaN in every output byte: an element the kernel forgets to write fails the check
  // instead of passing by matching leftover memory.
  constexpr unsigned char kNaNBytes = 0xFF;
  mirror.buffer(problem.out).fill_bytes(kNaNBytes);
  if (problem.lse.defined()) mirror.buffer(problem.lse).fill_bytes(kNaNBytes);

  HostTensor* caches[] = {&problem.kv_cache,       &problem.k_cache,       &problem.v_cache,
                          &problem.kv_scale_cache, &problem.k_scale_cache, &problem.v_scale_cache};
  if (options.write_cache_on_device) {
    // Slots no token reaches stay poisoned, as in a host-built problem.
    for (HostTensor* t : caches)
      if (t->defined()) mirror.buffer(*t).fill_bytes(kNaNBytes);
    engine.write_kv_cache(v, problem.cache_write_args(on_device), nullptr);
  }
  PagedArgs args = problem.args(on_device);
  args.num_splits = options.num_splits;
  engine.paged(v, args, nullptr);
  cuda::synchronize(*driver);
  mirror.download(problem.out);
  if (problem.lse.defined()) mirror.download(problem.lse);
  if (options.write_cache_on_device)
    for (HostTensor* t : caches)
      if (t->defined()) mirror.download(*t);
}

void run_paged_on_device(Engine& engine, const ir::Variant& v, HostPagedProblem& problem,
                         int num_splits) {
  PagedRunOptions options;
  options.num_splits = num_splits;
  run_paged_on_device(engine, v, problem, options);
}

}  // namespace attnjit::harness
