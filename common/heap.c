/*
 * heap.c — see heap.h: glibc malloc tuned for large, recurring message buffers.
 */
#include "heap.h"
#include <malloc.h>

void dream_heap_keep(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);    /* blocks below 32 MB from the heap, reused */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);     /* freed memory up to 1 GB stays with the process */
}
