/*
 * parfor.h — a range of independent work items split over one pthread per core (at most
 * 16), the calling thread taking the first part. For the few large per-keyframe loops outside
 * OpenMP (whose idle threads spin: see server/main_dreamd.c): the keyframe warp, the worker's
 * rounding of a result and its resident-canvas update. Threads are made per call (tens of
 * microseconds, against milliseconds of work); a thread that cannot be made runs inline.
 */
#ifndef DREAM_PARFOR_H
#define DREAM_PARFOR_H
#include <stddef.h>

/* fn(arg, begin, end) over [0, n) in contiguous parts of at least min_per_thread items each
 * (n < 2 * min_per_thread: one call, inline). Parts must not depend on each other. */
typedef void (*dream_range_fn)(void *arg, size_t begin, size_t end);
void dream_parallel_range(size_t n, size_t min_per_thread, dream_range_fn fn, void *arg);
/* at most this many threads per call from now on (0: one per core, the default); a process's
 * --threads sets it, so that several processes sharing a host do not each split over all cores */
void dream_parallel_set_max(int threads);

#endif
