/*
 * zap.h — one ZAP (ZeroMQ authentication protocol, RFC 27) handler thread, shared by the
 * worker socket's CURVE (coord_curve.c) and the admin socket's (admin.c).
 *
 * The handler binds inproc://zeromq.zap.01 in the given context (one per context) and
 * answers each request: CURVE with a 32-byte client key that check() accepts -> 200 with
 * the User-Id check() wrote; anything else -> 400 "key not allowed" (and on_refuse, if set,
 * is called: the caller logs). The thread polls with a short timeout so zap_destroy() can
 * stop and JOIN it whatever the context's state; it also ends by itself when the context
 * is terminated (ETERM), after which zap_destroy() only joins and frees.
 *
 *   zap_t *z = zap_new(zctx, check, ud, on_refuse, err);   // NULL + err on failure
 *   ...
 *   zap_destroy(&z);     // stops + joins the thread, closes its socket; NULL-safe
 */
#ifndef DREAM_ZAP_H
#define DREAM_ZAP_H
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"

/* 1 = key accepted (user, up to n bytes, NUL-terminated: the User-Id), 0 = refused */
typedef int (*zap_check_fn)(const uint8_t key[32], char *user, size_t n, void *ud);
typedef void (*zap_refuse_fn)(void *ud);

typedef struct zap zap_t;

zap_t *zap_new(void *zctx, zap_check_fn check, zap_refuse_fn on_refuse, void *ud, dream_err_t *err);
void zap_destroy(zap_t **z);

#endif
