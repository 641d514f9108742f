/* The C twins of nbengine's naive kernels: what every file here shares.
 *
 * Each function is the Numba naive kernel of the same name, line for line: the
 * same loops in the same index order, the same scalar accumulators, the same
 * skips. nbengine/ctwins.py compiles these files with the machine's C compiler
 * and loads them with ctypes: lesson 8 (tutorials/8-speed.toml) runs the conv2d
 * twin beside its Numba kernel, and `nbengine bench kernels` (benchmarks/, in a
 * source checkout) times them all against the Numba kernels, to show how near to
 * C the Numba loops run; both check that the two compute the same numbers.
 *
 * Calling convention. Every array argument of the Numba kernel becomes two C
 * arguments, its data and its shape (float32 or int32 data, C order, int64
 * shape), in the Numba kernel's argument order; whole numbers and flags become
 * int64_t, real numbers double. The first lines of each function read the sizes
 * from the shapes, as the Numba kernel does (`N, H, W, C = x.shape`).
 *
 * Indices are int64_t, Numba's index type. Arrays are indexed through macros
 * that spell the C-order offset, so a line reads like its Numba twin:
 * X(n, p, q, c) is x[n, p, q, c].
 *
 * No `restrict`: Numba tells LLVM nothing about which arrays may overlap, so
 * the C compiler is not told either, and both must assume that a store into
 * out may change x.
 *
 * Threads: where the Numba kernel runs a loop with prange, the C twin puts an
 * OpenMP `parallel for` on the same loop (compiled with -fopenmp when the
 * compiler has it, otherwise the pragma is ignored and the loop runs on one
 * thread); the loop body is unchanged and each thread writes its own outputs.
 * Both split the loop into equal contiguous runs, one per thread.
 */
#ifndef NBENGINE_TWINS_H
#define NBENGINE_TWINS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef int64_t intp;

/* The thread count of the OpenMP loops, set by twins_set_threads (threads.c). */
extern int twins_threads;

#endif
