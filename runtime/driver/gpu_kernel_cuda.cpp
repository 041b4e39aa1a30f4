// GpuRuntime on the CUDA driver: each call is the cuda:: wrapper's, unchanged.
#include <utility>

#include <fmt/format.h>

#include "runtime/driver/gpu_kernel.h"

namespace attnjit {

namespace {

class CudaKernel final : public GpuKernel {
 public:
  explicit CudaKernel(std::unique_ptr<cuda::LoadedKernel> kernel) : kernel_(std::move(kernel)) {}
  const std::string& entry() const override { return kernel_->entry(); }
  void launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
              unsigned shared_bytes, GpuStream stream, const void* params,
              size_t params_size) const override {
    kernel_->launch(grid_x, grid_y, grid_z, block_x, shared_bytes, stream.cuda(), params,
                    params_size);
  }
  int blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const override {
    return kernel_->blocks_per_sm(block_threads, shared_bytes);
  }
  const cuda::LoadedKernel& loaded() const { return *kernel_; }

 private:
  std::unique_ptr<cuda::LoadedKernel> kernel_;
};

class CudaBuffer final : public GpuBuffer {
 public:
  CudaBuffer(std::shared_ptr<cuda::Driver> driver, size_t bytes) : buffer_(std::move(driver), bytes) {}
  void* data() const override { return buffer_.data(); }
  size_t size() const override { return buffer_.size(); }
  void fill_bytes(unsigned char value) override { buffer_.fill_bytes(value); }

 private:
  cuda::DeviceBuffer buffer_;
};

class CudaRuntime final : public GpuRuntime {
 public:
  explicit CudaRuntime(std::shared_ptr<cuda::Driver> driver) : driver_(std::move(driver)) {}
  Vendor vendor() const override { return Vendor::cuda; }
  std::string device_name() const override { return driver_->device_name(); }
  std::string arch() const override { return driver_->arch(); }
  Result<const Target*, std::string> target() const override { return driver_->target(); }
  int multiprocessor_count() const override {
    return driver_->attribute(cuda::kMultiprocessorCount);
  }
  Result<std::unique_ptr<GpuKernel>, std::string> load(const std::string& binary,
                                                       const std::string& entry,
                                                       BinaryFormat format) override {
    if (format != BinaryFormat::cubin && format != BinaryFormat::ptx)
      return fail(fmt::format("a CUDA device loads CUBIN or PTX, not {} ({})",
                              binary_format_name(format), entry));
    auto loaded = cuda::LoadedKernel::load(driver_, binary, entry, format == BinaryFormat::ptx);
    if (!loaded) return fail(loaded.error());
    return std::unique_ptr<GpuKernel>(std::make_unique<CudaKernel>(std::move(*loaded)));
  }
  std::unique_ptr<GpuBuffer> allocate(size_t bytes) override {
    return std::make_unique<CudaBuffer>(driver_, bytes);
  }
  void synchronize() override { cuda::synchronize(*driver_); }
  const std::shared_ptr<cuda::Driver>& driver() const { return driver_; }

 private:
  std::shared_ptr<cuda::Driver> driver_;
};

}  // namespace

std::shared_ptr<GpuRuntime> cuda_gpu_runtime(std::shared_ptr<cuda::Driver> driver) {
  return std::make_shared<CudaRuntime>(std::move(driver));
}

std::shared_ptr<cuda::Driver> cuda_driver_of(const GpuRuntime& runtime) {
  const auto* cuda = dynamic_cast<const CudaRuntime*>(&runtime);
  return cuda ? cuda->driver() : nullptr;
}

const cuda::LoadedKernel* cuda_kernel_of(const GpuKernel& kernel) {
  const auto* cuda = dynamic_cast<const CudaKernel*>(&kernel);
  return cuda ? &cuda->loaded() : nullptr;
}

}  // namespace attnjit
