/*
 * cn_server.h - the connector's HTTP server (libmicrohttpd) as a route table: each row is
 * {method, path, metric label, auth?, handler, ctx}; the server owns everything that is about
 * HTTP and not about what a route means - listening (address, inherited socket, TLS), limits,
 * bodies and the memory budget, client authentication, the refusals (401, 404, 405, 413, 503),
 * the per-route metrics, the connection tracker (header deadline, drain). It knows nothing of
 * JSON-RPC, accounts or signers: app/cn_http.c registers the routes.
 *
 * Threading (issue 12): one thread per connection (libmicrohttpd's thread-per-connection mode),
 * so a request that waits on a peer - an HSM, a KMS, the node - holds only its own connection's
 * thread; every other connection is served meanwhile. Bounds: at most max_connections
 * connections, hence threads and requests in flight (each thread has a CN_SERVER_STACK stack;
 * each connection at most 64 KiB of libmicrohttpd buffers), bodies and parse trees within the
 * memory budget. Handlers answer on the second call so keep-alive works (STACK-NOTES). Chosen over
 * suspend/resume with a worker pool, which measured twice the CPU per request (docs/benchmarks.md).
 *
 * Order of work on a request (issue 18): its head is complete -> route chosen -> for a route
 * with auth, the client is authenticated before one byte of the body is read (a POST without
 * valid credentials gets 401 at once and the connection closes) -> the body is reserved in the
 * memory budget (cn_budget: from Content-Length before reading, else as it grows) and counted
 * against max_body -> the estimated parse tree is reserved -> the handler runs. Past the
 * per-request limit: 413; global budget in use: 503 (nothing executed, retry). TLS 1.2 is the
 * floor on the listener.
 *
 * Routes: the first row whose method (GET rows also answer HEAD) and path (NULL: any path) match
 * is used; none: 404 for GET, HEAD and POST, 405 (with "Allow: GET, POST") for other methods.
 * Metrics (cn_metrics_http): the row's label; an unmatched request takes the label of a row with
 * its exact path, else CN_PATH_OTHER.
 *
 * Connections (rt_conns): a connection that has not delivered a complete request head within
 * header_timeout_s of opening or of its previous answer is closed. cn_server_drain() is the
 * graceful stop: stop accepting (the listening socket is closed; a socket-activated one stays
 * queued in systemd), answer what is in flight with "Connection: close", close idle
 * connections, within a deadline; cn_server_stop() closes what is left.
 */
#ifndef CN_SERVER_H
#define CN_SERVER_H

#include <stddef.h>

#include "ak_err.h"
#include "cn_auth.h"
#include "cn_metrics.h"

/* Stack of each connection's thread (the deepest path: JSON nested 1000 levels, ASan builds). */
#define CN_SERVER_STACK (2u * 1024 * 1024)
/* The client's identity for the audit log (cn_auth_identify), with the NUL. */
#define CN_SERVER_IDENTITY_MAX 400

typedef struct {
    const char *method; /* "GET" (HEAD too) or "POST" */
    const char *path;   /* exact path; NULL = any */
    const char *body;   /* POST: the complete body, NUL-terminated, never NULL; else NULL */
    size_t len;
    const char *client;   /* authenticated route: cn_auth_client_id ("anonymous" when off) */
    const char *identity; /* authenticated route and cfg.identify: cn_auth_identify; else "" */
    int draining;         /* the server is draining (cn_server_drain) */
} cn_server_req;

/* A handler's answer: body malloc'd (the server frees it) or static (body NULL). */
typedef struct {
    unsigned status;
    const char *ctype; /* NULL: application/json */
    char *body;
    const char *static_body;
    size_t len;
} cn_server_resp;

/* AK_OK with *resp filled; anything else drops the connection without an answer. */
typedef ak_err (*cn_route_fn)(void *ctx, const cn_server_req *req, cn_server_resp *resp);

typedef struct {
    const char *method; /* "GET" or "POST" */
    const char *path;   /* NULL: any path */
    cn_http_path metric;
    int auth; /* 1: cn_auth applies (401 without valid credentials) */
    cn_route_fn fn;
    void *ctx;
} cn_route;

typedef struct {
    const char *host; /* numeric address to bind, e.g. "127.0.0.1" or "::1" */
    unsigned port;    /* 0 = any free port (see cn_server_port) */
    int listen_fd;    /* >= 0: an inherited listening socket (rt_listen); host/port unused */
    size_t max_body;
    size_t max_request_memory; /* per request: body + estimated parse tree (>= max_body) */
    size_t memory_budget;      /* all requests in flight together (>= max_request_memory) */
    unsigned header_timeout_s; /* 0 = none */
    unsigned max_connections;
    unsigned per_ip_limit; /* 0 = none */
    unsigned idle_timeout_s;
    const char *tls_cert_pem; /* both NULL = plain HTTP; read only during cn_server_start */
    const char *tls_key_pem;
    const cn_auth *auth;    /* borrowed, may be NULL */
    int identify;           /* fill cn_server_req.identity (the audit log is on) */
    const cn_route *routes; /* copied */
    size_t n_routes;
} cn_server_config;

typedef struct cn_server cn_server;

#define CN_SERVER_MAX_ROUTES 16

AK_WUR ak_err cn_server_start(cn_server **out, const cn_server_config *cfg, char *err,
                              size_t err_cap);
unsigned cn_server_port(const cn_server *s);
void cn_server_stop(cn_server *s); /* NULL allowed; closes every connection left */

/* Graceful stop (see above), at most timeout_ms. Returns the requests still in flight then. */
size_t cn_server_drain(cn_server *s, unsigned timeout_ms);

/* Put auth (borrowed, may be NULL) in force for the next requests and return the previous one,
 * which no request uses any more when this returns (SIGHUP reload). */
const cn_auth *cn_server_swap_auth(cn_server *s, const cn_auth *auth);

/* Answer helpers for handlers. */
void cn_server_resp_static(cn_server_resp *r, unsigned status, const char *json);
void cn_server_resp_take(cn_server_resp *r, unsigned status, const char *ctype, char *body,
                         size_t len);

#endif
