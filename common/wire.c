/*
 * wire.c — bounded send/receive of [header-protobuf][raw pixels] multipart
 * ZeroMQ messages for the farm protocol (see wire.h).
 */
#include "wire.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
/* libxxhash's header-only build (XXH_INLINE_ALL): the library's own code compiled in, so the
 * binaries need no runtime package; the state's layout is visible for the opaque wire_hash_t */
#define XXH_INLINE_ALL
#include <xxhash.h>
_Static_assert(sizeof(XXH3_state_t) <= sizeof(wire_hash_t) && _Alignof(XXH3_state_t) <= 64,
               "wire_hash_t must hold XXH3_state_t");

int wire_socket_setup(void *sock, int64_t max_frame, dream_err_t *err) {
    int linger = 0;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame) != 0)
        return dream_err_set(err, "ZMQ_MAXMSGSIZE: %s", zmq_strerror(zmq_errno()));
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0)
        return dream_err_set(err, "ZMQ_LINGER: %s", zmq_strerror(zmq_errno()));
    int hwm = 1000;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    return 0;
}

void wire_envelope_init(Dreamfarm__Envelope *env, Dreamfarm__MsgType type) {
    dreamfarm__envelope__init(env);
    env->version = DREAM_WIRE_VERSION;
    env->type = type;
}

long wire_send_error(void *sock, const void *identity, size_t identity_len, uint64_t job_id,
                     int code, const char *msg) {
    Dreamfarm__Envelope env;
    Dreamfarm__Error e = DREAMFARM__ERROR__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_ERROR);
    e.has_job_id = 1;
    e.job_id = job_id;
    e.code = code;
    e.message = (char *)(msg ? msg : "");
    env.body_case = DREAMFARM__ENVELOPE__BODY_ERROR;
    env.error = &e;
    return wire_send(sock, identity, identity_len, &env, NULL, 0, ZMQ_DONTWAIT, NULL);
}

long wire_send_refusal(void *sock, const void *identity, size_t identity_len,
                       Dreamfarm__RefusalCode code, const char *reason) {
    Dreamfarm__Envelope env;
    Dreamfarm__Refusal r = DREAMFARM__REFUSAL__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_REFUSAL);
    r.reason = (char *)(reason ? reason : "");
    r.has_code = 1;
    r.code = code;
    env.body_case = DREAMFARM__ENVELOPE__BODY_REFUSAL;
    env.refusal = &r;
    return wire_send(sock, identity, identity_len, &env, NULL, 0, ZMQ_DONTWAIT, NULL);
}

long wire_send_bye(void *sock, const void *identity, size_t identity_len, const char *reason) {
    Dreamfarm__Envelope env;
    Dreamfarm__Bye b = DREAMFARM__BYE__INIT;
    wire_envelope_init(&env, DREAMFARM__MSG_TYPE__MSG_BYE);
    b.reason = (char *)reason;
    env.body_case = DREAMFARM__ENVELOPE__BODY_BYE;
    env.bye = &b;
    return wire_send(sock, identity, identity_len, &env, NULL, 0, ZMQ_DONTWAIT, NULL);
}

const char *wire_type_name(Dreamfarm__MsgType t) {
    switch (t) {
    case DREAMFARM__MSG_TYPE__MSG_HELLO: return "hello";
    case DREAMFARM__MSG_TYPE__MSG_WELCOME: return "welcome";
    case DREAMFARM__MSG_TYPE__MSG_REFUSAL: return "refusal";
    case DREAMFARM__MSG_TYPE__MSG_JOB: return "job";
    case DREAMFARM__MSG_TYPE__MSG_RESULT: return "result";
    case DREAMFARM__MSG_TYPE__MSG_HEARTBEAT: return "heartbeat";
    case DREAMFARM__MSG_TYPE__MSG_ERROR: return "error";
    case DREAMFARM__MSG_TYPE__MSG_BYE: return "bye";
    default: return "?";
    }
}

size_t wire_rect_bytes(const Dreamfarm__Rect *r) {
    if (!r || r->w <= 0 || r->h <= 0 || r->w > DREAM_WIRE_MAX_SIDE || r->h > DREAM_WIRE_MAX_SIDE)
        return 0;
    if (r->x < 0 || r->y < 0 || r->x > DREAM_WIRE_MAX_SIDE || r->y > DREAM_WIRE_MAX_SIDE) return 0;
    size_t px = (size_t)r->w * (size_t)r->h;
    if (px > DREAM_WIRE_MAX_TILE_PIXELS) return 0;
    return px * 3u;
}

static void free_pixels(void *data, void *hint) {
    (void)hint;
    free(data);
}

/* wire_send; rel (owned pixels): they go to ZeroMQ as they are, released with rel(pixels, hint)
 * once sent, or here on failure, instead of being copied */
static long send_impl(void *sock, const void *identity, size_t identity_len, const Dreamfarm__Envelope *env,
                      const void *pixels, size_t pixels_len, void (*rel)(void *, void *), void *hint, int flags,
                      dream_err_t *err) {
    int owned = rel != NULL;
    size_t n = dreamfarm__envelope__get_packed_size(env);
    if (n > DREAM_WIRE_MAX_HEADER) {
        if (owned) rel((void *)pixels, hint);
        return dream_err_set(err, "header too large (%zu bytes)", n);
    }
    uint8_t stackbuf[4096];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) {
        if (owned) rel((void *)pixels, hint);
        return dream_err_set(err, "out of memory");
    }
    dreamfarm__envelope__pack(env, buf);
    long total = 0;
    int more_hdr = pixels ? ZMQ_SNDMORE : 0;
    if (identity) {
        if (zmq_send(sock, identity, identity_len, flags | ZMQ_SNDMORE) < 0) goto fail;
        total += (long)identity_len;
    }
    if (zmq_send(sock, buf, n, flags | more_hdr) < 0) goto fail;
    total += (long)n;
    if (pixels && owned) {
        zmq_msg_t m;
        if (zmq_msg_init_data(&m, (void *)pixels, pixels_len, rel, hint) != 0) goto fail;
        owned = 0;      /* the message owns the pixels now */
        if (zmq_msg_send(&m, sock, flags) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            errno = e;
            goto fail;
        }
        total += (long)pixels_len;
    } else if (pixels) {
        if (zmq_send(sock, pixels, pixels_len, flags) < 0) goto fail;
        total += (long)pixels_len;
    }
    if (buf != stackbuf) free(buf);
    return total;
fail:;
    int e = zmq_errno();
    if (buf != stackbuf) free(buf);
    if (owned) rel((void *)pixels, hint);
    errno = e;
    return dream_err_set(err, "send %s: %s", wire_type_name(env->type), zmq_strerror(e));
}

long wire_send(void *sock, const void *identity, size_t identity_len,
               const Dreamfarm__Envelope *env, const void *pixels, size_t pixels_len,
               int flags, dream_err_t *err) {
    return send_impl(sock, identity, identity_len, env, pixels, pixels_len, NULL, NULL, flags, err);
}

long wire_send_owned(void *sock, const void *identity, size_t identity_len, const Dreamfarm__Envelope *env,
                     void *pixels, size_t pixels_len, int flags, dream_err_t *err) {
    if (!pixels) return send_impl(sock, identity, identity_len, env, NULL, 0, NULL, NULL, flags, err);
    return send_impl(sock, identity, identity_len, env, pixels, pixels_len, free_pixels, NULL, flags, err);
}

long wire_send_shared(void *sock, const void *identity, size_t identity_len, const Dreamfarm__Envelope *env,
                      void *pixels, size_t pixels_len, void (*release)(void *data, void *hint), void *hint, int flags,
                      dream_err_t *err) {
    if (!pixels || !release) return send_impl(sock, identity, identity_len, env, pixels, pixels_len, NULL, NULL, flags, err);
    return send_impl(sock, identity, identity_len, env, pixels, pixels_len, release, hint, flags, err);
}

void wire_msg_clear(wire_msg_t *m) {
    if (!m) return;
    if (m->env) dreamfarm__envelope__free_unpacked(m->env, NULL);
    if (!m->pixels_borrowed) free(m->pixels);
    if (m->pxmsg_live) zmq_msg_close(&m->pxmsg);
    m->pxmsg_live = 0;
    m->pixels_borrowed = 0;
    m->env = NULL;
    m->pixels = NULL;
    m->pixels_len = 0;
    m->bytes = 0;
}

static int rect_ok(const Dreamfarm__Rect *r) { return wire_rect_bytes(r) != 0; }

/* a job the worker warps itself (resident canvas, tile window): zoom, angle and kernel sane */
static int warp_ok(const Dreamfarm__Job *j) {
    return j->has_warp_zoom && j->warp_zoom > 1e-3 && j->warp_zoom < 1e3 && j->has_warp_angle &&
           isfinite(j->warp_angle) && fabs(j->warp_angle) <= 1e6 &&
           !(j->has_warp_interp && (j->warp_interp < 0 || j->warp_interp > 1));
}

static int subjects_ok(size_t n, Dreamfarm__Subject **s, const Dreamfarm__Rect *tile,
                       dream_err_t *err) {
    if (n > DREAM_WIRE_MAX_SUBJECTS) return dream_err_set(err, "job has %zu subjects (max %d)", n, DREAM_WIRE_MAX_SUBJECTS);
    for (size_t i = 0; i < n; i++) {
        if (s[i]->class_id < 0 || s[i]->class_id > 100000)
            return dream_err_set(err, "subject %zu: bad class %d", i, s[i]->class_id);
        if (s[i]->rect) {
            const Dreamfarm__Rect *r = s[i]->rect;
            if (r->w <= 0 || r->h <= 0 || r->x < 0 || r->y < 0 || r->x + r->w > tile->w ||
                r->y + r->h > tile->h)
                return dream_err_set(err, "subject %zu: rect %dx%d+%d+%d outside tile %dx%d", i,
                                     r->w, r->h, r->x, r->y, tile->w, tile->h);
        }
        if (s[i]->has_mask) {
            if (!s[i]->has_mask_w || !s[i]->has_mask_h || s[i]->mask_w <= 0 || s[i]->mask_h <= 0 ||
                (long)s[i]->mask_w * s[i]->mask_h > DREAM_WIRE_MAX_MASK ||
                s[i]->mask.len != (size_t)s[i]->mask_w * (size_t)s[i]->mask_h)
                return dream_err_set(err, "subject %zu: mask size does not match %dx%d", i,
                                     s[i]->mask_w, s[i]->mask_h);
        }
    }
    return 0;
}

int wire_validate(const Dreamfarm__Envelope *env, size_t pixels_len, dream_err_t *err) {
    if (env->version != DREAM_WIRE_VERSION)
        return dream_err_set(err, "protocol version %u (expected %d)", env->version, DREAM_WIRE_VERSION);
    int want_pixels = 0;
    const Dreamfarm__Rect *rect = NULL;
#define NEED(body, ptr) \
    if (env->body_case != DREAMFARM__ENVELOPE__BODY_##body || !env->ptr) \
        return dream_err_set(err, "%s message without a %s body", wire_type_name(env->type), #ptr)
    switch (env->type) {
    case DREAMFARM__MSG_TYPE__MSG_HELLO:
        NEED(HELLO, hello);
        if (strlen(env->hello->name) == 0 || strlen(env->hello->name) > 128)
            return dream_err_set(err, "hello: bad worker name length");
        if (!(env->hello->ms_per_mpix_step > 0 && env->hello->ms_per_mpix_step < 1e9))
            return dream_err_set(err, "hello: bad speed %g", env->hello->ms_per_mpix_step);
        break;
    case DREAMFARM__MSG_TYPE__MSG_WELCOME: NEED(WELCOME, welcome); break;
    case DREAMFARM__MSG_TYPE__MSG_REFUSAL: NEED(REFUSAL, refusal); break;
    case DREAMFARM__MSG_TYPE__MSG_JOB:
        NEED(JOB, job);
        rect = env->job->tile;
        if (!rect_ok(rect)) return dream_err_set(err, "job: bad tile rectangle");
        if (!env->job->core || env->job->core->x < 0 || env->job->core->y < 0 ||
            env->job->core->w <= 0 || env->job->core->h <= 0 ||
            env->job->core->x + env->job->core->w > rect->w ||
            env->job->core->y + env->job->core->h > rect->h)
            return dream_err_set(err, "job: core rectangle outside the tile");
        if (env->job->steps < 0 || env->job->steps > 10000)
            return dream_err_set(err, "job: bad steps %d", env->job->steps);
        if (env->job->optimizer != DREAMFARM__OPTIMIZER__OPTIM_SEED &&
            env->job->optimizer != DREAMFARM__OPTIMIZER__OPTIM_ADAM)
            return dream_err_set(err, "job: unknown optimizer %d", (int)env->job->optimizer);
        if (subjects_ok(env->job->n_subjects, env->job->subjects, rect, err)) return -1;
        want_pixels = 1;
        /* result_fixed and held only with a tile-warp window (not a resident-canvas job): the
         * worker would ignore them elsewhere */
        if (((env->job->has_result_fixed && env->job->result_fixed) || env->job->held) &&
            (!env->job->warp_source || (env->job->has_from_resident && env->job->from_resident) ||
             (env->job->has_float_pixels && env->job->float_pixels)))
            return dream_err_set(err, "job: a fixed-point result or held part without a window");
        if (env->job->has_result_u8 && env->job->result_u8 && !(env->job->has_result_fixed && env->job->result_fixed))
            return dream_err_set(err, "job: result_u8 without result_fixed");
        if (env->job->rest) {
            const Dreamfarm__Rect *rs = env->job->rest;
            if (!(env->job->has_result_fixed && env->job->result_fixed) || !rect_ok(rs) || rs->x < rect->x ||
                rs->y < rect->y || rs->x + rs->w > rect->x + rect->w || rs->y + rs->h > rect->y + rect->h)
                return dream_err_set(err, "job: rest part outside the tile (or without result_fixed)");
        }
        if (env->job->has_from_resident && env->job->from_resident) {
            /* the worker's own float canvas, warped: no pixels, sane warp parameters */
            if (!warp_ok(env->job) || !env->job->has_resident_keyframe_id || rect->x != 0 || rect->y != 0)
                return dream_err_set(err, "job: bad resident-canvas warp");
            want_pixels = 0;
        } else if (env->job->has_float_pixels && env->job->float_pixels) {
            if (rect->x != 0 || rect->y != 0) return dream_err_set(err, "job: float pixels for a part of the canvas");
            want_pixels = 4;    /* float32 (h, w, 3) */
        } else if (env->job->warp_source) {
            /* the tile warp: a window of the canvas (8.8 fixed point) and sane warp parameters */
            const Dreamfarm__Rect *src = env->job->warp_source;
            if (!rect_ok(src) || !env->job->has_canvas_w || !env->job->has_canvas_h ||
                env->job->canvas_w <= 0 || env->job->canvas_h <= 0 || env->job->canvas_w > DREAM_WIRE_MAX_SIDE ||
                env->job->canvas_h > DREAM_WIRE_MAX_SIDE || src->x + src->w > env->job->canvas_w ||
                src->y + src->h > env->job->canvas_h || rect->x + rect->w > env->job->canvas_w ||
                rect->y + rect->h > env->job->canvas_h)
                return dream_err_set(err, "job: warp source outside the canvas");
            if (!warp_ok(env->job)) return dream_err_set(err, "job: bad tile warp");
            rect = src;
            want_pixels = 2;    /* uint16 (h, w, 3) of the window */
            const Dreamfarm__Rect *hd = env->job->held;
            if (hd) {
                /* tile-resident: the held part of the window is not in the frame */
                if (!rect_ok(hd) || hd->x < src->x || hd->y < src->y || hd->x + hd->w > src->x + src->w ||
                    hd->y + hd->h > src->y + src->h || !env->job->has_resident_keyframe_id ||
                    !(env->job->has_result_fixed && env->job->result_fixed))
                    return dream_err_set(err, "job: held part outside the window (or without its keyframe)");
                size_t need = (wire_rect_bytes(src) - wire_rect_bytes(hd)) * 2;
                if (pixels_len != need)
                    return dream_err_set(err, "job: pixel frame is %zu bytes, window %dx%d less held %dx%d needs %zu",
                                         pixels_len, src->w, src->h, hd->w, hd->h, need);
                return 0;
            }
        }
        break;
    case DREAMFARM__MSG_TYPE__MSG_RESULT:
        NEED(RESULT, result);
        rect = env->result->tile;
        if (!rect_ok(rect)) return dream_err_set(err, "result: bad tile rectangle");
        want_pixels = env->result->has_fixed_pixels && env->result->fixed_pixels ? 2 : 1;
        if (env->result->rest) {
            /* a result in two parts: the tile less rest, or (rest_part) rest alone */
            const Dreamfarm__Rect *rs = env->result->rest;
            if (!rect_ok(rs) || rs->x < rect->x || rs->y < rect->y || rs->x + rs->w > rect->x + rect->w ||
                rs->y + rs->h > rect->y + rect->h)
                return dream_err_set(err, "result: rest part outside the tile");
            size_t need = (env->result->has_rest_part && env->result->rest_part ? wire_rect_bytes(rs)
                                                                                : wire_rect_bytes(rect) - wire_rect_bytes(rs)) *
                          (size_t)want_pixels;
            if (pixels_len != need)
                return dream_err_set(err, "result: pixel frame is %zu bytes, %s %dx%d needs %zu", pixels_len,
                                     env->result->has_rest_part && env->result->rest_part ? "rest" : "tile less rest",
                                     rs->w, rs->h, need);
            return 0;
        }
        if (env->result->has_rest_part && env->result->rest_part) return dream_err_set(err, "result: rest part without rest");
        break;
    case DREAMFARM__MSG_TYPE__MSG_HEARTBEAT: NEED(HEARTBEAT, heartbeat); break;
    case DREAMFARM__MSG_TYPE__MSG_ERROR: NEED(ERROR, error); break;
    case DREAMFARM__MSG_TYPE__MSG_BYE: NEED(BYE, bye); break;
    default: return dream_err_set(err, "unknown message type %d", (int)env->type);
    }
#undef NEED
    if (want_pixels) {
        size_t need = wire_rect_bytes(rect) * (size_t)want_pixels;
        if (pixels_len != need)
            return dream_err_set(err, "%s: pixel frame is %zu bytes, rect %dx%d needs %zu",
                                 wire_type_name(env->type), pixels_len, rect->w, rect->h, need);
    } else if (pixels_len) {
        return dream_err_set(err, "%s: unexpected pixel frame (%zu bytes)", wire_type_name(env->type),
                             pixels_len);
    }
    return 0;
}

/* drains the remaining parts of a multipart message */
static void drain(void *sock) {
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) { zmq_msg_close(&m); break; }
        zmq_msg_close(&m);
        sz = sizeof more;
    }
}

static int recv_impl(void *sock, int with_identity, int flags, wire_msg_t *out, int zc, dream_err_t *err);

int wire_recv(void *sock, int with_identity, int flags, wire_msg_t *out, dream_err_t *err) {
    return recv_impl(sock, with_identity, flags, out, 0, err);
}

int wire_recv_zc(void *sock, int with_identity, int flags, wire_msg_t *out, dream_err_t *err) {
    return recv_impl(sock, with_identity, flags, out, 1, err);
}

static int recv_impl(void *sock, int with_identity, int flags, wire_msg_t *out, int zc, dream_err_t *err) {
    memset(out, 0, sizeof *out);
    zmq_msg_t parts[DREAM_WIRE_MAX_FRAMES];
    int nparts = 0, more = 1, rc = 1;
    int maxparts = with_identity ? 3 : 2;
    while (more) {
        if (nparts == maxparts) {
            drain(sock);
            rc = -1;
            dream_err_set(err, "message has more than %d frames", maxparts);
            break;
        }
        zmq_msg_init(&parts[nparts]);
        if (zmq_msg_recv(&parts[nparts], sock, nparts ? 0 : flags) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&parts[nparts]);
            if (nparts == 0 && e == EAGAIN) return 0;
            if (nparts == 0 && e == EINTR) return 0;
            for (int i = 0; i < nparts; i++) zmq_msg_close(&parts[i]);
            dream_err_set(err, "recv: %s", zmq_strerror(e));
            return -2;
        }
        out->bytes += zmq_msg_size(&parts[nparts]);
        more = zmq_msg_more(&parts[nparts]);
        nparts++;
    }
    int hi = 0;
    if (with_identity) {
        size_t il = zmq_msg_size(&parts[0]);
        if (il > 0 && il <= DREAM_WIRE_MAX_IDENTITY) {
            memcpy(out->identity, zmq_msg_data(&parts[0]), il);
            out->identity_len = il;
        }
        hi = 1;
    }
    if (rc == 1 && nparts <= hi) {
        rc = dream_err_set(err, "message without a header frame");
    }
    if (rc == 1) {
        size_t hl = zmq_msg_size(&parts[hi]);
        if (hl == 0 || hl > DREAM_WIRE_MAX_HEADER) {
            rc = dream_err_set(err, "header frame of %zu bytes (max %u)", hl, DREAM_WIRE_MAX_HEADER);
        } else {
            out->env = dreamfarm__envelope__unpack(NULL, hl, zmq_msg_data(&parts[hi]));
            if (!out->env) rc = dream_err_set(err, "header is not a valid Envelope protobuf");
        }
    }
    if (rc == 1) {      /* the authenticated CURVE key, when the ZAP handler set one */
        const char *uid = zmq_msg_gets(&parts[hi], "User-Id");
        if (uid && strlen(uid) == 40) memcpy(out->peer_key, uid, 41);
    }
    size_t plen = (rc == 1 && nparts > hi + 1) ? zmq_msg_size(&parts[hi + 1]) : 0;
    if (rc == 1 && plen > DREAM_WIRE_MAX_PIXEL_BYTES)
        rc = dream_err_set(err, "pixel frame of %zu bytes is too large", plen);
    if (rc == 1 && wire_validate(out->env, plen, err) != 0) rc = -1;
    if (rc == 1 && plen && zc) {     /* the frame itself, kept open (no copy) */
        zmq_msg_init(&out->pxmsg);
        zmq_msg_move(&out->pxmsg, &parts[hi + 1]);
        out->pxmsg_live = 1;
        out->pixels = zmq_msg_data(&out->pxmsg);
        out->pixels_len = plen;
        out->pixels_borrowed = 1;
    } else if (rc == 1 && plen) {
        out->pixels = malloc(plen);
        if (!out->pixels) rc = dream_err_set(err, "out of memory for %zu pixel bytes", plen);
        else {
            memcpy(out->pixels, zmq_msg_data(&parts[hi + 1]), plen);
            out->pixels_len = plen;
        }
    }
    for (int i = 0; i < nparts; i++) zmq_msg_close(&parts[i]);
    if (rc != 1) {
        size_t il = out->identity_len;
        wire_msg_clear(out);
        out->identity_len = il;
        return -1;
    }
    return 1;
}

int wire_curve_read_keyfile(const char *path, char pub[41], char sec[41], dream_err_t *err) {
    FILE *f = fopen(path, "r");
    if (!f) return dream_err_set(err, "CURVE key file %s: cannot open", path);
    char line[256];
    pub[0] = sec[0] = 0;
    int lineno = 0;
    while (fgets(line, sizeof line, f) && lineno < 100) {
        lineno++;
        char k[16], v[64];
        if (line[0] == '#') continue;
        if (sscanf(line, " %15[a-z] = %63s", k, v) != 2) continue;
        if (strlen(v) != 40) {
            fclose(f);
            return dream_err_set(err, "%s:%d: key is not 40 Z85 characters", path, lineno);
        }
        if (!strcmp(k, "public")) memcpy(pub, v, 41);
        else if (!strcmp(k, "secret")) memcpy(sec, v, 41);
    }
    fclose(f);
    if (!sec[0]) return dream_err_set(err, "%s: no 'secret = ...' line", path);
    if (!pub[0]) return dream_err_set(err, "%s: no 'public = ...' line", path);
    return 0;
}

void wire_hash_init(wire_hash_t *s) {
    XXH3_state_t *st = (XXH3_state_t *)s->st;     /* storage only ever used as this type */
    XXH3_INITSTATE(st);
    XXH3_64bits_reset(st);
}

void wire_hash_update(wire_hash_t *s, const uint8_t *p, size_t n) {
    XXH3_64bits_update((XXH3_state_t *)s->st, p, n);
}

uint64_t wire_hash_final(wire_hash_t *s) {
    return XXH3_64bits_digest((const XXH3_state_t *)s->st);
}

uint64_t wire_hash64(const uint8_t *p, size_t n) {
    return XXH3_64bits(p, n);
}
