// attnjit device vocabulary for Hopper (sm_90a), after templates/cuda/tile_ops.cuh and
// templates/cuda/hopper_layout.h: the warpgroup MMA (wgmma), the tensor-memory copy
// (cp.async.bulk.tensor, "TMA") completing on mbarriers, the proxy fence between them
// and ordinary memory accesses, register reallocation between warpgroups (setmaxnreg)
// and single-thread election. Inline PTX only, no toolkit header.
//
// wgmma and setmaxnreg exist only on the arch-specific target sm_90a; the tensor copies
// and mbarrier transaction counts on sm_90 too.

namespace attnjit {

// ---- wgmma: D(64 x N, f32) (+)= A(64 x 16) * B(16 x N) ------------------------------------
// Issued by all 128 threads of a warpgroup (4 consecutive warps, the first a multiple of
// 4). Asynchronous: wgmma_fence() before the first of a batch (it orders earlier
// register writes of the accumulators and A fragments before the MMAs read them),
// wgmma_commit() after the batch, wgmma_wait<n>() until at most n batches are pending;
// until then neither the accumulators nor the A registers may be touched.
// fence_operands() keeps the compiler from moving accumulator accesses across these.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
template <int kCount>
__device__ __forceinline__ void fence_operands(float (&d)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
template <int kCount>
__device__ __forceinline__ void fence_operands(u32 (&a)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+r"(a[i])::"memory");
}

// The PTX operand type of an element type.
template <typename E>
struct WgmmaOperand;
template <>
struct WgmmaOperand<Bf16> {
  static constexpr bool kBf16 = true;
};
template <>
struct WgmmaOperand<Fp16> {
  static constexpr bool kBf16 = false;
};

// Wgmma<N>::ss: A and B from shared memory (descriptors; kTransA / kTransB 0 for
// K-major, 1 for M/N-major). Wgmma<N>::rs: A from registers (the four 32-bit registers
// of hopper_layout.h's A fragment), B from shared memory. `accumulate` 0 overwrites D
// (D = A * B), 1 adds to it. The asm operand lists are spelled out per N: an asm
// template must be a string literal.
template <int N>
struct Wgmma;

#define ATTNJIT_WGMMA_D64 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
    " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define ATTNJIT_WGMMA_OUT64(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define ATTNJIT_WGMMA_D80 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
    " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
    " %32, %33, %34, %35, %36, %37, %38, %39}"
#define ATTNJIT_WGMMA_OUT80(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39])
#define ATTNJIT_WGMMA_D128 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
    " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
    " %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47," \
    " %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define ATTNJIT_WGMMA_OUT128(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define ATTNJIT_WGMMA_D256 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
    " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
    " %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47," \
    " %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63," \
    " %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79," \
    " %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95," \
    " %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111," \
    " %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
#define ATTNJIT_WGMMA_OUT256(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

template <>
struct Wgmma<64> {
  template <typename E, int kTransA, int kTransB>
  static __device__ __forceinline__ void ss(float (&d)[32], u64 a, u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D64
          ", %32, %33, p, 1, 1, %35, %36;\n}\n"
          : ATTNJIT_WGMMA_OUT64(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " ATTNJIT_WGMMA_D64
          ", %32, %33, p, 1, 1, %35, %36;\n}\n"
          : ATTNJIT_WGMMA_OUT64(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
  }
  template <typename E, int kTransB>
  static __device__ __forceinline__ void rs(float (&d)[32], const u32 (&a)[4], u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D64
          ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
          : ATTNJIT_WGMMA_OUT64(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " ATTNJIT_WGMMA_D64
          ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
          : ATTNJIT_WGMMA_OUT64(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
  }
};
template <>
struct Wgmma<80> {
  template <typename E, int kTransA, int kTransB>
  static __device__ __forceinline__ void ss(float (&d)[40], u64 a, u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %42, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n80k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D80
          ", %40, %41, p, 1, 1, %43, %44;\n}\n"
          : ATTNJIT_WGMMA_OUT80(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %42, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n80k16.f32.f16.f16 " ATTNJIT_WGMMA_D80
          ", %40, %41, p, 1, 1, %43, %44;\n}\n"
          : ATTNJIT_WGMMA_OUT80(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
  }
  template <typename E, int kTransB>
  static __device__ __forceinline__ void rs(float (&d)[40], const u32 (&a)[4], u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %45, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n80k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D80
          ", {%40, %41, %42, %43}, %44, p, 1, 1, %46;\n}\n"
          : ATTNJIT_WGMMA_OUT80(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %45, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n80k16.f32.f16.f16 " ATTNJIT_WGMMA_D80
          ", {%40, %41, %42, %43}, %44, p, 1, 1, %46;\n}\n"
          : ATTNJIT_WGMMA_OUT80(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
  }
};
template <>
struct Wgmma<128> {
  template <typename E, int kTransA, int kTransB>
  static __device__ __forceinline__ void ss(float (&d)[64], u64 a, u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D128
          ", %64, %65, p, 1, 1, %67, %68;\n}\n"
          : ATTNJIT_WGMMA_OUT128(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " ATTNJIT_WGMMA_D128
          ", %64, %65, p, 1, 1, %67, %68;\n}\n"
          : ATTNJIT_WGMMA_OUT128(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
  }
  template <typename E, int kTransB>
  static __device__ __forceinline__ void rs(float (&d)[64], const u32 (&a)[4], u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D128
          ", {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
          : ATTNJIT_WGMMA_OUT128(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " ATTNJIT_WGMMA_D128
          ", {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
          : ATTNJIT_WGMMA_OUT128(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
  }
};
template <>
struct Wgmma<256> {
  template <typename E, int kTransA, int kTransB>
  static __device__ __forceinline__ void ss(float (&d)[128], u64 a, u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D256
          ", %128, %129, p, 1, 1, %131, %132;\n}\n"
          : ATTNJIT_WGMMA_OUT256(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 " ATTNJIT_WGMMA_D256
          ", %128, %129, p, 1, 1, %131, %132;\n}\n"
          : ATTNJIT_WGMMA_OUT256(d)
          : "l"(a), "l"(b), "r"(accumulate), "n"(kTransA), "n"(kTransB));
  }
  template <typename E, int kTransB>
  static __device__ __forceinline__ void rs(float (&d)[128], const u32 (&a)[4], u64 b, u32 accumulate) {
    if constexpr (WgmmaOperand<E>::kBf16)
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 " ATTNJIT_WGMMA_D256
          ", {%128, %129, %130, %131}, %132, p, 1, 1, %134;\n}\n"
          : ATTNJIT_WGMMA_OUT256(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
    else
      asm volatile(
          "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
          "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 " ATTNJIT_WGMMA_D256
          ", {%128, %129, %130, %131}, %132, p, 1, 1, %134;\n}\n"
          : ATTNJIT_WGMMA_OUT256(d)
          : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
  }
};

// ---- mbarriers ----------------------------------------------------------------------------
// A 64-bit barrier object in shared memory (8-byte aligned) that completes a phase when
// its expected arrivals have arrived and its expected transaction bytes (from tensor
// copies) have landed. Waiters name the phase by its parity: phase k of a barrier that
// is reused every `stages` iterations is iteration / stages, parity (iteration /
// stages) % 2.
__device__ __forceinline__ void mbarrier_init(u32 bar, u32 arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(arrivals) : "memory");
}
// After initializing barriers, before any thread or the copy engine uses them: makes
// the initialization visible to the other proxies (then a block barrier).
__device__ __forceinline__ void mbarrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbarrier_arrive(u32 bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// One arrival that also announces `bytes` more bytes of tensor copies for this phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(u32 bar, u32 bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// True when the phase of parity `parity` has completed (the hardware may suspend the
// thread for a while before answering false).
__device__ __forceinline__ bool mbarrier_try_wait(u32 bar, u32 parity) {
  u32 done;
  asm volatile(
      "{\n.reg .pred p;\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}
__device__ __forceinline__ void mbarrier_wait(u32 bar, u32 parity) {
  while (!mbarrier_try_wait(bar, parity)) {
  }
}

// ---- tensor-memory copies (TMA) -------------------------------------------------------------
// A box of a tensor described by a CUtensorMap (128 bytes, built on the host by
// cuTensorMapEncodeTiled and passed in the kernel's __grid_constant__ parameter block,
// so `map` is its generic address in parameter space) into shared memory at `dst`;
// completes `bytes` of the barrier's transaction count. Coordinates are in elements,
// innermost first; parts of the box outside the tensor are filled with zeros (and still
// count their bytes). One thread issues a copy.
__device__ __forceinline__ void tma_load_2d(u32 dst, const void* map, u32 bar, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
          dst),
      "l"(map), "r"(bar), "r"(c0), "r"(c1)
      : "memory");
}
__device__ __forceinline__ void tma_load_3d(u32 dst, const void* map, u32 bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];\n" ::"r"(dst),
      "l"(map), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}
__device__ __forceinline__ void tma_load_4d(u32 dst, const void* map, u32 bar, int c0, int c1, int c2, int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
      "[%2];\n" ::"r"(dst),
      "l"(map), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}
// Brings a tensor map into the descriptor cache ahead of its first copy.
__device__ __forceinline__ void tma_prefetch_map(const void* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(map) : "memory");
}

// Shared memory written by ordinary stores that the copy engine or the tensor cores
// (the async proxy) read next: each writing thread fences before the barrier that
// publishes the data.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// ---- warp specialization ---------------------------------------------------------------------
// Moves registers between warpgroups: all threads of a warpgroup execute it with the same
// count (a multiple of 8 in [24, 256]). It only acts when the kernel's registers were
// capped at entry (__launch_bounds__ with a minimum of 1 block per SM); the compiler warns
// (C7508) when it cannot honor it.
template <int kRegisters>
__device__ __forceinline__ void registers_increase() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void registers_decrease() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
// True in exactly one lane of the (fully active) warp.
__device__ __forceinline__ bool elect_one() {
  u32 elected;
  asm volatile(
      "{\n.reg .b32 lane;\n.reg .pred p;\n"
      "elect.sync lane|p, 0xffffffff;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(elected));
  return elected != 0;
}
// Lane 0's `v`, for every lane of the (fully active) warp. For a value the warp shares
// but ptxas cannot prove it does (one derived from threadIdx.x / 128): after the
// broadcast it keeps what the value addresses (barriers, MMA descriptors) in uniform
// registers instead of moving it there at every use.
__device__ __forceinline__ int warp_uniform(int v) {
  int r;
  asm("shfl.sync.idx.b32 %0, %1, 0, 0x1f, 0xffffffff;\n" : "=r"(r) : "r"(v));
  return r;
}
// True in every lane when `p` holds in any lane of the warp: a branch on it is uniform.
__device__ __forceinline__ bool warp_any(bool p) {
  u32 r;
  asm("{\n .reg .pred p, q;\n setp.ne.u32 p, %1, 0;\n vote.sync.any.pred q, p, 0xffffffff;\n"
      " selp.u32 %0, 1, 0, q;\n}\n"
      : "=r"(r)
      : "r"(static_cast<u32>(p)));
  return r != 0;
}
// Named barrier `id` (1-15; 0 is __syncthreads') completes once `threads` threads (a
// multiple of 32, the same count at every use) have reached it. named_barrier_sync
// waits for that; named_barrier_arrive counts the calling warp and goes on, so one set
// of warps can signal another that waits (a warp may arrive and then sync in one phase).
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace attnjit
