/*
 * ks_http.h - the key server's HTTPS front end on libmicrohttpd 0.9.75 (GnuTLS).
 *
 * Threading (cfg->threads): 0 (default) = one thread per connection (internal polling, poll);
 * N > 0 = internal polling thread + epoll + a pool of N workers. The handler blocks for the HSM
 * call and the audit fdatasync, so in the pool mode a worker serves one signature at a time for
 * all its connections, and MHD spreads connections unevenly over workers (measured: 16
 * connections on 8 workers left 3 idle); a thread per connection keeps one signature in flight
 * per client and measured the best /sign throughput and p99 (docs/keyserver.md), and a request
 * waiting on the HSM holds only its own connection (issue 12; in the pool it holds its worker's
 * other connections too: docs/architecture.md). The listening socket is bound here (a port clash
 * is one error naming the port and errno) unless inherited. Every limit is
 * set explicitly (connections, per IP, memory per connection, idle timeout); connections that
 * have not authenticated yet get handshake/header deadlines and caps (ks_guard.h). Client
 * certificates are enforced through ks_tls (see ks_tls.h). Keep-alive: the handler never queues its
 * answer on the first call for a request except to refuse it (413 on Content-Length, 403 on a
 * failed or expired certificate, 403 client_not_allowed for a certificate whose identity is not in
 * `clients`, on every endpoint), where closing the connection is intended. Bodies are counted as
 * they arrive and never exceed cfg->max_body; a chunked upload that passes it is aborted
 * (connection closed).
 *
 * Ownership: ks_http_start() returns a server stopped and freed by ks_http_stop() (NULL ok);
 * ctx and creds must outlive it.
 */
#ifndef KS_HTTP_H
#define KS_HTTP_H

#include <stddef.h>

#include "ak_err.h"
#include "ks_api.h"
#include "ks_tls.h"

typedef struct ks_http ks_http;

AK_WUR ak_err ks_http_start(ks_http **out, ks_ctx *ctx, ks_tls_creds *creds, char *msg,
                            size_t msg_cap);
/* The same on an inherited listening socket (listen_fd >= 0, socket activation: rt_listen);
 * listen.address/port are then not used. -1: bind them, as ks_http_start. */
AK_WUR ak_err ks_http_start_on(ks_http **out, ks_ctx *ctx, ks_tls_creds *creds, int listen_fd,
                               char *msg, size_t msg_cap);
void ks_http_stop(ks_http *h); /* closes every connection left */

/*
 * Graceful stop, before ks_http_stop: stop accepting, let the requests in flight finish and be
 * written (with "Connection: close"), close idle keep-alive connections, refuse (503
 * shutting_down, nothing done) requests that start once no connection is left; at most
 * timeout_ms. Returns the requests still in flight at the deadline (0 = every answer was sent).
 */
size_t ks_http_drain(ks_http *h, unsigned timeout_ms);

/* The bound port (useful when the configured port is 0). */
unsigned ks_http_port(const ks_http *h);

#endif
