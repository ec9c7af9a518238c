/* gemm_avx2.c — AVX2 + FMA3 micro-kernels for bprt_sgemm / bprt_dgemm (kernel.h
 * contract), compiled with -mavx2 -mfma and only called when the CPU has them.
 *
 * Tiles are 6 rows x 2 ymm vectors: 12 accumulators of the 16 registers, two for the B
 * row and one broadcast, the classic shape for two 4-cycle FMA ports.
 * f32: 6 x 16, f64: 6 x 8. The bodies come from gemm_tile.h. */
#include <immintrin.h>

#include "kernel.h"

#define T float
#define VEC __m256
#define VL 8
#define MR 6
#define NV 2
#define VZERO() _mm256_setzero_ps()
#define VLOADU(p) _mm256_loadu_ps(p)
#define VSTOREU(p, v) _mm256_storeu_ps((p), (v))
#define VBCAST(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define KSET bprt_kernel_f32_avx2
#define KTYPE BprtKernelF32
#define KPREFIX(x) avx2_f32_##x
#include "gemm_tile.h"

#define T double
#define VEC __m256d
#define VL 4
#define MR 6
#define NV 2
#define VZERO() _mm256_setzero_pd()
#define VLOADU(p) _mm256_loadu_pd(p)
#define VSTOREU(p, v) _mm256_storeu_pd((p), (v))
#define VBCAST(x) _mm256_set1_pd(x)
#define VFMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define VMUL(a, b) _mm256_mul_pd((a), (b))
#define KSET bprt_kernel_f64_avx2
#define KTYPE BprtKernelF64
#define KPREFIX(x) avx2_f64_##x
#include "gemm_tile.h"
