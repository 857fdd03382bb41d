/*
 * fuzz_wire.c — libFuzzer harness: the worker protocol's decoding as the coordinator runs it
 * on every peer message (common/wire.c): Envelope protobuf unpack + wire_validate against
 * the raw pixel frame's length, then a bounded walk of the pixel frame a valid Result/Job
 * declares. Input: [u32 little-endian pixel-frame length][header bytes].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    uint32_t plen = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    plen %= 1u << 20;   /* pixel frame up to 1 MiB: validate must reject mismatches without reading them */
    const uint8_t *hdr = data + 4;
    size_t hl = size - 4;
    if (hl == 0 || hl > DREAM_WIRE_MAX_HEADER) return 0;
    Dreamfarm__Envelope *env = dreamfarm__envelope__unpack(NULL, hl, hdr);
    if (!env) return 0;
    dream_err_t err = {{0}};
    if (wire_validate(env, plen, &err) == 0 && plen) {
        /* the coordinator then reads exactly plen bytes as w*h*3 rgb8: touch them all */
        uint8_t *px = malloc(plen);
        if (px) {
            memset(px, 0x5a, plen);
            unsigned s = 0;
            for (size_t i = 0; i < plen; i++) s += px[i];
            if (s == 1) abort();    /* keeps the loop */
            free(px);
        }
    }
    dreamfarm__envelope__free_unpacked(env, NULL);
    return 0;
}
