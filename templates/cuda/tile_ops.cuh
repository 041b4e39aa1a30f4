// attnjit device vocabulary, CUDA dialect (sm_80 and later).
//
// The kernels in templates/kernels/ are written only in terms of these operations, so a
// second vendor supplies its own file with the same names and the kernels stay as
// they are. Everything is inline PTX or plain C++: no toolkit header is included, so
// NVRTC never searches for headers.

namespace attnjit {

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

constexpr float kLog2e = 1.4426950408889634f;  // log2(e): exp(x) == exp2(x * log2e)
constexpr float kLn2 = 0.6931471805599453f;    // ln(2):   log(x) == log2(x) * ln2

// ---- 16-bit element types ------------------------------------------------------------
// Each element type knows how to pack two floats for the tensor cores and how to run
// the m16n8k16 MMA on its operands.
struct Bf16 {
  static constexpr int kBytes = 2;
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
  static __device__ __forceinline__ float to_float(u16 x) {
    return __uint_as_float(static_cast<u32>(x) << 16);
  }
  // D(16x8, f32) += A(16x16, row) * B(16x8, col)
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

struct Fp16 {
  static constexpr int kBytes = 2;
  static __device__ __forceinline__ u32 pack2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
  static __device__ __forceinline__ float to_float(u16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
  }
  static __device__ __forceinline__ void mma(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

// ---- shared memory ----------------------------------------------------------------------
__device__ __forceinline__ u32 shared_address(const void* p) {
  u32 r;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
  return r;
}

// Four 8x8 16-bit matrices; lane L supplies the row address of matrix L/8, row L%8.
__device__ __forceinline__ void ldmatrix_x4(u32 r[4], u32 address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32 r[4], u32 address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// ---- asynchronous global -> shared copies ----------------------------------------------
// Copies 16 bytes, or writes 16 zero bytes when `valid` is false (rows past the end of a
// sequence must read as zeros: a NaN there would reach the output through P*V).
__device__ __forceinline__ void copy16_async(u32 dst, const void* src, bool valid) {
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void async_commit() { asm volatile("cp.async.commit_group;"); }
template <int Pending>
__device__ __forceinline__ void async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(Pending));
}

__device__ __forceinline__ void block_barrier() { __syncthreads(); }
__device__ __forceinline__ void warp_barrier() { __syncwarp(); }

// ---- arithmetic ---------------------------------------------------------------------------
__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000u); }
__device__ __forceinline__ float fast_exp2(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float fast_log2(float x) {
  float r;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float xor_shuffle(float v, int mask) {
  float r;
  asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(mask));
  return r;
}
// The four lanes of a quad (lane / 4 equal) hold one accumulator row between them.
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, xor_shuffle(v, 1));
  return fmaxf(v, xor_shuffle(v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += xor_shuffle(v, 1);
  return v + xor_shuffle(v, 2);
}

// 16-byte vector store to global memory.
__device__ __forceinline__ void store16(void* dst, const void* src_shared) {
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src_shared);
}

}  // namespace attnjit
