/* suggest.h — "did you mean" for a misspelled word.
 *
 * A Suggest collects candidates offered one by one and keeps the nearest plausible one
 * to the word: within Damerau-Levenshtein distance 2 (optimal string alignment, letters
 * compared without case), and no more than half the longer word's length (so 'x' is not
 * taken for 'y', nor 'ab' for 'cd'). The word itself (same spelling, same case) is never
 * suggested; of candidates at the same distance, the first offered wins. Also here: what
 * bpc writes for the PyTorch and NumPy functions it lacks (pow -> a ^ b, mse_loss -> mse,
 * elu -> relu(x) + exp(minimum(x, 0)) - 1), and for a few methods (.mT, .shape).
 * Left out: any knowledge of which names are visible where (the callers offer them). */
#ifndef BP_SUGGEST_H
#define BP_SUGGEST_H

typedef struct Suggest {
    const char *word; /* what the user wrote */
    const char *best; /* the nearest plausible candidate so far, or NULL */
    int dist;         /* its distance */
} Suggest;

/* Distance between a and b: insertions, deletions, substitutions and swaps of two
 * neighbours each cost 1; ASCII letters compare without case. Words past 255 characters
 * count as far from everything. */
int suggest_distance(const char *a, const char *b);

void suggest_init(Suggest *s, const char *word);
/* Considers one candidate (NULL is ignored). */
void suggest_offer(Suggest *s, const char *cand);

/* For a function PyTorch or NumPy has and bpc spells otherwise, the advice that ends an
 * "unknown function" message ("write a ^ b", "did you mean 'mse'?"); NULL otherwise. */
const char *suggest_torch_function(const char *name);

#endif
