/* dense_forward_naive and dense_backward_naive (nbengine/kernels/dense.py) in C.
 *
 * x is (N, D), w is (D, M), b is (M,), out and dout (N, M):
 *     out[n, m] = b[m] + sum over d of x[n, d] * w[d, m]
 */
#include "twins.h"

#define X(n, d) x[(n) * D + (d)]
#define DX(n, d) dx[(n) * D + (d)]
#define WT(d, m) w[(d) * M + (m)]
#define DW(d, m) dw[(d) * M + (m)]
#define OUT(n, m) out[(n) * M + (m)]
#define DOUT(n, m) dout[(n) * M + (m)]

void dense_forward_naive(float *out, const intp *out_shape, const float *x, const intp *x_shape,
                         const float *w, const intp *w_shape, const float *b, const intp *b_shape)
{
    const intp N = x_shape[0], D = x_shape[1];
    const intp M = w_shape[1];
    (void)out_shape; (void)b_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        for (intp m = 0; m < M; m++) {
            float acc = b[m];
            for (intp d = 0; d < D; d++)
                acc += X(n, d) * WT(d, m);
            OUT(n, m) = acc;
        }
    }
}

void dense_backward_naive(float *dx, const intp *dx_shape, float *dw, const intp *dw_shape,
                          float *db, const intp *db_shape, const float *dout, const intp *dout_shape,
                          const float *x, const intp *x_shape, const float *w, const intp *w_shape,
                          intp need_dx)
{
    const intp N = x_shape[0], D = x_shape[1];
    const intp M = w_shape[1];
    const float zero = 0.0f;
    (void)dx_shape; (void)dw_shape; (void)db_shape; (void)dout_shape;
    if (need_dx) {
        #pragma omp parallel for num_threads(twins_threads)
        for (intp n = 0; n < N; n++) {
            for (intp d = 0; d < D; d++) {
                float acc = zero;
                for (intp m = 0; m < M; m++)
                    acc += DOUT(n, m) * WT(d, m);
                DX(n, d) = acc;
            }
        }
    }
    #pragma omp parallel for num_threads(twins_threads)
    for (intp d = 0; d < D; d++) {
        for (intp m = 0; m < M; m++) {
            float acc = zero;
            for (intp n = 0; n < N; n++)  /* the batch sum, in sample order */
                acc += X(n, d) * DOUT(n, m);
            DW(d, m) = acc;
        }
    }
    for (intp m = 0; m < M; m++) {
        float acc = zero;
        for (intp n = 0; n < N; n++)
            acc += DOUT(n, m);
        db[m] = acc;
    }
}
