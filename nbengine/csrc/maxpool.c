/* maxpool_forward and maxpool_backward (nbengine/kernels/maxpool.py) in C: the
 * Numba kernels there already read as their formula, so they are their own naive loops.
 *
 * x and dx are (N, H, W, C); out, arg and dout are (N, OH, OW, C), arg int32:
 *     out[n, i, j, c] = max over r < PH, s < PW of x[n, p, q, c]
 *     where p = i*sh + r - pt and q = j*sw + s - pl;  arg = p*W + q of the first largest
 */
#include "twins.h"

#define X(n, p, q, c) x[(((n) * H + (p)) * W + (q)) * C + (c)]
#define DX(n, p, q, c) dx[(((n) * H + (p)) * W + (q)) * C + (c)]
#define OUT(n, i, j, c) out[(((n) * OH + (i)) * OW + (j)) * C + (c)]
#define ARG(n, i, j, c) arg[(((n) * OH + (i)) * OW + (j)) * C + (c)]
#define DOUT(n, i, j, c) dout[(((n) * OH + (i)) * OW + (j)) * C + (c)]

void maxpool_forward(float *out, const intp *out_shape, int32_t *arg, const intp *arg_shape,
                     const float *x, const intp *x_shape, intp ph, intp pw, intp sh, intp sw, intp pt, intp pl)
{
    const intp N = x_shape[0], H = x_shape[1], W = x_shape[2], C = x_shape[3];
    const intp OH = out_shape[1], OW = out_shape[2];
    (void)arg_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        for (intp i = 0; i < OH; i++) {
            for (intp j = 0; j < OW; j++) {
                for (intp c = 0; c < C; c++) {
                    OUT(n, i, j, c) = -INFINITY;
                    ARG(n, i, j, c) = -1;
                }
                for (intp r = 0; r < ph; r++) {
                    intp p = i * sh + r - pt;
                    if (p < 0 || p >= H)
                        continue;
                    for (intp s = 0; s < pw; s++) {
                        intp q = j * sw + s - pl;
                        if (q < 0 || q >= W)
                            continue;
                        for (intp c = 0; c < C; c++) {
                            float v = X(n, p, q, c);
                            /* the first value seen always wins, so a window of NaN still
                               points at a real position */
                            if (v > OUT(n, i, j, c) || ARG(n, i, j, c) < 0) {
                                OUT(n, i, j, c) = v;
                                ARG(n, i, j, c) = (int32_t)(p * W + q);
                            }
                        }
                    }
                }
            }
        }
    }
}

void maxpool_backward(float *dx, const intp *dx_shape, const float *dout, const intp *dout_shape,
                      const int32_t *arg, const intp *arg_shape)
{
    const intp N = dx_shape[0], H = dx_shape[1], W = dx_shape[2], C = dx_shape[3];
    const intp OH = dout_shape[1], OW = dout_shape[2];
    (void)arg_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        for (intp e = 0; e < H * W * C; e++)
            dx[n * H * W * C + e] = 0.0f;
        for (intp i = 0; i < OH; i++) {
            for (intp j = 0; j < OW; j++) {
                for (intp c = 0; c < C; c++) {
                    intp a = ARG(n, i, j, c);
                    if (a >= 0)  /* -1: a window that lies wholly in the padding has no input to blame */
                        DX(n, a / W, a % W, c) += DOUT(n, i, j, c);  /* a >= 0: C's / is Python's // */
                }
            }
        }
    }
}
