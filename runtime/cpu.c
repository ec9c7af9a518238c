/* cpu.c — the runtime's two pieces of process-wide state: which instruction set the
 * kernels use, and how many threads they may use.
 *
 * ISA: detected at first use from the CPU (__builtin_cpu_supports, which also checks that
 * the OS saves the wider registers): AVX-512F+DQ, else AVX2+FMA, else generic. The
 * environment variable BPRT_ISA=avx512|avx2|generic (in any case: AVX512) picks one instead,
 * if the CPU can run it; any other value (" avx2", "avx9", "avx-512"), or one the CPU cannot
 * run, is not used, and one warning line on stderr says why, once per process (an empty one
 * is as if unset; such values were ignored without a word). bprt_set_isa changes it later.
 * Threads: BPRT_NUM_THREADS (digits alone, 1 to BPRT_MAX_THREADS), else omp_get_num_procs();
 * bprt_set_threads(n) with n >= 1 overrides, n <= 0 restores the default. A BPRT_NUM_THREADS
 * set to anything else (" 4", "+4", "4x", "0", "99999999999") is not used, and one warning
 * line on stderr says so, once per process (an empty one is as if unset).
 * Both are meant to be set once, before kernels run concurrently; reads and writes are
 * relaxed atomics so a racing reader sees an old or new value, never a torn one. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bprt.h"
#include "kernel.h"

static const char *const isa_names[BPRT_ISA_COUNT] = {"generic", "avx2", "avx512"};

static int isa_current = -1; /* BprtIsa, or -1 before first use */
static int threads_current;  /* 0: not yet decided */

static int cpu_has(BprtIsa isa)
{
    switch (isa) {
    case BPRT_ISA_GENERIC:
        return 1;
    case BPRT_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case BPRT_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma");
    default:
        return 0;
    }
}

/* name as an ISA: one of isa_names in any case ("AVX512", "Avx2"), nothing before or after
 * it; else -1 */
static int isa_lookup(const char *name)
{
    for (int i = 0; name && i < BPRT_ISA_COUNT; i++) {
        const char *p = name, *q = isa_names[i];
        for (; *q && (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p) == *q; p++, q++)
            ;
        if (!*q && !*p)
            return i;
    }
    return -1;
}

BprtIsa bprt_isa_choose(const char *value, unsigned runs, const char **why)
{
    int isa = isa_lookup(value);
    *why = NULL;
    if (isa >= 0 && (runs >> isa & 1u))
        return (BprtIsa)isa;
    if (value && *value)
        *why = isa < 0 ? "not avx512, avx2 or generic" : "this CPU cannot run it";
    for (isa = BPRT_ISA_COUNT - 1; isa > BPRT_ISA_GENERIC && !(runs >> isa & 1u); isa--)
        ;
    return (BprtIsa)isa;
}

static int isa_warned; /* the warning about BPRT_ISA was printed */

BprtIsa bprt_isa_id(void)
{
    int isa = __atomic_load_n(&isa_current, __ATOMIC_RELAXED);
    if (isa >= 0)
        return (BprtIsa)isa;
    __builtin_cpu_init();
    unsigned runs = 0;
    for (int i = 0; i < BPRT_ISA_COUNT; i++)
        runs |= (unsigned)cpu_has((BprtIsa)i) << i;
    const char *s = getenv("BPRT_ISA"), *why;
    isa = bprt_isa_choose(s, runs, &why);
    if (why && !__atomic_exchange_n(&isa_warned, 1, __ATOMIC_RELAXED)) {
        fflush(stdout); /* after what the program printed before */
        fprintf(stderr, "bprt: warning: ignoring BPRT_ISA='%.100s' (%s); using %s\n", s, why, isa_names[isa]);
    }
    __atomic_store_n(&isa_current, isa, __ATOMIC_RELAXED);
    return (BprtIsa)isa;
}

const char *bprt_isa(void)
{
    return isa_names[bprt_isa_id()];
}

int bprt_set_isa(const char *name)
{
    int isa = isa_lookup(name);
    __builtin_cpu_init();
    if (isa < 0 || !cpu_has((BprtIsa)isa))
        return -1;
    __atomic_store_n(&isa_current, isa, __ATOMIC_RELAXED);
    return 0;
}

static int threads_warned; /* the warning about BPRT_NUM_THREADS was printed */

/* s as a thread count: digits alone, 1 to BPRT_MAX_THREADS; else 0 (strtol took " 4" and
 * "+4", and a value past a long's range) */
static int threads_parse(const char *s)
{
    int n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((n = n * 10 + (*p - '0')) > BPRT_MAX_THREADS)
            return 0; /* no overflow on the way */
    return p == s || *p ? 0 : n;
}

static int threads_default(void)
{
    const char *s = getenv("BPRT_NUM_THREADS");
    int n = s && *s ? threads_parse(s) : 0;
    if (n >= 1)
        return n;
    n = omp_get_num_procs();
    if (n < 1)
        n = 1;
    if (s && *s && !__atomic_exchange_n(&threads_warned, 1, __ATOMIC_RELAXED)) {
        fflush(stdout); /* after what the program printed before */
        fprintf(stderr,
                "bprt: warning: ignoring BPRT_NUM_THREADS='%.100s' (not a whole number from 1 to %d); "
                "using %d thread%s\n",
                s, BPRT_MAX_THREADS, n, n == 1 ? "" : "s");
    }
    return n;
}

int bprt_threads(void)
{
    int n = __atomic_load_n(&threads_current, __ATOMIC_RELAXED);
    if (n > 0)
        return n;
    n = threads_default();
    __atomic_store_n(&threads_current, n, __ATOMIC_RELAXED);
    return n;
}

int bprt_in_parallel(void)
{
    return omp_in_parallel() || bprt_pool_in_task();
}

int bprt_team(size_t work, size_t min)
{
    return work < min || bprt_in_parallel() ? 1 : bprt_threads();
}

void bprt_set_threads(int n)
{
    __atomic_store_n(&threads_current, n >= 1 ? n : threads_default(), __ATOMIC_RELAXED);
}
