/*
 * test_heap.c — common/heap.h: after dream_heap_keep(), a batch of message-sized blocks
 * (eight 13 MB blocks, a 4K keyframe's results) freed and allocated again reuses the same
 * memory: the second and third rounds fault in almost no new pages, where glibc's defaults
 * gave the batch back to the kernel and faulted all of it in again (the test also measures
 * that, in a child process with the defaults, so it fails if the setting stops working).
 * Skipped under AddressSanitizer, whose allocator ignores mallopt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "heap.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

enum { NB = 8, BLOCK = 13 << 20 };

static long minflt(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* one keyframe's batch: allocate, touch every page, free; returns the page faults it took */
static long batch(void) {
    long f0 = minflt();
    void *b[NB];
    for (int i = 0; i < NB; i++) {
        b[i] = malloc(BLOCK);
        if (!b[i]) return -1;
        memset(b[i], i + 1, BLOCK);
    }
    for (int i = 0; i < NB; i++) free(b[i]);
    return minflt() - f0;
}

/* faults of the third batch, in a fresh child process, with or without the setting */
static long third_batch(int keep) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return -1; }
    if (pid == 0) {
        close(fd[0]);
        if (keep) dream_heap_keep();
        long r = batch();
        if (r >= 0) r = batch();
        if (r >= 0) r = batch();
        ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    long r = -1;
    if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r) r = -1;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return r;
}

static void test_batches_reuse_memory(void **state) {
    (void)state;
#ifdef ASAN
    skip();
#endif
    long pages = (long)NB * BLOCK / sysconf(_SC_PAGESIZE);
    long kept = third_batch(1), dflt = third_batch(0);
    print_message("third batch of %d x 13 MB (%ld pages): %ld faults kept, %ld with glibc's defaults\n", NB, pages,
                  kept, dflt);
    assert_true(kept >= 0 && dflt >= 0);
    if (dflt <= pages / 2) {    /* e.g. transparent huge pages: one fault per 2 MB, nothing to tell apart */
        print_message("SKIP: glibc's defaults took only %ld faults here: nothing to compare\n", dflt);
        skip();
    }
    assert_true(kept < pages / 20);     /* reused: almost nothing new */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_reuse_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
