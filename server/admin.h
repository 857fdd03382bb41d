/*
 * admin.h — dreamd's operator interface: the admin command table (one row per command:
 * name, arguments, help, read-only flag, handler, like redis's command table), the admin
 * socket with its access rules, and the coordinator-side housekeeping that goes with it
 * (metrics publishing, durable queue/bans/config/canvas in the --state database).
 *
 * Protocol (ZeroMQ REQ/REP, one text frame each way, <= 4 KB in, <= 512 KB out): the request
 * is one command line ("queue push tree frog"); the reply is text, "ERR ..." (one line) on
 * failure. `commands` returns the table ("name<TAB>args<TAB>ro|rw<TAB>help" lines) and
 * `names workers|config|classes|sections` the words for completion: dreamctl's console
 * builds its help and tab completion from them.
 *
 * Access: ipc:// endpoints (made mode 0600) and loopback TCP are open to local users; any
 * other bind needs CURVE (--admin-secret-file from `dreamctl keygen` and an allow-list of
 * admin public keys, --admin-allow-file) and dreamd refuses to start without it. Keys in
 * --admin-readonly-file may run only the read-only commands.
 */
#ifndef DREAM_ADMIN_H
#define DREAM_ADMIN_H
#include <stddef.h>
#include "coord.h"
#include "dlog.h"

/* Runs one command line; readonly = 1 refuses commands that change anything. */
void admin_run(coord_t *c, const char *line, int readonly, char *reply, size_t n);
/* Creates the REP socket for cfg->admin_bind (bound unless empty) under the rules above. */
void *admin_socket_open(void *zctx, const coord_cfg_t *cfg, dream_err_t *err);
/* Closes a socket of admin_socket_open and, with CURVE, stops and joins its ZAP thread and
 * ends its context (plain zmq_close() leaves them to the end of the process). NULL-safe. */
void admin_socket_close(void *sock);
/* Answers the pending requests on the socket (coordinator thread). */
void admin_serve(coord_t *c, void *sock);
/* Called every coordinator step: restores the durable state once, then publishes metrics
 * (1 s) and saves the queue (on change, 1 s) and the canvas (every few keyframes). */
void admin_tick(coord_t *c);
/* Before the frame clock starts: the canvas saved in the state database, if it fits. 1 restored. */
int admin_restore_canvas(struct dream_state *st, dream_image_t *canvas);
/* 1 for "ipc://..." and TCP on 127.0.0.0/8, ::1 or localhost. */
int admin_endpoint_is_local(const char *ep);

#endif
