/*
 * http.c — HTTP API helpers: body parsing, JSON replies, PNG snapshots (see http.h).
 */
#include "http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <png.h>
#include <cjson/cJSON.h>

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

long http_form_decode(char *s, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') c = ' ';
        else if (c == '%') {
            if (i + 2 >= len) return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h * 16 + l);
            if (c == 0) return -1;
            i += 2;
        } else if (c == 0) return -1;
        s[o++] = c;
    }
    s[o] = 0;
    return (long)o;
}

/* strict UTF-8 (no overlongs, surrogates or code points over U+10FFFF) */
static int utf8_valid(const unsigned char *p) {
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && c < 0xC2) || c > 0xF4) return 0;
        unsigned cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* every subject, whatever the body's form: valid UTF-8, no control characters */
static int subject_check(const char *out, dream_err_t *err) {
    if (!utf8_valid((const unsigned char *)out)) return dream_err_set(err, "subject is not valid UTF-8");
    for (const unsigned char *q = (const unsigned char *)out; *q; q++)
        if (*q < 0x20 || *q == 0x7f) return dream_err_set(err, "subject contains a control character");
    return 0;
}

static int starts_with_ci(const char *s, const char *prefix) {
    return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int http_parse_subject(const char *body, size_t len, const char *ct, char *out, size_t outn,
                       int *status, dream_err_t *err) {
    int st_dummy;
    if (!status) status = &st_dummy;
    *status = 400;
    if (!body) len = 0;
    if (len > HTTP_BODY_MAX) { *status = 413; return dream_err_set(err, "request body larger than %d bytes", HTTP_BODY_MAX); }
    if (outn < 2) return dream_err_set(err, "no room for the subject");
    char buf[HTTP_BODY_MAX + 1];
    if (len) memcpy(buf, body, len);
    buf[len] = 0;
    if (memchr(buf, 0, len)) return dream_err_set(err, "request body contains a NUL byte");

    if (starts_with_ci(ct, "application/json")) {
        /* a JSON \u0000 would truncate the decoded string past the NUL check above */
        if (strstr(buf, "\\u0000")) return dream_err_set(err, "request body contains a NUL character (\\u0000)");
        cJSON *j = cJSON_ParseWithLength(buf, len);
        if (!j) return dream_err_set(err, "request body is not valid JSON");
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(j, "subject");
        if (!cJSON_IsObject(j) || !cJSON_IsString(sub) || !sub->valuestring) {
            cJSON_Delete(j);
            return dream_err_set(err, "JSON body needs a string field \"subject\"");
        }
        if (strlen(sub->valuestring) >= outn) { cJSON_Delete(j); return dream_err_set(err, "subject longer than %zu bytes", outn - 1); }
        snprintf(out, outn, "%s", sub->valuestring);
        cJSON_Delete(j);
        return subject_check(out, err);
    }
    if (starts_with_ci(ct, "text/plain")) {
        size_t n = strcspn(buf, "\r\n");
        if (n >= outn) return dream_err_set(err, "subject longer than %zu bytes", outn - 1);
        memcpy(out, buf, n);
        out[n] = 0;
        return subject_check(out, err);
    }
    if (ct && *ct && !starts_with_ci(ct, "application/x-www-form-urlencoded")) {
        *status = 415;
        return dream_err_set(err, "unsupported content type '%.60s' (use form, JSON or text/plain)", ct);
    }
    /* form: name=value&name=value */
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        long kl = http_form_decode(kv, strlen(kv));
        if (kl < 0) return dream_err_set(err, "bad %%-escape in a form field name");
        if (strcmp(kv, "subject") != 0) continue;
        long vl = http_form_decode(eq + 1, strlen(eq + 1));
        if (vl < 0) return dream_err_set(err, "bad %%-escape in the subject");
        if ((size_t)vl >= outn) return dream_err_set(err, "subject longer than %zu bytes", outn - 1);
        memcpy(out, eq + 1, (size_t)vl + 1);
        if (memchr(out, 0, (size_t)vl)) return dream_err_set(err, "subject contains a NUL byte");
        return subject_check(out, err);
    }
    return dream_err_set(err, "missing form field 'subject'");
}

char *http_error_json(const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg ? msg : "error");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *http_request_reply(const requests_result_t *r, const dream_classes_t *c) {
    cJSON *o = cJSON_CreateObject();
    if (r->code == REQ_OK) {
        cJSON_AddNumberToObject(o, "position", r->position);
        cJSON_AddStringToObject(o, "message", r->message);
        cJSON *subs = cJSON_AddArrayToObject(o, "subjects");
        cJSON *ids = cJSON_AddArrayToObject(o, "ids");
        for (int i = 0; i < r->n; i++) {
            const char *name = c ? dream_classes_name(c, r->ids[i]) : NULL;
            cJSON_AddItemToArray(subs, cJSON_CreateString(name ? name : "?"));
            cJSON_AddItemToArray(ids, cJSON_CreateNumber(r->ids[i]));
        }
        cJSON_AddNumberToObject(o, "votes", r->votes);
        cJSON_AddBoolToObject(o, "merged", r->merged);
    } else {
        cJSON_AddStringToObject(o, "error", r->message);
        if (r->code == REQ_UNKNOWN) {
            cJSON *cl = cJSON_AddArrayToObject(o, "closest");
            for (int i = 0; i < r->n_closest; i++) {
                const char *name = c ? dream_classes_name(c, r->closest[i]) : NULL;
                if (name) cJSON_AddItemToArray(cl, cJSON_CreateString(name));
            }
        }
        if (r->code == REQ_RATE) cJSON_AddNumberToObject(o, "retry_after_s", (int)(r->retry_after_s + 0.999));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *http_classes_json(const dream_classes_t *c) {
    cJSON *o = cJSON_CreateObject();
    int n = c ? dream_classes_count(c) : 0;
    cJSON_AddNumberToObject(o, "count", n);
    cJSON *arr = cJSON_AddArrayToObject(o, "classes");
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", i);
        const char *name = dream_classes_name(c, i);
        cJSON_AddStringToObject(e, "name", name ? name : "");
        cJSON *syn = cJSON_AddArrayToObject(e, "synonyms");
        const char *all = dream_classes_synonyms(c, i);
        if (all) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", all);
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                while (*t == ' ') t++;
                if (*t) cJSON_AddItemToArray(syn, cJSON_CreateString(t));
            }
        }
        cJSON_AddItemToArray(arr, e);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

typedef struct { uint8_t *buf; size_t len, cap; int oom; } membuf_t;

static void png_write_mem(png_structp png, png_bytep data, png_size_t n) {
    membuf_t *m = png_get_io_ptr(png);
    if (m->oom) return;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 65536;
        while (cap < m->len + n) cap *= 2;
        uint8_t *nb = realloc(m->buf, cap);
        if (!nb) { m->oom = 1; return; }
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
}
static void png_flush_mem(png_structp png) { (void)png; }

int http_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *out_len, dream_err_t *err) {
    if (!rgb || w < 1 || h < 1 || w > 16384 || h > 16384) return dream_err_set(err, "png: bad image %dx%d", w, h);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        return dream_err_set(err, "png: out of memory");
    }
    membuf_t m = {0};
    png_bytep *rows = malloc(sizeof *rows * (size_t)h);
    if (!rows) { png_destroy_write_struct(&png, &info); return dream_err_set(err, "png: out of memory"); }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(m.buf);
        return dream_err_set(err, "png: encoding failed");
    }
    png_set_write_fn(png, &m, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, PNG_FILTER_SUB);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(rgb + (size_t)y * w * 3);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (m.oom) { free(m.buf); return dream_err_set(err, "png: out of memory"); }
    *out = m.buf;
    *out_len = m.len;
    return 0;
}

const char *http_status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

int http_parse_optional_field(const char *body, size_t len, const char *ct, const char *field,
                              char *out, size_t outn) {
    if (!out || outn < 1) return -1;
    out[0] = 0;
    if (!body || !field || len > HTTP_BODY_MAX) return 0;
    char buf[HTTP_BODY_MAX + 1];
    memcpy(buf, body, len);
    buf[len] = 0;
    if (memchr(buf, 0, len)) return 0;
    if (starts_with_ci(ct, "application/json")) {
        cJSON *j = cJSON_ParseWithLength(buf, len);
        const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, field) : NULL;
        int found = cJSON_IsString(v) && v->valuestring;
        if (found) snprintf(out, outn, "%s", v->valuestring);     /* cut to outn - 1 bytes */
        cJSON_Delete(j);
        return found;
    }
    if (ct && *ct && !starts_with_ci(ct, "application/x-www-form-urlencoded")) return 0;
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        if (http_form_decode(kv, strlen(kv)) < 0 || strcmp(kv, field) != 0) continue;
        if (http_form_decode(eq + 1, strlen(eq + 1)) < 0) return -1;
        snprintf(out, outn, "%s", eq + 1);
        return 1;
    }
    return 0;
}
