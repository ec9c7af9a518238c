/* rng.c — counter-based random numbers: every value is a pure function of
 * (seed, stream, index), so fills are reproducible on any machine, in any order and with
 * any number of threads.
 *
 * The algorithm, exactly (all arithmetic on uint64_t, modulo 2^64):
 *   mix(z):  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *            return z ^ (z >> 31);                 -- the splitmix64 finaliser
 *   G = 0x9E3779B97F4A7C15                          -- splitmix64's increment
 *   key(seed, stream) = mix(seed ^ mix(stream + G))
 *   u64(seed, stream, i) = mix(key + G * (i + 1))
 *       i.e. output i of a splitmix64 generator whose state starts at key
 *   uniform(i) = (u64(i) >> 11) * 2^-53            -- in [0, 1), 53 random bits
 *   normal(i)  = sqrt(-2 ln(1 - uniform(2i))) * cos(2 pi uniform(2i + 1))
 *       Box-Muller in double; 1 - u lies in (0, 1] so the log is finite. Only the cosine
 *       branch is used, so normal i consumes uniforms 2i and 2i+1 (2i wraps mod 2^64).
 * Fills: p[i] = (T)(std * normal(i)) and p[i] = (T)(lo + (hi - lo) * uniform(i)), i < n,
 * computed in double and rounded once; large fills run on bprt_threads() threads. */
#include <math.h>
#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#define BPRT_RNG_THREADS 1
#endif

#include "bprt.h"

#define RNG_GAMMA 0x9E3779B97F4A7C15ull
#define FILL_PARALLEL_MIN 65536 /* elements below which a fill stays on one thread */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t bprt_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t key = mix64(seed ^ mix64(stream + RNG_GAMMA));
    return mix64(key + RNG_GAMMA * (index + 1));
}

double bprt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (double)(bprt_rng_u64(seed, stream, index) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

double bprt_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    double u1 = bprt_rng_uniform(seed, stream, 2 * index);
    double u2 = bprt_rng_uniform(seed, stream, 2 * index + 1);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586476925286766559 * u2);
}

/* A fill's arguments, for its shares on the threads (BPRT_SPLIT): normals (std) when
 * normal, else uniforms in [lo, hi); into p32 or p64 */
typedef struct Fill {
    float *p32;
    double *p64;
    int normal;
    double std, lo, hi;
    uint64_t seed, stream;
} Fill;

static void fill_range(void *arg, size_t i0, size_t i1)
{
    const Fill *f = (const Fill *)arg;
    for (size_t i = i0; i < i1; i++) {
        const double v = f->normal ? f->std * bprt_rng_normal(f->seed, f->stream, i)
                                   : f->lo + (f->hi - f->lo) * bprt_rng_uniform(f->seed, f->stream, i);
        if (f->p32)
            f->p32[i] = (float)v;
        else
            f->p64[i] = v;
    }
}

static void fill(const Fill *f, size_t n)
{
#ifdef BPRT_RNG_THREADS
    BPRT_SPLIT(bprt_team(n, FILL_PARALLEL_MIN), n, fill_range, (void *)f);
#else
    fill_range((void *)f, 0, n);
#endif
}

void bprt_fill_normal_f32(float *p, size_t n, double std, uint64_t seed, uint64_t stream)
{
    const Fill f = {p, NULL, 1, std, 0, 0, seed, stream};
    fill(&f, n);
}

void bprt_fill_normal_f64(double *p, size_t n, double std, uint64_t seed, uint64_t stream)
{
    const Fill f = {NULL, p, 1, std, 0, 0, seed, stream};
    fill(&f, n);
}

void bprt_fill_uniform_f32(float *p, size_t n, double lo, double hi, uint64_t seed,
                           uint64_t stream)
{
    const Fill f = {p, NULL, 0, 0, lo, hi, seed, stream};
    fill(&f, n);
}

void bprt_fill_uniform_f64(double *p, size_t n, double lo, double hi, uint64_t seed,
                           uint64_t stream)
{
    const Fill f = {NULL, p, 0, 0, lo, hi, seed, stream};
    fill(&f, n);
}
