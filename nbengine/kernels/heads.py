"""Multi-head split and merge: one (N, T, H·E) projection seen as H heads of size E.

N = batch, T = positions, H = heads, E = size of one head; indexed n, t, h, e.

Split (forward), each head's slice of the features becomes its own sequence, so
scaled dot-product attention can run on N·H independent (T, E) sequences:
    out[n·H + h, t, e] = x[n, t, h·E + e]
Merge (forward), the heads' outputs are laid side by side again:
    out[n, t, h·E + e] = x[n·H + h, t, e]
Each is a pure rearrangement, so each one's backward pass is the other one
applied to the gradient: split_backward = merge, merge_backward = split.

Threads: samples in parallel; each thread writes only its own sample's rows.
"""

from numba import njit, prange


@njit(cache=True, parallel=True)
def split_heads(out, x):
    """x is (N, T, H·E); out (N·H, T, E) gives H. Written: out."""
    N, T, F = x.shape
    H = out.shape[0] // N
    E = out.shape[2]
    for n in prange(N):
        for h in range(H):
            for t in range(T):
                for e in range(E):
                    out[n * H + h, t, e] = x[n, t, h * E + e]


@njit(cache=True, parallel=True)
def merge_heads(out, x):
    """x is (N·H, T, E); out (N, T, H·E) gives N. Written: out."""
    N, T, F = out.shape
    H = x.shape[0] // N
    E = x.shape[2]
    for n in prange(N):
        for t in range(T):
            for h in range(H):
                for e in range(E):
                    out[n, t, h * E + e] = x[n * H + h, t, e]


def split_heads_backward(dx, dout):
    """dx (N, T, H·E) from dout (N·H, T, E): the merge."""
    merge_heads(dx, dout)


def merge_heads_backward(dx, dout):
    """dx (N·H, T, E) from dout (N, T, H·E): the split."""
    split_heads(dx, dout)
