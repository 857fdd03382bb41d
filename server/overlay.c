/*
 * overlay.c — text burned into frames with FreeType (see overlay.h).
 *
 * Shape: on a text change the string is rendered once into an 8-bit coverage mask
 * (box_w x box_h, the box padding included); every burn then darkens the box area of the
 * frame and blends white through the mask. Cost per frame: one pass over the box pixels.
 */
#include "overlay.h"
#include <ft2build.h>
#include FT_FREETYPE_H
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOX_DARKEN 0.8f     /* the box keeps 20 % of the picture under it */
#define MAX_BOX_W 4096

struct overlay {
    FT_Library lib;
    FT_Face face;
    int px, pad, margin;
    pthread_mutex_t mu;         /* guards fixed[] */
    char fixed[OVERLAY_MAX_TEXT];
    overlay_text_fn fn;
    void *ud;
    /* rendered state */
    char shown[OVERLAY_MAX_TEXT];
    int rendered;               /* shown[] is in mask */
    uint8_t *mask;              /* box_w x box_h coverage */
    int box_w, box_h;
};

overlay_t *overlay_new(const char *font_path, int px, dream_err_t *err) {
    if (!font_path || !*font_path) font_path = OVERLAY_DEFAULT_FONT;
    if (px < 8 || px > 128) { dream_err_set(err, "overlay: text size %d px out of range 8..128", px); return NULL; }
    overlay_t *o = calloc(1, sizeof *o);
    if (!o) { dream_err_set(err, "overlay: out of memory"); return NULL; }
    if (FT_Init_FreeType(&o->lib)) { free(o); dream_err_set(err, "overlay: FreeType init failed"); return NULL; }
    FT_Error fe = FT_New_Face(o->lib, font_path, 0, &o->face);
    if (fe) {
        FT_Done_FreeType(o->lib);
        free(o);
        dream_err_set(err, "overlay: cannot load font %s (FreeType error %d; install fonts-dejavu-core or set --overlay-font)",
                      font_path, fe);
        return NULL;
    }
    if (FT_Set_Pixel_Sizes(o->face, 0, (FT_UInt)px)) {
        FT_Done_Face(o->face);
        FT_Done_FreeType(o->lib);
        free(o);
        dream_err_set(err, "overlay: font %s has no %d px size", font_path, px);
        return NULL;
    }
    o->px = px;
    o->pad = px / 3 > 2 ? px / 3 : 2;
    o->margin = px / 2;
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

void overlay_destroy(overlay_t **po) {
    if (!po || !*po) return;
    overlay_t *o = *po;
    FT_Done_Face(o->face);
    FT_Done_FreeType(o->lib);
    pthread_mutex_destroy(&o->mu);
    free(o->mask);
    free(o);
    *po = NULL;
}

void overlay_set_source(overlay_t *o, overlay_text_fn fn, void *ud) {
    if (!o) return;
    o->fn = fn;
    o->ud = ud;
}

void overlay_set_text(overlay_t *o, const char *text) {
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    snprintf(o->fixed, sizeof o->fixed, "%s", text ? text : "");
    pthread_mutex_unlock(&o->mu);
}

void overlay_last_box(const overlay_t *o, int *box_w, int *box_h) {
    if (box_w) *box_w = o && o->rendered ? o->box_w : 0;
    if (box_h) *box_h = o && o->rendered ? o->box_h : 0;
}

static int printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

/* Renders text into o->mask; -1 on error. */
static int render(overlay_t *o, const char *text, dream_err_t *err) {
    FT_Face f = o->face;
    int asc = (int)(f->size->metrics.ascender >> 6);
    int desc = (int)(-(f->size->metrics.descender >> 6));
    int line_h = asc + desc;
    /* pass 1: width */
    int width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (!printable(*p)) continue;
        if (FT_Load_Char(f, *p, FT_LOAD_DEFAULT)) continue;
        width += (int)(f->glyph->advance.x >> 6);
        if (width > MAX_BOX_W) break;
    }
    int bw = width + 2 * o->pad, bh = line_h + 2 * o->pad;
    if (bw > MAX_BOX_W) bw = MAX_BOX_W;
    uint8_t *m = calloc((size_t)bw * (size_t)bh, 1);
    if (!m) return dream_err_set(err, "overlay: out of memory");
    /* pass 2: glyphs */
    int pen = o->pad, base = o->pad + asc;
    for (const unsigned char *p = (const unsigned char *)text; *p && pen < bw; p++) {
        if (!printable(*p)) continue;
        if (FT_Load_Char(f, *p, FT_LOAD_RENDER)) continue;
        FT_GlyphSlot g = f->glyph;
        const FT_Bitmap *b = &g->bitmap;
        if (b->pixel_mode == FT_PIXEL_MODE_GRAY) {
            for (unsigned r = 0; r < b->rows; r++) {
                int y = base - g->bitmap_top + (int)r;
                if (y < 0 || y >= bh) continue;
                const unsigned char *src = b->buffer + (long)r * b->pitch;
                for (unsigned c = 0; c < b->width; c++) {
                    int x = pen + g->bitmap_left + (int)c;
                    if (x < 0 || x >= bw) continue;
                    uint8_t *d = &m[(size_t)y * bw + x];
                    if (src[c] > *d) *d = src[c];
                }
            }
        }
        pen += (int)(g->advance.x >> 6);
    }
    free(o->mask);
    o->mask = m;
    o->box_w = bw;
    o->box_h = bh;
    snprintf(o->shown, sizeof o->shown, "%s", text);
    o->rendered = 1;
    return 0;
}

int overlay_burn(overlay_t *o, dream_image_t *im, dream_err_t *err) {
    if (!o || !im || !im->px || im->c != 3) return dream_err_set(err, "overlay: need an RGB image");
    char text[OVERLAY_MAX_TEXT];
    text[0] = 0;
    if (o->fn) o->fn(o->ud, text, sizeof text);
    else {
        pthread_mutex_lock(&o->mu);
        memcpy(text, o->fixed, sizeof text);
        pthread_mutex_unlock(&o->mu);
    }
    text[sizeof text - 1] = 0;
    int any = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && !any; p++) any = printable(*p) && *p != ' ';
    if (!any) return 0;
    if (!o->rendered || strcmp(text, o->shown) != 0)
        if (render(o, text, err) != 0) return -1;
    int x0 = o->margin, y0 = o->margin;
    for (int y = 0; y < o->box_h; y++) {
        int iy = y0 + y;
        if (iy >= im->h) break;
        float *row = im->px + ((size_t)iy * im->w) * 3;
        const uint8_t *mr = o->mask + (size_t)y * o->box_w;
        for (int x = 0; x < o->box_w; x++) {
            int ix = x0 + x;
            if (ix >= im->w) break;
            float *px = row + (size_t)ix * 3;
            float a = mr[x] * (1.0f / 255.0f);
            for (int k = 0; k < 3; k++) {
                float v = px[k] * (1.0f - BOX_DARKEN);
                px[k] = v * (1.0f - a) + 255.0f * a;
            }
        }
    }
    return 1;
}
