/*
 * sinks.c — frame sink plumbing and the PNG directory sink; see sinks.h.
 */
#include "sinks.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "overlay.h"
#include "stream.h"

typedef struct png_sink {
    char dir[512];
    char prefix[32];
    int every;
} png_sink_t;

static int png_frame(void *ctx, const dream_image_t *im, uint64_t seq, dream_err_t *err) {
    png_sink_t *p = ctx;
    if (p->every > 1 && seq % (uint64_t)p->every) return 0;
    char path[600];
    snprintf(path, sizeof path, "%s/%s%08llu.png", p->dir, p->prefix, (unsigned long long)seq);
    return dream_image_save(im, path, err);
}

static void png_destroy(void *ctx) { free(ctx); }

static int mkdir_p(const char *dir) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *q = tmp + 1; *q; q++) {
        if (*q == '/') {
            *q = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *q = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

dream_sink_t *dream_sink_png_new(const char *dir, const char *prefix, int every, dream_err_t *err) {
    if (!dir || !*dir || strlen(dir) >= 500) {
        dream_err_set(err, "png sink: bad directory");
        return NULL;
    }
    if (mkdir_p(dir) != 0) {
        dream_err_set(err, "png sink: cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    dream_sink_t *s = calloc(1, sizeof *s);
    png_sink_t *p = calloc(1, sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        dream_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix ? prefix : "frame_");
    p->every = every > 0 ? every : 1;
    snprintf(s->name, sizeof s->name, "png:%.24s", p->prefix);
    s->ctx = p;
    s->frame = png_frame;
    s->destroy = png_destroy;
    return s;
}

typedef struct stream_sink {
    stream_t *st;
    uint8_t *rgb;
    size_t cap;
} stream_sink_t;

static int stream_frame(void *ctx, const dream_image_t *im, uint64_t seq, dream_err_t *err) {
    stream_sink_t *p = ctx;
    size_t need = (size_t)im->w * im->h * 3;
    if (need > p->cap) {
        uint8_t *b = realloc(p->rgb, need);
        if (!b) return dream_err_set(err, "stream sink: out of memory");
        p->rgb = b;
        p->cap = need;
    }
    dream_image_to_rgb8(im, p->rgb);
    if (stream_push_frame(p->st, p->rgb, im->w, im->h) != 0)
        return dream_err_set(err, "stream sink: frame %dx%d refused", im->w, im->h);
    return 0;
}

static void stream_sink_destroy(void *ctx) {
    stream_sink_t *p = ctx;
    free(p->rgb);
    free(p);
}

dream_sink_t *dream_sink_stream_new(struct stream *st, dream_err_t *err) {
    if (!st) {
        dream_err_set(err, "stream sink: no stream");
        return NULL;
    }
    dream_sink_t *s = calloc(1, sizeof *s);
    stream_sink_t *p = calloc(1, sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        dream_err_set(err, "out of memory");
        return NULL;
    }
    p->st = st;
    snprintf(s->name, sizeof s->name, "stream");
    s->ctx = p;
    s->frame = stream_frame;
    s->destroy = stream_sink_destroy;
    return s;
}

void dream_sink_destroy(dream_sink_t **ps) {
    if (!ps || !*ps) return;
    if ((*ps)->destroy) (*ps)->destroy((*ps)->ctx);
    free(*ps);
    *ps = NULL;
}

int dream_sinks_add(dream_sinks_t *ss, dream_sink_t *s, dream_err_t *err) {
    if (!s) return dream_err_set(err, "sinks: NULL sink");
    if (ss->n >= DREAM_SINKS_MAX) return dream_err_set(err, "sinks: more than %d sinks", DREAM_SINKS_MAX);
    ss->s[ss->n++] = s;
    return 0;
}

void dream_sinks_set_overlay(dream_sinks_t *ss, struct overlay *ov) {
    if (ss->overlay != ov) overlay_destroy(&ss->overlay);
    ss->overlay = ov;
}

/* The frame with the overlay burned in (a copy), or im itself when there is none. */
static const dream_image_t *burn_in(dream_sinks_t *ss, const dream_image_t *im) {
    if (!ss->overlay || im->c != 3) return im;
    if (!ss->burned || ss->burned->w != im->w || ss->burned->h != im->h) {
        dream_image_destroy(&ss->burned);
        dream_err_t err = {{0}};
        ss->burned = dream_image_new(im->w, im->h, 3, &err);
        if (!ss->burned) {
            if (ss->errors++ < 10) dlog_warn("sinks", "overlay: %s", err.msg);
            return im;
        }
    }
    memcpy(ss->burned->px, im->px, (size_t)im->w * im->h * 3 * sizeof(float));
    dream_err_t err = {{0}};
    int rc = overlay_burn(ss->overlay, ss->burned, &err);
    if (rc < 0 && ss->errors++ < 10) dlog_warn("sinks", "overlay: %s", err.msg);
    return rc == 1 ? ss->burned : im;
}

int dream_sinks_push(dream_sinks_t *ss, const dream_image_t *im, uint64_t seq) {
    int bad = 0;
    im = burn_in(ss, im);
    for (int i = 0; i < ss->n; i++) {
        dream_err_t err = {{0}};
        if (ss->s[i]->frame(ss->s[i]->ctx, im, seq, &err) != 0) {
            bad++;
            if (ss->errors++ < 10) dlog_warn("sinks", "%s: %s", ss->s[i]->name, err.msg);
        }
    }
    return bad;
}

void dream_sinks_clear(dream_sinks_t *ss) {
    for (int i = 0; i < ss->n; i++) dream_sink_destroy(&ss->s[i]);
    ss->n = 0;
    overlay_destroy(&ss->overlay);
    dream_image_destroy(&ss->burned);
}
