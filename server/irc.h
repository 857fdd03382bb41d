/*
 * irc.h — the optional IRC chat bridge of dreamd: chat messages in one channel become
 * viewers' requests, the bot posts the playful confirmations back (as the 2015 stream did
 * on Twitch chat).
 *
 * Two parts:
 *   - a line parser (RFC 1459 / 2812 message syntax) with hard bounds: a line is at most
 *     IRC_MAX_LINE bytes with its CR LF; malformed, oversize or NUL-carrying lines are errors;
 *     CTCP and mIRC formatting are handled by irc_clean_text();
 *   - a client in its own thread: TCP (TLS with OpenSSL when asked or on port 6697),
 *     PASS/NICK/USER registration, JOIN, PING -> PONG, nick collision (433: a suffix is
 *     appended), reconnect with exponential backoff (1 s doubling to 60 s). Every channel
 *     message goes to the handler (on the IRC thread: it must not block for long; dreamd's
 *     handler submits to the thread-safe request queue); replies are posted at most one per
 *     reply_interval_s (the newest waiting reply wins). Nothing here touches the coordinator.
 */
#ifndef DREAM_IRC_H
#define DREAM_IRC_H
#include <stddef.h>
#include "dlog.h"

#define IRC_MAX_LINE 512            /* bytes, CR LF included (RFC 2812) */
#define IRC_MAX_PARAMS 15
#define IRC_MAX_NICK 30

typedef struct irc_msg {
    char buf[IRC_MAX_LINE];         /* the line, split in place */
    const char *prefix;             /* "nick!user@host" or a server, or NULL */
    const char *command;            /* "PRIVMSG", "PING", "001", ... (upper-cased) */
    const char *params[IRC_MAX_PARAMS];
    int nparams;                    /* the trailing parameter (":...") is the last one */
} irc_msg_t;

/* Parses one line (a trailing CR LF / LF is allowed, nothing after it). Returns 0, or -1 with
 * err: empty, longer than IRC_MAX_LINE - 2 bytes, NUL / CR / LF inside, no command, bad
 * command, more than IRC_MAX_PARAMS parameters. */
int irc_parse(const char *line, size_t len, irc_msg_t *m, dream_err_t *err);
/* The nick of a "nick!user@host" prefix into out; -1 if there is none (a server prefix). */
int irc_prefix_nick(const char *prefix, char *out, size_t n);
/* Chat text for people: CTCP ACTION ("\001ACTION waves\001") becomes its text, any other CTCP
 * returns -1 (ignored); mIRC colours (^C with up to 2+2 digits) and formatting codes and all
 * other control characters are stripped; ends trimmed; cut to n - 1 bytes. Returns the length. */
int irc_clean_text(const char *in, char *out, size_t n);

/* handler: called on the IRC thread for every message in the channel; writes a reply (or "")
 * into reply (n bytes). */
typedef void (*irc_handler_fn)(void *ud, const char *nick, const char *text, char *reply, size_t n);

typedef struct irc_config {
    const char *server;             /* "HOST:PORT" (port default 6667; 6697 = TLS) */
    const char *channel;            /* "#chan" */
    const char *nick;               /* default "dreamfarm" */
    const char *password_file;      /* NULL or a file whose first line is the server PASS */
    int tls;                        /* 1 = TLS (also when the port is 6697) */
    int tls_verify;                 /* 1 = check the server certificate and name (default) */
    double reply_interval_s;        /* at most one reply per this many seconds; default 5 */
    irc_handler_fn handler;
    void *handler_ud;
} irc_config_t;

typedef struct irc_stats {
    int connected;                  /* registered and joined */
    unsigned long connects, lines_in, malformed, messages, replies_sent, replies_dropped;
    char nick[IRC_MAX_NICK + 1];    /* the nick in use */
} irc_stats_t;

typedef struct irc irc_t;

void irc_config_defaults(irc_config_t *cfg);
/* Validates the config, reads the password file and starts the thread (which connects and
 * keeps reconnecting). NULL + err on bad config or an unreadable password file. */
irc_t *irc_new(const irc_config_t *cfg, dream_err_t *err);
/* Says QUIT, stops the thread. NULL-safe; clears *c. */
void irc_destroy(irc_t **c);
void irc_get_stats(irc_t *c, irc_stats_t *out);

#endif
