/*
 * blend.c — feathered tile blending with the warped previous keyframe as the
 * fill for missing tiles; see blend.h.
 */
#include "blend.h"
#include <math.h>
#include <limits.h>
#include "px88.h"
#include "tilesplit.h"
#include <stdlib.h>
#include <string.h>

struct blend {
    int W, H;
    float *acc;     /* (H, W, 3) */
    float *wsum;    /* (H, W) */
    /* tile-resident keyframe (blend_add_fixed_plan .. blend_finish_fixed_plan): the results in,
     * read where tiles overlap once the last of them is in (no accumulator) */
    const uint8_t *fx_res[TILE_MAX];    /* tile k's result (the caller keeps it until the finish) */
    uint8_t fx_u8[TILE_MAX];            /* ... as 8-bit values (else 8.8) */
    tilesplit_rect_t fx_hole[TILE_MAX]; /* ... in split order around this hole, which it lacks */
    uint8_t fx_in[TILE_MAX];            /* ... is in */
    float *fx_wx[TILE_MAX];             /* ... its horizontal ramp (fx_wx_cap floats kept) */
    int fx_wx_cap[TILE_MAX];
};

blend_t *blend_new(int W, int H, dream_err_t *err) {
    if (W <= 0 || H <= 0 || (size_t)W * H > DREAM_IMAGE_MAX_PIXELS) {
        dream_err_set(err, "blend: bad size %dx%d", W, H);
        return NULL;
    }
    blend_t *b = calloc(1, sizeof *b);
    if (!b) { dream_err_set(err, "out of memory"); return NULL; }
    b->W = W;
    b->H = H;
    b->acc = calloc((size_t)W * H * 3, sizeof(float));
    b->wsum = calloc((size_t)W * H, sizeof(float));
    if (!b->acc || !b->wsum) {
        blend_destroy(&b);
        dream_err_set(err, "out of memory for a %dx%d blend", W, H);
        return NULL;
    }
    return b;
}

void blend_destroy(blend_t **pb) {
    if (!pb || !*pb) return;
    for (int k = 0; k < TILE_MAX; k++) free((*pb)->fx_wx[k]);
    free((*pb)->acc);
    free((*pb)->wsum);
    free(*pb);
    *pb = NULL;
}

void blend_reset(blend_t *b) {
    memset(b->acc, 0, (size_t)b->W * b->H * 3 * sizeof(float));
    memset(b->wsum, 0, (size_t)b->W * b->H * sizeof(float));
    memset(b->fx_in, 0, sizeof b->fx_in);
    memset(b->fx_res, 0, sizeof b->fx_res);
}

static float smooth(float s) {
    if (s <= 0) return 0;
    if (s >= 1) return 1;
    return s * s * (3 - 2 * s);
}

float blend_ramp(int i, int len, int f0, int f1) {
    float w = 1;
    if (f0 > 0) w *= smooth(((float)i + 0.5f) / (float)f0);
    if (f1 > 0) w *= smooth(((float)(len - i) - 0.5f) / (float)f1);
    return w;
}

/* 0 when tile t lies in the canvas, else -1 with err */
static int tile_inside(const blend_t *b, const tile_t *t, dream_err_t *err) {
    const tile_rect_t *r = &t->r;
    if (r->x < 0 || r->y < 0 || r->w <= 0 || r->h <= 0 || r->x + r->w > b->W || r->y + r->h > b->H)
        return dream_err_set(err, "blend: tile %dx%d+%d+%d outside %dx%d", r->w, r->h, r->x, r->y, b->W, b->H);
    return 0;
}

/* tile t's horizontal feather ramp into wx (r.w weights) */
static void ramp_x(const tile_t *t, float *wx) {
    for (int i = 0; i < t->r.w; i++) wx[i] = blend_ramp(i, t->r.w, t->feather[0], t->feather[2]);
}

/* tile t's horizontal feather ramp (r.w weights, the caller frees it), after checking that the
 * tile lies in the canvas; NULL with err */
static float *tile_wx(const blend_t *b, const tile_t *t, dream_err_t *err) {
    if (tile_inside(b, t, err) != 0) return NULL;
    float *wx = malloc((size_t)t->r.w * sizeof(float));
    if (!wx) {
        dream_err_set(err, "out of memory");
        return NULL;
    }
    ramp_x(t, wx);
    return wx;
}

/* acc += w * (res - sent), or w * res without sent; wsum += w (w: the tile's feather ramps) */
static int accumulate(blend_t *b, const tile_t *t, const uint8_t *res, const uint8_t *sent, dream_err_t *err) {
    const tile_rect_t *r = &t->r;
    float *wx = tile_wx(b, t, err);
    if (!wx) return -1;
    #pragma omp parallel for schedule(static) if ((long)r->w * r->h > 65536)
    for (int j = 0; j < r->h; j++) {
        float wy = blend_ramp(j, r->h, t->feather[1], t->feather[3]);
        const uint8_t *src = res + (size_t)j * r->w * 3, *s0 = sent ? sent + (size_t)j * r->w * 3 : NULL;
        size_t row = (size_t)(r->y + j) * b->W + r->x;
        float *acc = b->acc + row * 3, *ws = b->wsum + row;
        if (s0) {           /* the branch outside the hot loop */
            for (int i = 0; i < r->w; i++) {
                float w = wx[i] * wy;
                for (int c = 0; c < 3; c++) acc[3 * i + c] += w * (float)((int)src[3 * i + c] - (int)s0[3 * i + c]);
                ws[i] += w;
            }
        } else {
            for (int i = 0; i < r->w; i++) {
                float w = wx[i] * wy;
                for (int c = 0; c < 3; c++) acc[3 * i + c] += w * src[3 * i + c];
                ws[i] += w;
            }
        }
    }
    free(wx);
    return 0;
}

int blend_add_rgb8(blend_t *b, const tile_t *t, const uint8_t *rgb, dream_err_t *err) {
    return accumulate(b, t, rgb, NULL, err);
}

/* base and out of the finishing passes: the canvas size, RGB */
static int check_finish(const blend_t *b, const dream_image_t *base, const dream_image_t *out, dream_err_t *err) {
    if (!base || !out || base->w != b->W || base->h != b->H || out->w != b->W || out->h != b->H ||
        base->c != 3 || out->c != 3)
        return dream_err_set(err, "blend: base/out must be %dx%dx3", b->W, b->H);
    return 0;
}

int blend_finish(blend_t *b, const dream_image_t *base, dream_image_t *out, dream_err_t *err) {
    if (check_finish(b, base, out, err) != 0) return -1;
    long n = (long)b->W * b->H;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++) {
        float ws = b->wsum[k];
        float wb = ws < 1 ? 1 - ws : 0;
        wb += 1e-6f;
        float inv = 1.0f / (ws + wb);
        for (int c = 0; c < 3; c++) out->px[3 * k + c] = (b->acc[3 * k + c] + wb * base->px[3 * k + c]) * inv;
    }
    return 0;
}

/* base + acc / (ws + w_base), w_base = max(0, 1 - ws): the denominator is max(ws, 1), exact
 * for a single tile of weight 1 (the keyframe is then warp + change, bit for bit), clipped */
static inline float delta_out(float base, float acc, float ws) {
    float v = base + (ws > 1.0f ? acc / ws : acc);     /* acc / 1 == acc exactly: no division */
    return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* the float canvas's path: one accumulator of w * (result - sent) instead of two blends */
int blend_add_delta_rgb8(blend_t *b, const tile_t *t, const uint8_t *res, const uint8_t *sent, dream_err_t *err) {
    if (!sent) return dream_err_set(err, "blend: no pixels as sent");
    return accumulate(b, t, res, sent, err);
}

int blend_finish_delta(blend_t *b, const dream_image_t *base, dream_image_t *out, dream_err_t *err) {
    if (check_finish(b, base, out, err) != 0) return -1;
    long n = (long)b->W * b->H;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++)
        for (int c = 0; c < 3; c++) out->px[3 * k + c] = delta_out(base->px[3 * k + c], b->acc[3 * k + c], b->wsum[k]);
    return 0;
}

/* ---------- float canvas, written in place on arrival (blend_add_delta_plan) ---------- */

typedef struct { int x0, x1, count, owner; uint64_t mask; } seg_t;

/* the row y of the canvas as segments of constant tile coverage (count tiles cover it, bit k of
 * mask set for tile k; owner is the one tile when count == 1); returns the number of segments
 * (at most 2 * TILE_MAX + 1) */
static int row_segments(const tile_plan_t *pl, int W, int y, seg_t *seg) {
    int xs[2 * TILE_MAX + 2], nx = 0;
    xs[nx++] = 0;
    xs[nx++] = W;
    for (int k = 0; k < pl->n; k++) {
        const tile_rect_t *r = &pl->tiles[k].r;
        if (y < r->y || y >= r->y + r->h) continue;
        xs[nx++] = r->x;
        xs[nx++] = r->x + r->w;
    }
    for (int i = 1; i < nx; i++)        /* insertion sort: at most 130 values */
        for (int k = i; k > 0 && xs[k] < xs[k - 1]; k--) { int t = xs[k]; xs[k] = xs[k - 1]; xs[k - 1] = t; }
    int ns = 0;
    for (int i = 0; i + 1 < nx; i++) {
        int a = xs[i], b = xs[i + 1];
        if (b <= a || a < 0 || b > W) continue;
        int count = 0, owner = -1;
        uint64_t mask = 0;
        for (int k = 0; k < pl->n; k++) {
            const tile_rect_t *r = &pl->tiles[k].r;
            if (y >= r->y && y < r->y + r->h && a >= r->x && b <= r->x + r->w) {
                count++;
                owner = k;
                mask |= 1ull << k;
            }
        }
        if (ns > 0 && seg[ns - 1].x1 == a && seg[ns - 1].mask == mask) seg[ns - 1].x1 = b;
        else seg[ns++] = (seg_t){a, b, count, count == 1 ? owner : -1, mask};
    }
    return ns;
}

static int check_plan_images(const blend_t *b, const dream_image_t *base, const dream_image_t *out, dream_err_t *err) {
    if (!base || !out || base == out || base->w != b->W || base->h != b->H || out->w != b->W || out->h != b->H ||
        base->c != 3 || out->c != 3)
        return dream_err_set(err, "blend: base/out must be two %dx%dx3 images", b->W, b->H);
    return 0;
}


int blend_add_delta_plan(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, const uint8_t *sent,
                         const dream_image_t *base, dream_image_t *out, dream_err_t *err) {
    if (!pl || k < 0 || k >= pl->n) return dream_err_set(err, "blend: no tile %d in the plan", k);
    if (check_plan_images(b, base, out, err) != 0) return -1;
    const tile_t *t = &pl->tiles[k];
    const tile_rect_t *r = &t->r;
    float *wx = tile_wx(b, t, err);
    if (!wx) return -1;
    #pragma omp parallel for schedule(dynamic, 16) if ((long)r->w * r->h > 65536)
    for (int j = 0; j < r->h; j++) {
        seg_t seg[2 * TILE_MAX + 1];
        int ns = row_segments(pl, b->W, r->y + j, seg);
        float wy = blend_ramp(j, r->h, t->feather[1], t->feather[3]);
        const uint8_t *src = res + (size_t)j * r->w * 3, *s0 = sent + (size_t)j * r->w * 3;
        size_t row = (size_t)(r->y + j) * b->W;
        for (int q = 0; q < ns; q++) {
            int a = seg[q].x0 > r->x ? seg[q].x0 : r->x, e = seg[q].x1 < r->x + r->w ? seg[q].x1 : r->x + r->w;
            if (a >= e) continue;
            if (seg[q].count == 1) {
                /* this tile alone: the blend of one tile, written now (the same operations as
                 * blend_finish_delta on ws = w, acc = w d) */
                for (int x = a; x < e; x++) {
                    int i = x - r->x;
                    float w = wx[i] * wy;
                    size_t p = (row + x) * 3;
                    for (int c = 0; c < 3; c++)
                        out->px[p + c] = delta_out(base->px[p + c], w * (float)((int)src[3 * i + c] - (int)s0[3 * i + c]), w);
                }
            } else {
                for (int x = a; x < e; x++) {
                    int i = x - r->x;
                    float w = wx[i] * wy;
                    float *acc = b->acc + (row + x) * 3;
                    acc[0] += w * (float)((int)src[3 * i + 0] - (int)s0[3 * i + 0]);
                    acc[1] += w * (float)((int)src[3 * i + 1] - (int)s0[3 * i + 1]);
                    acc[2] += w * (float)((int)src[3 * i + 2] - (int)s0[3 * i + 2]);
                    b->wsum[row + x] += w;
                }
            }
        }
    }
    free(wx);
    return 0;
}

int blend_finish_delta_plan(blend_t *b, const tile_plan_t *pl, const uint8_t *done, const dream_image_t *base,
                            dream_image_t *out, dream_err_t *err) {
    if (!pl || !done) return dream_err_set(err, "blend: no plan");
    if (check_plan_images(b, base, out, err) != 0) return -1;
    #pragma omp parallel for schedule(dynamic, 16)
    for (int y = 0; y < b->H; y++) {
        seg_t seg[2 * TILE_MAX + 1];
        int ns = row_segments(pl, b->W, y, seg);
        size_t row = (size_t)y * b->W;
        for (int q = 0; q < ns; q++) {
            if (seg[q].count == 1 && done[seg[q].owner]) continue;     /* written on arrival */
            if (seg[q].count == 1 || seg[q].count == 0) {               /* missing tile / none */
                memcpy(out->px + (row + seg[q].x0) * 3, base->px + (row + seg[q].x0) * 3,
                       (size_t)(seg[q].x1 - seg[q].x0) * 3 * sizeof(float));
                continue;
            }
            for (int x = seg[q].x0; x < seg[q].x1; x++) {   /* overlaps: the blend, and its reset */
                size_t p = (row + x) * 3;
                float ws = b->wsum[row + x];
                for (int c = 0; c < 3; c++) out->px[p + c] = delta_out(base->px[p + c], b->acc[p + c], ws);
                b->acc[p] = b->acc[p + 1] = b->acc[p + 2] = 0;
                b->wsum[row + x] = 0;
            }
        }
    }
    return 0;
}

/* ---------- tile-resident: 8.8 results as they are (the coordinator does not warp) ---------- */

/* the finished value v of canvas element p, rounded to 8.8 (the tile-resident canvas stays
 * exactly representable), into out (float) and out88 (2 bytes LE), where given */
static inline void put_fixed(dream_image_t *out, uint8_t *out88, size_t p, float v) {
    uint16_t q = px88_q(v);
    if (out) out->px[p] = (float)q * (1.0f / 256.0f);
    if (out88) {
        out88[2 * p] = (uint8_t)(q & 0xff);
        out88[2 * p + 1] = (uint8_t)(q >> 8);
    }
}

/* the scratch floats of fixed_mix for a run of n pixels */
#define FIXED_TMP(n) ((size_t)(n) * 12)

/* acc[i] += w[i] * v[i] and acc[i] *= w[i], four lanes at a time (the same float operations
 * as the scalar loops, which -O2 does not vectorise) */
static void madd(float *acc, const float *w, const float *v, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        px88_v4f a, x, y;
        memcpy(&a, acc + i, sizeof a);
        memcpy(&x, w + i, sizeof x);
        memcpy(&y, v + i, sizeof y);
        a += x * y;
        memcpy(acc + i, &a, sizeof a);
    }
    for (; i < n; i++) acc[i] += w[i] * v[i];
}

static void mul(float *acc, const float *w, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        px88_v4f a, x;
        memcpy(&a, acc + i, sizeof a);
        memcpy(&x, w + i, sizeof x);
        a *= x;
        memcpy(acc + i, &a, sizeof a);
    }
    for (; i < n; i++) acc[i] *= w[i];
}

/* canvas row y, columns [a, e), from the results of the tiles in mask (all in): sum w v / sum w
 * over them in tile order, rounded to 8.8. fill = 1 (a tile of the plan is missing): base fills
 * up to weight 1 where the weights sum below it (base NULL: 0). tmp: FIXED_TMP(e - a) floats.
 * Flat loops over the row's values (three a pixel), four lanes at a time (madd, mul) */
static void fixed_mix(const blend_t *b, const tile_plan_t *pl, uint64_t mask, int y, int a, int e, int fill,
                      const dream_image_t *base, dream_image_t *out, uint8_t *out88, float *tmp) {
    const size_t n = (size_t)(e - a), nv = 3 * n;
    float *acc = tmp, *w3 = tmp + nv, *v = tmp + 2 * nv, *ws = tmp + 3 * nv;     /* (n, 3) (n, 3) (n, 3) (n) */
    uint8_t *q = (uint8_t *)(tmp + 3 * nv + n);                                    /* (n, 3) 8.8 LE */
    memset(acc, 0, nv * sizeof(float));
    memset(ws, 0, n * sizeof(float));
    for (uint64_t m = mask; m; m &= m - 1) {
        int j = __builtin_ctzll(m);
        const tile_t *t = &pl->tiles[j];
        const float wy = blend_ramp(y - t->r.y, t->r.h, t->feather[1], t->feather[3]);
        const float *wx = b->fx_wx[j] + (a - t->r.x);
        /* (a run here never reaches into a hole: that lies inside the tile's alone rect) */
        const tilesplit_rect_t tr = {t->r.x, t->r.y, t->r.w, t->r.h};
        const size_t off = tilesplit_index(&tr, &b->fx_hole[j], a, y);
        if (b->fx_u8[j]) {
            const uint8_t *src = b->fx_res[j] + off * 3;
            for (size_t i = 0; i < nv; i++) v[i] = (float)src[i];
        } else {
            px88_to_float(b->fx_res[j] + off * 6, v, nv);
        }
        for (size_t i = 0; i < n; i++) {
            float w = wx[i] * wy;
            ws[i] += w;
            w3[3 * i] = w3[3 * i + 1] = w3[3 * i + 2] = w;
        }
        madd(acc, w3, v, nv);
    }
    const size_t p0 = ((size_t)y * b->W + (size_t)a) * 3;
    if (!fill) {
        for (size_t i = 0; i < n; i++) {
            float inv = ws[i] > 0.0f ? 1.0f / ws[i] : 0.0f;    /* no weight: not in a plan's tiles */
            w3[3 * i] = w3[3 * i + 1] = w3[3 * i + 2] = inv;
        }
        mul(acc, w3, nv);
    } else {
        const float *bp = base ? base->px + p0 : NULL;
        for (size_t i = 0; i < n; i++) {
            float wb = ws[i] >= 1.0f ? 0.0f : 1.0f - ws[i];
            if (ws[i] + wb <= 0.0f) {       /* no weight at all: base or 0 */
                for (int c = 0; c < 3; c++) acc[3 * i + c] = bp ? bp[3 * i + c] : 0.0f;
                continue;
            }
            float inv = 1.0f / (ws[i] + wb);
            for (int c = 0; c < 3; c++) acc[3 * i + c] = (acc[3 * i + c] + (wb > 0 && bp ? wb * bp[3 * i + c] : 0.0f)) * inv;
        }
    }
    /* rounded to 8.8 (px88_q, four at a time), into the mirror and the floats */
    px88_from_float(acc, out88 ? out88 + p0 * 2 : q, nv);
    if (out) px88_to_float(out88 ? out88 + p0 * 2 : q, out->px + p0, nv);
}

/* nv values of a result (8.8, or 8-bit meaning value * 256) as they are, into canvas element p0 on */
static void copy_run(const uint8_t *s8, int u8, size_t nv, dream_image_t *out, uint8_t *out88, size_t p0) {
    if (!nv) return;
    if (u8) {
        if (out) for (size_t v = 0; v < nv; v++) out->px[p0 + v] = (float)s8[v];
        if (out88) {
            uint8_t *o = out88 + p0 * 2;
            for (size_t v = 0; v < nv; v++) { o[2 * v] = 0; o[2 * v + 1] = s8[v]; }
        }
    } else {
        if (out) px88_to_float(s8, out->px + p0, nv);
        if (out88) memcpy(out88 + p0 * 2, s8, nv * 2);
    }
}

/* the fixed blend of one result: res88 is 8.8 (u8 = 0) or 8-bit values meaning value * 256 (u8 = 1).
 * What it alone covers at weight 1 is copied now; every other part of it (overlaps, its own
 * feathers) is computed from the results themselves as soon as the last tile covering it is in:
 * the last result of a keyframe leaves nothing for the finish (no accumulator passes) */
static int add_fixed(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res88, int u8, const tile_rect_t *hole,
                     const tile_rect_t *later, dream_image_t *out, uint8_t *out88, dream_err_t *err) {
    if (!pl || k < 0 || k >= pl->n) return dream_err_set(err, "blend: no tile %d in the plan", k);
    if ((!out && !out88) || (out && (out->w != b->W || out->h != b->H || out->c != 3)))
        return dream_err_set(err, "blend: out must be %dx%dx3", b->W, b->H);
    if (!res88) return dream_err_set(err, "blend: no result for tile %d", k);
    const tile_t *t = &pl->tiles[k];
    const tile_rect_t *r = &t->r;
    /* later: a part of the tile's alone rect the caller copies itself (blend_copy_fixed) */
    tile_rect_t lt = {0, 0, 0, 0};
    if (later && later->w > 0 && later->h > 0) {
        tile_rect_t a = blend_alone_rect(pl, k);
        if (!tile_rect_inside(later, &a))
            return dream_err_set(err, "blend: the part copied later is not inside tile %d's alone rect", k);
        lt = *later;
    }
    /* hole: res is in split order (tilesplit.h) less that rect, which must lie in later */
    tilesplit_rect_t hl = {0, 0, 0, 0};
    if (hole && hole->w > 0 && hole->h > 0) {
        if (!tile_rect_inside(hole, &lt) || lt.w <= 0 || lt.h <= 0)
            return dream_err_set(err, "blend: tile %d's missing part is not inside the part copied later", k);
        hl = (tilesplit_rect_t){hole->x, hole->y, hole->w, hole->h};
    }
    const tilesplit_rect_t tr = {r->x, r->y, r->w, r->h};
    if (tile_inside(b, t, err) != 0) return -1;
    if (b->fx_wx_cap[k] < r->w) {       /* its ramp, kept for the overlaps' later reads */
        free(b->fx_wx[k]);
        b->fx_wx[k] = malloc((size_t)r->w * sizeof(float));
        b->fx_wx_cap[k] = b->fx_wx[k] ? r->w : 0;
        if (!b->fx_wx[k]) return dream_err_set(err, "out of memory");
    }
    ramp_x(t, b->fx_wx[k]);
    b->fx_res[k] = res88;
    b->fx_u8[k] = (uint8_t)u8;
    b->fx_hole[k] = hl;
    b->fx_in[k] = 1;
    uint64_t in = 0;
    for (int j = 0; j < pl->n; j++) in |= (uint64_t)(b->fx_in[j] != 0) << j;
    /* the canvas columns where wx is exactly 1: [f0, w - f1) of the tile (smooth(s >= 1) = 1) */
    int one0 = r->x + t->feather[0], one1 = r->x + r->w - t->feather[2];
    int failed = 0;
    #pragma omp parallel if ((long)r->w * r->h > 65536)
    {
        float *tmp = malloc(FIXED_TMP(r->w) * sizeof(float));
        if (!tmp) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 16)
        for (int j = 0; j < r->h; j++) {
            if (!tmp) continue;
            seg_t seg[2 * TILE_MAX + 1];
            int ns = row_segments(pl, b->W, r->y + j, seg);
            float wy = blend_ramp(j, r->h, t->feather[1], t->feather[3]);
            const int bpp = u8 ? 3 : 6;     /* bytes a pixel */
            size_t row = (size_t)(r->y + j) * b->W;
            for (int q = 0; q < ns; q++) {
                int a = seg[q].x0 > r->x ? seg[q].x0 : r->x, e = seg[q].x1 < r->x + r->w ? seg[q].x1 : r->x + r->w;
                if (a >= e) continue;
                int f0 = e, f1 = e;     /* the lone, full-weight run [f0, f1): none */
                if (seg[q].count == 1 && wy == 1.0f) {
                    f0 = a > one0 ? a : one0;
                    f1 = e < one1 ? e : one1;
                    if (f0 < f1) {      /* the values themselves, in one tight loop (less the later part) */
                        int y = r->y + j, l0 = f1, l1 = f1;
                        if (lt.w > 0 && y >= lt.y && y < lt.y + lt.h) {
                            l0 = lt.x > f0 ? lt.x : f0;
                            l1 = lt.x + lt.w < f1 ? lt.x + lt.w : f1;
                            if (l1 < l0) l0 = l1 = f1;
                        }
                        /* (neither run reaches into the hole: it lies inside later) */
                        if (l0 > f0)
                            copy_run(res88 + tilesplit_index(&tr, &hl, f0, y) * bpp, u8, (size_t)(l0 - f0) * 3, out, out88,
                                     (row + f0) * 3);
                        if (f1 > l1)
                            copy_run(res88 + tilesplit_index(&tr, &hl, l1, y) * bpp, u8, (size_t)(f1 - l1) * 3, out, out88,
                                     (row + l1) * 3);
                    } else {
                        f0 = f1 = e;
                    }
                }
                if ((seg[q].mask & ~in) != 0) continue;     /* a tile covering it is still out */
                /* the rest of the segment (overlaps, feathers): from every result covering it */
                if (a < f0) fixed_mix(b, pl, seg[q].mask, r->y + j, a, f0, 0, NULL, out, out88, tmp);
                if (f1 < e) fixed_mix(b, pl, seg[q].mask, r->y + j, f1, e, 0, NULL, out, out88, tmp);
            }
        }
        free(tmp);
    }
    if (failed) {
        b->fx_in[k] = 0;
        b->fx_res[k] = NULL;
        return dream_err_set(err, "out of memory");
    }
    return 0;
}

int blend_add_fixed_plan(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res88, dream_image_t *out,
                         uint8_t *out88, dream_err_t *err) {
    return add_fixed(b, pl, k, res88, 0, NULL, NULL, out, out88, err);
}

int blend_add_fixed_plan_u8(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, dream_image_t *out,
                            uint8_t *out88, dream_err_t *err) {
    return add_fixed(b, pl, k, res, 1, NULL, NULL, out, out88, err);
}

int blend_add_fixed_later(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, int u8, const tile_rect_t *later,
                          dream_image_t *out, uint8_t *out88, dream_err_t *err) {
    return add_fixed(b, pl, k, res, u8 != 0, NULL, later, out, out88, err);
}

int blend_add_fixed_split(blend_t *b, const tile_plan_t *pl, int k, const uint8_t *res, int u8, const tile_rect_t *hole,
                          const tile_rect_t *later, dream_image_t *out, uint8_t *out88, dream_err_t *err) {
    return add_fixed(b, pl, k, res, u8 != 0, hole, later, out, out88, err);
}

int blend_copy_fixed(const tile_rect_t *tile, const uint8_t *res, int u8, const tile_rect_t *rect, int W, int H,
                     dream_image_t *out, uint8_t *out88, dream_err_t *err) {
    return blend_copy_fixed_split(tile, NULL, res, NULL, u8, rect, W, H, out, out88, err);
}

int blend_copy_fixed_split(const tile_rect_t *tile, const tile_rect_t *hole, const uint8_t *res, const uint8_t *rest,
                           int u8, const tile_rect_t *rect, int W, int H, dream_image_t *out, uint8_t *out88,
                           dream_err_t *err) {
    if (!tile || !res || !rect || (!out && !out88)) return dream_err_set(err, "blend: nothing to copy");
    if (rect->w <= 0 || rect->h <= 0) return 0;
    const tile_rect_t canvas = {0, 0, W, H};
    if (!tile_rect_inside(rect, tile) || !tile_rect_inside(tile, &canvas))
        return dream_err_set(err, "blend: copy %dx%d+%d+%d outside tile %dx%d+%d+%d or canvas %dx%d", rect->w, rect->h,
                             rect->x, rect->y, tile->w, tile->h, tile->x, tile->y, W, H);
    if (out && (out->w != W || out->h != H || out->c != 3)) return dream_err_set(err, "blend: out must be %dx%dx3", W, H);
    const tilesplit_rect_t tr = {tile->x, tile->y, tile->w, tile->h};
    tilesplit_rect_t hl = {0, 0, 0, 0};
    if (hole && hole->w > 0 && hole->h > 0) {
        if (!tile_rect_inside(hole, tile))
            return dream_err_set(err, "blend: hole %dx%d+%d+%d outside the tile", hole->w, hole->h, hole->x, hole->y);
        hl = (tilesplit_rect_t){hole->x, hole->y, hole->w, hole->h};
    }
    const size_t first = tilesplit_first_px(&tr, &hl);
    const int bpp = u8 ? 3 : 6;
    #pragma omp parallel for schedule(static) if ((long)rect->w * rect->h > 65536)
    for (int y = rect->y; y < rect->y + rect->h; y++) {
        int xs[4], n = tilesplit_pieces(&hl, y, rect->x, rect->x + rect->w, xs);
        for (int q = 0; q < n; q++) {
            size_t i = tilesplit_index(&tr, &hl, xs[q], y);
            const uint8_t *src = i < first ? res + i * bpp : rest ? rest + (i - first) * bpp : NULL;
            if (src)    /* (the hole's pixels without the rest: left as they are) */
                copy_run(src, u8, (size_t)(xs[q + 1] - xs[q]) * 3, out, out88, ((size_t)y * W + (size_t)xs[q]) * 3);
        }
    }
    return 0;
}

static int finish_fixed(blend_t *b, const tile_plan_t *pl, const uint8_t *done, const dream_image_t *base,
                        dream_image_t *out, uint8_t *out88, dream_err_t *err);

int blend_finish_fixed_plan(blend_t *b, const tile_plan_t *pl, const uint8_t *done, const dream_image_t *base,
                            dream_image_t *out, uint8_t *out88, dream_err_t *err) {
    int rc = finish_fixed(b, pl, done, base, out, out88, err);
    /* the keyframe's results are not read again, whatever happened: the next one starts clean */
    memset(b->fx_in, 0, sizeof b->fx_in);
    memset(b->fx_res, 0, sizeof b->fx_res);
    return rc;
}

static int finish_fixed(blend_t *b, const tile_plan_t *pl, const uint8_t *done, const dream_image_t *base,
                        dream_image_t *out, uint8_t *out88, dream_err_t *err) {
    if (!pl || !done) return dream_err_set(err, "blend: no plan");
    if ((!out && !out88) || (out && (out->w != b->W || out->h != b->H || out->c != 3 || out == base)))
        return dream_err_set(err, "blend: out must be %dx%dx3", b->W, b->H);
    int all = 1;
    uint64_t in = 0;
    for (int k = 0; k < pl->n; k++) {
        if (done[k] && !b->fx_in[k]) return dream_err_set(err, "blend: tile %d is marked done but was not added", k);
        all &= done[k] != 0;
        in |= (uint64_t)(done[k] != 0) << k;
    }
    if (!all && (!base || base->w != b->W || base->h != b->H || base->c != 3))
        return dream_err_set(err, "blend: a tile is missing and there is no base to fill it from");
    int failed = 0;
    if (!all) {
        /* every result in was blended on arrival where it is alone at weight 1 and where all the
         * tiles covering a pixel are in; the rest is the base, or the results in plus the base up
         * to weight 1 (recomputed wherever any weight is below 1: a missing tile changes the fill) */
        #pragma omp parallel
        {
            float *tmp = malloc(FIXED_TMP(b->W) * sizeof(float));
            if (!tmp) {
                #pragma omp atomic write
                failed = 1;
            }
            #pragma omp for schedule(dynamic, 16)
            for (int y = 0; y < b->H; y++) {
                if (!tmp) continue;
                seg_t seg[2 * TILE_MAX + 1];
                int ns = row_segments(pl, b->W, y, seg);
                size_t row = (size_t)y * b->W;
                for (int q = 0; q < ns; q++) {
                    uint64_t have = seg[q].mask & in;
                    if (!have) {        /* a missing tile (or none): the warped base */
                        for (size_t p = (row + seg[q].x0) * 3; p < (row + seg[q].x1) * 3; p++)
                            put_fixed(out, out88, p, base->px[p]);
                        continue;
                    }
                    int xa = seg[q].x0, xb = seg[q].x1, skip0 = xb, skip1 = xb;
                    if (seg[q].count == 1) {
                        /* its owner's full-weight run was written on arrival */
                        const tile_t *t = &pl->tiles[seg[q].owner];
                        if (y >= t->r.y + t->feather[1] && y < t->r.y + t->r.h - t->feather[3]) {
                            skip0 = t->r.x + t->feather[0] > xa ? t->r.x + t->feather[0] : xa;
                            skip1 = t->r.x + t->r.w - t->feather[2] < xb ? t->r.x + t->r.w - t->feather[2] : xb;
                            if (skip1 < skip0) skip1 = skip0;
                        }
                    }
                    if (xa < skip0) fixed_mix(b, pl, have, y, xa, skip0, 1, base, out, out88, tmp);
                    if (skip1 < xb) fixed_mix(b, pl, have, y, skip1, xb, 1, base, out, out88, tmp);
                }
            }
            free(tmp);
        }
    }
    return failed ? dream_err_set(err, "out of memory") : 0;
}

/* the part of tile k where its weight is exactly 1 and no other tile of the plan reaches: where
 * the tile-resident canvas is that tile's result bit for bit. Empty (w = h = 0) when none */
/* the rect [x0, x1) x [y0, y1) less o: whichever of the four cuts (the part right of o, left of
 * it, below, above; the first on a tie) keeps the most area; 1 when they met (then cut), else 0 */
static int cut_off(int *x0, int *y0, int *x1, int *y1, const tile_rect_t *o) {
    int ix0 = o->x > *x0 ? o->x : *x0, ix1 = o->x + o->w < *x1 ? o->x + o->w : *x1;
    int iy0 = o->y > *y0 ? o->y : *y0, iy1 = o->y + o->h < *y1 ? o->y + o->h : *y1;
    if (ix0 >= ix1 || iy0 >= iy1) return 0;
    long h = *y1 - *y0, w = *x1 - *x0;
    long keep[4] = {(long)(*x1 - ix1) * h, (long)(ix0 - *x0) * h, (long)(*y1 - iy1) * w, (long)(iy0 - *y0) * w};
    int best = 0;
    for (int s = 1; s < 4; s++)
        if (keep[s] > keep[best]) best = s;
    if (best == 0) *x0 = ix1;
    else if (best == 1) *x1 = ix0;
    else if (best == 2) *y0 = iy1;
    else *y1 = iy0;
    return 1;
}

tile_rect_t blend_alone_rect(const tile_plan_t *pl, int k) {
    tile_rect_t e = {0, 0, 0, 0};
    if (!pl || k < 0 || k >= pl->n) return e;
    const tile_t *t = &pl->tiles[k];
    int x0 = t->r.x + t->feather[0], x1 = t->r.x + t->r.w - t->feather[2];
    int y0 = t->r.y + t->feather[1], y1 = t->r.y + t->r.h - t->feather[3];
    for (int it = 0; it < pl->n && x0 < x1 && y0 < y1; it++) {
        int hit = 0;
        for (int j = 0; j < pl->n && x0 < x1 && y0 < y1; j++)
            if (j != k) hit |= cut_off(&x0, &y0, &x1, &y1, &pl->tiles[j].r);
        if (!hit) break;
    }
    if (x0 >= x1 || y0 >= y1) return e;
    return (tile_rect_t){x0, y0, x1 - x0, y1 - y0};
}

/* where tile r's window of the next keyframe could reach (blend_rest_rect); -1: none */
static int next_window_bound(const tile_rect_t *r, int W, int H, double zoom, double angle_deg, dream_interp_t interp,
                             tile_rect_t *out) {
    const double zs[2] = {zoom, exp(1.5 * log(zoom))}, as[2] = {angle_deg, 1.5 * angle_deg};
    int x0 = INT_MAX, y0 = INT_MAX, x1 = INT_MIN, y1 = INT_MIN;
    for (int k = 0; k < 2; k++) {
        int sx, sy, sw, sh;
        if (dream_warp_source_rect(W, H, zs[k], as[k], interp, r->x, r->y, r->w, r->h, &sx, &sy, &sw, &sh, NULL) != 0)
            return -1;
        if (sx < x0) x0 = sx;
        if (sy < y0) y0 = sy;
        if (sx + sw > x1) x1 = sx + sw;
        if (sy + sh > y1) y1 = sy + sh;
    }
    *out = (tile_rect_t){x0 - 4, y0 - 4, x1 - x0 + 8, y1 - y0 + 8};
    return 0;
}

tile_rect_t blend_rest_rect(const tile_plan_t *pl, int k, const tile_plan_t *next, int W, int H, double zoom,
                            double angle_deg, dream_interp_t interp, int seam_jitter) {
    const tile_rect_t e = {0, 0, 0, 0};
    if (!pl || k < 0 || k >= pl->n || !(zoom > 0) || !isfinite(zoom) || !isfinite(angle_deg)) return e;
    tile_rect_t a = blend_alone_rect(pl, k);
    if (a.w <= 0 || a.h <= 0) return e;
    if (next && next->n == pl->n) {
        int x0 = a.x, y0 = a.y, x1 = a.x + a.w, y1 = a.y + a.h;
        for (int j = 0; j < next->n && x0 < x1 && y0 < y1; j++) {
            tile_rect_t wj;
            if (j == k) continue;
            if (next_window_bound(&next->tiles[j].r, W, H, zoom, angle_deg, interp, &wj) != 0) return e;
            cut_off(&x0, &y0, &x1, &y1, &wj);     /* (the side of a beside wj that keeps the most) */
        }
        return x1 - x0 >= 32 && y1 - y0 >= 32 ? (tile_rect_t){x0, y0, x1 - x0, y1 - y0} : e;
    }
    double pull = fabs(1.0 - 1.0 / zoom) * 0.5 * (W > H ? W : H);
    int m = 2 * (seam_jitter > 0 ? seam_jitter : 0) + 16 + (int)ceil(pull);
    int x0 = a.x, y0 = a.y, x1 = a.x + a.w, y1 = a.y + a.h;
    if (x0 > 0) x0 += m;
    if (y0 > 0) y0 += m;
    if (x1 < W) x1 -= m;
    if (y1 < H) y1 -= m;
    if (x1 - x0 < 32 || y1 - y0 < 32) return e;
    return (tile_rect_t){x0, y0, x1 - x0, y1 - y0};
}
