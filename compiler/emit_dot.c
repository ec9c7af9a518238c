/* emit_dot.c — the graph in Graphviz: forward nodes and edges in blue, adjoint (backward)
 * ones in red, leaves as boxes, each fused elementwise kernel (fuse.h) as a dashed cluster,
 * with a legend. Values a `checkpoint` recomputes are drawn in orange in the backward part
 * (and named in the legend only when there are some). */
#include <stdlib.h>

#include "emit.h"
#include "fuse.h"

/* The root of node i's fused kernel. */
static int kernel_of(const int *fu, int i) {
    while (fu[i] >= 0) i = fu[i];
    return i;
}

void emit_dot(FILE *out, const Graph *g) {
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n", g->model);
    fprintf(out, "  subgraph cluster_legend {\n    label=\"legend\"; fontsize=10;\n"
                 "    legend_fwd [label=\"forward\", style=filled, fillcolor=\"#cfe2ff\"];\n"
                 "    legend_adj [label=\"backward (adjoint)\", style=filled, fillcolor=\"#f8d7da\"];\n"
                 "    legend_leaf [label=\"parameter / input\", shape=box, style=filled, fillcolor=\"#e2e3e5\"];\n"
                 "    legend_fwd -> legend_adj [label=\"backward edge\", color=\"#b02a37\", fontsize=9];\n");
    int recomputed = 0;
    for (int i = 0; i < g->n; i++) recomputed |= g->nodes[i].remat == REMAT_COPY;
    if (recomputed)
        fprintf(out, "    legend_rec [label=\"recomputed (checkpoint)\", style=filled, fillcolor=\"#ffd8a8\"];\n");
    fprintf(out, "  }\n");
    char *roots = calloc((size_t)g->n + 1, 1);
    int *fu = malloc(((size_t)g->n + 1) * sizeof(int));
    if (!roots || !fu) abort();
    if (g->loss >= 0) roots[g->loss] = 1;
    for (int i = 0; i < g->noutputs; i++) roots[g->outputs[i]] = 1;
    if (g->grads)
        for (int p = 0; p < g->nparams; p++)
            if (g->grads[p] >= 0) roots[g->grads[p]] = 1;
    fuse_plan(g, roots, NULL, fu);
    int nk = 0;
    for (int i = 0; i < g->n; i++) {
        if (fu[i] >= 0 || op_info[g->nodes[i].op].kind == OK_LEAF) continue;
        int members = 0;
        for (int j = 0; j < i; j++) members += fu[j] >= 0 && kernel_of(fu, j) == i;
        if (!members) continue;
        fprintf(out, "  subgraph cluster_k%d {\n    label=\"fused kernel\"; style=dashed; fontsize=9; color=\"#6c757d\";\n", nk++);
        for (int j = 0; j <= i; j++)
            if (j == i || (fu[j] >= 0 && kernel_of(fu, j) == i)) fprintf(out, "    n%d;\n", j);
        fprintf(out, "  }\n");
    }
    free(roots);
    free(fu);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        char s[SHAPE_STR_MAX];
        shape_str(&n->shape, &g->syms, s, sizeof s);
        const char *label = op_info[n->op].name;
        if (n->op == OP_INPUT) label = g->inputs[n->ival].name;
        if (n->op == OP_PARAM) label = g->params[n->ival].name;
        int leaf = n->op == OP_INPUT || n->op == OP_PARAM;
        if (n->op == OP_CONST)
            fprintf(out, "  n%d [label=\"%.6g\", shape=plaintext];\n", i, n->value);
        else
            fprintf(out, "  n%d [label=\"%s\\n%s\", shape=%s, style=filled, fillcolor=\"%s\"];\n", i, label, s,
                    leaf ? "box" : "ellipse",
                    leaf ? "#e2e3e5" : n->remat == REMAT_COPY ? "#ffd8a8" : n->adjoint ? "#f8d7da" : "#cfe2ff");
        for (int k = 0; k < op_info[n->op].arity; k++)
            fprintf(out, "  n%d -> n%d [color=\"%s\"];\n", n->in[k], i, n->adjoint ? "#b02a37" : "#0a58ca");
    }
    if (g->loss >= 0) fprintf(out, "  loss [shape=doublecircle, label=\"loss\"];\n  n%d -> loss;\n", g->loss);
    if (g->grads)
        for (int p = 0; p < g->nparams; p++)
            if (g->grads[p] >= 0)
                fprintf(out, "  grad%d [shape=box, label=\"d loss / d %s\", color=\"#b02a37\"];\n  n%d -> grad%d [color=\"#b02a37\"];\n", p,
                        g->params[p].name, g->grads[p], p);
    fprintf(out, "}\n");
}
