/*
 * test_image.c — PNG/JPEG loading and saving (common/image.c).
 *
 * Round trips (exact for PNG, close for JPEG), every PNG flavour converted to RGB
 * (16-bit, gray, 1-bit gray, palette, tRNS, alpha, interlaced), and hostile input:
 * truncated PNG/JPEG at every cut point, garbage, empty files, headers that claim
 * huge images (refused from the header, before any pixel allocation), unknown
 * extensions on save.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <png.h>
#include "image.h"

static uint64_t rng = 12345;
static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static char tmpdir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_image.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* random 8-bit valued image */
static dream_image_t *random_image(int w, int h, int c) {
    dream_err_t err = {{0}};
    dream_image_t *im = dream_image_new(w, h, c, &err);
    assert_non_null(im);
    for (size_t i = 0; i < (size_t)w * h * c; i++) im->px[i] = (float)(rnd() % 256);
    return im;
}

/* smooth image (JPEG friendly) */
static dream_image_t *smooth_image(int w, int h) {
    dream_err_t err = {{0}};
    dream_image_t *im = dream_image_new(w, h, 3, &err);
    assert_non_null(im);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *p = im->px + ((size_t)y * w + x) * 3;
            p[0] = 128 + 100 * sinf(x * 0.1f);
            p[1] = 128 + 100 * cosf(y * 0.13f);
            p[2] = (float)((x + y) % 256);
        }
    return im;
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void assert_same_pixels(const dream_image_t *a, const dream_image_t *b) {
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    assert_int_equal(a->c, b->c);
    assert_memory_equal(a->px, b->px, (size_t)a->w * a->h * a->c * sizeof(float));
}

/* ------------------------------------------------------------------ round trips */

static void test_png_roundtrip_file(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = random_image(37, 23, 3);
    const char *p = tmp_path("rt.PNG");   /* extension is case-insensitive */
    assert_int_equal(dream_image_save(im, p, &err), 0);
    dream_image_t *back = dream_image_load(p, &err);
    assert_non_null(back);
    assert_same_pixels(im, back);
    dream_image_destroy(&im);
    dream_image_destroy(&back);
    assert_null(back);
    dream_image_destroy(&back);   /* NULL-safe */
    dream_image_destroy(NULL);
}

static void test_png_roundtrip_mem_and_clamp(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = random_image(5, 4, 3);
    /* out-of-range and fractional values are rounded and clamped */
    im->px[0] = -7.0f; im->px[1] = 300.0f; im->px[2] = 127.5f; im->px[3] = NAN; im->px[4] = 10.49f;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(dream_image_encode_png(im, &buf, &len, &err), 0);
    assert_true(len > 8);
    assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
    dream_image_t *back = dream_image_load_mem(buf, len, &err);
    assert_non_null(back);
    assert_true(back->px[0] == 0.0f && back->px[1] == 255.0f && back->px[2] == 128.0f);
    assert_true(back->px[3] == 0.0f && back->px[4] == 10.0f);
    for (size_t i = 5; i < 5 * 4 * 3; i++) assert_true(back->px[i] == im->px[i]);
    free(buf);
    dream_image_destroy(&im);
    dream_image_destroy(&back);
}

static void test_gray_image_saves_as_gray(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = random_image(9, 7, 1);
    const char *p = tmp_path("gray.png");
    assert_int_equal(dream_image_save(im, p, &err), 0);
    dream_image_t *back = dream_image_load(p, &err);
    assert_non_null(back);
    assert_int_equal(back->c, 3);
    for (int i = 0; i < 9 * 7; i++) {
        assert_true(back->px[i * 3] == im->px[i]);
        assert_true(back->px[i * 3 + 1] == im->px[i]);
        assert_true(back->px[i * 3 + 2] == im->px[i]);
    }
    dream_image_destroy(&im);
    dream_image_destroy(&back);
}

static void test_jpeg_roundtrip(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = smooth_image(64, 48);
    const char *p = tmp_path("rt.jpeg");
    assert_int_equal(dream_image_save(im, p, &err), 0);
    size_t len;
    uint8_t *raw = read_file(p, &len);
    assert_true(raw[0] == 0xFF && raw[1] == 0xD8);
    free(raw);
    dream_image_t *back = dream_image_load(p, &err);
    assert_non_null(back);
    assert_int_equal(back->w, 64);
    assert_int_equal(back->h, 48);
    double mae = 0;
    for (size_t i = 0; i < 64 * 48 * 3; i++) mae += fabsf(back->px[i] - im->px[i]);
    mae /= 64 * 48 * 3;
    print_message("# jpeg mean abs error %.3f\n", mae);
    assert_true(mae < 3.0);
    /* .jpg also works, and a gray image encodes as a 1-component JPEG */
    dream_image_t *g = random_image(16, 16, 1);
    for (int i = 0; i < 256; i++) g->px[i] = 100.0f;
    assert_int_equal(dream_image_save(g, tmp_path("g.jpg"), &err), 0);
    dream_image_t *gb = dream_image_load(tmp_path("g.jpg"), &err);
    assert_non_null(gb);
    for (int i = 0; i < 256 * 3; i++) assert_true(fabsf(gb->px[i] - 100.0f) <= 1.0f);
    dream_image_destroy(&g);
    dream_image_destroy(&gb);
    dream_image_destroy(&im);
    dream_image_destroy(&back);
}

static void test_rgb8_conversions(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = dream_image_new(2, 1, 3, &err);
    const uint8_t in[6] = {0, 1, 254, 255, 128, 7};
    dream_image_from_rgb8(im, in);
    assert_true(im->px[2] == 254.0f && im->px[3] == 255.0f);
    im->px[0] = 0.4999f; im->px[1] = 0.5f;
    uint8_t out[6];
    dream_image_to_rgb8(im, out);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    assert_memory_equal(out + 2, in + 2, 4);
    dream_image_destroy(&im);
}

static void test_new_limits(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    assert_null(dream_image_new(0, 5, 3, &err));
    assert_null(dream_image_new(5, 5, 0, &err));
    assert_null(dream_image_new(DREAM_IMAGE_MAX_SIDE + 1, 1, 3, &err));
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_null(dream_image_new(DREAM_IMAGE_MAX_SIDE, DREAM_IMAGE_MAX_SIDE, 3, &err));  /* > MAX_PIXELS */
    dream_image_t *a = random_image(3, 3, 3);
    dream_image_t *b = dream_image_clone(a, &err);
    assert_non_null(b);
    assert_same_pixels(a, b);
    assert_ptr_not_equal(a->px, b->px);
    dream_image_destroy(&a);
    dream_image_destroy(&b);
}

/* ------------------------------------------------------------------ PNG flavours */

typedef struct { uint8_t *buf; size_t len, cap; } mem_t;

static void mem_write(png_structp png, png_bytep d, png_size_t n) {
    mem_t *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, d, n);
    m->len += n;
}
static void mem_flush(png_structp png) { (void)png; }

/* Writes a PNG with the given raw rows (already in the target format). */
static mem_t make_png(int w, int h, int color, int depth, int interlace, const uint8_t *raw,
                      size_t rowbytes, const png_color *pal, int npal, const uint8_t *trns, int ntrns) {
    mem_t m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_int_equal(setjmp(png_jmpbuf(png)), 0);
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)raw + (size_t)y * rowbytes;
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return m;
}

static dream_image_t *load_ok(const mem_t *m) {
    dream_err_t err = {{0}};
    dream_image_t *im = dream_image_load_mem(m->buf, m->len, &err);
    if (!im) print_message("load failed: %s\n", err.msg);
    assert_non_null(im);
    assert_int_equal(im->c, 3);
    return im;
}

static void test_png_16bit_rgb(void **state) {
    (void)state;
    const int w = 6, h = 3;
    uint8_t raw[6 * 3 * 6];
    for (int i = 0; i < w * h * 3; i++) {
        uint16_t v = (uint16_t)(i * 1201 + 7);
        raw[i * 2] = (uint8_t)(v >> 8);   /* big-endian */
        raw[i * 2 + 1] = (uint8_t)v;
    }
    mem_t m = make_png(w, h, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, raw, (size_t)w * 6, NULL, 0, NULL, 0);
    dream_image_t *im = load_ok(&m);
    for (int i = 0; i < w * h * 3; i++) {
        double expect = (i * 1201 + 7) * 255.0 / 65535.0;
        assert_true(fabs(im->px[i] - expect) <= 0.5 + 1e-6);
    }
    dream_image_destroy(&im);
    free(m.buf);
}

static void test_png_gray_and_1bit(void **state) {
    (void)state;
    uint8_t raw[4 * 2] = {0, 50, 100, 255, 1, 2, 3, 4};
    mem_t m = make_png(4, 2, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, raw, 4, NULL, 0, NULL, 0);
    dream_image_t *im = load_ok(&m);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 3; k++) assert_true(im->px[i * 3 + k] == raw[i]);
    dream_image_destroy(&im);
    free(m.buf);

    uint8_t bits[2] = {0xA0, 0x50};   /* row 0: 1 0 1 0, row 1: 0 1 0 1 */
    m = make_png(4, 2, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, bits, 1, NULL, 0, NULL, 0);
    im = load_ok(&m);
    const float expect[8] = {255, 0, 255, 0, 0, 255, 0, 255};
    for (int i = 0; i < 8; i++) assert_true(im->px[i * 3 + 1] == expect[i]);
    dream_image_destroy(&im);
    free(m.buf);
}

static void test_png_palette_trns_alpha(void **state) {
    (void)state;
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
    uint8_t idx[3] = {2, 0, 1};
    mem_t m = make_png(3, 1, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, idx, 3, pal, 3, NULL, 0);
    dream_image_t *im = load_ok(&m);
    const float e1[9] = {10, 20, 30, 255, 0, 0, 0, 255, 0};
    assert_memory_equal(im->px, e1, sizeof e1);
    dream_image_destroy(&im);
    free(m.buf);

    /* palette entry 0 fully transparent -> composited over black */
    uint8_t trns[1] = {0};
    m = make_png(3, 1, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, idx, 3, pal, 3, trns, 1);
    im = load_ok(&m);
    const float e2[9] = {10, 20, 30, 0, 0, 0, 0, 255, 0};
    assert_memory_equal(im->px, e2, sizeof e2);
    dream_image_destroy(&im);
    free(m.buf);

    uint8_t rgba[2 * 4] = {200, 100, 50, 255, 200, 100, 50, 0};
    m = make_png(2, 1, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rgba, 8, NULL, 0, NULL, 0);
    im = load_ok(&m);
    const float e3[6] = {200, 100, 50, 0, 0, 0};
    assert_memory_equal(im->px, e3, sizeof e3);
    dream_image_destroy(&im);
    free(m.buf);

    uint8_t ga[2 * 2] = {90, 255, 90, 0};   /* gray + alpha */
    m = make_png(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, 4, NULL, 0, NULL, 0);
    im = load_ok(&m);
    const float e4[6] = {90, 90, 90, 0, 0, 0};
    assert_memory_equal(im->px, e4, sizeof e4);
    dream_image_destroy(&im);
    free(m.buf);
}

static void test_png_interlaced(void **state) {
    (void)state;
    const int w = 19, h = 13;
    uint8_t *raw = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) raw[i] = (uint8_t)(rnd() & 255);
    mem_t m = make_png(w, h, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, raw, (size_t)w * 3, NULL, 0, NULL, 0);
    dream_image_t *im = load_ok(&m);
    for (int i = 0; i < w * h * 3; i++) assert_true(im->px[i] == raw[i]);
    dream_image_destroy(&im);
    free(m.buf);
    free(raw);
}

/* ------------------------------------------------------------------ hostile input */

static void test_truncated_png(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = random_image(31, 17, 3);
    uint8_t *buf;
    size_t len;
    assert_int_equal(dream_image_encode_png(im, &buf, &len, &err), 0);
    /* half a file: a clear "truncated" message */
    dream_image_t *bad = dream_image_load_mem(buf, len / 2, &err);
    assert_null(bad);
    print_message("# %s\n", err.msg);
    assert_non_null(strstr(err.msg, "PNG"));
    assert_non_null(strstr(err.msg, "truncated"));
    /* every cut point fails cleanly (copied so ASan sees reads past the end) */
    for (size_t cut = 1; cut < len; cut += (len > 400 ? 7 : 1)) {
        uint8_t *part = malloc(cut);
        memcpy(part, buf, cut);
        err.msg[0] = 0;
        assert_null(dream_image_load_mem(part, cut, &err));
        assert_true(err.msg[0] != 0);
        free(part);
    }
    /* a corrupted byte in the compressed data is an error too */
    uint8_t *corrupt = malloc(len);
    memcpy(corrupt, buf, len);
    corrupt[len / 2] ^= 0x55;
    assert_null(dream_image_load_mem(corrupt, len, &err));
    print_message("# corrupted: %s\n", err.msg);
    free(corrupt);
    /* the truncated file on disk names the path */
    write_file(tmp_path("trunc.png"), buf, len / 2);
    assert_null(dream_image_load(tmp_path("trunc.png"), &err));
    assert_non_null(strstr(err.msg, "trunc.png"));
    free(buf);
    dream_image_destroy(&im);
}

static void test_truncated_jpeg(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = smooth_image(40, 32);
    uint8_t *buf;
    size_t len;
    assert_int_equal(dream_image_encode_jpeg(im, 90, &buf, &len, &err), 0);
    dream_image_t *ok = dream_image_load_mem(buf, len, &err);
    assert_non_null(ok);
    dream_image_destroy(&ok);
    assert_null(dream_image_load_mem(buf, len / 2, &err));
    print_message("# %s\n", err.msg);
    assert_non_null(strstr(err.msg, "JPEG"));
    assert_non_null(strstr(err.msg, "truncated"));
    for (size_t cut = 3; cut < len - 2; cut += (len > 400 ? 5 : 1)) {
        uint8_t *part = malloc(cut);
        memcpy(part, buf, cut);
        err.msg[0] = 0;
        assert_null(dream_image_load_mem(part, cut, &err));
        assert_true(err.msg[0] != 0);
        free(part);
    }
    free(buf);
    dream_image_destroy(&im);
}

static void test_garbage_and_empty(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    uint8_t junk[256];
    for (int i = 0; i < 256; i++) junk[i] = (uint8_t)rnd();
    junk[0] = 'G';
    assert_null(dream_image_load_mem(junk, sizeof junk, &err));
    assert_non_null(strstr(err.msg, "unknown image format"));
    /* right magic, garbage after it */
    memcpy(junk, "\x89PNG\r\n\x1a\n", 8);
    assert_null(dream_image_load_mem(junk, sizeof junk, &err));
    assert_non_null(strstr(err.msg, "PNG"));
    junk[0] = 0xFF; junk[1] = 0xD8; junk[2] = 0xFF;
    assert_null(dream_image_load_mem(junk, sizeof junk, &err));
    assert_non_null(strstr(err.msg, "JPEG"));
    /* tiny and empty */
    assert_null(dream_image_load_mem(junk, 1, &err));
    assert_null(dream_image_load_mem(junk, 0, &err));
    assert_non_null(strstr(err.msg, "empty"));
    write_file(tmp_path("empty.png"), NULL, 0);
    assert_null(dream_image_load(tmp_path("empty.png"), &err));
    assert_non_null(strstr(err.msg, "empty file"));
    assert_null(dream_image_load(tmp_path("does-not-exist.png"), &err));
    assert_non_null(strstr(err.msg, "does-not-exist.png"));
    assert_null(dream_image_load(tmpdir, &err));   /* a directory */
    assert_non_null(strstr(err.msg, "not a regular file"));
}

static uint32_t crc_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void test_png_huge_header_refused(void **state) {
    (void)state;
    /* signature + a valid IHDR for 100000 x 100000 RGB + IEND (an IDAT is added below):
     * decoding it would need 10^10 pixels; the header check must refuse it first. */
    uint8_t f[8 + 25 + 12 + 12];
    memcpy(f, "\x89PNG\r\n\x1a\n", 8);
    uint8_t *ihdr = f + 8;
    put32(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    put32(ihdr + 8, 100000);
    put32(ihdr + 12, 100000);
    ihdr[16] = 8; ihdr[17] = 2; ihdr[18] = 0; ihdr[19] = 0; ihdr[20] = 0;
    put32(ihdr + 21, crc_of(ihdr + 4, 17));
    uint8_t *iend = f + 33;
    put32(iend, 0);
    memcpy(iend + 4, "IEND", 4);
    put32(iend + 8, crc_of(iend + 4, 4));
    dream_err_t err = {{0}};
    write_file(tmp_path("huge.png"), f, sizeof f);
    assert_null(dream_image_load(tmp_path("huge.png"), &err));
    print_message("# %s\n", err.msg);
    assert_non_null(strstr(err.msg, "100000x100000"));
    assert_non_null(strstr(err.msg, "exceeds"));
    /* the same with an (empty) IDAT before IEND, so libpng's own reader gets past the header */
    memmove(f + 45, f + 33, 12);
    put32(f + 33, 0);
    memcpy(f + 37, "IDAT", 4);
    put32(f + 41, crc_of(f + 37, 4));
    assert_null(dream_image_load_mem(f, sizeof f, &err));
    assert_non_null(strstr(err.msg, "100000x100000"));
    /* within the side limit but over the pixel limit */
    put32(ihdr + 8, 16384);
    put32(ihdr + 12, 8193);
    put32(ihdr + 21, crc_of(ihdr + 4, 17));
    assert_null(dream_image_load_mem(f, sizeof f, &err));
    assert_non_null(strstr(err.msg, "16384x8193"));
}

static void test_jpeg_huge_header_refused(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = smooth_image(16, 16);
    uint8_t *buf;
    size_t len;
    assert_int_equal(dream_image_encode_jpeg(im, 80, &buf, &len, &err), 0);
    /* patch the SOF0 frame header to claim 65500 x 65500 */
    size_t i;
    for (i = 2; i + 9 < len; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xC0) break;
    assert_true(i + 9 < len);
    buf[i + 5] = 0xFF; buf[i + 6] = 0xDC;   /* height */
    buf[i + 7] = 0xFF; buf[i + 8] = 0xDC;   /* width */
    assert_null(dream_image_load_mem(buf, len, &err));
    print_message("# %s\n", err.msg);
    assert_non_null(strstr(err.msg, "65500x65500"));
    free(buf);
    dream_image_destroy(&im);
}

static void test_save_errors(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = random_image(4, 4, 3);
    assert_int_equal(dream_image_save(im, tmp_path("x.bmp"), &err), -1);
    assert_non_null(strstr(err.msg, "unknown image extension"));
    assert_int_equal(access(tmp_path("x.bmp"), F_OK), -1);
    assert_int_equal(dream_image_save(im, tmp_path("noext"), &err), -1);
    assert_int_equal(dream_image_save(im, tmp_path("no-such-dir/a.png"), &err), -1);
    assert_non_null(strstr(err.msg, "no-such-dir"));
    assert_int_equal(dream_image_save(NULL, tmp_path("a.png"), &err), -1);
    /* overwriting an existing file replaces it and leaves no temp files behind */
    assert_int_equal(dream_image_save(im, tmp_path("over.png"), &err), 0);
    im->px[0] = 77;
    assert_int_equal(dream_image_save(im, tmp_path("over.png"), &err), 0);
    dream_image_t *back = dream_image_load(tmp_path("over.png"), &err);
    assert_non_null(back);
    assert_true(back->px[0] == 77.0f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
    assert_int_not_equal(system(cmd), 0);
    dream_image_destroy(&back);
    dream_image_destroy(&im);
}


/* Random byte mutations of valid files: every result is either a clean error or an
 * image of the original size; never a crash (ASan/UBSan run this too). */
static void test_mutations_never_crash(void **state) {
    (void)state;
    dream_err_t err = {{0}};
    dream_image_t *im = smooth_image(24, 20);
    uint8_t *files[2];
    size_t lens[2];
    assert_int_equal(dream_image_encode_png(im, &files[0], &lens[0], &err), 0);
    assert_int_equal(dream_image_encode_jpeg(im, 85, &files[1], &lens[1], &err), 0);
    int rounds = getenv("DREAM_TEST_QUICK") ? 150 : 600, failed = 0, loaded = 0;
    for (int f = 0; f < 2; f++) {
        uint8_t *m = malloc(lens[f]);
        for (int r = 0; r < rounds; r++) {
            memcpy(m, files[f], lens[f]);
            int flips = 1 + (int)(rnd() % 4);
            for (int k = 0; k < flips; k++) {
                size_t at = (f == 0 ? 8 : 2) + rnd() % (lens[f] - (f == 0 ? 8 : 2));
                m[at] = (uint8_t)rnd();
            }
            err.msg[0] = 0;
            dream_image_t *out = dream_image_load_mem(m, lens[f], &err);
            if (out) {
                assert_true(out->w > 0 && out->h > 0 && out->c == 3);
                loaded++;
                dream_image_destroy(&out);
            } else {
                assert_true(err.msg[0] != 0);
                failed++;
            }
        }
        free(m);
        free(files[f]);
    }
    print_message("# mutations: %d refused, %d still decodable\n", failed, loaded);
    assert_true(failed > 0);
    dream_image_destroy(&im);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_roundtrip_file),
        cmocka_unit_test(test_png_roundtrip_mem_and_clamp),
        cmocka_unit_test(test_gray_image_saves_as_gray),
        cmocka_unit_test(test_jpeg_roundtrip),
        cmocka_unit_test(test_rgb8_conversions),
        cmocka_unit_test(test_new_limits),
        cmocka_unit_test(test_png_16bit_rgb),
        cmocka_unit_test(test_png_gray_and_1bit),
        cmocka_unit_test(test_png_palette_trns_alpha),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_truncated_jpeg),
        cmocka_unit_test(test_garbage_and_empty),
        cmocka_unit_test(test_png_huge_header_refused),
        cmocka_unit_test(test_jpeg_huge_header_refused),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
