/* suggest.c — see suggest.h. The distance is the optimal string alignment form of
 * Damerau-Levenshtein, computed in three rows of the usual table. */
#include "suggest.h"

#include <string.h>

#define SUGGEST_MAX_LEN 255
#define SUGGEST_MAX_DIST 2

static int fold(char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static int min3(int a, int b, int c) {
    int m = a < b ? a : b;
    return m < c ? m : c;
}

int suggest_distance(const char *a, const char *b) {
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > SUGGEST_MAX_LEN || m > SUGGEST_MAX_LEN) return SUGGEST_MAX_LEN + 1;
    int rows[3][SUGGEST_MAX_LEN + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (int j = 0; j <= m; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int cost = fold(a[i - 1]) != fold(b[j - 1]);
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1]) &&
                prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1; /* two neighbours swapped */
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

void suggest_init(Suggest *s, const char *word) {
    s->word = word;
    s->best = NULL;
    s->dist = SUGGEST_MAX_DIST + 1;
}

void suggest_offer(Suggest *s, const char *cand) {
    if (!cand || strcmp(cand, s->word) == 0) return;
    int d = suggest_distance(s->word, cand);
    int longer = (int)strlen(s->word);
    if ((int)strlen(cand) > longer) longer = (int)strlen(cand);
    if (d < s->dist && 2 * d <= longer) {
        s->best = cand;
        s->dist = d;
    }
}

/* PyTorch's and NumPy's functions that bpc spells otherwise, and how. */
static const struct {
    const char *name;
    const char *advice;
} torch_functions[] = {
    {"pow", "write a ^ b"},
    {"square", "write x ^ 2"},
    {"matmul", "write a @ b"},
    {"mm", "write a @ b"},
    {"bmm", "write a @ b"},
    {"dot", "write a @ b"},
    {"add", "write a + b"},
    {"sub", "write a - b"},
    {"mul", "write a * b"},
    {"div", "write a / b"},
    {"neg", "write -x"},
    {"t", "write x.T"},
    {"min", "there is no 'min' reduction: write -max(-x) (or minimum(a, b) for two tensors)"},
    {"amin", "there is no 'min' reduction: write -max(-x) (or minimum(a, b) for two tensors)"},
    {"amax", "did you mean 'max'?"},
    {"clamp", "write maximum(minimum(x, hi), lo)"},
    {"clip", "write maximum(minimum(x, hi), lo)"},
    {"mse_loss", "did you mean 'mse'?"},
    {"binary_cross_entropy", "did you mean 'bce'?"},
    {"binary_cross_entropy_with_logits", "did you mean 'bce_logits'?"},
    {"nll_loss", "did you mean 'nll'?"},
    {"layer_norm", "did you mean 'layernorm'?"},
    {"max_pool2d", "did you mean 'maxpool2d'?"},
    {"avg_pool2d", "did you mean 'avgpool2d'?"},
    {"cat", "did you mean 'concat'?"},
    {"concatenate", "did you mean 'concat'?"},
    {"view", "did you mean 'reshape'?"},
    {"flatten", "write reshape(x, [B, -1])"},
    {"permute", "write x.T (or transpose(x)) to swap the last two axes"},
    {"reduce_sum", "did you mean 'sum'?"},
    {"reduce_mean", "did you mean 'mean'?"},
    {"silu", "write x * sigmoid(x)"},
    {"swish", "write x * sigmoid(x)"},
    {"cross_entropy_loss", "did you mean 'cross_entropy'?"},
    {"CrossEntropyLoss", "did you mean 'cross_entropy'?"},
    {"MSELoss", "did you mean 'mse'?"},
    {"mean_squared_error", "did you mean 'mse'?"},
    {"l1_loss", "write mean(abs(pred - target))"},
    {"linear", "write x @ W + b (W of shape [in, out])"},
};

const char *suggest_torch_function(const char *name) {
    for (size_t i = 0; i < sizeof torch_functions / sizeof torch_functions[0]; i++)
        if (strcmp(torch_functions[i].name, name) == 0) return torch_functions[i].advice;
    return NULL;
}
