/* How many threads the OpenMP loops of the C twins use (one without OpenMP). */
#include "twins.h"

int twins_threads = 1;

/* 1 if the twins were compiled with OpenMP, else 0. */
int64_t twins_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Run the parallel loops on n threads from now on (ignored without OpenMP). */
void twins_set_threads(int64_t n)
{
    twins_threads = n < 1 ? 1 : (int)n;
}
