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
    {"Linear", "write x @ W + b (W of shape [in, out])"},
    {"Dense", "write x @ W + b (W of shape [in, out])"},
    {"dense", "write x @ W + b (W of shape [in, out])"},
    {"bce_with_logits", "did you mean 'bce_logits'?"},
    {"BCEWithLogitsLoss", "did you mean 'bce_logits'?"},
    {"sigmoid_cross_entropy_with_logits", "did you mean 'bce_logits'?"},
    {"BCELoss", "did you mean 'bce'?"},
    {"binary_crossentropy", "did you mean 'bce'?"},
    {"NLLLoss", "did you mean 'nll'?"},
    {"L1Loss", "write mean(abs(pred - target))"},
    {"softmax_cross_entropy_with_logits", "did you mean 'cross_entropy'?"},
    {"sparse_categorical_crossentropy", "did you mean 'cross_entropy'?"},
    {"categorical_crossentropy", "did you mean 'cross_entropy'?"},
    {"huber", "write mean(0.5 * q ^ 2 + abs(d) - q) with d = pred - target, q = minimum(abs(d), 1)"},
    {"huber_loss", "write mean(0.5 * q ^ 2 + abs(d) - q) with d = pred - target, q = minimum(abs(d), 1)"},
    {"HuberLoss", "write mean(0.5 * q ^ 2 + abs(d) - q) with d = pred - target, q = minimum(abs(d), 1)"},
    {"smooth_l1_loss", "write mean(0.5 * q ^ 2 + abs(d) - q) with d = pred - target, q = minimum(abs(d), 1)"},
    {"SmoothL1Loss", "write mean(0.5 * q ^ 2 + abs(d) - q) with d = pred - target, q = minimum(abs(d), 1)"},
    {"one_hot", "cross_entropy and nll take the integer labels themselves"},
    {"elu", "write relu(x) + exp(minimum(x, 0)) - 1"},
    {"selu", "write 1.0507009873554805 * (relu(x) + 1.6732632423543772 * (exp(minimum(x, 0)) - 1))"},
    {"mish", "write x * tanh(softplus(x))"},
    {"softsign", "write x / (1 + abs(x))"},
    {"relu6", "write minimum(relu(x), 6)"},
    {"hardtanh", "write maximum(minimum(x, 1), -1)"},
    {"logsigmoid", "write -softplus(-x)"},
    {"log_sigmoid", "write -softplus(-x)"},
    {"log1p", "write log(1 + x)"},
    {"expm1", "write exp(x) - 1"},
    {"rsqrt", "write x ^ -0.5"},
    {"reciprocal", "write 1 / x"},
    {"tan", "write sin(x) / cos(x)"},
    {"sign", "there is no 'sign' (its gradient is 0 wherever it has one)"},
    {"norm", "write sqrt(sum(x ^ 2))"},
    {"var", "write mean((x - mean(x)) ^ 2) (NumPy's var; PyTorch's divides by N - 1)"},
    {"std", "write sqrt(mean((x - mean(x)) ^ 2)) (NumPy's std; PyTorch's divides by N - 1)"},
    {"argmax", "there is no 'argmax' (it has no gradient): take it of the forward pass's outputs"},
    {"squeeze", "write reshape(x, [...]) with the sizes it keeps"},
    {"unsqueeze", "write reshape(x, [...]) with the new axis of size 1"},
    {"expand_dims", "write reshape(x, [...]) with the new axis of size 1"},
    {"expand", "arithmetic broadcasts by NumPy's rules: use x as it is"},
    {"broadcast_to", "arithmetic broadcasts by NumPy's rules: use x as it is"},
    {"stack", "write concat(reshape(a, [1, ...]), reshape(b, [1, ...]))"},
    {"where", "for a choice per element write maximum(a, b), minimum(a, b) or relu(x)"},
    {"batch_norm", "there is no batch norm; layernorm(x, gamma, beta) normalises over the last axis"},
    {"mT", "write x.T"},
    {"backward", "bpc differentiates the loss itself: bpc grad prints the gradients, bpc train trains"},
    {"step", "bpc train runs the training steps, with the program's optimizer"},
    {"zero_grad", "bpc train runs the training steps, with the program's optimizer"},
    {"parameters", "every param is trained by the program's optimizer"},
    {"detach", "there is no detach: every path to the loss is differentiated"},
    {"stop_gradient", "there is no stop_gradient: every path to the loss is differentiated"},
    {"float", "a value is real unless it is an input declared ': int'; there are no conversions"},
    {"double", "a value is real unless it is an input declared ': int'; there are no conversions"},
    {"long", "a value is real unless it is an input declared ': int'; there are no conversions"},
    {"repeat", "write concat(x, x, axis = A)"},
    {"tile", "write concat(x, x, axis = A)"},
    {"shape", "a size is written as its declaration names it (input x[B, 784]: B)"},
    {"size", "a size is written as its declaration names it (input x[B, 784]: B)"},
};

const char *suggest_torch_function(const char *name) {
    for (size_t i = 0; i < sizeof torch_functions / sizeof torch_functions[0]; i++)
        if (strcmp(torch_functions[i].name, name) == 0) return torch_functions[i].advice;
    return NULL;
}
