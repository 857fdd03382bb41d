/*
 * fuzz_npy.c — libFuzzer harness: .npy parsing (common/npy.c: magic, header dict, descr,
 * shape, data length) from a memory buffer.
 */
#include <stdint.h>
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dream_err_t err = {{0}};
    npy_array_t *a = npy_load_buffer(data, size, "fuzz.npy", &err);
    if (a) {
        volatile float s = 0;
        for (size_t i = 0; i < a->n; i++) s += a->data[i];
        (void)s;
    }
    npy_destroy(&a);
    return 0;
}
