/*
 * cn_http.h - the connector's HTTP routes on net/cn_server (which owns libmicrohttpd, limits,
 * the memory budget, authentication, the refusals, the connection tracker and drain; read
 * cn_server.h for those):
 *   POST /api/v1/paymaster/sponsor  the paymaster's REST API (when the generation   auth
 *                                   has one; else JSON-RPC like any other path)
 *   POST (any other path)           JSON-RPC through cn_rpc                         auth
 *   GET  /health                    liveness                                        open
 *   GET  /ready                     downstream and signers reachable (a callback);  open
 *                                   503 "draining" during a graceful stop
 *   GET  /metrics                   Prometheus                                      auth
 *   GET  /signers                   each account's signers: metadata, capability,   auth
 *                                   health, circuit state
 * /health and /ready stay open for load balancers and the tunnel's health checks. The signing
 * routes set the audit log's client identity (cn_audit_set_client) on the thread that runs them.
 */
#ifndef CN_HTTP_H
#define CN_HTTP_H

#include <stddef.h>

#include "ak_err.h"
#include "cn_app_gen.h"
#include "cn_server.h"

/* Fill detail with a short reason and return 1 if ready, 0 if not. */
typedef int (*cn_ready_fn)(void *ctx, char *detail, size_t cap);

typedef struct {
    cn_server_config server; /* listener, limits, auth (routes and identify: set here) */
    cn_gens *gens;           /* borrowed: every request runs on the generation it acquires */
    cn_ready_fn ready;
    void *ready_ctx;
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
