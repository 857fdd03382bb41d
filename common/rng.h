/*
 * rng.h — the one deterministic random number generator of dreamfarm (header-only).
 *
 *   dream_splitmix64(&state)   splitmix64: one step, for seeds, offsets and jitter
 *   dream_rng_t                xoshiro256** seeded by splitmix64, + Box-Muller normals
 *
 * Never rand(): every random choice that must be reproducible (random-init weights, tile
 * offsets, jitter) goes through these, and the weights of dream_model_random() are a pure
 * function of this exact algorithm (worker/model.c names it in the model identity string),
 * so changing anything here changes every random-init model: tests/unit/test_rng.c pins it.
 */
#ifndef DREAM_RNG_H
#define DREAM_RNG_H
#include <stdint.h>
#include <math.h>

static inline uint64_t dream_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct dream_rng { uint64_t s[4]; int have; double spare; } dream_rng_t;

static inline uint64_t dream_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static inline uint64_t dream_rng_next(dream_rng_t *r) {
    uint64_t *s = r->s;
    uint64_t res = dream_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = dream_rotl64(s[3], 45);
    return res;
}

/* the four state words are four splitmix64 steps from seed */
static inline void dream_rng_seed(dream_rng_t *r, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) r->s[i] = dream_splitmix64(&sm);
    r->have = 0;
    r->spare = 0;
}

/* uniform in [0, 1) with 53 random bits */
static inline double dream_rng_uniform(dream_rng_t *r) { return (double)(dream_rng_next(r) >> 11) * 0x1.0p-53; }

/* standard normal by Box-Muller (both values used: the second is returned by the next call) */
static inline double dream_rng_normal(dream_rng_t *r) {
    if (r->have) { r->have = 0; return r->spare; }
    double u1 = (double)((dream_rng_next(r) >> 11) + 1) * 0x1.0p-53;   /* (0, 1] */
    double u2 = (double)(dream_rng_next(r) >> 11) * 0x1.0p-53;         /* [0, 1) */
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->have = 1;
    return rad * cos(th);
}

#endif
