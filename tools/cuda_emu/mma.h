/*
 * mma.h (emulation) — the subset of nvcuda::wmma the CUDA backend uses (16x16x16, bf16
 * operands, fp32 accumulator, row-major), for tools/cuda-emu-check.sh.
 * Operand fragments hold the whole 16x16 tile in every lane; each lane of a warp owns 8
 * accumulator elements (lane l: row-major elements 8l .. 8l+7), as on the hardware each
 * lane owns a share, so store_matrix_sync needs the warp's lanes together (the kernels
 * __syncwarp before reading other lanes' results, which the emulation turns into a barrier).
 * Loads and stores check the documented alignment rules (256-bit pointers, ldm a multiple
 * of 8 bf16 / 4 float elements) and abort on a violation, so a layout that would fault on
 * the GPU fails here too.
 */
#ifndef EMU_MMA_H
#define EMU_MMA_H
#include "cuda_runtime.h"
#include "cuda_bf16.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment;
template <typename T> struct fragment<matrix_a, 16, 16, 16, T, row_major> { float v[256]; };
template <typename T> struct fragment<matrix_b, 16, 16, 16, T, row_major> { float v[256]; };
template <> struct fragment<accumulator, 16, 16, 16, float, void> {
    float x[8];
    enum { num_elements = 8 };
};

static inline void emu_wmma_check(const void *p, unsigned ldm, unsigned mult, const char *what) {
    if (((uintptr_t)p & 31) != 0 || ldm % mult != 0) {
        std::fprintf(stderr, "emu: %s: pointer %p not 256-bit aligned or ldm %u not a multiple of %u\n", what, p,
                     ldm, mult);
        std::abort();
    }
}
static inline unsigned emu_lane() { return threadIdx.x % 32; }

template <typename L>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, __nv_bfloat16, L> &f, const __nv_bfloat16 *p,
                             unsigned ldm) {
    emu_wmma_check(p, ldm, 8, "load_matrix_sync(a)");
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < 16; k++) f.v[r * 16 + k] = emu_bf16_to_float(p[(size_t)r * ldm + k]);
}
template <typename L>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, __nv_bfloat16, L> &f, const __nv_bfloat16 *p,
                             unsigned ldm) {
    emu_wmma_check(p, ldm, 8, "load_matrix_sync(b)");
    for (int k = 0; k < 16; k++)
        for (int n = 0; n < 16; n++) f.v[k * 16 + n] = emu_bf16_to_float(p[(size_t)k * ldm + n]);
}
inline void fill_fragment(fragment<accumulator, 16, 16, 16, float, void> &f, float v) {
    for (int e = 0; e < 8; e++) f.x[e] = v;
}
template <typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float, void> &d,
                     const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float, void> &c) {
    const unsigned l = emu_lane();
    float out[8];
    for (int e = 0; e < 8; e++) {
        const int idx = (int)l * 8 + e, r = idx / 16, n = idx % 16;
        float s = c.x[e];
        for (int k = 0; k < 16; k++) s += a.v[r * 16 + k] * b.v[k * 16 + n];
        out[e] = s;
    }
    for (int e = 0; e < 8; e++) d.x[e] = out[e];
}
inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float, void> &f, unsigned ldm,
                              layout_t layout) {
    emu_wmma_check(p, ldm, 4, "store_matrix_sync");
    const unsigned l = emu_lane();
    for (int e = 0; e < 8; e++) {
        const int idx = (int)l * 8 + e, r = idx / 16, n = idx % 16;
        if (layout == mem_row_major) p[(size_t)r * ldm + n] = f.x[e];
        else p[(size_t)n * ldm + r] = f.x[e];
    }
}
}  // namespace wmma
}  // namespace nvcuda
#endif
