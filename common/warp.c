/*
 * warp.c — zoom + rotate warps about the image centre and the seed's keyframe
 * interpolation (see image.h).
 *
 * Geometry (pixel centres at integer coordinates, x right, y down, centre
 * c = ((w-1)/2, (h-1)/2)): destination pixel p samples the source at
 *     s = c + R(angle) (p - c) / zoom,   R(a) = [[cos a, -sin a], [sin a, cos a]]
 * so zoom > 1 magnifies and a positive angle turns the picture counter-clockwise
 * on screen. Warps compose: W(z1, a1) after W(z2, a2) == W(z1*z2, a1+a2).
 * A sample is "covered" when s lies inside the source pixels' footprint,
 * [-0.5, w-0.5] x [-0.5, h-0.5]; outside it the edge pixels are repeated (clamp).
 *
 * Interpolation kernels: bilinear, or bicubic Keys with a = -0.5 (Catmull-Rom),
 * which reproduces linear ramps exactly and may overshoot slightly near edges
 * (no clamping here: callers clip, and saving clamps to 0..255).
 *
 * Large images split their rows over one pthread per core (at most 16); small ones run
 * inline. The split does not change the result.
 */
#include "image.h"
#include "parfor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COVER_EPS 1e-6
#define THREAD_MIN_PIXELS (128 * 1024)

/* The source as the samplers see it: the image is W x H x C (clamping bounds), its pixels
 * in memory are the window x in [ox, ox + ww), y in [oy, oy + wh), rows `stride` floats
 * apart (the whole image: ox = oy = 0, ww = W, wh = H, stride = W * C) */
typedef struct {
    const float *px;
    size_t stride;
    int W, H, C, ox, oy, ww, wh;
} src_view_t;

typedef struct {
    src_view_t v;
    float *out;                       /* destination pixel (x0, y0); rows out_stride floats apart */
    size_t out_stride;
    uint8_t *covered;                 /* (dst h, dst w) or NULL (whole images only) */
    double cx, cy, a, b;              /* src centre; a = cos/zoom, b = sin/zoom */
    double dcx, dcy, kx, ky;          /* dst centre; src/dst scale per axis (1 = same size) */
    dream_interp_t interp;
    int x0, x1, y0, y1;               /* destination columns and rows (canvas coordinates) */
    int oy0;                          /* the destination row that `out` points at */
} warp_job_t;

/* four floats as one SSE vector (GCC vector extensions: element-wise IEEE operations, so a
 * lane computes exactly what scalar code in the same order computes) */
typedef float v4f __attribute__((vector_size(16)));
static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Keys cubic weights for fractional offset t in [0, 1), taps at -1, 0, 1, 2. */
static inline void keys_weights(double t, float w[4]) {
    const double A = -0.5;
    double t2 = t * t, t3 = t2 * t;
    double u = 1.0 - t, u2 = u * u, u3 = u2 * u;
    w[0] = (float)(A * t3 - 2.0 * A * t2 + A * t);              /* distance 1 + t */
    w[1] = (float)((A + 2.0) * t3 - (A + 3.0) * t2 + 1.0);      /* distance t     */
    w[2] = (float)((A + 2.0) * u3 - (A + 3.0) * u2 + 1.0);      /* distance 1 - t */
    w[3] = (float)(A * u3 - 2.0 * A * u2 + A * u);              /* distance 2 - t */
}

/* Bilinear sample at (sx, sy) into out[0..C); clamps at the edges. */
static inline void sample_bilinear(const src_view_t *v, double sx, double sy, float *out) {
    const int W = v->W, H = v->H, C = v->C;
    if (sx >= 0.0 && sy >= 0.0 && sx < W - 1 && sy < H - 1) {   /* interior: no clamping */
        const int x0 = (int)sx, y0 = (int)sy;
        const float tx = (float)(sx - x0), ty = (float)(sy - y0);
        const float w00 = (1.0f - tx) * (1.0f - ty), w01 = tx * (1.0f - ty);
        const float w10 = (1.0f - tx) * ty, w11 = tx * ty;
        const float *p = v->px + (size_t)(y0 - v->oy) * v->stride + (size_t)(x0 - v->ox) * C, *q = p + v->stride;
        if (C == 3) {
            out[0] = w00 * p[0] + w01 * p[3] + w10 * q[0] + w11 * q[3];
            out[1] = w00 * p[1] + w01 * p[4] + w10 * q[1] + w11 * q[4];
            out[2] = w00 * p[2] + w01 * p[5] + w10 * q[2] + w11 * q[5];
        } else {
            for (int ch = 0; ch < C; ch++)
                out[ch] = w00 * p[ch] + w01 * p[C + ch] + w10 * q[ch] + w11 * q[C + ch];
        }
        return;
    }
    /* keep far-away samples in a range where floor() fits an int */
    if (sx < -4.0) sx = -4.0; else if (sx > W + 3.0) sx = W + 3.0;
    if (sy < -4.0) sy = -4.0; else if (sy > H + 3.0) sy = H + 3.0;
    const double fx0 = floor(sx), fy0 = floor(sy);
    const int x0 = (int)fx0, y0 = (int)fy0;
    const float tx = (float)(sx - fx0), ty = (float)(sy - fy0);
    const int xa = (clampi(x0, 0, W - 1) - v->ox) * C, xb = (clampi(x0 + 1, 0, W - 1) - v->ox) * C;
    const float *ra = v->px + (size_t)(clampi(y0, 0, H - 1) - v->oy) * v->stride;
    const float *rb = v->px + (size_t)(clampi(y0 + 1, 0, H - 1) - v->oy) * v->stride;
    for (int ch = 0; ch < C; ch++) {
        float top = ra[xa + ch] * (1.0f - tx) + ra[xb + ch] * tx;
        float bot = rb[xa + ch] * (1.0f - tx) + rb[xb + ch] * tx;
        out[ch] = top * (1.0f - ty) + bot * ty;
    }
}

/* Keys bicubic sample at (sx, sy) into out[0..C); taps clamp at the edges. */
static inline void sample_bicubic(const src_view_t *v, double sx, double sy, float *out) {
    const int W = v->W, H = v->H, C = v->C;
    if (C == 3 && sx >= 1.0 && sy >= 1.0 && sx < W - 2 && sy < H - 2 && (int)sx + 3 < v->ox + v->ww) {
        /* interior RGB (almost every pixel of a keyframe warp): all 16 taps inside, no clamps,
         * the three channels as lanes of one vector (the fourth lane reads the next pixel's
         * red, inside the memory since x0 + 3 is a column of it, and is dropped). Each lane does the float
         * operations of the general path below in the same order: bit-identical results */
        const int x0 = (int)sx, y0 = (int)sy;
        float wx[4], wy[4];
        keys_weights(sx - x0, wx);
        keys_weights(sy - y0, wy);
        const size_t stride = v->stride;
        const float *row = v->px + (size_t)(y0 - 1 - v->oy) * stride + (size_t)(x0 - 1 - v->ox) * 3;
        v4f acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int r = 0; r < 4; r++, row += stride) {
            v4f t = wx[0] * load4(row) + wx[1] * load4(row + 3) + wx[2] * load4(row + 6) + wx[3] * load4(row + 9);
            acc += wy[r] * t;
        }
        out[0] = acc[0];
        out[1] = acc[1];
        out[2] = acc[2];
        return;
    }
    if (sx < -4.0) sx = -4.0; else if (sx > W + 3.0) sx = W + 3.0;
    if (sy < -4.0) sy = -4.0; else if (sy > H + 3.0) sy = H + 3.0;
    const double fx0 = floor(sx), fy0 = floor(sy);
    const int x0 = (int)fx0, y0 = (int)fy0;
    float wx[4], wy[4];
    keys_weights(sx - fx0, wx);
    keys_weights(sy - fy0, wy);
    int xi[4];
    const float *rows[4];
    for (int k = 0; k < 4; k++) {
        xi[k] = (clampi(x0 - 1 + k, 0, W - 1) - v->ox) * C;
        rows[k] = v->px + (size_t)(clampi(y0 - 1 + k, 0, H - 1) - v->oy) * v->stride;
    }
    for (int ch = 0; ch < C; ch++) {
        float acc = 0.0f;
        for (int r = 0; r < 4; r++) {
            const float *row = rows[r] + ch;
            acc += wy[r] * (wx[0] * row[xi[0]] + wx[1] * row[xi[1]] + wx[2] * row[xi[2]] +
                            wx[3] * row[xi[3]]);
        }
        out[ch] = acc;
    }
}

static void warp_rows(const warp_job_t *j) {
    const int W = j->v.W, H = j->v.H, C = j->v.C;
    const double lo_x = -0.5 - COVER_EPS, hi_x = W - 0.5 + COVER_EPS;
    const double lo_y = -0.5 - COVER_EPS, hi_y = H - 0.5 + COVER_EPS;
    const int cubic = j->interp == DREAM_INTERP_BICUBIC;
    const int scaled = j->kx != 1.0 || j->ky != 1.0;
    const int DW = j->x1 - j->x0;
    for (int y = j->y0; y < j->y1; y++) {
        const double dy = y - j->dcy;
        float *out = j->out + (size_t)(y - j->oy0) * j->out_stride;
        uint8_t *cov = j->covered ? j->covered + (size_t)y * DW : NULL;
        for (int x = j->x0; x < j->x1; x++, out += C) {
            const double dx = x - j->dcx;
            double sx, sy;
            if (scaled) {       /* c_src + S R (p - c_dst) / zoom */
                sx = j->cx + j->kx * (j->a * dx - j->b * dy);
                sy = j->cy + j->ky * (j->b * dx + j->a * dy);
            } else {            /* same size: the exact formula of the header */
                sx = j->cx + j->a * dx - j->b * dy;
                sy = j->cy + j->b * dx + j->a * dy;
            }
            if (cov) cov[x - j->x0] = sx >= lo_x && sx <= hi_x && sy >= lo_y && sy <= hi_y;
            if (cubic) sample_bicubic(&j->v, sx, sy, out);
            else sample_bilinear(&j->v, sx, sy, out);
        }
    }
}

static int same_shape(const dream_image_t *a, const dream_image_t *b) {
    return a->w == b->w && a->h == b->h && a->c == b->c;
}

static int check_pair(const dream_image_t *src, const dream_image_t *dst, const char *what,
                      dream_err_t *err) {
    if (!src || !dst || !src->px || !dst->px) return dream_err_set(err, "%s: NULL image", what);
    if (!same_shape(src, dst))
        return dream_err_set(err, "%s: size mismatch (%dx%dx%d vs %dx%dx%d)", what, src->w, src->h,
                             src->c, dst->w, dst->h, dst->c);
    if (src->px == dst->px) return dream_err_set(err, "%s: source and destination must differ", what);
    if (src->w <= 0 || src->h <= 0 || src->c <= 0)
        return dream_err_set(err, "%s: empty image", what);
    return 0;
}

/* Checks zoom and angle and sets the geometry of the header's formula for src: the centre
 * (cx, cy) and a = cos/zoom, b = sin/zoom. 0, or -1 with "<what>: invalid ..." in err. */
static int warp_geometry(const dream_image_t *src, double zoom, double angle_deg, const char *what,
                         double *cx, double *cy, double *a, double *b, dream_err_t *err) {
    if (!isfinite(zoom) || zoom <= 1e-6 || zoom > 1e6)
        return dream_err_set(err, "%s: invalid zoom %g", what, zoom);
    if (!isfinite(angle_deg)) return dream_err_set(err, "%s: invalid angle %g", what, angle_deg);
    double rad = fmod(angle_deg, 360.0) * (M_PI / 180.0);
    double cs = cos(rad), sn = sin(rad);
    /* exact quarter turns keep the pixel grid exact */
    if (fabs(cs) < 1e-12) cs = 0.0;
    if (fabs(sn) < 1e-12) sn = 0.0;
    *cx = (src->w - 1) * 0.5;
    *cy = (src->h - 1) * 0.5;
    *a = cs / zoom;
    *b = sn / zoom;
    return 0;
}

int dream_warp_coeffs(int W, int H, double zoom, double angle_deg, double *cx, double *cy, double *a, double *b,
                      dream_err_t *err) {
    const dream_image_t shape = {W, H, 3, NULL};
    return warp_geometry(&shape, zoom, angle_deg, "warp", cx, cy, a, b, err);
}

static src_view_t whole_view(const dream_image_t *im) {
    return (src_view_t){im->px, (size_t)im->w * im->c, im->w, im->h, im->c, 0, 0, im->w, im->h};
}

static void warp_band(void *arg, size_t begin, size_t end) {
    warp_job_t band = *(const warp_job_t *)arg;
    band.y1 = band.y0 + (int)end;
    band.y0 = band.y0 + (int)begin;
    warp_rows(&band);
}

/* job's rows [y0, y1) over the cores (parfor.h; rows are independent: any split gives the
 * same pixels), at least THREAD_MIN_PIXELS a thread */
static void warp_parallel(const warp_job_t *job) {
    int w = job->x1 - job->x0 > 0 ? job->x1 - job->x0 : 1;
    size_t min_rows = (THREAD_MIN_PIXELS + (size_t)w - 1) / (size_t)w;
    dream_parallel_range((size_t)(job->y1 - job->y0), min_rows, warp_band, (void *)job);
}

static int warp_run(const dream_image_t *src, dream_image_t *dst, uint8_t *covered, double zoom,
                    double angle_deg, dream_interp_t interp, dream_err_t *err) {
    warp_job_t job = {.v = whole_view(src), .out = dst->px, .out_stride = (size_t)dst->w * dst->c,
                      .covered = covered, .interp = interp, .x0 = 0, .x1 = dst->w, .y0 = 0, .y1 = dst->h};
    if (warp_geometry(src, zoom, angle_deg, "dream_warp", &job.cx, &job.cy, &job.a, &job.b, err) < 0) return -1;
    if (interp != DREAM_INTERP_BILINEAR && interp != DREAM_INTERP_BICUBIC)
        return dream_err_set(err, "dream_warp: unknown interpolation %d", (int)interp);
    job.dcx = (dst->w - 1) * 0.5;
    job.dcy = (dst->h - 1) * 0.5;
    job.kx = (double)src->w / dst->w;
    job.ky = (double)src->h / dst->h;
    warp_parallel(&job);
    return 0;
}

int dream_warp_mask(const dream_image_t *src, dream_image_t *dst, uint8_t *covered, double zoom,
                    double angle_deg, dream_interp_t interp, dream_err_t *err) {
    if (check_pair(src, dst, "dream_warp", err) < 0) return -1;
    return warp_run(src, dst, covered, zoom, angle_deg, interp, err);
}

int dream_warp(const dream_image_t *src, dream_image_t *dst, double zoom, double angle_deg,
               dream_interp_t interp, dream_err_t *err) {
    return dream_warp_mask(src, dst, NULL, zoom, angle_deg, interp, err);
}

static int check_scaled(const dream_image_t *src, const dream_image_t *dst, const char *what, dream_err_t *err) {
    if (!src || !dst || !src->px || !dst->px) return dream_err_set(err, "%s: NULL image", what);
    if (src->c != dst->c) return dream_err_set(err, "%s: channel mismatch (%d vs %d)", what, src->c, dst->c);
    if (src->px == dst->px) return dream_err_set(err, "%s: source and destination must differ", what);
    if (src->w <= 0 || src->h <= 0 || src->c <= 0 || dst->w <= 0 || dst->h <= 0)
        return dream_err_set(err, "%s: empty image", what);
    return 0;
}

int dream_warp_scaled(const dream_image_t *src, dream_image_t *dst, uint8_t *covered, double zoom,
                      double angle_deg, dream_interp_t interp, dream_err_t *err) {
    if (check_scaled(src, dst, "dream_warp_scaled", err) < 0) return -1;
    return warp_run(src, dst, covered, zoom, angle_deg, interp, err);
}

int dream_image_resize(const dream_image_t *src, dream_image_t *dst, dream_interp_t interp, dream_err_t *err) {
    return dream_warp_scaled(src, dst, NULL, 1.0, 0.0, interp, err);
}

/* a same-size warp of the rect (rx, ry, rw, rh) of a W x H canvas seen through v into out
 * ((rh, rw, C) floats): the job dream_warp runs, restricted to the rect. 0, or -1 with err */
static int rect_job(warp_job_t *job, src_view_t v, double zoom, double angle_deg, dream_interp_t interp, int rx,
                    int ry, int rw, int rh, float *out, const char *what, dream_err_t *err) {
    if (interp != DREAM_INTERP_BILINEAR && interp != DREAM_INTERP_BICUBIC)
        return dream_err_set(err, "%s: unknown interpolation %d", what, (int)interp);
    const dream_image_t shape = {v.W, v.H, v.C, NULL};
    *job = (warp_job_t){.v = v, .out = out, .out_stride = (size_t)rw * v.C, .interp = interp,
                        .x0 = rx, .x1 = rx + rw, .y0 = ry, .y1 = ry + rh, .oy0 = ry,
                        .dcx = (v.W - 1) * 0.5, .dcy = (v.H - 1) * 0.5, .kx = 1.0, .ky = 1.0};
    return warp_geometry(&shape, zoom, angle_deg, what, &job->cx, &job->cy, &job->a, &job->b, err);
}

int dream_warp_rect_rgb8(const dream_image_t *src, double zoom, double angle_deg, dream_interp_t interp, int rx,
                         int ry, int rw, int rh, uint8_t *out, dream_err_t *err) {
    if (!src || !src->px || src->c != 3 || !out) return dream_err_set(err, "warp rect: need a 3-channel image");
    if (rw <= 0 || rh <= 0 || rx < 0 || ry < 0 || rx + rw > src->w || ry + rh > src->h)
        return dream_err_set(err, "warp rect: %dx%d+%d+%d outside %dx%d", rw, rh, rx, ry, src->w, src->h);
    float *row = malloc((size_t)rw * 3 * sizeof(float));
    if (!row) return dream_err_set(err, "warp rect: out of memory");
    warp_job_t job;
    if (rect_job(&job, whole_view(src), zoom, angle_deg, interp, rx, ry, rw, rh, row, "warp rect", err) < 0) {
        free(row);
        return -1;
    }
    for (int j = 0; j < rh; j++) {     /* one row at a time through the float row, one thread */
        job.y0 = job.oy0 = ry + j;
        job.y1 = ry + j + 1;
        warp_rows(&job);
        uint8_t *o = out + (size_t)j * rw * 3;
        for (int i = 0; i < rw * 3; i++) o[i] = dream_u8_from_float(row[i]);
    }
    free(row);
    return 0;
}

/* prev/next/out of dream_crossfade and dream_interpolate: present, prev and next alike, out
 * with their channels and apart from both */
static int check_keyframes(const dream_image_t *prev, const dream_image_t *next, const dream_image_t *out,
                      const char *what, dream_err_t *err) {
    if (!prev || !next || !out || !prev->px || !next->px || !out->px)
        return dream_err_set(err, "%s: NULL image", what);
    if (!same_shape(prev, next) || prev->c != out->c)
        return dream_err_set(err, "%s: size mismatch (prev %dx%dx%d, next %dx%dx%d, out %dx%dx%d)",
                             what, prev->w, prev->h, prev->c, next->w, next->h, next->c,
                             out->w, out->h, out->c);
    if (out->px == prev->px || out->px == next->px)
        return dream_err_set(err, "%s: out must not alias prev or next", what);
    return 0;
}

int dream_crossfade(const dream_image_t *prev, double zoom_p, double angle_p, const dream_image_t *next,
                    double zoom_n, double angle_n, double w, dream_image_t *out, dream_err_t *err) {
    const char *what = "dream_crossfade";
    if (check_keyframes(prev, next, out, what, err) != 0) return -1;
    if (!(w >= 0.0 && w <= 1.0)) return dream_err_set(err, "%s: weight %g not in [0, 1]", what, w);
    /* out = prev's warp, tmp = next's warp (with coverage) */
    if (dream_warp_scaled(prev, out, NULL, zoom_p, angle_p, DREAM_INTERP_BILINEAR, err) < 0) return -1;
    if (w == 0.0) return 0;
    const size_t n = (size_t)out->w * out->h, nc = n * out->c;
    dream_image_t tmp = {out->w, out->h, out->c, malloc(nc * sizeof(float))};
    uint8_t *cov = malloc(n);
    if (!tmp.px || !cov) {
        free(tmp.px);
        free(cov);
        return dream_err_set(err, "%s: out of memory", what);
    }
    int rc = dream_warp_scaled(next, &tmp, cov, zoom_n, angle_n, DREAM_INTERP_BILINEAR, err);
    if (rc == 0) {
        const float wa = (float)(1.0 - w), wb = (float)w;
        const int C = out->c;
        for (size_t i = 0; i < n; i++) {
            if (!cov[i]) continue;   /* uncovered: prev's warp alone */
            float *o = out->px + i * C;
            const float *b = tmp.px + i * C;
            for (int ch = 0; ch < C; ch++) o[ch] = wa * o[ch] + wb * b[ch];
        }
    }
    free(tmp.px);
    free(cov);
    return rc;
}

int dream_interpolate(const dream_image_t *prev, const dream_image_t *next, double zoom,
                      double angle_deg, double t, dream_image_t *out, dream_err_t *err) {
    const char *what = "dream_interpolate";
    if (check_keyframes(prev, next, out, what, err) != 0) return -1;
    if (!(t >= 0.0 && t <= 1.0)) return dream_err_set(err, "%s: t=%g not in [0, 1]", what, t);
    if (!isfinite(zoom) || zoom <= 1e-6 || zoom > 1e6)
        return dream_err_set(err, "%s: invalid zoom %g", what, zoom);
    if (!isfinite(angle_deg)) return dream_err_set(err, "%s: invalid angle %g", what, angle_deg);
    const size_t nc = (size_t)prev->w * prev->h * prev->c;
    if (same_shape(prev, out) && t == 0.0) { memcpy(out->px, prev->px, nc * sizeof(float)); return 0; }
    if (same_shape(prev, out) && t == 1.0) { memcpy(out->px, next->px, nc * sizeof(float)); return 0; }
    return dream_crossfade(prev, pow(zoom, t), t * angle_deg, next, pow(zoom, t - 1.0), (t - 1.0) * angle_deg, t,
                           out, err);
}

/* ---------- a tile's warp from a window of the canvas (the worker side of --tile-warp) ---------- */

static int rect_in(int x, int y, int w, int h, int W, int H) {
    return w > 0 && h > 0 && x >= 0 && y >= 0 && x <= W - w && y <= H - h;
}

int dream_warp_source_rect(int W, int H, double zoom, double angle_deg, dream_interp_t interp, int rx, int ry,
                           int rw, int rh, int *sx, int *sy, int *sw, int *sh, dream_err_t *err) {
    if (W <= 0 || H <= 0 || W > DREAM_IMAGE_MAX_SIDE || H > DREAM_IMAGE_MAX_SIDE)
        return dream_err_set(err, "warp window: bad canvas %dx%d", W, H);
    if (!rect_in(rx, ry, rw, rh, W, H))
        return dream_err_set(err, "warp window: rect %dx%d+%d+%d outside %dx%d", rw, rh, rx, ry, W, H);
    if (interp != DREAM_INTERP_BILINEAR && interp != DREAM_INTERP_BICUBIC)
        return dream_err_set(err, "warp window: unknown interpolation %d", (int)interp);
    const dream_image_t shape = {W, H, 3, NULL};
    double cx, cy, a, b;
    if (warp_geometry(&shape, zoom, angle_deg, "warp window", &cx, &cy, &a, &b, err) < 0) return -1;
    /* the map is affine: the samples' extremes are at the rect's corner pixels */
    double lx = 1e300, hx = -1e300, ly = 1e300, hy = -1e300;
    for (int k = 0; k < 4; k++) {
        double dx = (k & 1 ? rx + rw - 1 : rx) - cx, dy = (k & 2 ? ry + rh - 1 : ry) - cy;
        double px = cx + a * dx - b * dy, py = cy + b * dx + a * dy;
        if (px < lx) lx = px;
        if (px > hx) hx = px;
        if (py < ly) ly = py;
        if (py > hy) hy = py;
    }
    /* taps: floor - 1 .. floor + 2 (bicubic) or floor .. floor + 1, one more pixel each side
     * for the rounding of interior samples; samples beyond -4 / W + 3 are clamped there first */
    const int lo = interp == DREAM_INTERP_BICUBIC ? 2 : 1, hi = interp == DREAM_INTERP_BICUBIC ? 3 : 2;
    lx = fmax(lx, -4.0); ly = fmax(ly, -4.0);
    hx = fmin(hx, W + 3.0); hy = fmin(hy, H + 3.0);
    int x0 = clampi((int)floor(lx) - lo, 0, W - 1), x1 = clampi((int)floor(hx) + hi, 0, W - 1);
    int y0 = clampi((int)floor(ly) - lo, 0, H - 1), y1 = clampi((int)floor(hy) + hi, 0, H - 1);
    *sx = x0;
    *sy = y0;
    *sw = x1 - x0 + 1;
    *sh = y1 - y0 + 1;
    return 0;
}

int dream_warp_window(const float *win, int wx, int wy, int ww, int wh, int W, int H, double zoom,
                      double angle_deg, dream_interp_t interp, int rx, int ry, int rw, int rh, float *out,
                      dream_err_t *err) {
    if (!win || !out) return dream_err_set(err, "warp window: NULL pixels");
    int nx, ny, nw, nh;
    if (dream_warp_source_rect(W, H, zoom, angle_deg, interp, rx, ry, rw, rh, &nx, &ny, &nw, &nh, err) < 0) return -1;
    if (!rect_in(wx, wy, ww, wh, W, H) || nx < wx || ny < wy || nx + nw > wx + ww || ny + nh > wy + wh)
        return dream_err_set(err, "warp window: %dx%d+%d+%d does not hold the %dx%d+%d+%d the rect %dx%d+%d+%d reads",
                             ww, wh, wx, wy, nw, nh, nx, ny, rw, rh, rx, ry);
    warp_job_t job;
    const src_view_t v = {win, (size_t)ww * 3, W, H, 3, wx, wy, ww, wh};
    if (rect_job(&job, v, zoom, angle_deg, interp, rx, ry, rw, rh, out, "warp window", err) < 0) return -1;
    warp_parallel(&job);
    return 0;
}
