/*
 * fuzz_safetensors.c — libFuzzer harness: st_open on arbitrary bytes (header JSON, offsets,
 * dtypes, shapes), then every tensor converted to float32 within a bound.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz-st-%d.safetensors", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    dream_err_t err = {{0}};
    st_file_t *st = st_open(path, &err);
    if (st) {
        for (int i = 0; i < st_count(st); i++) {
            const st_tensor_t *t = st_get(st, i);
            char shape[128];
            st_shape_str(t, shape, sizeof shape);
            float buf[64];
            size_t n = t->nelem < 64 ? t->nelem : 64;
            st_to_f32_range(st, t, 0, n, buf, &err);
            if (t->nelem > 64) st_to_f32_range(st, t, t->nelem - 64, 64, buf, &err);
        }
        st_close(&st);
    }
    unlink(path);
    return 0;
}
