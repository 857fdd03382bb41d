/*
 * image.c — float images in memory and their PNG/JPEG files (see image.h).
 *
 * Decoding: the format is chosen by magic bytes, never by file name. libpng and
 * libjpeg report errors through longjmp back into this file (no exit(), no abort);
 * both decoders read the header first and refuse images over DREAM_IMAGE_MAX_SIDE /
 * DREAM_IMAGE_MAX_PIXELS before any pixel buffer is allocated. Every PNG flavour
 * (1..16 bit, gray, palette, tRNS, alpha, interlaced) is converted to 8-bit RGB;
 * alpha is composited over black. A truncated JPEG is an error (libjpeg would
 * otherwise pad it with grey and only warn).
 *
 * Encoding: 8-bit RGB (or gray for c == 1), values rounded and clamped to 0..255.
 * Files are written to a temporary name beside the target and renamed into place,
 * so a reader never sees a half-written image.
 */
#include "image.h"
#include "atomicfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

#define MOD "image"
/* Files larger than this are refused before reading (a 16384^2 PNG is far smaller). */
#define IMAGE_MAX_FILE_BYTES (512u * 1024u * 1024u)
#define JPEG_QUALITY 92
#define JPEG_MAX_SCANS 1000   /* progressive JPEGs with absurd scan counts are a known DoS */

/* ------------------------------------------------------------------ basics */

/* the decoded size against the caller's pixel budget (max_px <= DREAM_IMAGE_MAX_PIXELS),
 * before any pixel buffer exists */
static int check_dims_max(int w, int h, uint64_t max_px, const char *what, dream_err_t *err) {
    if (w <= 0 || h <= 0)
        return dream_err_set(err, "%s: invalid size %dx%d", what, w, h);
    if (w > DREAM_IMAGE_MAX_SIDE || h > DREAM_IMAGE_MAX_SIDE || (uint64_t)w * (uint64_t)h > max_px)
        return dream_err_set(err, "%s: image %dx%d exceeds the limit (side <= %d, pixels <= %llu)",
                             what, w, h, DREAM_IMAGE_MAX_SIDE, (unsigned long long)max_px);
    return 0;
}
static int check_dims(int w, int h, const char *what, dream_err_t *err) {
    return check_dims_max(w, h, DREAM_IMAGE_MAX_PIXELS, what, err);
}

dream_image_t *dream_image_new(int w, int h, int c, dream_err_t *err) {
    if (check_dims(w, h, "dream_image_new", err) < 0) return NULL;
    if (c < 1 || c > 4) {
        dream_err_set(err, "dream_image_new: invalid channel count %d (1..4)", c);
        return NULL;
    }
    dream_image_t *im = calloc(1, sizeof *im);
    if (!im) { dream_err_set(err, "dream_image_new: out of memory"); return NULL; }
    im->w = w; im->h = h; im->c = c;
    im->px = calloc((size_t)w * h * c, sizeof(float));
    if (!im->px) {
        free(im);
        dream_err_set(err, "dream_image_new: out of memory for %dx%dx%d", w, h, c);
        return NULL;
    }
    return im;
}

dream_image_t *dream_image_clone(const dream_image_t *im, dream_err_t *err) {
    if (!im) { dream_err_set(err, "dream_image_clone: NULL image"); return NULL; }
    dream_image_t *out = dream_image_new(im->w, im->h, im->c, err);
    if (out) memcpy(out->px, im->px, (size_t)im->w * im->h * im->c * sizeof(float));
    return out;
}

void dream_image_destroy(dream_image_t **im) {
    if (!im || !*im) return;
    free((*im)->px);
    free(*im);
    *im = NULL;
}


void dream_image_to_rgb8(const dream_image_t *im, uint8_t *rgb) {
    size_t n = (size_t)im->w * im->h;
    const float *p = im->px;
    for (size_t i = 0; i < n; i++, p += im->c, rgb += 3) {
        if (im->c >= 3) {
            rgb[0] = dream_u8_from_float(p[0]); rgb[1] = dream_u8_from_float(p[1]); rgb[2] = dream_u8_from_float(p[2]);
        } else {
            rgb[0] = rgb[1] = rgb[2] = dream_u8_from_float(p[0]);
        }
    }
}

void dream_image_from_rgb8(dream_image_t *im, const uint8_t *rgb) {
    size_t n = (size_t)im->w * im->h;
    float *p = im->px;
    for (size_t i = 0; i < n; i++, p += im->c, rgb += 3) {
        if (im->c >= 3) {
            p[0] = rgb[0]; p[1] = rgb[1]; p[2] = rgb[2];
            for (int k = 3; k < im->c; k++) p[k] = 255.0f;
        } else {
            p[0] = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
            if (im->c == 2) p[1] = 255.0f;
        }
    }
}

/* 8-bit samples, `c` channels -> new float image (h, w, c) */
static dream_image_t *image_from_u8(const uint8_t *buf, int w, int h, int c, dream_err_t *err) {
    dream_image_t *im = dream_image_new(w, h, c, err);
    if (!im) return NULL;
    size_t n = (size_t)w * h * c;
    for (size_t i = 0; i < n; i++) im->px[i] = buf[i];
    return im;
}

/* ------------------------------------------------------------------ PNG decode */

typedef struct {
    const uint8_t *buf;
    size_t len, pos;
    dream_err_t *err;
} png_src_t;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_src_t *src = png_get_error_ptr(png);
    if (src && src->err) dream_err_set(src->err, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png;
    dlog_debug(MOD, "libpng warning: %s", msg);
}

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    png_src_t *src = png_get_io_ptr(png);
    if (n > src->len - src->pos) png_error(png, "truncated data (unexpected end of file)");
    memcpy(out, src->buf + src->pos, n);
    src->pos += n;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static dream_image_t *load_png(const uint8_t *data, size_t len, uint64_t max_px, dream_err_t *err) {
    /* The IHDR chunk must come first: check its size before libpng allocates anything. */
    if (len < 8 + 8 + 13) { dream_err_set(err, "PNG: truncated data (no complete header)"); return NULL; }
    if (be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0) {
        dream_err_set(err, "PNG: first chunk is not a valid IHDR");
        return NULL;
    }
    uint32_t hw = be32(data + 16), hh = be32(data + 20);
    if (hw > DREAM_IMAGE_MAX_SIDE || hh > DREAM_IMAGE_MAX_SIDE || (uint64_t)hw * hh > max_px) {
        dream_err_set(err, "PNG: image %ux%u exceeds the limit (side <= %d, pixels <= %llu)",
                      (unsigned)hw, (unsigned)hh, DREAM_IMAGE_MAX_SIDE, (unsigned long long)max_px);
        return NULL;
    }
    png_src_t src = {data, len, 0, err};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err_fn, png_warn_fn);
    if (!png) { dream_err_set(err, "PNG: cannot create decoder"); return NULL; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        dream_err_set(err, "PNG: cannot create decoder");
        return NULL;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    png_set_read_fn(png, &src, png_read_mem);
    /* libpng's own limits as a second line of defence; our check below gives the message. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_chunk_malloc_max(png, 64u * 1024u * 1024u);
    png_read_info(png, info);

    /* Header only so far: refuse oversized images before allocating anything. */
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w > DREAM_IMAGE_MAX_SIDE || h > DREAM_IMAGE_MAX_SIDE ||
        check_dims_max((int)w, (int)h, max_px, "PNG", err) < 0) {
        dream_err_set(err, "PNG: image %ux%u exceeds the limit (side <= %d, pixels <= %llu)",
                      (unsigned)w, (unsigned)h, DREAM_IMAGE_MAX_SIDE, (unsigned long long)max_px);
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);

    /* Normalise everything to 8-bit RGB or RGBA. */
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    if (ch != 3 && ch != 4) png_error(png, "unexpected channel count after conversion");
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * ch) png_error(png, "unexpected row size after conversion");

    pixels = malloc((size_t)h * rowbytes);
    rows = malloc((size_t)h * sizeof(png_bytep));
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    dream_image_t *im = dream_image_new((int)w, (int)h, 3, err);
    if (!im) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    size_t n = (size_t)w * h;
    const uint8_t *s = pixels;
    float *d = im->px;
    if (ch == 3) {
        for (size_t i = 0; i < n * 3; i++) d[i] = s[i];
    } else {               /* composite over black */
        for (size_t i = 0; i < n; i++, s += 4, d += 3) {
            float a = s[3] * (1.0f / 255.0f);
            d[0] = s[0] * a; d[1] = s[1] * a; d[2] = s[2] * a;
        }
    }
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return im;
}

/* ------------------------------------------------------------------ JPEG decode */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    dream_err_t *err;
    struct jpeg_progress_mgr progress;
} jpeg_err_t;

static void jpeg_error_exit_fn(j_common_ptr cinfo) {
    jpeg_err_t *je = (jpeg_err_t *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    dream_err_set(je->err, "JPEG: %s", buf);
    longjmp(je->jmp, 1);
}

static void jpeg_emit_fn(j_common_ptr cinfo, int level) {
    if (level >= 0) return;   /* trace messages */
    jpeg_err_t *je = (jpeg_err_t *)cinfo->err;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        dream_err_set(je->err, "JPEG: truncated data (unexpected end of file)");
        longjmp(je->jmp, 1);
    }
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    cinfo->err->num_warnings++;
    dlog_debug(MOD, "libjpeg warning: %s", buf);
}

static void jpeg_progress_fn(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err_t *je = (jpeg_err_t *)cinfo->err;
        dream_err_set(je->err, "JPEG: more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(je->jmp, 1);
    }
}

static dream_image_t *load_jpeg(const uint8_t *data, size_t len, uint64_t max_px, dream_err_t *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_t je;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&je, 0, sizeof je);
    cinfo.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_error_exit_fn;
    je.pub.emit_message = jpeg_emit_fn;
    je.err = err;
    uint8_t *volatile pixels = NULL;

    if (setjmp(je.jmp)) {
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    je.progress.progress_monitor = jpeg_progress_fn;
    cinfo.progress = &je.progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);

    if (check_dims_max((int)cinfo.image_width, (int)cinfo.image_height, max_px, "JPEG", err) < 0) {
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);

    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, ch = cinfo.output_components;
    if (check_dims(w, h, "JPEG", err) < 0) {
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    if (ch != (cmyk ? 4 : 3)) {
        dream_err_set(err, "JPEG: unexpected %d output components", ch);
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    size_t stride = (size_t)w * ch;
    pixels = malloc((size_t)h * stride);
    if (!pixels) {
        dream_err_set(err, "JPEG: out of memory for %dx%d", w, h);
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);

    if (cmyk) {   /* CMYK -> RGB in place (Adobe files store inverted CMYK) */
        int inverted = cinfo.saw_Adobe_marker;
        uint8_t *s = pixels, *d = pixels;
        for (size_t i = 0; i < (size_t)w * h; i++, s += 4, d += 3) {
            unsigned c = s[0], m = s[1], y = s[2], k = s[3];
            if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
            d[0] = (uint8_t)((c * k + 127) / 255);
            d[1] = (uint8_t)((m * k + 127) / 255);
            d[2] = (uint8_t)((y * k + 127) / 255);
        }
    }
    jpeg_destroy_decompress(&cinfo);
    dream_image_t *im = image_from_u8(pixels, w, h, 3, err);
    free(pixels);
    return im;
}

/* ------------------------------------------------------------------ load */

dream_image_t *dream_image_load_mem(const void *buf, size_t len, dream_err_t *err) {
    return dream_image_load_mem_max(buf, len, DREAM_IMAGE_MAX_PIXELS, err);
}

dream_image_t *dream_image_load_mem_max(const void *buf, size_t len, uint64_t max_px, dream_err_t *err) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *b = buf;
    if (!buf || len == 0) { dream_err_set(err, "empty image data"); return NULL; }
    if (max_px > DREAM_IMAGE_MAX_PIXELS) max_px = DREAM_IMAGE_MAX_PIXELS;
    if (len >= 8 && memcmp(b, png_sig, 8) == 0) return load_png(b, len, max_px, err);
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return load_jpeg(b, len, max_px, err);
    dream_err_set(err, "unknown image format (not PNG or JPEG; first bytes %02x %02x %02x %02x)",
                  b[0], len > 1 ? b[1] : 0, len > 2 ? b[2] : 0, len > 3 ? b[3] : 0);
    return NULL;
}

dream_image_t *dream_image_load(const char *path, dream_err_t *err) {
    return dream_image_load_max(path, DREAM_IMAGE_MAX_PIXELS, err);
}

dream_image_t *dream_image_load_max(const char *path, uint64_t max_px, dream_err_t *err) {
    if (!path) { dream_err_set(err, "dream_image_load: NULL path"); return NULL; }
    FILE *f = fopen(path, "rb");
    if (!f) { dream_err_set(err, "%s: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        dream_err_set(err, "%s: not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        dream_err_set(err, "%s: file too large (%lld bytes, limit %u)", path,
                      (long long)st.st_size, IMAGE_MAX_FILE_BYTES);
        return NULL;
    }
    if (st.st_size == 0) {
        fclose(f);
        dream_err_set(err, "%s: empty file", path);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *data = malloc(n);
    if (!data) { fclose(f); dream_err_set(err, "%s: out of memory", path); return NULL; }
    size_t got = fread(data, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got == 0) {
        free(data);
        dream_err_set(err, "%s: read error", path);
        return NULL;
    }
    dream_image_t *im = dream_image_load_mem_max(data, got, max_px, err);
    free(data);
    if (!im) dream_err_prefix(err, "%s", path);
    return im;
}

/* ------------------------------------------------------------------ encode */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int oom;
} membuf_t;

static void png_write_mem(png_structp png, png_bytep data, png_size_t n) {
    membuf_t *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->len + n) cap *= 2;
        uint8_t *nb = realloc(m->buf, cap);
        if (!nb) { m->oom = 1; png_error(png, "out of memory"); }
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

/* Image -> 8-bit samples, 1 channel if c == 1, else 3 (RGB). */
static uint8_t *image_to_u8(const dream_image_t *im, int *out_ch) {
    int ch = im->c == 1 ? 1 : 3;
    uint8_t *buf = malloc((size_t)im->w * im->h * ch);
    if (!buf) return NULL;
    if (ch == 3) {
        dream_image_to_rgb8(im, buf);
    } else {
        for (size_t i = 0; i < (size_t)im->w * im->h; i++) buf[i] = dream_u8_from_float(im->px[i]);
    }
    *out_ch = ch;
    return buf;
}

static int check_image(const dream_image_t *im, const char *what, dream_err_t *err) {
    if (!im || !im->px) return dream_err_set(err, "%s: NULL image", what);
    if (im->c < 1 || im->c > 4) return dream_err_set(err, "%s: invalid channel count %d", what, im->c);
    return check_dims(im->w, im->h, what, err);
}

int dream_image_encode_png(const dream_image_t *im, uint8_t **out, size_t *out_len, dream_err_t *err) {
    if (!out || !out_len) return dream_err_set(err, "dream_image_encode_png: NULL output");
    *out = NULL;
    *out_len = 0;
    if (check_image(im, "PNG encode", err) < 0) return -1;
    int ch = 0;
    uint8_t *volatile pixels = image_to_u8(im, &ch);
    if (!pixels) return dream_err_set(err, "PNG encode: out of memory");
    /* on the heap: the encoder fills it between setjmp and a possible longjmp */
    membuf_t *mem = calloc(1, sizeof *mem);
    if (!mem) {
        free(pixels);
        return dream_err_set(err, "PNG encode: out of memory");
    }
    png_src_t errctx = {NULL, 0, 0, err};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errctx, png_err_fn, png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        free(pixels);
        free(mem);
        return dream_err_set(err, "PNG encode: cannot create encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(pixels);
        free(mem->buf);
        free(mem);
        return -1;
    }
    png_set_write_fn(png, mem, png_write_mem, png_flush_mem);
    png_set_compression_level(png, 3);   /* snapshots: speed over size */
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8,
                 ch == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < im->h; y++) png_write_row(png, pixels + (size_t)y * im->w * ch);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(pixels);
    *out = mem->buf;
    *out_len = mem->len;
    free(mem);
    return 0;
}

int dream_image_encode_jpeg(const dream_image_t *im, int quality, uint8_t **out, size_t *out_len,
                            dream_err_t *err) {
    if (!out || !out_len) return dream_err_set(err, "dream_image_encode_jpeg: NULL output");
    *out = NULL;
    *out_len = 0;
    if (check_image(im, "JPEG encode", err) < 0) return -1;
    if (quality < 1 || quality > 100) return dream_err_set(err, "JPEG encode: quality %d not in 1..100", quality);
    int ch = 0;
    uint8_t *volatile pixels = image_to_u8(im, &ch);
    if (!pixels) return dream_err_set(err, "JPEG encode: out of memory");

    struct jpeg_compress_struct cinfo;
    jpeg_err_t je;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&je, 0, sizeof je);
    cinfo.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_error_exit_fn;
    je.pub.emit_message = jpeg_emit_fn;
    je.err = err;
    unsigned char *volatile jbuf = NULL;
    unsigned long jlen = 0;
    if (setjmp(je.jmp)) {
        jpeg_destroy_compress(&cinfo);
        free(jbuf);
        free(pixels);
        return -1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&jbuf, &jlen);
    cinfo.image_width = (JDIMENSION)im->w;
    cinfo.image_height = (JDIMENSION)im->h;
    cinfo.input_components = ch;
    cinfo.in_color_space = ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = pixels + (size_t)cinfo.next_scanline * im->w * ch;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(pixels);
    *out = jbuf;
    *out_len = jlen;
    return 0;
}

/* ------------------------------------------------------------------ save */

static int ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int dream_image_save(const dream_image_t *im, const char *path, dream_err_t *err) {
    if (!path) return dream_err_set(err, "dream_image_save: NULL path");
    int is_png = ends_with_ci(path, ".png");
    int is_jpg = ends_with_ci(path, ".jpg") || ends_with_ci(path, ".jpeg");
    if (!is_png && !is_jpg)
        return dream_err_set(err, "%s: unknown image extension (use .png, .jpg or .jpeg)", path);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = is_png ? dream_image_encode_png(im, &buf, &len, err)
                    : dream_image_encode_jpeg(im, JPEG_QUALITY, &buf, &len, err);
    if (rc < 0) return dream_err_prefix(err, "%s", path);
    rc = dream_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
