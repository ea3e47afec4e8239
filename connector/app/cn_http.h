/*
 * cn_http.h - the connector's HTTP surface (libmicrohttpd): POST (any path) = JSON-RPC through
 * cn_rpc; GET /health (liveness), GET /ready (downstream and signers reachable, via a callback),
 * GET /metrics (Prometheus), GET /signers (each account's signers: metadata, capability, health,
 * circuit state; authenticated like /metrics). Optional TLS on the listener; optional client
 * authentication (cn_auth: bearer tokens and/or Cloudflare Access JWT) on JSON-RPC and /metrics -
 * /health and /ready stay open for load balancers and the tunnel's health checks.
 *
 * Threading: internal polling threads with epoll, a pool of `threads`; handlers answer on the
 * second call so keep-alive works (see STACK-NOTES). Limits: bodies over max_body get 413 (from
 * Content-Length up front, or counted as the bytes arrive), connection, per-IP and memory
 * limits and the idle timeout are set explicitly. TLS 1.2 is the floor on the listener.
 *
 * Order of work on a POST (issue 18): the client is authenticated on the first call, before one
 * byte of the body is read (401 and the connection closes); then the body is reserved in the
 * memory budget (cn_budget: from Content-Length before reading, else as it grows), then the
 * estimated parse tree, and only then is the body parsed. Past the per-request limit: 413;
 * global budget in use: 503 (nothing executed, retry).
 *
 * Connections (rt_conns): a connection that has not delivered a complete request head within
 * header_timeout_s of opening or of its previous answer is closed (slow clients; this also bounds
 * an idle keep-alive connection). cn_http_drain() is the graceful stop: stop accepting (the
 * listening socket is closed; a socket-activated one stays queued in systemd for the next
 * process), answer everything in flight with "Connection: close", close idle connections, all
 * within a deadline; cn_http_stop() then closes what is left.
 */
#ifndef CN_HTTP_H
#define CN_HTTP_H

#include <stddef.h>

#include "ak_err.h"
#include "cn_auth.h"
#include "cn_rpc.h"

/* Fill detail with a short reason and return 1 if ready, 0 if not. */
typedef int (*cn_ready_fn)(void *ctx, char *detail, size_t cap);

typedef struct {
    const char *host; /* numeric address to bind, e.g. "127.0.0.1" or "::1" */
    unsigned port;    /* 0 = any free port (see cn_http_port) */
    int listen_fd;    /* >= 0: an inherited listening socket (rt_listen); host/port unused */
    size_t max_body;
    size_t max_request_memory; /* per request: body + estimated parse tree (>= max_body) */
    size_t memory_budget;      /* all requests in flight together (>= max_request_memory) */
    unsigned header_timeout_s; /* 0 = none */
    unsigned threads;
    unsigned max_connections;
    unsigned per_ip_limit; /* 0 = none */
    unsigned idle_timeout_s;
    const char *tls_cert_pem; /* both NULL = plain HTTP; read only during cn_http_start */
    const char *tls_key_pem;
    cn_rpc *rpc;         /* borrowed */
    const cn_auth *auth; /* borrowed, may be NULL */
    cn_ready_fn ready;
    void *ready_ctx;
    cn_signer *const *signers; /* borrowed: GET /signers (cn_signer_manager_status_json) */
    size_t n_signers;
    /* Optional POST route with its own handler instead of JSON-RPC (the paymaster's REST API,
     * same auth and body limit): *out malloc'd JSON (caller frees), *status the HTTP status. */
    const char *post_route; /* exact path, e.g. "/api/v1/paymaster/sponsor"; NULL: none */
    ak_err (*post_route_fn)(void *ctx, const char *body, size_t len, char **out, size_t *out_len,
                            unsigned *status);
    void *post_route_ctx;
} cn_http_config;

typedef struct cn_http cn_http;

AK_WUR ak_err cn_http_start(cn_http **out, const cn_http_config *cfg, char *err, size_t err_cap);
unsigned cn_http_port(const cn_http *h);
void cn_http_stop(cn_http *h); /* NULL allowed; closes every connection left */

/*
 * Graceful stop, before cn_http_stop: stop accepting, let the requests in flight finish and be
 * written (with "Connection: close"), close idle connections; at most timeout_ms. Returns the
 * number of requests still in flight at the deadline (0 = every answer was sent).
 */
size_t cn_http_drain(cn_http *h, unsigned timeout_ms);

/* Put auth (borrowed, may be NULL) in force for the next requests and return the previous one,
 * which no request uses any more when this returns: the caller may free it (SIGHUP reload). */
const cn_auth *cn_http_swap_auth(cn_http *h, const cn_auth *auth);

#endif
