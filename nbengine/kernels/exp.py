"""e^x for a float32 x, as plain arithmetic: exp32(x, POW2) = np.exp(x), to within
about two units in the last place (largest relative error 8.5e-8 against a float64
e^x; the C library's expf: 6.0e-8), for x in float32's normal range (see below).

exp32_naive is its naive twin, np.exp itself, and the naive kernels call np.exp. The
fast float32 kernels call exp32 instead: NumPy-in-Numba's np.exp on a float32 calls the C
library's expf one value at a time, while plain arithmetic lets the compiler run a
loop of them in SIMD lanes, eight at once.

How (the classic range reduction, as in the Cephes library's expf):
    k = round(x / ln 2), r = x - k ln 2          so e^x = 2^k · e^r, |r| ≤ ln 2 / 2
    e^r ≈ 1 + r + r² (c0 + c1 r + ... + c5 r⁵)   a polynomial, accurate on that range
    2^k                                           read from a table of powers of two
ln 2 is split in two parts (C1 exact in few bits, C2 the rest) so r loses no
precision. x is clamped to [-87.3, 88], float32's normal range: below it the result
is e^-87.3 ≈ 1.2e-38 instead of something smaller (nothing, next to a softmax's
total of at least 1), above it 1.65e38 instead of inf; NaN stays NaN.
"""

import numpy as np
from numba import njit

f32 = np.float32
POW2 = np.array([2.0**k for k in range(-127, 128)], np.float32)  # 2^k at index k + 127


@njit(cache=True)
def exp32_naive(x, pow2):
    """e^x for a float32 x, as the C library computes it; pow2 is unused (the same
    arguments as exp32)."""
    return np.exp(x)


# The same value, as arithmetic a loop of them can run in SIMD lanes (each trick in one line).


# fastmath "contract" lets a·b + c become one fused multiply-add: the same code
# always computes the same bits.
@njit(cache=True, fastmath={"contract"})
def exp32(x, pow2):
    """e^x for a float32 x; pow2 is POW2."""
    x = min(max(x, f32(-87.3)), f32(88.0))
    k = np.floor(x * f32(1.4426950408889634) + f32(0.5))  # x / ln 2, rounded
    r = x - k * f32(0.693359375) - k * f32(-2.12194440e-4)  # x - k ln 2, ln 2 = C1 + C2
    p = f32(1.9875691500e-4)
    p = p * r + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    # the table index is clamped as an integer too: for a NaN x, k is NaN and its
    # integer is undefined; the result is then NaN anyway (p is NaN), as e^NaN should be
    i = min(max(np.int32(k), np.int32(-127)), np.int32(127))
    return (p * r * r + r + f32(1.0)) * pow2[i + 127]


# Made from exp32, for the float32 activations of the fast kernels (gelu.py, rnn.py, lstm.py).


@njit(cache=True, fastmath={"contract"})
def tanh32(u, pow2):
    """tanh(u) = 1 - 2 / (e^{2u} + 1) for a float32 u, from exp32; pow2 is POW2.
    Its error is absolute, about 1e-7 (relative, tanh(u) ≈ u is lost for |u| < 1e-7,
    where 0.5·x·(1 + t) does not notice); for large |u|, e^{2u} is 0 or 1.65e38 and
    t is exactly ±1."""
    one = np.float32(1)
    return one - np.float32(2) / (exp32(np.float32(2) * u, pow2) + one)


@njit(cache=True, fastmath={"contract"})
def sigmoid32(a, pow2):
    """1 / (1 + e^-a) for a float32 a, from exp32; pow2 is POW2. exp32 clamps its argument,
    so a large |a| gives 0 or 1 without overflow; NaN stays NaN."""
    one = np.float32(1)
    return one / (one + exp32(-a, pow2))
