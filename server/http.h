/*
 * http.h — the pure parts of the HTTP API (no sockets): request body parsing, JSON replies,
 * PNG encoding of snapshots. The libwebsockets glue lives in stream_http.c (routes) and
 * stream_ws.c (viewers).
 *
 *   POST /api/request  body: form (subject=tree+frog), JSON ({"subject":"tree frog"}) or
 *                      text/plain (the subject itself); at most HTTP_BODY_MAX bytes.
 *     202 {"position":1,"message":"...","subjects":["tree frog"],"ids":[31],"votes":1}
 *     400 {"error":"...","closest":["tree frog","tailed frog","bullfrog"]}
 *     403 / 429 (+ "retry_after_s") / 503 {"error":"..."}
 *     413 {"error":"request body larger than 4096 bytes"}, 415 unsupported content type
 */
#ifndef DREAM_HTTP_H
#define DREAM_HTTP_H
#include <stdint.h>
#include <stddef.h>
#include "dlog.h"
#include "classes.h"
#include "requests.h"

#define HTTP_BODY_MAX 4096

/* Extracts the `subject` field into out (NUL-terminated). content_type may be NULL (form).
 * Returns 0, or -1 with err (missing field, bad encoding, bad JSON, too long). *status gets
 * the HTTP status to answer on error (400 or 415). */
int http_parse_subject(const char *body, size_t len, const char *content_type, char *out,
                       size_t outn, int *status, dream_err_t *err);

/* An optional field (e.g. the form's `name`) of a form or JSON body into out, cut to outn - 1
 * bytes: 1 found, 0 absent (or another content type), -1 bad %-escape. The caller sanitises. */
int http_parse_optional_field(const char *body, size_t len, const char *content_type,
                              const char *field, char *out, size_t outn);

/* In-place percent/plus decoding of a form value; returns decoded length or -1 on a bad escape
 * or an embedded NUL. */
long http_form_decode(char *s, size_t len);

/* JSON reply body for a request result (malloc'd). */
char *http_request_reply(const requests_result_t *r, const dream_classes_t *c);
/* {"error":"msg"} (malloc'd). */
char *http_error_json(const char *msg);
/* {"count":1000,"classes":[{"id":0,"name":"tench","synonyms":["tench","Tinca tinca"]},..]} */
char *http_classes_json(const dream_classes_t *c);

/* (h, w, 3) RGB -> PNG in a malloc'd buffer (fast compression). */
int http_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *out_len, dream_err_t *err);

const char *http_status_text(int status);

#endif
