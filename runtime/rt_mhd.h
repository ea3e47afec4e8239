/*
 * rt_mhd.h - the libmicrohttpd glue both daemons share: the listening socket (bound here, or
 * inherited from systemd), the threading mode, the limits, TLS (1.2 floor), the connection tracker
 * (rt_conns: header deadline and drain), libmicrohttpd's log lines, and queueing an answer. What a
 * request means (routes, authentication, bodies, metrics) stays in the daemon: its handler and
 * its hooks.
 *
 * Binding here (not by libmicrohttpd) reports a port clash once, with the port and errno
 * ("cannot listen on 127.0.0.1 port 8443: Address already in use"), instead of libmicrohttpd's
 * "Failed to bind to port 0" followed by a guess. Socket options as libmicrohttpd's own:
 * SO_REUSEADDR, IPV6_V6ONLY for an IPv6 address, non-blocking, close-on-exec, backlog SOMAXCONN.
 *
 * Threads: threads == 0 is one thread per connection (poll, stack_size bytes of stack each): a
 * handler that blocks on a peer holds only its own connection. threads > 0 is epoll with a pool
 * of that many workers.
 *
 * Logging: libmicrohttpd's messages reach cfg.log one line at a time (trailing newline removed),
 * at most RT_MHD_LOG_BURST lines a second for the process (a flood of failed handshakes would
 * flood the log too); the number dropped is passed with the next line that goes through.
 *
 * Ownership: rt_mhd owns the daemon and the tracker; the PEM strings are read only during
 * rt_mhd_start; cls is borrowed and must outlive rt_mhd_stop.
 */
#ifndef RT_MHD_H
#define RT_MHD_H

#include <stddef.h>

#include <microhttpd.h>

#include "ak_err.h"
#include "rt_conns.h"

#define RT_MHD_LOG_BURST 20
/* TLS 1.2 minimum (issues 3 and 18); GnuTLS defaults otherwise. */
#define RT_MHD_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

typedef struct {
    const char *host;         /* numeric IPv4 or IPv6 address to bind; unused with listen_fd >= 0 */
    const char *host_name;    /* the setting that names it, for messages ("--http-host") */
    unsigned port;            /* 0: any free port (rt_mhd_port) */
    int listen_fd;            /* >= 0: an inherited listening socket (rt_listen) */
    unsigned threads;         /* 0: one thread per connection; n: epoll + a pool of n */
    size_t stack_size;        /* per connection thread (threads == 0) */
    unsigned max_connections; /* >= 1 */
    unsigned per_ip_limit;    /* 0: none */
    unsigned idle_timeout_s;  /* 0: none */
    size_t conn_memory;       /* libmicrohttpd's buffers per connection */
    unsigned header_timeout_ms; /* rt_conns' header deadline; 0: none */
    const char *tls_cert_pem;   /* NULL (with tls_key_pem): plain HTTP */
    const char *tls_key_pem;
    const char *tls_trust_pem; /* NULL: no client certificate requested */
    MHD_AccessHandlerCallback handler;
    void *cls; /* for the handler and the hooks below */
    /* Hooks (each may be NULL): a connection opened (STARTED) and closed, with its socket
     * context; a request completed (free the handler's per-request state in *req_cls). */
    void (*on_open)(void *cls, struct MHD_Connection *c, void **socket_context);
    void (*on_close)(void *cls, struct MHD_Connection *c, void **socket_context);
    void (*on_done)(void *cls, struct MHD_Connection *c, void **req_cls);
    /* A line to log (libmicrohttpd's, or the drain's); dropped: lines not logged before it. */
    void (*log)(void *cls, const char *line, unsigned long dropped);
} rt_mhd_config;

typedef struct rt_mhd rt_mhd;

/* AK_ERR_CONFIG (bad address or port), AK_ERR_NETWORK (cannot listen, or libmicrohttpd did not
 * start: TLS material), AK_ERR_NOMEM; err says which, naming the address and port. *out is set
 * before the first connection is accepted (a handler may read it), NULL again on failure. */
AK_WUR ak_err rt_mhd_start(rt_mhd **out, const rt_mhd_config *cfg, char *err, size_t err_cap);
void rt_mhd_stop(rt_mhd *m); /* NULL allowed; closes every connection left */

unsigned rt_mhd_port(const rt_mhd *m);
unsigned rt_mhd_connections(const rt_mhd *m); /* open now */
rt_conns *rt_mhd_conns(rt_mhd *m);            /* rt_conns_begin / rt_conns_draining */

/*
 * Graceful stop (rt_conns_drain): stop accepting (the listening socket is closed; a
 * socket-activated one stays queued in systemd), answer what is in flight, close idle
 * connections, within timeout_ms. Returns the requests still in flight then.
 */
size_t rt_mhd_drain(rt_mhd *m, unsigned timeout_ms, unsigned grace_ms);

/*
 * Queue an answer: body (len bytes) is taken and freed here, also on failure; static_body is
 * used when body is NULL. ctype NULL: application/json. hdr/hdr_value: one more header (NULL:
 * none). While draining, "Connection: close" (the connection's last answer).
 */
enum MHD_Result rt_mhd_reply(rt_mhd *m, struct MHD_Connection *c, unsigned status,
                             const char *ctype, char *body, const char *static_body, size_t len,
                             const char *hdr, const char *hdr_value);

#endif
