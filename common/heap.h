/*
 * heap.h — allocator settings for the processes that move large messages (dreamd, dream-worker).
 *
 * A farm message is up to tens of MB (a 4K quarter tile in 8.8: 13 MB; a window about the same),
 * allocated per message by libzmq's I/O thread or by wire_recv. With glibc's defaults each
 * keyframe's batch went back to the kernel when freed (the trim threshold follows ~2x the
 * largest block), so the next batch faulted in and zeroed every page again: at 4K with 8
 * workers ~25 % of dreamd's CPU was page faults (perf). dream_heap_keep() serves blocks below
 * 32 MB (glibc's ceiling for this setting) from the heap and keeps up to 1 GB of freed memory
 * for the next keyframe. Call it first thing in main.
 */
#ifndef DREAM_HEAP_H
#define DREAM_HEAP_H

void dream_heap_keep(void);

#endif
