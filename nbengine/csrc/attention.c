/* attention_forward_naive and attention_backward_naive (nbengine/kernels/attention.py) in C.
 *
 * q is (N, T, D), k (N, S, D), v (N, S, E), weights (N, T, S), out and dout (N, T, E):
 *     scores[s] = scale · Σ_d q[n, t, d] k[n, s, d];  weights[n, t] = softmax(scores)
 *     out[n, t, e] = Σ_s weights[n, t, s] v[n, s, e]
 */
#include "twins.h"

#define Q(n, t, d) q[((n) * T + (t)) * D + (d)]
#define K_(n, s, d) k[((n) * S + (s)) * D + (d)]
#define V(n, s, e) v[((n) * S + (s)) * E + (e)]
#define DQ(n, t, d) dq[((n) * T + (t)) * D + (d)]
#define DK(n, s, d) dk[((n) * S + (s)) * D + (d)]
#define DV(n, s, e) dv[((n) * S + (s)) * E + (e)]
#define WEIGHTS(n, t, s) weights[((n) * T + (t)) * S + (s)]
#define OUT(n, t, e) out[((n) * T + (t)) * E + (e)]
#define DOUT(n, t, e) dout[((n) * T + (t)) * E + (e)]
#define DW_(t, s) dW[(t) * S + (s)]
#define DSCORES(t, s) dscores[(t) * S + (s)]

void attention_forward_naive(float *out, const intp *out_shape, float *weights, const intp *weights_shape,
                             const float *q, const intp *q_shape, const float *k, const intp *k_shape,
                             const float *v, const intp *v_shape, double scale, intp causal)
{
    const intp N = q_shape[0], T = q_shape[1], D = q_shape[2];
    const intp S = k_shape[1];
    const intp E = v_shape[2];
    const float sc = (float)scale;
    const float zero = 0.0f;
    (void)out_shape; (void)weights_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        float *scores = malloc(S * sizeof(float));
        for (intp t = 0; t < T; t++) {
            intp seen = causal ? t + 1 : S;  /* query t sees the keys s < seen */
            /* scores[s] = scale · Σ_d q[n, t, d] k[n, s, d] */
            for (intp s = 0; s < seen; s++) {
                float acc = zero;
                for (intp d = 0; d < D; d++)
                    acc += Q(n, t, d) * K_(n, s, d);
                scores[s] = sc * acc;
            }
            /* weights[n, t, s] = e^(scores[s] - max) / Σ_s2 e^(scores[s2] - max); 0 past the mask */
            float top = scores[0];
            for (intp s = 1; s < seen; s++)
                if (scores[s] > top)
                    top = scores[s];
            float total = zero;
            for (intp s = 0; s < seen; s++) {
                WEIGHTS(n, t, s) = expf(scores[s] - top);
                total += WEIGHTS(n, t, s);
            }
            for (intp s = 0; s < seen; s++)
                WEIGHTS(n, t, s) /= total;
            for (intp s = seen; s < S; s++)
                WEIGHTS(n, t, s) = zero;
            /* out[n, t, e] = Σ_s weights[n, t, s] v[n, s, e] (the masked weights are 0) */
            for (intp e = 0; e < E; e++) {
                float acc = zero;
                for (intp s = 0; s < seen; s++)
                    acc += WEIGHTS(n, t, s) * V(n, s, e);
                OUT(n, t, e) = acc;
            }
        }
        free(scores);
    }
}

void attention_backward_naive(float *dq, const intp *dq_shape, float *dk, const intp *dk_shape,
                              float *dv, const intp *dv_shape, const float *dout, const intp *dout_shape,
                              const float *weights, const intp *weights_shape, const float *q, const intp *q_shape,
                              const float *k, const intp *k_shape, const float *v, const intp *v_shape,
                              double scale)
{
    const intp N = q_shape[0], T = q_shape[1], D = q_shape[2];
    const intp S = k_shape[1];
    const intp E = v_shape[2];
    const float sc = (float)scale;
    const float zero = 0.0f;
    (void)dq_shape; (void)dk_shape; (void)dv_shape; (void)dout_shape; (void)weights_shape;
    #pragma omp parallel for num_threads(twins_threads)
    for (intp n = 0; n < N; n++) {
        float *dW = malloc(T * S * sizeof(float));
        float *dscores = malloc(T * S * sizeof(float));
        /* dv[n, s, e] = Σ_t weights[n, t, s] dout[n, t, e] */
        for (intp s = 0; s < S; s++) {
            for (intp e = 0; e < E; e++) {
                float acc = zero;
                for (intp t = 0; t < T; t++)
                    acc += WEIGHTS(n, t, s) * DOUT(n, t, e);
                DV(n, s, e) = acc;
            }
        }
        /* dW[t, s] = Σ_e dout[n, t, e] v[n, s, e] */
        for (intp t = 0; t < T; t++) {
            for (intp s = 0; s < S; s++) {
                float acc = zero;
                for (intp e = 0; e < E; e++)
                    acc += DOUT(n, t, e) * V(n, s, e);
                DW_(t, s) = acc;
            }
        }
        /* dscores[t, s] = W[t, s] (dW[t, s] - Σ_s2 W[t, s2] dW[t, s2]) */
        for (intp t = 0; t < T; t++) {
            float dot = zero;
            for (intp s2 = 0; s2 < S; s2++)
                dot += WEIGHTS(n, t, s2) * DW_(t, s2);
            for (intp s = 0; s < S; s++)
                DSCORES(t, s) = WEIGHTS(n, t, s) * (DW_(t, s) - dot);
        }
        /* dq[n, t, d] = scale · Σ_s dscores[t, s] k[n, s, d] */
        for (intp t = 0; t < T; t++) {
            for (intp d = 0; d < D; d++) {
                float acc = zero;
                for (intp s = 0; s < S; s++)
                    acc += DSCORES(t, s) * K_(n, s, d);
                DQ(n, t, d) = sc * acc;
            }
        }
        /* dk[n, s, d] = scale · Σ_t dscores[t, s] q[n, t, d] */
        for (intp s = 0; s < S; s++) {
            for (intp d = 0; d < D; d++) {
                float acc = zero;
                for (intp t = 0; t < T; t++)
                    acc += DSCORES(t, s) * Q(n, t, d);
                DK(n, s, d) = sc * acc;
            }
        }
        free(dW);
        free(dscores);
    }
}
