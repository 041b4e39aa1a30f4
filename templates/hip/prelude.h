// attnjit HIP prelude: the CUDA spellings that the vendor-neutral templates use
// (kernel qualifiers, threadIdx/blockIdx/gridDim, float2, min/max, the single-precision
// math of C), for a compiler that has no HIP runtime header.
//
// The same generated source compiles two ways (docs/amd.md): hiprtc pre-includes its
// runtime header, which defines every one of these names, and the offline clang runs
// with -nogpuinc -nogpulib, which defines none of them. So they are defined here only
// when that header is absent, from compiler builtins (no ROCm device library). Under
// hiprtc the header's own definitions serve, which mean the same.
#if !defined(__HIPCC_RTC__) && !defined(HIP_INCLUDE_HIP_HIP_RUNTIME_H)

#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __align__(n) __attribute__((aligned(n)))
#define __forceinline__ inline __attribute__((always_inline))
// One argument: the most threads per block (the only form the templates use with HIP).
#define __launch_bounds__(threads) __attribute__((amdgpu_flat_work_group_size(1, threads)))

// threadIdx.x and friends read as unsigned, like CUDA's and HIP's.
struct AttnjitThreadIdx {
  struct X { __device__ operator unsigned() const { return __builtin_amdgcn_workitem_id_x(); } } x;
  struct Y { __device__ operator unsigned() const { return __builtin_amdgcn_workitem_id_y(); } } y;
  struct Z { __device__ operator unsigned() const { return __builtin_amdgcn_workitem_id_z(); } } z;
};
struct AttnjitBlockIdx {
  struct X { __device__ operator unsigned() const { return __builtin_amdgcn_workgroup_id_x(); } } x;
  struct Y { __device__ operator unsigned() const { return __builtin_amdgcn_workgroup_id_y(); } } y;
  struct Z { __device__ operator unsigned() const { return __builtin_amdgcn_workgroup_id_z(); } } z;
};
// The dispatch's grid is counted in work-items; blocks are that over the block size.
struct AttnjitGridDim {
  struct X { __device__ operator unsigned() const {
    return (__builtin_amdgcn_grid_size_x() + __builtin_amdgcn_workgroup_size_x() - 1) / __builtin_amdgcn_workgroup_size_x(); } } x;
  struct Y { __device__ operator unsigned() const {
    return (__builtin_amdgcn_grid_size_y() + __builtin_amdgcn_workgroup_size_y() - 1) / __builtin_amdgcn_workgroup_size_y(); } } y;
  struct Z { __device__ operator unsigned() const {
    return (__builtin_amdgcn_grid_size_z() + __builtin_amdgcn_workgroup_size_z() - 1) / __builtin_amdgcn_workgroup_size_z(); } } z;
};
[[maybe_unused]] static constexpr AttnjitThreadIdx threadIdx{};
[[maybe_unused]] static constexpr AttnjitBlockIdx blockIdx{};
[[maybe_unused]] static constexpr AttnjitGridDim gridDim{};

struct float2 {
  float x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
__device__ __forceinline__ float2 make_float2(float x, float y) { return {x, y}; }

template <typename T>
__device__ __forceinline__ T min(T a, T b) { return b < a ? b : a; }
template <typename T>
__device__ __forceinline__ T max(T a, T b) { return a < b ? b : a; }

// Integer magnitudes as the hardware computes them: abs(INT_MIN) wraps to INT_MIN (what
// CUDA's and HIP's give) rather than being undefined.
__device__ __forceinline__ int abs(int x) {
  return static_cast<int>(x < 0 ? 0u - static_cast<unsigned>(x) : static_cast<unsigned>(x));
}
__device__ __forceinline__ long long llabs(long long x) {
  return static_cast<long long>(x < 0 ? 0ull - static_cast<unsigned long long>(x) : static_cast<unsigned long long>(x));
}

__device__ __forceinline__ float fmaxf(float a, float b) { return __builtin_fmaxf(a, b); }
__device__ __forceinline__ float fminf(float a, float b) { return __builtin_fminf(a, b); }
__device__ __forceinline__ float fabsf(float x) { return __builtin_fabsf(x); }
__device__ __forceinline__ float fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
__device__ __forceinline__ float rintf(float x) { return __builtin_rintf(x); }
__device__ __forceinline__ float expf(float x) { return __builtin_expf(x); }
__device__ __forceinline__ float logf(float x) { return __builtin_logf(x); }
__device__ __forceinline__ unsigned __float_as_uint(float x) { return __builtin_bit_cast(unsigned, x); }
__device__ __forceinline__ float __uint_as_float(unsigned x) { return __builtin_bit_cast(float, x); }
__device__ __forceinline__ float __int_as_float(int x) { return __builtin_bit_cast(float, x); }
// CUDA's device-scope atomics and fence as HIP's header defines them: relaxed at agent
// scope, and a sequentially consistent fence at agent scope (release and acquire: on
// gfx90a a wait for the stores, then an L1 invalidate; gfx942 also writes back its L2
// for the other XCDs).
__device__ __forceinline__ int atomicAdd(int* p, int v) {
  return __hip_atomic_fetch_add(p, v, __ATOMIC_RELAXED, __HIP_MEMORY_SCOPE_AGENT);
}
__device__ __forceinline__ int atomicExch(int* p, int v) {
  return __hip_atomic_exchange(p, v, __ATOMIC_RELAXED, __HIP_MEMORY_SCOPE_AGENT);
}
__device__ __forceinline__ void __threadfence() { __builtin_amdgcn_fence(__ATOMIC_SEQ_CST, "agent"); }

#endif  // no HIP runtime header

// Kernel parameters live in the kernarg segment, which is constant for the dispatch
// already: CUDA's __grid_constant__ has nothing to add (and neither header defines it).
#ifndef __grid_constant__
#define __grid_constant__
#endif

// The functions shared with the host-side tests (number_formats.h, mfma_layouts.h) are
// device functions here; the tests define ATTNJIT_PORTABLE as plain `inline`.
#define ATTNJIT_PORTABLE __device__ __forceinline__
