/* sample.h — `bpc sample`: text from a byte-level language model.
 *
 * The program is one `bpc train --data FILE.txt` trains (train_text_inputs: two `: int`
 * inputs of shape [B, T], the bytes and the next bytes) whose first `output` is the logits,
 * of shape [B, T, V] with 2 <= V <= 256 (the scores of the byte values 0 .. V-1). Each new
 * byte runs the forward pass once at B = 1 on the last T bytes of the context, left-aligned
 * (a shorter context is padded with zero bytes after it), and reads the logits at the last
 * real position: for a causal model, whose position t sees only positions <= t, that is
 * exact. The byte is drawn from softmax(logits / temperature) by inverting the cumulative
 * sum with bprt_rng_uniform(seed, 0x5a3e0000, i) for byte i (reproducible from the seed);
 * temperature 0 takes the first largest logit; logits with a NaN or +inf, or all -inf, are an
 * error at that byte. An empty prompt starts from a newline
 * (which is not printed). The prompt and the bytes are written to out as they come; a write
 * that fails stops the sampling, with out's error flag and errno left for the caller to report. */
#ifndef BP_SAMPLE_H
#define BP_SAMPLE_H

#include <stdint.h>
#include <stdio.h>

#include "ir.h"
#include "jit.h"

typedef struct SampleOptions {
    const char *params;  /* safetensors file with the parameters (required) */
    const char *prompt;  /* NULL: "" */
    int n;               /* bytes to generate */
    double temperature;  /* >= 0 */
    uint64_t seed;
    JitKind jit;
    int f64;
} SampleOptions;

/* Returns 0 (also when a write failed, see above), or 1 after printing an error to stderr. */
int sample_run(FILE *out, Graph *g, const SampleOptions *o);

#endif
