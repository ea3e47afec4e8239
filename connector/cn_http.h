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
 * limits and the idle timeout are set explicitly.
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
    size_t max_body;
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
void cn_http_stop(cn_http *h); /* NULL allowed; waits for in-flight requests */

/* Put auth (borrowed, may be NULL) in force for the next requests and return the previous one,
 * which no request uses any more when this returns: the caller may free it (SIGHUP reload). */
const cn_auth *cn_http_swap_auth(cn_http *h, const cn_auth *auth);

#endif
