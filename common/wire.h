/*
 * wire.h — framing of the farm protocol (proto/dreamfarm.proto) over ZeroMQ.
 *
 * A message is multipart: [identity (ROUTER only)] [Envelope protobuf] [pixels?].
 * Every receive is bounded: the socket's ZMQ_MAXMSGSIZE caps each frame, a
 * message with more frames than allowed is drained and dropped, the header is
 * size-checked before protobuf unpacking, the envelope version must equal
 * DREAM_WIRE_VERSION, the body must match the type, and a pixel frame must be
 * exactly rect.w * rect.h * 3 bytes of the Job/Result rectangle. Malformed
 * input is logged (rate limited) and dropped; it never aborts the receiver.
 */
#ifndef DREAM_WIRE_H
#define DREAM_WIRE_H
#include <stddef.h>
#include <stdint.h>
#include "classes.h"    /* DREAM_MAX_SUBJECTS */
#include "dlog.h"
#include "dreamfarm.pb-c.h"
#include <zmq.h>

#define DREAM_WIRE_VERSION 2     /* 2: wire_hash64 is XXH3-64 (1: FNV-1a) */
#define DREAM_WIRE_MAX_HEADER (256u * 1024u)       /* bytes of the protobuf header */
#define DREAM_WIRE_MAX_IDENTITY 256u
#define DREAM_WIRE_MAX_SIDE 16384
#define DREAM_WIRE_MAX_TILE_PIXELS (64u * 1024u * 1024u)
#define DREAM_WIRE_MAX_PIXEL_BYTES ((size_t)DREAM_WIRE_MAX_TILE_PIXELS * 3u)
#define DREAM_WIRE_MAX_FRAMES 3                    /* identity + header + pixels */
#define DREAM_WIRE_MAX_SUBJECTS DREAM_MAX_SUBJECTS    /* the one subject limit (common/classes.h) */
#define DREAM_WIRE_MAX_MASK (256 * 256)

/* One received message. env is owned (free with wire_msg_clear). */
typedef struct wire_msg {
    uint8_t identity[DREAM_WIRE_MAX_IDENTITY];
    size_t identity_len;        /* 0 when the socket has no identity frame */
    Dreamfarm__Envelope *env;
    uint8_t *pixels;            /* malloc'd, or NULL (wire_recv_zc: inside pxmsg) */
    size_t pixels_len;
    int pixels_borrowed;        /* pixels point into the caller's buffer or pxmsg (not freed by clear) */
    zmq_msg_t pxmsg;            /* wire_recv_zc: the pixel frame as received (pixels point into it) */
    int pxmsg_live;             /* pxmsg holds a frame: closed by wire_msg_clear */
    size_t bytes;               /* total bytes received for this message */
    char peer_key[41];          /* the peer's CURVE public key (Z85, from the ZAP handler's
                                 * User-Id), "" without CURVE */
} wire_msg_t;

/* Sets ZMQ_MAXMSGSIZE (largest frame), linger and a few sane defaults on a socket. */
int wire_socket_setup(void *sock, int64_t max_frame, dream_err_t *err);

/* Initialises an envelope with the current version and the given type (body unset). */
void wire_envelope_init(Dreamfarm__Envelope *env, Dreamfarm__MsgType type);

/* Builders for the small control messages (one place for their envelope boilerplate).
 * identity may be NULL (DEALER side); sent with ZMQ_DONTWAIT; return wire_send's value.
 * code: a DREAMFARM__ERROR_CODE__* value (Error) / DREAMFARM__REFUSAL_CODE__* (Refusal). */
long wire_send_error(void *sock, const void *identity, size_t identity_len, uint64_t job_id,
                     int code, const char *msg);
long wire_send_refusal(void *sock, const void *identity, size_t identity_len,
                       Dreamfarm__RefusalCode code, const char *reason);
long wire_send_bye(void *sock, const void *identity, size_t identity_len, const char *reason);

/* Sends [identity?][header][pixels?] (identity may be NULL; pixels may be NULL).
 * flags: ZMQ_DONTWAIT or 0. Returns bytes sent, or -1 with err (errno kept). */
long wire_send(void *sock, const void *identity, size_t identity_len,
               const Dreamfarm__Envelope *env, const void *pixels, size_t pixels_len,
               int flags, dream_err_t *err);
/* wire_send without copying the pixels: pixels (malloc'd) belong to the wire from this call
 * on, sent and then freed, or freed at once on an error */
long wire_send_owned(void *sock, const void *identity, size_t identity_len, const Dreamfarm__Envelope *env,
                     void *pixels, size_t pixels_len, int flags, dream_err_t *err);
/* wire_send_owned with the caller's release: release(pixels, hint) runs once ZeroMQ is done with
 * them (from its I/O thread) or at once on an error; until then they must not change (e.g. a
 * reference-counted buffer the sender keeps reading) */
long wire_send_shared(void *sock, const void *identity, size_t identity_len, const Dreamfarm__Envelope *env,
                      void *pixels, size_t pixels_len, void (*release)(void *data, void *hint), void *hint, int flags,
                      dream_err_t *err);

/* Receives one whole message. with_identity: 1 for ROUTER sockets.
 * Returns 1 on a valid message (out filled), 0 when nothing is waiting
 * (ZMQ_DONTWAIT given and EAGAIN), -1 when a message was received but dropped
 * as malformed (err says why; out cleared, identity kept when known),
 * -2 on a socket error (ETERM etc, err set). */
int wire_recv(void *sock, int with_identity, int flags, wire_msg_t *out, dream_err_t *err);
/* The same without copying the pixel frame: out->pixels point into the frame libzmq received
 * (out->pxmsg; unaligned: read it as bytes), valid until wire_msg_clear, or longer when the
 * caller moves out->pxmsg away (zmq_msg_move, then pxmsg_live = 0). */
int wire_recv_zc(void *sock, int with_identity, int flags, wire_msg_t *out, dream_err_t *err);

/* Validates a decoded envelope + pixel frame (used by wire_recv; exposed for tests). */
int wire_validate(const Dreamfarm__Envelope *env, size_t pixels_len, dream_err_t *err);

void wire_msg_clear(wire_msg_t *m);

/* Reads a CURVE key file as written by `dreamctl keygen` ("public = Z85" / "secret = Z85"
 * lines, '#' comments); pub and sec get 40 characters + NUL. */
int wire_curve_read_keyfile(const char *path, char pub[41], char sec[41], dream_err_t *err);

/* A 64-bit hash of a byte buffer (XXH3-64, seed 0, from libxxhash): the check that a worker
 * computed on the pixels the coordinator has (tile, window and resident-canvas hashes). Not a
 * defence against a hostile peer (it could send any result), a check of its input: ~0.3 ms per
 * 6 MB (the FNV-1a of protocol 1 took ~2.5 ms, and a 4K keyframe's windows are ~120 MB). */
uint64_t wire_hash64(const uint8_t *p, size_t n);
/* wire_hash64 of the concatenation of pieces (init, update... , final): the same value as one
 * call over the bytes laid end to end (a window hashed row by row from a bigger image). The
 * state is XXH3's streaming state, kept opaque here (wire.c checks that it fits). */
typedef struct { _Alignas(64) unsigned char st[640]; } wire_hash_t;
void wire_hash_init(wire_hash_t *s);
void wire_hash_update(wire_hash_t *s, const uint8_t *p, size_t n);
uint64_t wire_hash_final(wire_hash_t *s);

/* Rect helpers */
size_t wire_rect_bytes(const Dreamfarm__Rect *r);   /* w*h*3, 0 if invalid */
const char *wire_type_name(Dreamfarm__MsgType t);

#endif
