/*
 * overlay.h — the text burned into the video, as the 2015 stream did: top-left, white text
 * (~20 px) on a dark box, "@name: term" for a viewer's request or "term1 & term2" for a
 * combination. Rendered with FreeType from a real font file (DejaVu Sans by default, Debian's
 * fonts-dejavu-core); no hand-drawn glyphs.
 *
 * dreamd burns the overlay in at one place: dream_sinks_push() of the frame sinks (sinks.h),
 * so the live stream, its recording and the PNG frames (--frames-out) all carry it; keyframe
 * sinks do not. The text comes from a callback (the request queue's current label) asked on
 * every burn; the glyph bitmap is rendered only when the text changes.
 *
 * Threading: overlay_burn() from one thread (the frame clock); overlay_set_text() from any.
 */
#ifndef DREAM_OVERLAY_H
#define DREAM_OVERLAY_H
#include <stddef.h>
#include "dlog.h"
#include "image.h"

#define OVERLAY_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define OVERLAY_DEFAULT_PX 20
#define OVERLAY_MAX_TEXT 256        /* bytes of overlay text; longer text is cut */

typedef struct overlay overlay_t;
/* Writes the text to show now into buf (n bytes); "" = nothing to show. */
typedef void (*overlay_text_fn)(void *ud, char *buf, size_t n);

/* Loads the font (NULL = OVERLAY_DEFAULT_FONT) at px pixels (8..128). NULL + err when the
 * font file is missing or unreadable (callers warn and run without burn-in). */
overlay_t *overlay_new(const char *font_path, int px, dream_err_t *err);
void overlay_destroy(overlay_t **o);

/* The text source: fn is asked on every overlay_burn(); NULL = the fixed text below. */
void overlay_set_source(overlay_t *o, overlay_text_fn fn, void *ud);
/* Fixed text (used when no source is set). Any thread. */
void overlay_set_text(overlay_t *o, const char *text);

/* Draws the current text into im (float (h, w, 3), 0..255) top-left: a dark box and white
 * anti-aliased glyphs, clipped to the image. Returns 1 if something was drawn, 0 if the text
 * is empty, -1 on error (err). Non-printable bytes are skipped. */
int overlay_burn(overlay_t *o, dream_image_t *im, dream_err_t *err);

/* The text last rendered and its box (for tests): box_w/box_h in pixels. */
void overlay_last_box(const overlay_t *o, int *box_w, int *box_h);

#endif
