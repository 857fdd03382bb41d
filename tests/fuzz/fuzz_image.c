/*
 * fuzz_image.c — libFuzzer harness: the PNG/JPEG decoders (common/image.c) on arbitrary
 * bytes, with the pixel budget of the live server paths (1 MPx) so a header that declares a
 * huge image is refused before any buffer exists.
 */
#include <stdint.h>
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dream_err_t err = {{0}};
    dream_image_t *im = dream_image_load_mem_max(data, size, 1u << 20, &err);
    if (im && (im->w <= 0 || im->h <= 0 || (uint64_t)im->w * im->h > (1u << 20) || im->c != 3)) __builtin_trap();
    dream_image_destroy(&im);
    return 0;
}
