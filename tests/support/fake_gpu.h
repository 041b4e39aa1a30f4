#pragma once
// A GPU for tests that have none: a GpuRuntime (runtime/driver/gpu_kernel.h) of either
// vendor that records what the engine loads and launches, and runs nothing. Its memory
// is host memory, so the engine's workspace pointers are real and never dereferenced
// by a kernel.
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "runtime/driver/gpu_kernel.h"

namespace attnjit::testing {

class FakeGpu : public GpuRuntime {
 public:
  struct Load {
    std::string binary, entry;
    BinaryFormat format;
  };
  struct Launch {
    std::string entry;
    unsigned grid[3];
    unsigned threads, shared_bytes;
    void* stream;
    std::string params;  // the parameter block's bytes
  };
  struct Occupancy {
    std::string entry;
    unsigned threads, shared_bytes;
  };

  // `arch` as the device names itself ("gfx942:sramecc+:xnack-", "sm_90"); `target`
  // the row kernels are built for.
  FakeGpu(Vendor vendor, std::string arch, const Target* target, int multiprocessors = 304)
      : vendor_(vendor), arch_(std::move(arch)), target_(target), multiprocessors_(multiprocessors) {}

  std::mutex mutex;
  std::vector<Load> loads;
  std::vector<Launch> launches;
  std::vector<Occupancy> occupancies;
  int blocks_per_sm = 2;  // what every occupancy query answers
  size_t allocations = 0;

  Vendor vendor() const override { return vendor_; }
  std::string device_name() const override { return "Fake " + arch_; }
  std::string arch() const override { return arch_; }
  Result<const Target*, std::string> target() const override {
    if (!target_) return fail(std::string("no target runs on the fake ") + arch_);
    return target_;
  }
  int multiprocessor_count() const override { return multiprocessors_; }

  Result<std::unique_ptr<GpuKernel>, std::string> load(const std::string& binary,
                                                       const std::string& entry,
                                                       BinaryFormat format) override {
    std::lock_guard<std::mutex> lock(mutex);
    loads.push_back({binary, entry, format});
    return std::unique_ptr<GpuKernel>(std::make_unique<Kernel>(this, entry));
  }
  std::unique_ptr<GpuBuffer> allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(mutex);
    ++allocations;
    return std::make_unique<Buffer>(bytes);
  }
  void synchronize() override {}

 private:
  class Kernel final : public GpuKernel {
   public:
    Kernel(FakeGpu* gpu, std::string entry) : gpu_(gpu), entry_(std::move(entry)) {}
    const std::string& entry() const override { return entry_; }
    void launch(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x,
                unsigned shared_bytes, GpuStream stream, const void* params,
                size_t params_size) const override {
      std::lock_guard<std::mutex> lock(gpu_->mutex);
      gpu_->launches.push_back({entry_, {grid_x, grid_y, grid_z}, block_x, shared_bytes,
                                stream.handle(),
                                std::string(static_cast<const char*>(params), params_size)});
    }
    int blocks_per_sm(unsigned block_threads, unsigned shared_bytes) const override {
      std::lock_guard<std::mutex> lock(gpu_->mutex);
      gpu_->occupancies.push_back({entry_, block_threads, shared_bytes});
      return gpu_->blocks_per_sm;
    }

   private:
    FakeGpu* gpu_;
    std::string entry_;
  };
  class Buffer final : public GpuBuffer {
   public:
    explicit Buffer(size_t bytes) : bytes_(bytes, 0xA5) {}
    void* data() const override { return const_cast<unsigned char*>(bytes_.data()); }
    size_t size() const override { return bytes_.size(); }
    void fill_bytes(unsigned char value) override { std::memset(bytes_.data(), value, bytes_.size()); }

   private:
    std::vector<unsigned char> bytes_;
  };

  Vendor vendor_;
  std::string arch_;
  const Target* target_;
  int multiprocessors_;
};

}  // namespace attnjit::testing
