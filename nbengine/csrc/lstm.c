/* lstm_forward_naive and lstm_backward_naive (nbengine/kernels/lstm.py) in C: the
 * LSTM over a whole sequence, four gates f, g, i, o from one affine, cut by a slice.
 *
 * xs is (N, T, D), h0 and c0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,);
 * hs and cs (N, T, H), gates (N, T, 4H):
 *     A = x_t·Wx + h_{t-1}·Wh + b;  f, g, i, o = sigmoid, tanh, sigmoid, sigmoid of its quarters
 *     c_t = f * c_{t-1} + g * i;  h_t = o * tanh(c_t)
 */
#include "twins.h"

#define XS(n, t, d) xs[((n) * T + (t)) * D + (d)]
#define DXS(n, t, d) dxs[((n) * T + (t)) * D + (d)]
#define HS(n, t, j) hs[((n) * T + (t)) * H + (j)]
#define CS(n, t, j) cs[((n) * T + (t)) * H + (j)]
#define DHS(n, t, j) dhs[((n) * T + (t)) * H + (j)]
#define DH_TOTAL(n, t, j) dh_total[((n) * T + (t)) * H + (j)]
#define DC_TOTAL(n, t, j) dc_total[((n) * T + (t)) * H + (j)]
#define WX(d, k) Wx[(d) * 4 * H + (k)]
#define WH(i, k) Wh[(i) * 4 * H + (k)]
#define DWX(d, k) dWx[(d) * 4 * H + (k)]
#define DWH(i, k) dWh[(i) * 4 * H + (k)]
#define DH0(n, i) dh0[(n) * H + (i)]
#define DC0(n, i) dc0[(n) * H + (i)]

/* 1 / (1 + e^-a), without overflow for large negative a (lstm.py's _sigmoid). */
static float sigmoid(float a, float one)
{
    if (a >= 0)
        return one / (one + expf(-a));
    float e = expf(a);
    return e / (one + e);
}

void lstm_forward_naive(float *hs, const intp *hs_shape, float *cs, const intp *cs_shape,
                        float *gates, const intp *gates_shape, const float *h0, const intp *h0_shape,
                        const float *c0, const intp *c0_shape, const float *xs, const intp *xs_shape,
                        const float *Wx, const intp *Wx_shape, const float *Wh, const intp *Wh_shape,
                        const float *b, const intp *b_shape)
{
    const intp N = xs_shape[0], T = xs_shape[1], D = xs_shape[2];
    const intp H = Wh_shape[0];
    const float one = 1.0f;
    (void)hs_shape; (void)cs_shape; (void)gates_shape; (void)h0_shape; (void)c0_shape;
    (void)Wx_shape; (void)b_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        for (intp t = 0; t < T; t++) {
            const float *h_prev = t == 0 ? &h0[n * H] : &HS(n, t - 1, 0);
            const float *c_prev = t == 0 ? &c0[n * H] : &CS(n, t - 1, 0);
            float *A = &gates[(n * T + t) * 4 * H];  /* the affine is written here, then each slice is activated in place */
            for (intp k = 0; k < 4 * H; k++) {
                float a = b[k];
                for (intp d = 0; d < D; d++)
                    a += XS(n, t, d) * WX(d, k);
                for (intp i = 0; i < H; i++)
                    a += h_prev[i] * WH(i, k);
                A[k] = a;
            }
            float *f = &A[0], *g = &A[H], *i_gate = &A[2 * H], *o = &A[3 * H];  /* the slice */
            for (intp j = 0; j < H; j++) {
                f[j] = sigmoid(f[j], one);
                g[j] = tanhf(g[j]);
                i_gate[j] = sigmoid(i_gate[j], one);
                o[j] = sigmoid(o[j], one);
            }
            for (intp j = 0; j < H; j++)
                CS(n, t, j) = f[j] * c_prev[j] + g[j] * i_gate[j];
            for (intp j = 0; j < H; j++)
                HS(n, t, j) = o[j] * tanhf(CS(n, t, j));
        }
    }
}

void lstm_backward_naive(float *dxs, const intp *dxs_shape, float *dWx, const intp *dWx_shape,
                         float *dWh, const intp *dWh_shape, float *db, const intp *db_shape,
                         float *dh0, const intp *dh0_shape, float *dc0, const intp *dc0_shape,
                         float *dh_total, const intp *dh_total_shape, float *dc_total, const intp *dc_total_shape,
                         float *dgates, const intp *dgates_shape, const float *dhs, const intp *dhs_shape,
                         const float *hs, const intp *hs_shape, const float *cs, const intp *cs_shape,
                         const float *gates, const intp *gates_shape, const float *h0, const intp *h0_shape,
                         const float *c0, const intp *c0_shape, const float *xs, const intp *xs_shape,
                         const float *Wx, const intp *Wx_shape, const float *Wh, const intp *Wh_shape)
{
    const intp N = xs_shape[0], T = xs_shape[1], D = xs_shape[2];
    const intp H = Wh_shape[0];
    const float zero = 0.0f, one = 1.0f;
    (void)dxs_shape; (void)dWx_shape; (void)dWh_shape; (void)db_shape; (void)dh0_shape; (void)dc0_shape;
    (void)dh_total_shape; (void)dc_total_shape; (void)dgates_shape; (void)dhs_shape; (void)hs_shape; (void)cs_shape; (void)gates_shape;
    (void)h0_shape; (void)c0_shape; (void)Wx_shape;
    for (intp e = 0; e < D * 4 * H; e++)
        dWx[e] = zero;
    for (intp e = 0; e < H * 4 * H; e++)
        dWh[e] = zero;
    for (intp e = 0; e < 4 * H; e++)
        db[e] = zero;
    float *dh_next = malloc(H * sizeof(float));
    float *dc_next = malloc(H * sizeof(float));
    for (intp n = 0; n < N; n++) {
        for (intp j = 0; j < H; j++)  /* nothing flows back from beyond the last step */
            dh_next[j] = zero;
        for (intp j = 0; j < H; j++)
            dc_next[j] = zero;
        for (intp t = T - 1; t > -1; t--) {  /* for t in reversed(range(T)) */
            const float *h_prev = t == 0 ? &h0[n * H] : &HS(n, t - 1, 0);
            const float *c_prev = t == 0 ? &c0[n * H] : &CS(n, t - 1, 0);
            const float *A = &gates[(n * T + t) * 4 * H];
            const float *f = &A[0], *g = &A[H], *i_gate = &A[2 * H], *o = &A[3 * H];
            float *ds = &DC_TOTAL(n, t, 0);  /* dL/dc_t in full, and dA, are kept for every step */
            float *dA = &dgates[(n * T + t) * 4 * H];
            float *df = &dA[0], *dg = &dA[H], *di = &dA[2 * H], *d_o = &dA[3 * H];  /* dA = [df, dg, di, do] */
            for (intp j = 0; j < H; j++) {
                float dh = DHS(n, t, j) + dh_next[j];
                DH_TOTAL(n, t, j) = dh;
                float tanh_c = tanhf(CS(n, t, j));
                ds[j] = dc_next[j] + dh * o[j] * (one - tanh_c * tanh_c);
                df[j] = ds[j] * c_prev[j] * f[j] * (one - f[j]);
                dg[j] = ds[j] * i_gate[j] * (one - g[j] * g[j]);
                di[j] = ds[j] * g[j] * i_gate[j] * (one - i_gate[j]);
                d_o[j] = dh * tanh_c * o[j] * (one - o[j]);
            }
            for (intp k = 0; k < 4 * H; k++)
                db[k] += dA[k];
            for (intp d = 0; d < D; d++)
                for (intp k = 0; k < 4 * H; k++)
                    DWX(d, k) += XS(n, t, d) * dA[k];
            for (intp i = 0; i < H; i++)
                for (intp k = 0; k < 4 * H; k++)
                    DWH(i, k) += h_prev[i] * dA[k];
            for (intp d = 0; d < D; d++) {
                float acc = zero;
                for (intp k = 0; k < 4 * H; k++)
                    acc += dA[k] * WX(d, k);
                DXS(n, t, d) = acc;
            }
            for (intp i = 0; i < H; i++) {
                float acc = zero;
                for (intp k = 0; k < 4 * H; k++)
                    acc += dA[k] * WH(i, k);
                dh_next[i] = acc;
            }
            for (intp j = 0; j < H; j++)
                dc_next[j] = ds[j] * f[j];
        }
        for (intp i = 0; i < H; i++) {
            DH0(n, i) = dh_next[i];
            DC0(n, i) = dc_next[i];
        }
    }
    free(dh_next); free(dc_next);
}
