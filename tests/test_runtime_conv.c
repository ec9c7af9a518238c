/* test_runtime_conv.c — bprt_conv2d_f32 and its two gradients against convolutions written
 * out in double, under every ISA this machine can run: on AVX-512 the stride-1 3x3 and 5x5
 * windows with at least 8 channels each way and 9 tiles an image take Winograd's algorithm
 * (runtime/conv_wg.c), everything else the unfolded products (runtime/conv.c).
 *
 * Each output element is checked against its double-precision value relative to the sum of
 * the absolute values of its terms (sum |w x| for the forward pass, and likewise for the
 * gradients): |got - ref| <= TOL * that sum. The unfolded product stays near float's unit
 * roundoff times the terms; Winograd's transforms add and scale before the products
 * (F(2x2, 5x5) and F(4x4, 3x3) on 6x6 tiles), which the measured worst case here puts at
 * TOL_WG (see the comment there). Also: the results do not depend on the thread count
 * (same bits on 1, 2 and 3 threads), the scratch is exactly bprt_conv2d_scratch reals (the
 * runs under AddressSanitizer catch a write past it), and shapes where tiles run past the
 * image (odd sizes), more than 16 tile columns, more images than the weight gradient's
 * groups, and fewer images than threads; and for the unfolded products, the weight
 * gradient of fewer than 64 unfolded rows (summed by fixed groups of images).
 * bprt_conv2d_grads_f32 gives the same bits as the two gradient calls, and
 * bprt_conv2d_grad_wb_f32 the same weight gradient as bprt_conv2d_grad_w_f32, with the bias's
 * gradient (gy summed over images and positions) within TOL_DIRECT of its double value, the
 * same bits on 1-3 threads (and _f64's within 1e-12); bprt_conv2d_grads_b_f32/f64 the same
 * bits as grads and grad_wb; with no images, zeros.
 * Also 2x2 max-pooling's AVX-512 rows against its plain loops (test_pool_same_bits), and
 * the layers' elementwise epilogues (test_layer_epilogues), layer norm's rows under both
 * kernels (test_layernorm_rows), and softmax's vector-Jacobian product by rows
 * (test_softmax_grad_rows). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bprt.h"

/* Measured worst |got - ref| / sum|terms| over these cases (2026-12-02): unfolded products
 * 2.4e-7, Winograd 1.7e-6 (F(2x2, 5x5)) and 1.3e-6 (F(4x4, 3x3)); the bounds leave about 5x. */
#define TOL_DIRECT 1e-6
#define TOL_WG 1e-5

typedef struct Case {
    size_t B, C, H, W, O, K, pad;
    int direct; /* on AVX-512, gw takes conv.c's direct path (is_direct_gw): checked */
} Case;

static const Case cases[] = {
    {3, 8, 14, 14, 16, 5, 2, 0},  /* fashion_cnn's second layer, smaller */
    {2, 9, 13, 11, 8, 5, 2, 0},   /* odd sizes: the last tiles run past the image */
    {2, 8, 11, 11, 12, 3, 1, 0},  /* 3x3: F(4x4, 3x3), 3x3 tiles of which the last are partial */
    {1, 16, 14, 13, 8, 3, 0, 0},  /* no padding */
    {2, 8, 7, 7, 12, 3, 1, 0},    /* 3x3 on 2x2 tiles, too few: the unfolded product */
    {2, 8, 4, 4, 8, 5, 2, 0},     /* 5x5 on 2x2 tiles, too few: the unfolded product */
    {11, 8, 6, 40, 8, 5, 2, 0},   /* 20 tile columns (two 16-column chunks); 11 images > 8 groups */
    {2, 8, 9, 42, 9, 3, 1, 0},    /* 3x3 with 11 tile columns */
    {2, 4, 9, 9, 8, 5, 2, 0},     /* 4 input channels: the unfolded product */
    {2, 8, 9, 9, 8, 4, 1, 0},     /* 4x4: the unfolded product */
    {5, 1, 12, 12, 8, 5, 2, 1},   /* 1 channel (a first layer): K = 25, gw by groups of images */
    {13, 2, 8, 8, 4, 3, 1, 1},    /* K = 18, more images than groups */
    /* gw of fewer than 64 unfolded rows at stride 1 on AVX-512: conv.c's direct path (a window
       row's shifts of 16 columns of the bordered image against 4 rows of gy, then 1 at a time) */
    {3, 1, 28, 28, 32, 5, 2, 1},  /* fashion_cnn's first layer: rows of 16 + 12 columns */
    {2, 1, 9, 35, 6, 3, 1, 1},    /* rows of 16 + 16 + 3; 6 channels out: 4, then 1 and 1 */
    {2, 2, 6, 40, 5, 1, 1, 1},    /* a padded 1x1 window (not pointwise): rows of 16 + 16 + 10 */
    {3, 1, 10, 10, 3, 6, 3, 1},   /* 6x6, the widest row of the direct path; 3 channels out */
    {2, 1, 9, 9, 4, 7, 3, 0},     /* 7x7 (K = 49): the unfolded product */
    {2, 3, 5, 5, 4, 3, 0, 1},     /* rows of 3, no padding */
    {2, 1, 3, 3, 4, 3, 1, 0},     /* 3x3 image: too small for the direct path (the unfolded product) */
    {3, 1, 40, 40, 4, 3, 1, 1},   /* 1600 positions: the bias gradient's rows in two chunks of floats */
};

static double rnd(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / (double)(1u << 24) * 2 - 1;
}

/* The forward pass and both gradients in double with the sums of |terms|. */
static void reference(const Case *c, const float *x, const float *w, const float *gy, double *y, double *ya,
                      double *gx, double *gxa, double *gw, double *gwa) {
    const size_t OH = c->H + 2 * c->pad - c->K + 1, OW = c->W + 2 * c->pad - c->K + 1;
    memset(y, 0, sizeof(double) * c->B * c->O * OH * OW), memset(ya, 0, sizeof(double) * c->B * c->O * OH * OW);
    memset(gx, 0, sizeof(double) * c->B * c->C * c->H * c->W), memset(gxa, 0, sizeof(double) * c->B * c->C * c->H * c->W);
    memset(gw, 0, sizeof(double) * c->O * c->C * c->K * c->K), memset(gwa, 0, sizeof(double) * c->O * c->C * c->K * c->K);
    for (size_t b = 0; b < c->B; b++)
        for (size_t o = 0; o < c->O; o++)
            for (size_t oh = 0; oh < OH; oh++)
                for (size_t ow = 0; ow < OW; ow++) {
                    const size_t yi = ((b * c->O + o) * OH + oh) * OW + ow;
                    for (size_t ci = 0; ci < c->C; ci++)
                        for (size_t a = 0; a < c->K; a++)
                            for (size_t d = 0; d < c->K; d++) {
                                const long h = (long)(oh + a) - (long)c->pad, v = (long)(ow + d) - (long)c->pad;
                                if (h < 0 || v < 0 || h >= (long)c->H || v >= (long)c->W) continue;
                                const size_t xi = ((b * c->C + ci) * c->H + (size_t)h) * c->W + (size_t)v;
                                const size_t wi = ((o * c->C + ci) * c->K + a) * c->K + d;
                                y[yi] += (double)w[wi] * (double)x[xi], ya[yi] += fabs((double)w[wi] * (double)x[xi]);
                                gx[xi] += (double)w[wi] * (double)gy[yi], gxa[xi] += fabs((double)w[wi] * (double)gy[yi]);
                                gw[wi] += (double)x[xi] * (double)gy[yi], gwa[wi] += fabs((double)x[xi] * (double)gy[yi]);
                            }
                }
}

static double worst(const float *got, const double *ref, const double *abssum, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - ref[i]) / (abssum[i] > 1e-30 ? abssum[i] : 1e-30);
        if (!(d <= e)) e = d; /* a NaN is the worst */
    }
    return e;
}

static int is_winograd(const Case *c, const char *isa) {
    return strcmp(isa, "avx512") == 0 && (c->K == 3 || c->K == 5) && c->C >= 8 && c->O >= 8;
}

/* whether conv.c's bprt_conv2d_grad_w_f32 takes its direct path (GW_DIRECT there): AVX-512, not
   Winograd, fewer than 64 unfolded rows, a window at most 6 wide and not a plain 1x1, and its
   bordered image (rows rounded up to 16, a row and 16 more) fits the thread's slot */
static int is_direct_gw(const Case *c, const char *isa) {
    const size_t Hp = c->H + 2 * c->pad, Wp = c->W + 2 * c->pad, Wq = (Wp + 15) / 16 * 16;
    const size_t OH = Hp - c->K + 1, OW = Wp - c->K + 1, K = c->C * c->K * c->K;
    return strcmp(isa, "avx512") == 0 && !is_winograd(c, isa) && K < 64 && c->K <= 6 && !(c->K == 1 && c->pad == 0) &&
           c->C * Hp * Wq + Wq + 32 <= K * OH * OW + c->C * Hp * Wp;
}

static void test_against_double(void **state) {
    (void)state;
    static const char *const isas[] = {"generic", "avx2", "avx512"};
    const int threads = bprt_threads();
    const char *isa = bprt_isa();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const Case *c = &cases[ci];
        const size_t OH = c->H + 2 * c->pad - c->K + 1, OW = c->W + 2 * c->pad - c->K + 1;
        const size_t nx = c->B * c->C * c->H * c->W, nw = c->O * c->C * c->K * c->K, ny = c->B * c->O * OH * OW;
        const size_t ns = bprt_conv2d_scratch(c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad);
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *gy = malloc(ny * sizeof *gy);
        double *ref = malloc(((nx + nw + ny) * 2 + 2 * c->O) * sizeof *ref);
        double *y = ref, *ya = y + ny, *gx = ya + ny, *gxa = gx + nx, *gw = gxa + nx, *gwa = gw + nw;
        double *gb = gwa + nw, *gba = gb + c->O; /* the bias's gradient: gy summed but over o */
        unsigned seed = 12345u + (unsigned)ci;
        for (size_t i = 0; i < nx; i++) x[i] = (float)rnd(&seed);
        for (size_t i = 0; i < nw; i++) w[i] = (float)rnd(&seed);
        for (size_t i = 0; i < ny; i++) gy[i] = (float)rnd(&seed);
        reference(c, x, w, gy, y, ya, gx, gxa, gw, gwa);
        for (size_t o = 0; o < c->O; o++) gb[o] = gba[o] = 0;
        for (size_t i = 0; i < ny; i++) gb[i / (OH * OW) % c->O] += (double)gy[i], gba[i / (OH * OW) % c->O] += fabs((double)gy[i]);
        { /* in double (the generic lanes): the bias's gradient within 1e-12 */
            double *xd = malloc(nx * sizeof *xd), *gyd = malloc(ny * sizeof *gyd), *gwd = malloc(nw * sizeof *gwd);
            double *gbd = malloc(c->O * sizeof *gbd), *sd = malloc(ns * sizeof *sd);
            for (size_t i = 0; i < nx; i++) xd[i] = x[i];
            for (size_t i = 0; i < ny; i++) gyd[i] = gy[i];
            bprt_conv2d_grad_wb_f64(xd, gyd, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, gwd, gbd, sd);
            for (size_t o = 0; o < c->O; o++)
                if (!(fabs(gbd[o] - gb[o]) <= 1e-12 * gba[o]))
                    fail_msg("case %zu: f64 bias gradient %zu is %.17g, not %.17g", ci, o, gbd[o], gb[o]);
            double *wd = malloc(nw * sizeof *wd), *gxd = malloc(nx * sizeof *gxd), *gxd2 = malloc(nx * sizeof *gxd2);
            double *gwd2 = malloc(nw * sizeof *gwd2), *gbd2 = malloc(c->O * sizeof *gbd2);
            for (size_t i = 0; i < nw; i++) wd[i] = w[i];
            bprt_conv2d_grads_f64(xd, gyd, wd, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, gxd, gwd, sd);
            bprt_conv2d_grads_b_f64(xd, gyd, wd, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, gxd2, gwd2, gbd2, sd);
            if (memcmp(gxd, gxd2, nx * sizeof *gxd) || memcmp(gwd, gwd2, nw * sizeof *gwd) || memcmp(gbd, gbd2, c->O * sizeof *gbd))
                fail_msg("case %zu: conv2d_grads_b_f64 differs from conv2d_grads_f64 and conv2d_grad_wb_f64", ci);
            free(wd), free(gxd), free(gxd2), free(gwd2), free(gbd2);
            free(xd), free(gyd), free(gwd), free(gbd), free(sd);
        }
        for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
            if (bprt_set_isa(isas[k]) != 0) continue;
            const double tol = is_winograd(c, isas[k]) ? TOL_WG : TOL_DIRECT;
            if (strcmp(isas[k], "avx512") == 0 && c->direct != is_direct_gw(c, isas[k]))
                fail_msg("case %zu: gw was meant %sto take conv.c's direct path on AVX-512", ci, c->direct ? "" : "not ");
            float *out[3][3]; /* [threads - 1][y, gx, gw] */
            float *outb[3];   /* [threads - 1]: the bias's gradient */
            for (int nt = 1; nt <= 3; nt++) {
                bprt_set_threads(nt);
                float *s = malloc(ns * sizeof *s);
                out[nt - 1][0] = malloc(ny * sizeof(float)), out[nt - 1][1] = malloc(nx * sizeof(float));
                out[nt - 1][2] = malloc(nw * sizeof(float));
                bprt_conv2d_f32(x, w, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, out[nt - 1][0], s);
                bprt_conv2d_grad_x_f32(gy, w, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, out[nt - 1][1], s);
                bprt_conv2d_grad_w_f32(x, gy, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, out[nt - 1][2], s);
                float *both_x = malloc(nx * sizeof(float)), *both_w = malloc(nw * sizeof(float));
                bprt_conv2d_grads_f32(x, gy, w, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, both_x, both_w, s);
                if (memcmp(both_x, out[nt - 1][1], nx * sizeof(float)) || memcmp(both_w, out[nt - 1][2], nw * sizeof(float)))
                    fail_msg("case %zu (%s, %d threads): conv2d_grads differs from the two calls", ci, isas[k], nt);
                free(both_x), free(both_w);
                float *wb_w = malloc(nw * sizeof(float));
                outb[nt - 1] = malloc(c->O * sizeof(float));
                bprt_conv2d_grad_wb_f32(x, gy, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, wb_w, outb[nt - 1], s);
                if (memcmp(wb_w, out[nt - 1][2], nw * sizeof(float)))
                    fail_msg("case %zu (%s, %d threads): conv2d_grad_wb's gw differs from conv2d_grad_w's", ci, isas[k], nt);
                float *b_x = malloc(nx * sizeof(float)), *b_b = malloc(c->O * sizeof(float));
                bprt_conv2d_grads_b_f32(x, gy, w, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, b_x, wb_w, b_b, s);
                if (memcmp(b_x, out[nt - 1][1], nx * sizeof(float)) || memcmp(wb_w, out[nt - 1][2], nw * sizeof(float)) ||
                    memcmp(b_b, outb[nt - 1], c->O * sizeof(float)))
                    fail_msg("case %zu (%s, %d threads): conv2d_grads_b differs from the separate calls", ci, isas[k], nt);
                free(wb_w), free(b_x), free(b_b);
                free(s);
            }
            const double eb = worst(outb[0], gb, gba, c->O);
            if (!(eb <= TOL_DIRECT)) fail_msg("case %zu (%s): bias gradient error %.3g over %.3g", ci, isas[k], eb, TOL_DIRECT);
            for (int nt = 2; nt <= 3; nt++)
                if (memcmp(outb[0], outb[nt - 1], c->O * sizeof(float)))
                    fail_msg("case %zu (%s): the bias gradient on %d threads differs from 1", ci, isas[k], nt);
            for (int nt = 0; nt < 3; nt++) free(outb[nt]);
            const double ey = worst(out[0][0], y, ya, ny), ex = worst(out[0][1], gx, gxa, nx),
                         ew = worst(out[0][2], gw, gwa, nw);
            print_message("case %zu %-7s %s%s: worst error / sum|terms|: y %.2e, gx %.2e, gw %.2e\n", ci, isas[k],
                          is_winograd(c, isas[k]) ? "winograd" : "unfolded", is_direct_gw(c, isas[k]) ? " (gw direct)" : "",
                          ey, ex, ew);
            if (!(ey <= tol && ex <= tol && ew <= tol))
                fail_msg("case %zu (%s): error y %.3g gx %.3g gw %.3g over %.3g", ci, isas[k], ey, ex, ew, tol);
            for (int nt = 2; nt <= 3; nt++)
                if (memcmp(out[0][0], out[nt - 1][0], ny * sizeof(float)) ||
                    memcmp(out[0][1], out[nt - 1][1], nx * sizeof(float)) ||
                    memcmp(out[0][2], out[nt - 1][2], nw * sizeof(float)))
                    fail_msg("case %zu (%s): %d threads differ from 1", ci, isas[k], nt);
            for (int nt = 0; nt < 3; nt++) free(out[nt][0]), free(out[nt][1]), free(out[nt][2]);
        }
        bprt_set_isa(isa);
        free(x), free(w), free(gy), free(ref);
    }
    bprt_set_threads(threads);
}

/* No images: bprt_conv2d_grad_wb and bprt_conv2d_grads_b, f32 and f64, write zeros to the
 * weight and bias gradients (what was there is not kept), at the sizes of each path for gw
 * (groups of images, columns, Winograd's: with no images only Winograd's goes its own way);
 * bprt_conv2d_grad_wb also with no scratch (NULL) outside Winograd's */
static void test_grad_wb_no_images(void **state) {
    (void)state;
    static const size_t geom[][3] = {{1, 5, 2}, {4, 5, 2}, {8, 3, 1}}; /* C, K, pad: 25, 100, 72 rows */
    const size_t O = 8;
    for (size_t i = 0; i < sizeof geom / sizeof geom[0]; i++) {
        const size_t C = geom[i][0], K = geom[i][1], pad = geom[i][2], nw = O * C * K * K;
        const size_t ns = bprt_conv2d_scratch(C, 9, 9, O, K, K, 1, pad);
        float *s = malloc(ns * sizeof *s), *gw = malloc(nw * sizeof *gw), *wt = calloc(nw, sizeof *wt), gb[8], x = 0, gy = 0;
        double *sd = malloc(ns * sizeof *sd), *gwd = malloc(nw * sizeof *gwd), *wtd = calloc(nw, sizeof *wtd), gbd[8];
        double xd = 0, gyd = 0;
        for (int call = 0; call < 2; call++) {
            for (size_t k = 0; k < nw; k++) gw[k] = 1, gwd[k] = 1;
            for (size_t o = 0; o < O; o++) gb[o] = 1, gbd[o] = 1;
            if (call == 0) {
                bprt_conv2d_grad_wb_f32(&x, &gy, 0, C, 9, 9, O, K, K, 1, pad, gw, gb, s);
                bprt_conv2d_grad_wb_f64(&xd, &gyd, 0, C, 9, 9, O, K, K, 1, pad, gwd, gbd, sd);
            } else {
                bprt_conv2d_grads_b_f32(&x, &gy, wt, 0, C, 9, 9, O, K, K, 1, pad, &x, gw, gb, s);
                bprt_conv2d_grads_b_f64(&xd, &gyd, wtd, 0, C, 9, 9, O, K, K, 1, pad, &xd, gwd, gbd, sd);
            }
            for (size_t k = 0; k < nw; k++) assert_true(gw[k] == 0 && gwd[k] == 0);
            for (size_t o = 0; o < O; o++) assert_true(gb[o] == 0 && gbd[o] == 0);
        }
        if (i < 2) { /* no scratch */
            for (size_t o = 0; o < O; o++) gb[o] = 1, gbd[o] = 1;
            bprt_conv2d_grad_wb_f32(&x, &gy, 0, C, 9, 9, O, K, K, 1, pad, gw, gb, NULL);
            bprt_conv2d_grad_wb_f64(&xd, &gyd, 0, C, 9, 9, O, K, K, 1, pad, gwd, gbd, NULL);
            for (size_t o = 0; o < O; o++) assert_true(gb[o] == 0 && gbd[o] == 0);
        }
        free(s), free(gw), free(wt), free(sd), free(gwd), free(wtd);
    }
}

/* An inf in x's last column, with no padding, is in no term of gw[o, c, kh, kw] for kw < K - 1
 * (column ow + kw <= W - 2): those come out the same bits as with a 0 there, under every ISA
 * and thread count. conv.c's direct path reads that column in the masked lanes of a row's last
 * chunk, and must not add their 0 x inf (NaN). */
static void test_gw_inf_outside_window(void **state) {
    (void)state;
    static const char *const isas[] = {"generic", "avx2", "avx512"};
    static const Case shapes[] = {{3, 1, 12, 20, 5, 3, 0, 0}, {2, 2, 9, 35, 4, 5, 0, 0}, {2, 1, 30, 30, 6, 5, 0, 0}};
    const int threads = bprt_threads();
    const char *isa = bprt_isa();
    for (size_t ci = 0; ci < sizeof shapes / sizeof shapes[0]; ci++) {
        const Case *c = &shapes[ci];
        const size_t OH = c->H - c->K + 1, OW = c->W - c->K + 1;
        const size_t nx = c->B * c->C * c->H * c->W, nw = c->O * c->C * c->K * c->K, ny = c->B * c->O * OH * OW;
        float *x = malloc(nx * sizeof *x), *x0 = malloc(nx * sizeof *x0), *gy = malloc(ny * sizeof *gy);
        float *gw = malloc(nw * sizeof *gw), *gw0 = malloc(nw * sizeof *gw0);
        float *s = malloc(bprt_conv2d_scratch(c->C, c->H, c->W, c->O, c->K, c->K, 1, 0) * sizeof *s);
        unsigned seed = 777u + (unsigned)ci;
        for (size_t i = 0; i < nx; i++) {
            const int last = i % c->W == c->W - 1;
            x[i] = last ? INFINITY : (float)rnd(&seed);
            x0[i] = last ? 0.0f : x[i];
        }
        for (size_t i = 0; i < ny; i++) gy[i] = (float)rnd(&seed);
        for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
            if (bprt_set_isa(isas[k]) != 0) continue;
            for (int nt = 1; nt <= 2; nt++) {
                bprt_set_threads(nt);
                bprt_conv2d_grad_w_f32(x, gy, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, 0, gw, s);
                bprt_conv2d_grad_w_f32(x0, gy, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, 0, gw0, s);
                size_t last_col = 0;
                for (size_t i = 0; i < nw; i++) {
                    if (i % c->K == c->K - 1) { /* kw = K - 1: the inf's column is in its terms */
                        last_col += !isfinite(gw[i]);
                        continue;
                    }
                    if (memcmp(&gw[i], &gw0[i], sizeof(float)) != 0)
                        fail_msg("shape %zu (%s, %d threads): gw[%zu] = %g with an inf outside its window, %g "
                                 "with a 0 there", ci, isas[k], nt, i, (double)gw[i], (double)gw0[i]);
                }
                if (last_col != nw / c->K) /* the inf is in every kw = K - 1 sum: not finite */
                    fail_msg("shape %zu (%s): %zu of %zu sums over the inf's column are not finite", ci, isas[k],
                             last_col, nw / c->K);
            }
        }
        bprt_set_isa(isa);
        free(x), free(x0), free(gy), free(gw), free(gw0), free(s);
    }
    bprt_set_threads(threads);
}

/* 2x2 max-pooling and its gradient on AVX-512 (runtime/layers.c's 16-window rows) give the
 * same bits as the plain loops, with ties (the first maximum gets the gradient), NaNs (the
 * first NaN), +0 / -0, odd sizes and rows of more than 16 windows. */
static void test_pool_same_bits(void **state) {
    (void)state;
    static const size_t shapes[][3] = {{3, 28, 28}, {2, 7, 7}, {2, 14, 40}, {1, 5, 3}, {4, 9, 66}};
    const char *isa = bprt_isa();
    if (bprt_set_isa("avx512") != 0) {
        print_message("no AVX-512 here: only the plain loops exist\n");
        return;
    }
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const size_t N = shapes[c][0], H = shapes[c][1], W = shapes[c][2], n = N * H * W, ny = N * (H / 2) * (W / 2);
        float *x = malloc(n * sizeof *x), *gy = malloc(ny * sizeof *gy), *out[2][2];
        unsigned seed = 777u + (unsigned)c;
        for (size_t i = 0; i < n; i++) {
            const double r = rnd(&seed);
            x[i] = r > 0.97 ? NAN : r < -0.97 ? -0.0f : (float)(int)(r * 3); /* ties, zeros, NaN */
        }
        for (size_t i = 0; i < ny; i++) gy[i] = (float)rnd(&seed);
        for (int k = 0; k < 2; k++) {
            bprt_set_isa(k ? "avx512" : "generic");
            out[k][0] = malloc(ny * sizeof(float)), out[k][1] = malloc(n * sizeof(float));
            memset(out[k][1], 0x7f, n * sizeof(float)); /* every element must be written */
            bprt_maxpool2d_f32(x, N, H, W, 2, 2, out[k][0]);
            bprt_maxpool2d_grad_f32(x, gy, N, H, W, 2, 2, out[k][1]);
        }
        if (memcmp(out[0][0], out[1][0], ny * sizeof(float)) || memcmp(out[0][1], out[1][1], n * sizeof(float)))
            fail_msg("maxpool2d %zux%zux%zu: AVX-512 and the plain loops differ", N, H, W);
        double total = 0; /* the gradient is gy moved: its sum is gy's */
        for (size_t i = 0; i < n; i++) total += (double)out[1][1][i];
        double want = 0;
        for (size_t i = 0; i < ny; i++) want += (double)gy[i];
        assert_true(fabs(total - want) < 1e-9);
        for (int k = 0; k < 2; k++) free(out[k][0]), free(out[k][1]);
        free(x), free(gy);
    }
    bprt_set_isa(isa);
}

/* The layers' elementwise epilogues (bprt_conv2d_ew_f32, bprt_maxpool2d_grad_ew_f32): the
 * same bits as the layer and then the program, written in place (out = the result) or
 * elsewhere, on 1 and 2 threads: relu(conv + per-channel bias) after a Winograd and an
 * unfolded convolution, and the pooling gradient times the pooled input. */
static void test_layer_epilogues(void **state) {
    (void)state;
    static const int32_t relu_bias[] = {BPRT_EW_LEAF, 0, BPRT_EW_LEAF, 1, BPRT_EW_ADD, BPRT_EW_RELU};
    static const int32_t times_x[] = {BPRT_EW_LEAF, 0, BPRT_EW_LEAF, 1, BPRT_EW_MUL};
    static const unsigned char vec_conv[] = {1, 0}, vec_full[] = {1, 1};
    const double konst[] = {0};
    const int threads = bprt_threads();
    static const Case convs[] = {{5, 8, 14, 14, 16, 5, 2, 0}, {3, 2, 9, 9, 4, 5, 2, 0}}; /* Winograd on AVX-512; unfolded */
    for (size_t ci = 0; ci < 2; ci++) {
        const Case *c = &convs[ci];
        const size_t P = c->H * c->W, nx = c->B * c->C * P, nw = c->O * c->C * c->K * c->K, ny = c->B * c->O * P;
        const size_t ns = bprt_conv2d_scratch(c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *bias = malloc(c->O * 4), *s = malloc(ns * 4);
        float *want = malloc(ny * 4), *y = malloc(ny * 4), *out = malloc(ny * 4);
        unsigned seed = 99u + (unsigned)ci;
        for (size_t i = 0; i < nx; i++) x[i] = (float)rnd(&seed);
        for (size_t i = 0; i < nw; i++) w[i] = (float)rnd(&seed);
        for (size_t i = 0; i < c->O; i++) bias[i] = (float)rnd(&seed);
        bprt_conv2d_f32(x, w, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, want, s);
        for (size_t i = 0; i < ny; i++) {
            const float v = want[i] + bias[i / P % c->O];
            want[i] = v > 0 ? v : 0;
        }
        for (int nt = 1; nt <= 2; nt++)
            for (int inplace = 0; inplace < 2; inplace++) {
                bprt_set_threads(nt);
                float *dst = inplace ? y : out;
                const float *leaf[] = {y, bias};
                const ptrdiff_t ld[] = {(ptrdiff_t)P, 1}, istride[] = {(ptrdiff_t)(c->O * P), 0};
                bprt_conv2d_ew_f32(x, w, c->B, c->C, c->H, c->W, c->O, c->K, c->K, 1, c->pad, y, s, relu_bias, 6, konst,
                                   leaf, 2, ld, istride, vec_conv, dst);
                if (memcmp(dst, want, ny * 4) != 0)
                    fail_msg("conv2d_ew case %zu, %d threads, in place %d: not relu(conv + bias)", ci, nt, inplace);
            }
        free(x), free(w), free(bias), free(s), free(want), free(y), free(out);
    }
    const size_t N = 24, H = 10, W = 12, n = N * H * W, ny = N * (H / 2) * (W / 2);
    float *x = malloc(n * 4), *gy = malloc(ny * 4), *want = malloc(n * 4), *gx = malloc(n * 4), *out = malloc(n * 4);
    unsigned seed = 4242u;
    for (size_t i = 0; i < n; i++) x[i] = (float)rnd(&seed);
    for (size_t i = 0; i < ny; i++) gy[i] = (float)rnd(&seed);
    bprt_maxpool2d_grad_f32(x, gy, N, H, W, 2, 2, want);
    for (size_t i = 0; i < n; i++) want[i] *= x[i];
    for (int nt = 1; nt <= 2; nt++) {
        bprt_set_threads(nt);
        const float *leaf[] = {gx, x};
        const ptrdiff_t ld[] = {(ptrdiff_t)W, (ptrdiff_t)W}, istride[] = {(ptrdiff_t)(H * W), (ptrdiff_t)(H * W)};
        bprt_maxpool2d_grad_ew_f32(x, gy, N, H, W, 2, 2, gx, times_x, 5, konst, leaf, 2, ld, istride, vec_full, out);
        if (memcmp(out, want, n * 4) != 0) fail_msg("maxpool2d_grad_ew, %d threads: not the gradient times x", nt);
    }
    free(x), free(gy), free(want), free(gx), free(out);
    bprt_set_threads(threads);
}

/* Layer norm and its gradient (f32) against the formulas in double, under the plain loops
 * and the AVX-512 kernel (rows whose length is a multiple of 8, four at a time): within an
 * ulp of the value plus 1e-12; rows not a multiple of four (the last group's rows one at a
 * time), rows too short for the kernel, and enough elements to be split between threads;
 * the same bits on 1, 2 and 3 threads, and in place (y = x, gx = gy). */
static void test_layernorm_rows(void **state) {
    (void)state;
    static const size_t shapes[][2] = {{1, 8}, {3, 128}, {7, 48}, {5, 20}, {517, 64}, {9, 136}, {6, 128}};
    const char *isa = bprt_isa(), *isas[] = {"generic", "avx512"};
    const int threads = bprt_threads();
    const double eps = 1e-5;
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const size_t R = shapes[c][0], D = shapes[c][1], n = R * D;
        float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g), *y[3], *gx[3], *t = malloc(n * sizeof *t);
        double *yr = malloc(n * sizeof *yr), *gr = malloc(n * sizeof *gr);
        unsigned seed = 99u + (unsigned)c;
        for (size_t i = 0; i < n; i++) x[i] = (float)(3 * rnd(&seed) + (double)(i / D % 5)), g[i] = (float)rnd(&seed);
        double *xd = malloc(n * sizeof *xd), *gd = malloc(n * sizeof *gd);
        for (size_t i = 0; i < n; i++) xd[i] = (double)x[i], gd[i] = (double)g[i];
        for (size_t r = 0; r < R; r++) {
            const double *xr = xd + r * D, *gq = gd + r * D;
            double m = 0, v = 0, mg = 0, mgx = 0;
            for (size_t i = 0; i < D; i++) m += xr[i];
            m /= (double)D;
            for (size_t i = 0; i < D; i++) v += (xr[i] - m) * (xr[i] - m);
            const double rs = 1 / sqrt(v / (double)D + eps);
            for (size_t i = 0; i < D; i++) mg += gq[i], mgx += gq[i] * (xr[i] - m) * rs;
            mg /= (double)D, mgx /= (double)D;
            for (size_t i = 0; i < D; i++) {
                yr[r * D + i] = (xr[i] - m) * rs;
                gr[r * D + i] = rs * (gq[i] - mg - (xr[i] - m) * rs * mgx);
            }
        }
        for (int k = 0; k < 2; k++) {
            if (bprt_set_isa(isas[k]) != 0) continue;
            for (int nt = 1; nt <= 3; nt++) {
                bprt_set_threads(nt);
                y[nt - 1] = malloc(n * sizeof(float)), gx[nt - 1] = malloc(n * sizeof(float));
                bprt_layernorm_f32(x, R, D, eps, y[nt - 1]);
                bprt_layernorm_grad_f32(x, g, R, D, eps, gx[nt - 1]);
                if (nt > 1 && (memcmp(y[nt - 1], y[0], n * 4) || memcmp(gx[nt - 1], gx[0], n * 4)))
                    fail_msg("layernorm %zux%zu (%s): %d threads differ from 1", R, D, isas[k], nt);
            }
            for (size_t i = 0; i < n; i++)
                for (int q = 0; q < 2; q++) {
                    const double want = q ? gr[i] : yr[i], got = (double)(q ? gx[0][i] : y[0][i]);
                    if (!(fabs(got - want) <= ldexp(fabs(want), -23) + 1e-12))
                        fail_msg("layernorm%s %zux%zu (%s): %.9g at %zu, want %.9g", q ? "_grad" : "", R, D, isas[k],
                                 got, i, want);
                }
            memcpy(t, x, n * 4);
            bprt_layernorm_f32(t, R, D, eps, t);
            if (memcmp(t, y[0], n * 4)) fail_msg("layernorm %zux%zu (%s): in place differs", R, D, isas[k]);
            memcpy(t, g, n * 4);
            bprt_layernorm_grad_f32(x, t, R, D, eps, t);
            if (memcmp(t, gx[0], n * 4)) fail_msg("layernorm_grad %zux%zu (%s): in place differs", R, D, isas[k]);
            for (int q = 0; q < 3; q++) free(y[q]), free(gx[q]);
        }
        free(x), free(g), free(t), free(yr), free(gr), free(xd), free(gd);
    }
    bprt_set_isa(isa);
    bprt_set_threads(threads);
}

/* bprt_layernorm_affine_grad (layer norm's gradient through gamma, with gamma's and beta's
 * sums over the rows in the same pass), under the plain loops and the AVX-512 kernel: gx the
 * same bits as bprt_layernorm_grad of the float products gy * gamma; the sums of gy * xhat
 * (xhat as bprt_layernorm makes it) and of gy the bits of bprt_sum_axis's (rows in order, in
 * double), as the separate passes give them; the same
 * bits on 1, 2 and 3 threads (the rows split between threads, then the columns), in place
 * (gx = gy, gx = x) and without the sums; with an addend (another gradient), its float sum
 * with gx, also in place of the addend. Rows of 264 are longer than the AVX-512 kernel keeps
 * converted to double (LN_DMAX) and take its other path. */
static void test_layernorm_affine_grad(void **state) {
    (void)state;
    static const size_t shapes[][2] = {{3, 128}, {7, 48}, {5, 20}, {517, 64}, {9, 136}, {70, 128}, {11, 264}};
    const char *isa = bprt_isa(), *isas[] = {"generic", "avx512"};
    const int threads = bprt_threads();
    const double eps = 1e-5;
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const size_t R = shapes[c][0], D = shapes[c][1], n = R * D;
        float *x = malloc(n * 4), *gy = malloc(n * 4), *gam = malloc(D * 4), *G = malloc(n * 4), *want = malloc(n * 4);
        float *y = malloc(n * 4), *gx[3], *t = malloc(n * 4), dg[3][264], db[3][264];
        unsigned seed = 7u + (unsigned)c;
        for (size_t i = 0; i < n; i++) x[i] = (float)(2 * rnd(&seed) + (double)(i / D % 3)), gy[i] = (float)rnd(&seed);
        for (size_t j = 0; j < D; j++) gam[j] = (float)(1 + rnd(&seed));
        for (size_t i = 0; i < n; i++) G[i] = gy[i] * gam[i % D];
        for (int k = 0; k < 2; k++) {
            if (bprt_set_isa(isas[k]) != 0) continue;
            bprt_set_threads(1);
            bprt_layernorm_grad_f32(x, G, R, D, eps, want);
            bprt_layernorm_f32(x, R, D, eps, y);
            for (int nt = 1; nt <= 3; nt++) {
                bprt_set_threads(nt);
                gx[nt - 1] = malloc(n * 4);
                bprt_layernorm_affine_grad_f32(x, gy, gam, NULL, R, D, eps, gx[nt - 1], dg[nt - 1], db[nt - 1]);
                if (memcmp(gx[nt - 1], want, n * 4))
                    fail_msg("layernorm_affine_grad %zux%zu (%s, %d threads): gx is not layernorm_grad's", R, D, isas[k], nt);
                if (nt > 1 && (memcmp(dg[nt - 1], dg[0], D * 4) || memcmp(db[nt - 1], db[0], D * 4)))
                    fail_msg("layernorm_affine_grad %zux%zu (%s): %d threads differ from 1", R, D, isas[k], nt);
            }
            for (size_t j = 0; j < D; j++) { /* as bprt_sum_axis adds them: rows in order, in double */
                double sg = 0, sb = 0;
                for (size_t r = 0; r < R; r++) sg += (double)(gy[r * D + j] * y[r * D + j]), sb += (double)gy[r * D + j];
                if ((float)sg != dg[0][j] || (float)sb != db[0][j])
                    fail_msg("layernorm_affine_grad %zux%zu (%s): sums %.9g, %.9g at %zu, want %.9g, %.9g", R, D, isas[k],
                             (double)dg[0][j], (double)db[0][j], j, (double)(float)sg, (double)(float)sb);
            }
            memcpy(t, gy, n * 4);
            bprt_layernorm_affine_grad_f32(x, t, gam, NULL, R, D, eps, t, dg[1], db[1]);
            if (memcmp(t, want, n * 4) || memcmp(dg[1], dg[0], D * 4) || memcmp(db[1], db[0], D * 4))
                fail_msg("layernorm_affine_grad %zux%zu (%s): in place of gy differs", R, D, isas[k]);
            /* in place of a gy no call before had (the threads' copies of gy are not left over
               in a buffer from another call), on 3 threads against 1 */
            for (size_t i = 0; i < n; i++) t[i] = gy[i] * (float)(k + 2);
            bprt_set_threads(1);
            bprt_layernorm_affine_grad_f32(x, t, gam, NULL, R, D, eps, gx[1], dg[2], db[2]);
            bprt_set_threads(3);
            bprt_layernorm_affine_grad_f32(x, t, gam, NULL, R, D, eps, t, dg[1], db[1]);
            if (memcmp(t, gx[1], n * 4) || memcmp(dg[1], dg[2], D * 4) || memcmp(db[1], db[2], D * 4))
                fail_msg("layernorm_affine_grad %zux%zu (%s): in place of a new gy differs", R, D, isas[k]);
            memcpy(t, x, n * 4);
            bprt_layernorm_affine_grad_f32(t, gy, gam, NULL, R, D, eps, t, NULL, NULL);
            if (memcmp(t, want, n * 4)) fail_msg("layernorm_affine_grad %zux%zu (%s): in place of x differs", R, D, isas[k]);
            for (size_t i = 0; i < n; i++) y[i] = (float)rnd(&seed), want[i] = y[i] + want[i]; /* another gradient plus gx */
            bprt_layernorm_affine_grad_f32(x, gy, gam, y, R, D, eps, gx[0], dg[1], db[1]);
            if (memcmp(gx[0], want, n * 4) || memcmp(dg[1], dg[0], D * 4))
                fail_msg("layernorm_affine_grad %zux%zu (%s): with an addend, not the sum of the two", R, D, isas[k]);
            bprt_layernorm_affine_grad_f32(x, gy, gam, y, R, D, eps, y, NULL, NULL);
            if (memcmp(y, want, n * 4)) fail_msg("layernorm_affine_grad %zux%zu (%s): in place of the addend differs", R, D, isas[k]);
            for (int q = 0; q < 3; q++) free(gx[q]);
        }
        free(x), free(gy), free(gam), free(G), free(want), free(y), free(t);
    }
    bprt_set_isa(isa);
    bprt_set_threads(threads);
}

/* bprt_embedding and bprt_causal_mask, whose rows go to threads from 32 Ki elements: against
 * the definitions (a row of the table per id, NaN for an id outside it; entries after the
 * diagonal of each [Tq, Tk] block the fill), on 1-3 threads, large and small, and the mask
 * in place. */
static void test_embedding_mask_rows(void **state) {
    (void)state;
    const int threads = bprt_threads();
    enum { V = 50, D = 96, NI = 700, NB = 12, TQ = 64, TK = 64 };
    float *table = malloc(sizeof(float) * V * D), *y = malloc(sizeof(float) * NI * D);
    int32_t ids[NI];
    for (int i = 0; i < V * D; i++) table[i] = (float)i * 0.5f - 7;
    for (int i = 0; i < NI; i++) ids[i] = i % 97 == 5 ? V + i : i % 89 == 3 ? -1 : (i * 31) % V;
    float *x = malloc(sizeof(float) * NB * TQ * TK), *m = malloc(sizeof(float) * NB * TQ * TK);
    for (int i = 0; i < NB * TQ * TK; i++) x[i] = (float)(i % 1013) - 400;
    for (int nt = 1; nt <= 3; nt++) {
        bprt_set_threads(nt);
        static const size_t lens[] = {NI, 1, 3};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            memset(y, 0, sizeof(float) * NI * D);
            bprt_embedding_f32(table, V, D, ids, lens[l], y);
            for (size_t i = 0; i < lens[l]; i++)
                for (int j = 0; j < D; j++) {
                    const float v = y[i * D + (size_t)j];
                    if (ids[i] < 0 || ids[i] >= V ? !isnan(v) : v != table[(size_t)ids[i] * D + (size_t)j])
                        fail_msg("embedding row %zu of %zu, column %d on %d threads: %g", i, lens[l], j, nt, (double)v);
                }
        }
        for (int in_place = 0; in_place < 2; in_place++) {
            for (size_t nb = 1; nb <= NB; nb += NB - 1) {
                float *out = m;
                if (in_place) memcpy(m, x, sizeof(float) * nb * TQ * TK);
                bprt_causal_mask_f32(in_place ? m : x, nb, TQ, TK, -INFINITY, out);
                for (size_t b = 0; b < nb; b++)
                    for (int i = 0; i < TQ; i++)
                        for (int j = 0; j < TK; j++) {
                            const size_t k = (b * TQ + (size_t)i) * TK + (size_t)j;
                            if (j > i ? !(isinf(out[k]) && out[k] < 0) : out[k] != x[k])
                                fail_msg("causal_mask [%zu, %d, %d] of %zu on %d threads%s", b, i, j, nb, nt,
                                         in_place ? ", in place" : "");
                        }
            }
        }
    }
    bprt_set_threads(threads);
    free(table), free(y), free(x), free(m);
}

/* bprt_softmax_grad_f32/f64: gx = y (g - sum(g y)) per row against the formula in double
 * (within an ulp of float plus the rounding of the sum: 2^-22 of |y| (|g| + sum |g y|)), the
 * same bits on 1-3 threads, in place over g and over y, and f64 within 1e-15 of it; rows of
 * y a softmax (masked rows with zeros, as attention's), lengths not a multiple of the vector
 * length, a single row. */
static void test_softmax_grad_rows(void **state) {
    (void)state;
    static const size_t shapes[][2] = {{1, 7}, {3, 64}, {517, 64}, {9, 33}, {1024, 64}, {2, 1000}};
    const int threads = bprt_threads();
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const size_t R = shapes[c][0], D = shapes[c][1], n = R * D;
        float *y = malloc(n * sizeof *y), *g = malloc(n * sizeof *g), *gx[3], *t = malloc(n * sizeof *t);
        double *yd = malloc(n * sizeof *yd), *gd = malloc(n * sizeof *gd), *od = malloc(n * sizeof *od);
        unsigned seed = 7u + (unsigned)c;
        for (size_t r = 0; r < R; r++) { /* row r: a softmax of random logits, the last r % D masked */
            double z = 0;
            const size_t live = D - r % D;
            for (size_t i = 0; i < D; i++) yd[r * D + i] = i < live ? exp(3 * rnd(&seed)) : 0, z += yd[r * D + i];
            for (size_t i = 0; i < D; i++) y[r * D + i] = (float)(yd[r * D + i] / z), g[r * D + i] = (float)(2 * rnd(&seed));
        }
        for (size_t i = 0; i < n; i++) yd[i] = (double)y[i], gd[i] = (double)g[i];
        for (int nt = 1; nt <= 3; nt++) {
            bprt_set_threads(nt);
            gx[nt - 1] = malloc(n * sizeof(float));
            bprt_softmax_grad_f32(y, g, R, D, gx[nt - 1]);
            if (nt > 1 && memcmp(gx[nt - 1], gx[0], n * 4))
                fail_msg("softmax_grad %zux%zu: %d threads differ from 1", R, D, nt);
        }
        bprt_softmax_grad_f64(yd, gd, R, D, od);
        for (size_t r = 0; r < R; r++) {
            double s = 0, sa = 0;
            for (size_t i = 0; i < D; i++) s += yd[r * D + i] * gd[r * D + i], sa += fabs(yd[r * D + i] * gd[r * D + i]);
            for (size_t i = 0; i < D; i++) {
                const size_t k = r * D + i;
                const double want = yd[k] * (gd[k] - s), tol = ldexp(fabs(yd[k]) * (fabs(gd[k]) + sa), -22);
                if (!(fabs((double)gx[0][k] - want) <= tol))
                    fail_msg("softmax_grad_f32 %zux%zu: %.9g at %zu, want %.9g", R, D, (double)gx[0][k], k, want);
                if (!(fabs(od[k] - want) <= 1e-15 * (fabs(yd[k]) * (fabs(gd[k]) + sa))))
                    fail_msg("softmax_grad_f64 %zux%zu: %.17g at %zu, want %.17g", R, D, od[k], k, want);
            }
        }
        memcpy(t, g, n * 4);
        bprt_softmax_grad_f32(y, t, R, D, t);
        if (memcmp(t, gx[0], n * 4)) fail_msg("softmax_grad %zux%zu: in place over g differs", R, D);
        memcpy(t, y, n * 4);
        bprt_softmax_grad_f32(t, g, R, D, t);
        if (memcmp(t, gx[0], n * 4)) fail_msg("softmax_grad %zux%zu: in place over y differs", R, D);
        for (int q = 0; q < 3; q++) free(gx[q]);
        free(y), free(g), free(t), free(yd), free(gd), free(od);
    }
    bprt_set_threads(threads);
}

/* Max-pooling's gradient for windows other than 2x2 (runtime/layers.c's general loops),
 * against a loop written out: each window's gradient goes to its first maximum in row-major
 * order (PyTorch's choice; the inputs here are small integers, so windows have ties), and
 * overlapping windows add up; every element of gx is written (it starts as NaN), the rows
 * and columns no window covers with 0. Float and double, windows that tile the plane with
 * rows and columns left over, and overlapping ones. */
static void test_maxpool_grad_ties(void **state) {
    (void)state;
    static const size_t pools[][5] = {/* N, H, W, k, stride */
                                      {2, 7, 8, 3, 3}, {1, 8, 7, 3, 3}, {2, 6, 7, 3, 1}, {1, 5, 6, 2, 1}, {1, 9, 9, 4, 2}};
    for (size_t c = 0; c < sizeof pools / sizeof pools[0]; c++) {
        const size_t N = pools[c][0], H = pools[c][1], W = pools[c][2], k = pools[c][3], s = pools[c][4];
        const size_t OH = (H - k) / s + 1, OW = (W - k) / s + 1, n = N * H * W, ny = N * OH * OW;
        double *x = malloc(n * sizeof *x), *gy = malloc(ny * sizeof *gy), *gx = malloc(n * sizeof *gx);
        double *want = calloc(n, sizeof *want);
        float *xf = malloc(n * sizeof *xf), *gyf = malloc(ny * sizeof *gyf), *gxf = malloc(n * sizeof *gxf);
        assert_non_null(x), assert_non_null(gy), assert_non_null(gx), assert_non_null(want);
        assert_non_null(xf), assert_non_null(gyf), assert_non_null(gxf);
        unsigned seed = 99u + (unsigned)c;
        for (size_t i = 0; i < n; i++) x[i] = (double)(int)(rnd(&seed) * 3), xf[i] = (float)x[i]; /* -2 .. 2: ties */
        for (size_t i = 0; i < ny; i++) gy[i] = (double)(1 + i % 7), gyf[i] = (float)gy[i]; /* exact sums */
        for (size_t p = 0; p < N; p++)
            for (size_t i = 0; i < OH; i++)
                for (size_t j = 0; j < OW; j++) {
                    size_t at = (p * H + i * s) * W + j * s;
                    for (size_t a = 0; a < k; a++)
                        for (size_t b = 0; b < k; b++) {
                            const size_t q = (p * H + i * s + a) * W + j * s + b;
                            if (x[q] > x[at]) at = q;
                        }
                    want[at] += gy[(p * OH + i) * OW + j];
                }
        for (size_t i = 0; i < n; i++) gx[i] = (double)NAN, gxf[i] = NAN;
        bprt_maxpool2d_grad_f64(x, gy, N, H, W, k, s, gx);
        bprt_maxpool2d_grad_f32(xf, gyf, N, H, W, k, s, gxf);
        for (size_t i = 0; i < n; i++)
            if (gx[i] != want[i] || (double)gxf[i] != want[i])
                fail_msg("maxpool2d_grad %zux%zux%zu, window %zu, stride %zu: gx[%zu] = %g and %g, want %g", N, H, W, k,
                         s, i, gx[i], (double)gxf[i], want[i]);
        free(x), free(gy), free(gx), free(want), free(xf), free(gyf), free(gxf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_double),
        cmocka_unit_test(test_gw_inf_outside_window),
        cmocka_unit_test(test_grad_wb_no_images),
        cmocka_unit_test(test_pool_same_bits),
        cmocka_unit_test(test_maxpool_grad_ties),
        cmocka_unit_test(test_layer_epilogues),
        cmocka_unit_test(test_layernorm_rows),
        cmocka_unit_test(test_layernorm_affine_grad),
        cmocka_unit_test(test_softmax_grad_rows),
        cmocka_unit_test(test_embedding_mask_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
