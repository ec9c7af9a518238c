/* fuzz_safetensors.c — libFuzzer harness for the safetensors reader.
 *
 * The input bytes become a file (a memfd, reached as /proc/self/fd/N), read with
 * bprt_st_read; a file that is accepted has every tensor converted with bprt_st_to_f64 and
 * looked up by name. Built with -fsanitize=fuzzer (BPC_FUZZ) or with replay.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    BprtSafetensors st;
    char err[BPRT_ERRLEN];
    if (bprt_st_read(path, &st, err) != 0) {
        if (!memchr(err, '\0', sizeof err) || strncmp(err, path, strlen(path)) != 0)
            abort(); /* every message is terminated and starts with the path */
        return 0;
    }
    for (int i = 0; i < st.count; i++) {
        const BprtTensor *t = &st.tensors[i];
        if (bprt_st_find(&st, t->name) != t)
            abort();
        double *out = malloc(((size_t)t->count + 1) * sizeof *out);
        if (!out)
            abort();
        bprt_st_to_f64(t, out);
        free(out);
    }
    bprt_st_free(&st);
    return 0;
}
