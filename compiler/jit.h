/* jit.h — compile generated C in-process and find its functions.
 *
 * JIT_TCC: libtcc compiles the code into memory (milliseconds); the runtime's kernels are
 * handed over by address, so the JIT code runs libbprt's SIMD GEMMs.
 * JIT_CC: the system compiler (`cc`, or $CC) builds a shared object with -O3
 * -march=native in a private temporary directory, which is loaded with dlopen and removed.
 * Errors (a compiler's messages) are returned in err, never printed or fatal. */
#ifndef BP_JIT_H
#define BP_JIT_H

#include <stddef.h>

typedef enum JitKind { JIT_TCC, JIT_CC } JitKind;
typedef struct Jit Jit;

Jit *jit_compile(const char *code, JitKind kind, char *err, size_t errlen);
void *jit_symbol(Jit *j, const char *name);
void jit_free(Jit *j);
/* Is name in the table of runtime functions handed to libtcc by address (a host linked
 * without exported symbols finds no other)? */
int jit_runtime_symbol_known(const char *name);

#endif
