/* One layer of lgl2o's coordinatewise LSTM over all coordinates, for lgl2o.l2o.backends.native.NativeLSTM: the
 * input preprocessing, the gate matmul and the cell's pointwise work in one pass per block of R x V
 * coordinates (32 with AVX-512, 16 with AVX2). The (4H, P) pre-activations never leave the registers
 * (eager PyTorch writes them and reads them back eight times) and nothing is copied into a
 * concatenated input buffer.
 *
 * For every run s, hidden unit h and coordinate p, with x = [input; h_old; 1] (K = n_in + H + 1 rows)
 * and w[j][h] the weights of gate j in (i, f, o, g) of unit h over x (bias last):
 *     a_j = sum_k w[j][h][k] x[k][p],   c' = sig(a_f) c + sig(a_i) tanh(a_g),   h' = sig(a_o) tanh(c')
 * The weights come packed as wp[h / U][k][h % U][j], with zeros for units past H where U does not
 * divide it (lgl2o_lstm_units() returns U), so that a pass reads them in order.
 * The input is the n_in rows of `in`, or, with preproc_p > 0 (and n_in = 2), the two rows of
 * l2o.model.preprocess computed from the one row of gradients in `in`. Tensors are addressed as base + s * stride0 + row * stride1 + p
 * (rows contiguous).
 *
 * Built without -ffast-math, so NaN and infinity propagate as in PyTorch (a diverging run must stay
 * visible to the guards); the vector exp, log and tanh come from glibc's libmvec through the simd
 * declarations below, which -ffast-math would otherwise be needed to enable.
 *
 * Blocking: a block of R x V coordinates times U hidden units stays in registers; a thread takes SPAN
 * coordinates at a time and walks each unit pair along them, so every row is read in long runs that the
 * hardware prefetcher follows (docs/performance.md has the measurements behind the choice). */
#include <math.h>
#include <string.h>

__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) float logf(float);
__attribute__((simd("notinbranch"))) float tanhf(float);

#ifdef __AVX512F__
#define V 16      /* floats per vector: one register */
#else
#define V 8       /* AVX2: a 16-float vector split in two spills the 16 accumulators to memory */
#endif
#define R 2       /* vectors of coordinates per block */
#define U 2       /* hidden units per pass over the block's inputs */
#define B (R * V) /* coordinates per block */
#define SPAN (32 * B) /* coordinates per task of a thread: see the note on blocking above */
typedef float vec __attribute__((vector_size(V * sizeof(float))));

static inline vec load(const float *p) { vec v; memcpy(&v, p, sizeof v); return v; }

static inline void store(float *p, vec v, long n) {
    if (n == V)
        memcpy(p, &v, sizeof v); /* a constant size: one vector store */
    else
        memcpy(p, &v, n * sizeof(float));
}

/* acc[u][r][j] += wp[k][u][j] * x[k][r] over `count` rows of x (row k at x + k * stride); wp is this
 * pair of units' packed weights from the first of those rows on */
static inline void accumulate(vec acc[U][R][4], const float *x, long stride, long count, const float *wp) {
    for (long k = 0; k < count; k++, wp += U * 4) {
        vec xk[R];
        #pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            xk[r] = load(x + k * stride + r * V);
        #pragma GCC unroll 8
        for (int q = 0; q < U * 4; q++)
            #pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[q / 4][r][q % 4] += wp[q] * xk[r];
    }
}

/* the gate functions and the cell update on one vector of coordinates, a = its four gates' sums; n of
 * them are real (the rest pad the last block) */
static inline void cell(const vec a[4], const float *c_old, float *c_new, float *h_new, long n) {
    vec co = {0}, c, hh;
    memcpy(&co, c_old, n * sizeof(float));
    #pragma omp simd
    for (int v = 0; v < V; v++) {
        const float i = 1.0f / (1.0f + expf(-a[0][v])), f = 1.0f / (1.0f + expf(-a[1][v]));
        const float o = 1.0f / (1.0f + expf(-a[2][v]));
        c[v] = f * co[v] + i * tanhf(a[3][v]);
        hh[v] = o * tanhf(c[v]);
    }
    store(c_new, c, n);
    store(h_new, hh, n);
}

/* the first n coordinates of `count` rows of stride `stride`, copied into `pad` and zero-padded to B */
static inline const float *padded(const float *x, long stride, long count, long n, float *pad) {
    memset(pad, 0, count * B * sizeof(float));
    for (long k = 0; k < count; k++)
        memcpy(pad + k * B, x + k * stride, n * sizeof(float));
    return pad;
}

int lgl2o_lstm_units(void) { return U; }

void lgl2o_lstm_layer(const float *in, long is0, long is1, long n_in,
                      float preproc_p, float preproc_threshold, float preproc_scale,
                      const float *h_old, long os0, long os1,
                      const float *c_old, long cs0, long cs1,
                      const float *wp,
                      float *c_new, long ns0, long ns1,
                      float *h_new, long hs0, long hs1,
                      long S, long H, long P, int threads)
{
    const long spans = (P + SPAN - 1) / SPAN, K = n_in + H + 1;
    #pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (long s = 0; s < S; s++)
        for (long sp = 0; sp < spans; sp++) {
            const long p_span = sp * SPAN, width = P - p_span < SPAN ? P - p_span : SPAN;
            const long tail = width % B, full = width - tail; /* the last block of the last span is partial */
            const float *x = in + s * is0 + p_span, *hs = h_old + s * os0 + p_span;
            long in_stride = is1;
            float pre[2 * SPAN], pad_in[n_in * B], pad_h[H * B];
            const float *x_tail = NULL, *h_tail = NULL;
            if (preproc_p > 0) { /* l2o.preprocess, with its float32 constants and operations */
                float gb[SPAN] = {0};
                memcpy(gb, x, width * sizeof(float));
                #pragma omp simd
                for (int v = 0; v < SPAN; v++) {
                    const float a = fabsf(gb[v]);
                    const int big = a >= preproc_threshold;
                    pre[v] = big ? logf(a > 1e-38f ? a : 1e-38f) / preproc_p : -1.0f;
                    pre[SPAN + v] = big ? (gb[v] > 0 ? 1.0f : -1.0f) : gb[v] * preproc_scale;
                }
                x = pre, in_stride = SPAN; /* zero-padded already */
            } else if (tail) {
                x_tail = padded(x + full, in_stride, n_in, tail, pad_in);
            }
            if (tail)
                h_tail = padded(hs + full, os1, H, tail, pad_h);
            for (long h = 0; h < H; h += U) {
                const long units = H - h < U ? H - h : U; /* U, or fewer for the last units of an odd H */
                const float *w = wp + (h / U) * K * U * 4; /* this pair's (K, U, 4) weights */
                for (long q = 0; q < width; q += B) {
                    const long n = width - q < B ? width - q : B, p0 = p_span + q;
                    const int part = n < B;
                    vec acc[U][R][4];
                    for (int u = 0; u < U; u++)
                        for (int r = 0; r < R; r++)
                            for (int j = 0; j < 4; j++)
                                acc[u][r][j] = (vec){0} + w[(K - 1) * U * 4 + u * 4 + j]; /* the bias */
                    if (part && x_tail)
                        accumulate(acc, x_tail, B, n_in, w);
                    else
                        accumulate(acc, x + q, in_stride, n_in, w);
                    if (part)
                        accumulate(acc, h_tail, B, H, w + n_in * U * 4);
                    else
                        accumulate(acc, hs + q, os1, H, w + n_in * U * 4);
                    for (int u = 0; u < units; u++)
                        for (int r = 0; r < R && r * V < n; r++) {
                            const long q0 = p0 + r * V;
                            cell(acc[u][r], c_old + s * cs0 + (h + u) * cs1 + q0, c_new + s * ns0 + (h + u) * ns1 + q0,
                                 h_new + s * hs0 + (h + u) * hs1 + q0, n - r * V < V ? n - r * V : V);
                        }
                }
            }
        }
}
