/* One layer of lgl2o's coordinatewise LSTM over all coordinates, for lgl2o.native.NativeLSTM: the
 * input preprocessing, the gate matmul and the cell's pointwise work in one pass per block of 32
 * coordinates. The (4H, P) pre-activations never leave the registers (eager PyTorch writes them and
 * reads them back eight times) and nothing is copied into a concatenated input buffer.
 *
 * For every run s, hidden unit h and coordinate p, with x = [input; h_old; 1] (K = n_in + H + 1 rows)
 * and w[j][h] the weights of gate j in (i, f, o, g) of unit h over x (bias last):
 *     a_j = sum_k w[j][h][k] x[k][p],   c' = sig(a_f) c + sig(a_i) tanh(a_g),   h' = sig(a_o) tanh(c')
 * The weights come packed as wp[h / U][k][h % U][j], with zeros for units past H where U does not
 * divide it (lgl2o_lstm_units() returns U), so that a pass reads them in order.
 * The input is the n_in rows of `in`, or, with preproc_p > 0 (and n_in = 2), the two rows of
 * l2o.preprocess computed from the one row of gradients in `in`. Tensors are addressed as base + s * stride0 + row * stride1 + p
 * (rows contiguous).
 *
 * Built without -ffast-math, so NaN and infinity propagate as in PyTorch (a diverging run must stay
 * visible to the guards); the vector exp, log and tanh come from glibc's libmvec through the simd
 * declarations below, which -ffast-math would otherwise be needed to enable.
 *
 * Register blocking (measured on the 2-core AVX-512 machines, one layer of the MNIST MLP's 15,910
 * coordinates, one thread): 16 coordinates x 1 hidden unit 2.0 ms, 32 x 2 1.7 ms (the choice), other
 * shapes up to 64 x 3 1.6-1.8 ms; the sums alone take 1.2 ms of it, the gate functions the rest. */
#include <math.h>
#include <string.h>

__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) float logf(float);
__attribute__((simd("notinbranch"))) float tanhf(float);

#define V 16      /* floats per vector: one AVX-512 register (GCC splits it where registers are narrower) */
#define R 2       /* vectors of coordinates per block */
#define U 2       /* hidden units per pass over the block's inputs */
#define B (R * V) /* coordinates per block */
typedef float vec __attribute__((vector_size(V * sizeof(float))));

typedef struct {
    const float *base;
    long s0, s1;
} rows;

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

/* the rows of `t` for run s, coordinates p0 .. p0 + n - 1, as `count` rows of stride `*stride`:
 * in place for a whole block, else copied into `pad` and zero-padded to B */
static inline const float *block_rows(rows t, long s, long p0, long n, long count, float *pad, long *stride) {
    const float *x = t.base + s * t.s0 + p0;
    if (n == B) {
        *stride = t.s1;
        return x;
    }
    memset(pad, 0, count * B * sizeof(float));
    for (long k = 0; k < count; k++)
        memcpy(pad + k * B, x + k * t.s1, n * sizeof(float));
    *stride = B;
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
    const rows xin = {in, is0, is1}, ho = {h_old, os0, os1};
    const long blocks = (P + B - 1) / B, K = n_in + H + 1;
    #pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (long s = 0; s < S; s++)
        for (long b = 0; b < blocks; b++) {
            const long p0 = b * B, n = P - p0 < B ? P - p0 : B;
            float pad_in[n_in * B], pad_h[H * B];
            long in_stride, h_stride;
            const float *x;
            if (preproc_p > 0) { /* l2o.preprocess, with its float32 constants and operations */
                const float *g = in + s * is0 + p0;
                float gb[B] = {0};
                memcpy(gb, g, n * sizeof(float));
                #pragma omp simd
                for (int v = 0; v < B; v++) {
                    const float a = fabsf(gb[v]);
                    const int big = a >= preproc_threshold;
                    pad_in[v] = big ? logf(a > 1e-38f ? a : 1e-38f) / preproc_p : -1.0f;
                    pad_in[B + v] = big ? (gb[v] > 0 ? 1.0f : -1.0f) : gb[v] * preproc_scale;
                }
                x = pad_in, in_stride = B;
            } else {
                x = block_rows(xin, s, p0, n, n_in, pad_in, &in_stride);
            }
            const float *hb = block_rows(ho, s, p0, n, H, pad_h, &h_stride);
            for (long h = 0; h < H; h += U) {
                const long units = H - h < U ? H - h : U; /* U, or fewer for the last units of an odd H */
                const float *w = wp + (h / U) * K * U * 4; /* this pair's (K, U, 4) weights */
                vec acc[U][R][4];
                for (int u = 0; u < U; u++)
                    for (int r = 0; r < R; r++)
                        for (int j = 0; j < 4; j++)
                            acc[u][r][j] = (vec){0} + w[(K - 1) * U * 4 + u * 4 + j]; /* the bias */
                accumulate(acc, x, in_stride, n_in, w);
                accumulate(acc, hb, h_stride, H, w + n_in * U * 4);
                for (int u = 0; u < units; u++)
                    for (int r = 0; r < R && r * V < n; r++) {
                        const long q0 = p0 + r * V, m = n - r * V < V ? n - r * V : V;
                        const vec *a = acc[u][r];
                        vec co = {0}, c, hh;
                        memcpy(&co, c_old + s * cs0 + (h + u) * cs1 + q0, m * sizeof(float));
                        #pragma omp simd
                        for (int v = 0; v < V; v++) {
                            const float i = 1.0f / (1.0f + expf(-a[0][v])), f = 1.0f / (1.0f + expf(-a[1][v]));
                            const float o = 1.0f / (1.0f + expf(-a[2][v]));
                            c[v] = f * co[v] + i * tanhf(a[3][v]);
                            hh[v] = o * tanhf(c[v]);
                        }
                        store(c_new + s * ns0 + (h + u) * ns1 + q0, c, m);
                        store(h_new + s * hs0 + (h + u) * hs1 + q0, hh, m);
                    }
            }
        }
}
