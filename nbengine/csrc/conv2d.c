/* conv2d_forward_naive and conv2d_backward_naive (nbengine/kernels/conv2d.py) in C.
 *
 * x is (N, H, W, C), w is (R, S, C, K), b is (K,), out and dout (N, OH, OW, K):
 *     out[n, i, j, k] = b[k] + sum over r, s, c of x[n, p, q, c] * w[r, s, c, k]
 *     where p = i*sh + r - pt and q = j*sw + s - pl
 */
#include "twins.h"

#define X(n, p, q, c) x[(((n) * H + (p)) * W + (q)) * C + (c)]
#define DX(n, p, q, c) dx[(((n) * H + (p)) * W + (q)) * C + (c)]
#define WT(r, s, c, k) w[(((r) * S + (s)) * C + (c)) * K + (k)]
#define DW(r, s, c, k) dw[(((r) * S + (s)) * C + (c)) * K + (k)]
#define OUT(n, i, j, k) out[(((n) * OH + (i)) * OW + (j)) * K + (k)]
#define DOUT(n, i, j, k) dout[(((n) * OH + (i)) * OW + (j)) * K + (k)]

void conv2d_forward_naive(float *out, const intp *out_shape, const float *x, const intp *x_shape,
                          const float *w, const intp *w_shape, const float *b, const intp *b_shape,
                          intp sh, intp sw, intp pt, intp pl)
{
    const intp N = x_shape[0], H = x_shape[1], W = x_shape[2], C = x_shape[3];
    const intp R = w_shape[0], S = w_shape[1], K = w_shape[3];
    const intp OH = out_shape[1], OW = out_shape[2];
    (void)b_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        for (intp i = 0; i < OH; i++) {
            for (intp j = 0; j < OW; j++) {
                for (intp k = 0; k < K; k++) {
                    float acc = b[k];
                    for (intp r = 0; r < R; r++) {
                        intp p = i * sh + r - pt;
                        if (p < 0 || p >= H)
                            continue;  /* a padding row: x reads as 0 there */
                        for (intp s = 0; s < S; s++) {
                            intp q = j * sw + s - pl;
                            if (q < 0 || q >= W)
                                continue;
                            for (intp c = 0; c < C; c++)
                                acc += X(n, p, q, c) * WT(r, s, c, k);
                        }
                    }
                    OUT(n, i, j, k) = acc;
                }
            }
        }
    }
}

void conv2d_backward_naive(float *dx, const intp *dx_shape, float *dw, const intp *dw_shape,
                           float *db, const intp *db_shape, const float *dout, const intp *dout_shape,
                           const float *x, const intp *x_shape, const float *w, const intp *w_shape,
                           intp sh, intp sw, intp pt, intp pl, intp need_dx)
{
    const intp N = x_shape[0], H = x_shape[1], W = x_shape[2], C = x_shape[3];
    const intp R = w_shape[0], S = w_shape[1], K = w_shape[3];
    const intp OH = dout_shape[1], OW = dout_shape[2];
    const float zero = 0.0f;
    (void)dx_shape; (void)dw_shape; (void)db_shape;
    if (need_dx)
        for (intp e = 0; e < N * H * W * C; e++)
            dx[e] = zero;
    for (intp e = 0; e < R * S * C * K; e++)
        dw[e] = zero;
    for (intp e = 0; e < K; e++)
        db[e] = zero;
    for (intp n = 0; n < N; n++) {
        for (intp i = 0; i < OH; i++) {
            for (intp j = 0; j < OW; j++) {
                for (intp k = 0; k < K; k++)
                    db[k] += DOUT(n, i, j, k);
                for (intp r = 0; r < R; r++) {
                    intp p = i * sh + r - pt;
                    if (p < 0 || p >= H)
                        continue;  /* a padding row: nothing to send back to */
                    for (intp s = 0; s < S; s++) {
                        intp q = j * sw + s - pl;
                        if (q < 0 || q >= W)
                            continue;
                        for (intp c = 0; c < C; c++) {
                            for (intp k = 0; k < K; k++)
                                DW(r, s, c, k) += X(n, p, q, c) * DOUT(n, i, j, k);
                            if (need_dx) {
                                float acc = zero;
                                for (intp k = 0; k < K; k++)
                                    acc += DOUT(n, i, j, k) * WT(r, s, c, k);
                                DX(n, p, q, c) += acc;
                            }
                        }
                    }
                }
            }
        }
    }
}
