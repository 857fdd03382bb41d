/*
 * parfor.c — dream_parallel_range (see parfor.h).
 */
#include "parfor.h"
#include <pthread.h>
#include <unistd.h>

#define PARFOR_MAX_THREADS 16

static int parfor_max;      /* dream_parallel_set_max (0: cores); set once at start-up */

void dream_parallel_set_max(int threads) { parfor_max = threads > 0 ? threads : 0; }

typedef struct {
    dream_range_fn fn;
    void *arg;
    size_t begin, end;
} part_t;

static void *part_main(void *p) {
    part_t *t = p;
    t->fn(t->arg, t->begin, t->end);
    return NULL;
}

void dream_parallel_range(size_t n, size_t min_per_thread, dream_range_fn fn, void *arg) {
    if (n == 0) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = min_per_thread ? n / min_per_thread : n;
    if (cores > 0 && nt > (size_t)cores) nt = (size_t)cores;
    if (parfor_max > 0 && nt > (size_t)parfor_max) nt = (size_t)parfor_max;
    if (nt > PARFOR_MAX_THREADS) nt = PARFOR_MAX_THREADS;
    if (nt < 2) {
        fn(arg, 0, n);
        return;
    }
    part_t part[PARFOR_MAX_THREADS];
    pthread_t th[PARFOR_MAX_THREADS];
    int started[PARFOR_MAX_THREADS] = {0};
    for (size_t i = 0; i < nt; i++) part[i] = (part_t){fn, arg, n * i / nt, n * (i + 1) / nt};
    for (size_t i = 1; i < nt; i++) started[i] = pthread_create(&th[i], NULL, part_main, &part[i]) == 0;
    fn(arg, part[0].begin, part[0].end);
    for (size_t i = 1; i < nt; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else fn(arg, part[i].begin, part[i].end);      /* no thread: this part inline */
    }
}
