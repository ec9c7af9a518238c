/* gemm_avx512.c — AVX-512F micro-kernels for bprt_sgemm / bprt_dgemm (kernel.h contract),
 * compiled with -mavx512f -mavx512dq -mfma and only called when the CPU has them.
 *
 * Tiles are 14 rows x 2 zmm vectors: 28 accumulators of the 32 registers, leaving room for
 * the two B vectors and the broadcast (fused into the FMA as an embedded {1toN} operand).
 * 28 independent FMA chains cover the 4-cycle latency of two FMA ports with room to
 * spare; per k step the kernel issues 28 FMAs against 2 vector loads + 14 broadcasts.
 * f32: 14 x 32, f64: 14 x 16. The bodies come from gemm_tile.h. */
#include <immintrin.h>

#include "kernel.h"

#define T float
#define VEC __m512
#define VL 16
#define MR 14
#define NV 2
#define VZERO() _mm512_setzero_ps()
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps((p), (v))
#define VBCAST(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define KSET bprt_kernel_f32_avx512
#define KTYPE BprtKernelF32
#define KPREFIX(x) avx512_f32_##x
#include "gemm_tile.h"

#define T double
#define VEC __m512d
#define VL 8
#define MR 14
#define NV 2
#define VZERO() _mm512_setzero_pd()
#define VLOADU(p) _mm512_loadu_pd(p)
#define VSTOREU(p, v) _mm512_storeu_pd((p), (v))
#define VBCAST(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VMUL(a, b) _mm512_mul_pd((a), (b))
#define KSET bprt_kernel_f64_avx512
#define KTYPE BprtKernelF64
#define KPREFIX(x) avx512_f64_##x
#include "gemm_tile.h"
