// GpuRuntime on the HIP runtime: each call is the hip:: wrapper's. Code objects are
// HSACO; HIP's current device is per thread, which the wrapper sets before each call.
#include <utility>

#include <fmt/format.h>

#include "runtime/driver/gpu_kernel.h"

namespace attnjit {

namespace {

class HipKernel final : public GpuKernel {
 public:
  explicit HipKernel(std::unique_ptr<hip::LoadedKernel> kernel) : kernel_(std::move(kernel)) {}
  const std::string& entry() const override { return kernel_->entry(); }
  void launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
              unsigned shared_bytes, GpuStream stream, const void* params,
              size_t params_size) const override {
    kernel_->launch(grid_x, grid_y, grid_z, block_x, shared_bytes, stream.hip(), params,
                    params_size);
  }
  int blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const override {
    return kernel_->blocks_per_sm(block_threads, shared_bytes);
  }

 private:
  std::unique_ptr<hip::LoadedKernel> kernel_;
};

class HipBuffer final : public GpuBuffer {
 public:
  HipBuffer(std::shared_ptr<hip::Driver> driver, size_t bytes) : buffer_(std::move(driver), bytes) {}
  void* data() const override { return buffer_.data(); }
  size_t size() const override { return buffer_.size(); }
  void fill_bytes(unsigned char value) override { buffer_.fill_bytes(value); }

 private:
  hip::DeviceBuffer buffer_;
};

class HipRuntime final : public GpuRuntime {
 public:
  explicit HipRuntime(std::shared_ptr<hip::Driver> driver) : driver_(std::move(driver)) {}
  Vendor vendor() const override { return Vendor::hip; }
  std::string device_name() const override { return driver_->device_name(); }
  std::string arch() const override { return driver_->gcn_arch_name(); }
  Result<const Target*, std::string> target() const override { return driver_->target(); }
  int multiprocessor_count() const override {
    return driver_->attribute(hip::kMultiprocessorCount);
  }
  Result<std::unique_ptr<GpuKernel>, std::string> load(const std::string& binary,
                                                       const std::string& entry,
                                                       BinaryFormat format) override {
    if (format != BinaryFormat::hsaco)
      return fail(fmt::format("a HIP device loads HSACO, not {} ({})", binary_format_name(format),
                              entry));
    auto loaded = hip::LoadedKernel::load(driver_, binary, entry);
    if (!loaded) return fail(loaded.error());
    return std::unique_ptr<GpuKernel>(std::make_unique<HipKernel>(std::move(*loaded)));
  }
  std::unique_ptr<GpuBuffer> allocate(size_t bytes) override {
    return std::make_unique<HipBuffer>(driver_, bytes);
  }
  void synchronize() override { hip::synchronize(*driver_); }

 private:
  std::shared_ptr<hip::Driver> driver_;
};

}  // namespace

std::shared_ptr<GpuRuntime> hip_gpu_runtime(std::shared_ptr<hip::Driver> driver) {
  return std::make_shared<HipRuntime>(std::move(driver));
}

}  // namespace attnjit
