/* cn_server.c - the connector's HTTP server: route table, authentication, bodies and the memory
 * budget (see cn_server.h), on the libmicrohttpd glue both daemons share (runtime/rt_mhd). */
#include "cn_server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cn_budget.h"
#include "cn_log.h"
#include "rt_mhd.h"

/* During a drain, a connection idle this long with nothing unread is closed. */
#define CN_DRAIN_GRACE_MS 1000

struct cn_server {
    rt_mhd *mhd;          /* listening, threads, TLS, connection tracker (rt_mhd.h) */
    cn_server_config cfg; /* cfg.auth: the authentication in force, under auth_lk */
    cn_route routes[CN_SERVER_MAX_ROUTES];
    pthread_rwlock_t auth_lk;
    cn_budget *budget;
};

typedef struct {
    const cn_route *route; /* NULL: none matches */
    char *body;
    size_t len, cap;
    size_t declared; /* Content-Length, 0 if none */
    size_t held;     /* bytes reserved in the budget (body capacity + parse tree) */
    size_t held_body;
    ak_err over; /* AK_OK, or the budget's refusal (AK_ERR_LIMIT / AK_ERR_UNAVAILABLE) */
    int too_big;
    int is_post;
    int authed;
    char client[CN_AUTH_ID_MAX];
    char identity[CN_SERVER_IDENTITY_MAX];
} req_state;

void cn_server_resp_static(cn_server_resp *r, unsigned status, const char *json)
{
    *r = (cn_server_resp){.status = status, .static_body = json, .len = strlen(json)};
}

void cn_server_resp_take(cn_server_resp *r, unsigned status, const char *ctype, char *body,
                         size_t len)
{
    *r = (cn_server_resp){.status = status, .ctype = ctype, .body = body, .len = len};
}

/* Queue resp (its malloc'd body is handed over, freed here on failure). */
static enum MHD_Result reply(cn_server *s, struct MHD_Connection *c, cn_server_resp *resp)
{
    unsigned st = resp->status;
    return rt_mhd_reply(s->mhd, c, st, resp->ctype, resp->body, resp->static_body, resp->len,
                        st == MHD_HTTP_UNAUTHORIZED         ? MHD_HTTP_HEADER_WWW_AUTHENTICATE
                        : st == MHD_HTTP_METHOD_NOT_ALLOWED ? MHD_HTTP_HEADER_ALLOW
                                                            : NULL,
                        st == MHD_HTTP_UNAUTHORIZED ? "Bearer" : "GET, POST");
}

static enum MHD_Result reply_static(cn_server *s, struct MHD_Connection *c, unsigned status,
                                    const char *json)
{
    cn_server_resp r;
    cn_server_resp_static(&r, status, json);
    return reply(s, c, &r);
}

static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static const cn_route *route_of(const cn_server *s, const char *method, const char *url)
{
    for (size_t i = 0; i < s->cfg.n_routes; i++) {
        const cn_route *r = &s->routes[i];
        int m = strcmp(r->method, method) == 0 || (is_get(method) && strcmp(r->method, "GET") == 0);
        if (m && (r->path == NULL || strcmp(r->path, url) == 0))
            return r;
    }
    return NULL;
}

static cn_http_path metric_of(const cn_server *s, const cn_route *route, const char *url)
{
    if (route != NULL)
        return route->metric;
    for (size_t i = 0; i < s->cfg.n_routes; i++)
        if (s->routes[i].path != NULL && strcmp(s->routes[i].path, url) == 0)
            return s->routes[i].metric;
    return CN_PATH_OTHER;
}

/* Client authentication of a route with auth; on success the client's identities in st. */
static int authorize(cn_server *s, struct MHD_Connection *c, req_state *st)
{
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *jwt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cf-Access-Jwt-Assertion");
    const char *reason = NULL;
    pthread_rwlock_rdlock(&s->auth_lk);
    const cn_auth *a = s->cfg.auth;
    int ok = a == NULL || !cn_auth_enabled(a) ||
             cn_auth_check(a, authz, jwt, time(NULL), &reason) == AK_OK;
    if (ok) {
        cn_auth_client_id(a, authz, jwt, st->client, sizeof(st->client));
        if (s->cfg.identify) /* who signs what, for the audit log */
            cn_auth_identify(a, authz, jwt, time(NULL), st->identity, sizeof(st->identity));
    }
    pthread_rwlock_unlock(&s->auth_lk);
    if (ok)
        return 1;
    cn_metrics_auth_failure();
    cn_log(CN_LOG_WARN, "client authentication failed", "reason", reason ? reason : "",
           (char *)NULL);
    return 0;
}

/* The budget's refusal as a JSON-RPC error (EIP-1474 -32005 "limit exceeded"): 413 when the
 * request alone is too large, 503 when the requests in flight use the budget (retry later). */
static enum MHD_Result reply_over_budget(cn_server *s, struct MHD_Connection *c, ak_err over,
                                         unsigned *status)
{
    char *body = malloc(320);
    if (body == NULL)
        return MHD_NO;
    int n;
    if (over == AK_ERR_LIMIT) {
        *status = 413;
        n = snprintf(body, 320,
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32005,\"message\":"
                     "\"request too large: its body and parse tree would exceed the per-request "
                     "memory limit of %zu bytes (http.max_request_memory_bytes)\"}}",
                     cn_budget_per_request(s->budget));
    } else {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        n = snprintf(body, 320,
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32005,\"message\":"
                     "\"server busy: the memory budget of requests in flight (%zu bytes, "
                     "http.memory_budget_bytes) is in use; the request was not executed, retry\"}}",
                     cn_budget_global(s->budget));
    }
    cn_server_resp r;
    cn_server_resp_take(&r, *status, NULL, body, n > 0 && n < 320 ? (size_t)n : 0);
    return reply(s, c, &r);
}

/* The request is complete: the refusals that need its body, then its route's handler. */
static enum MHD_Result serve(cn_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, req_state *st, unsigned *status)
{
    if (st->is_post && st->too_big) {
        *status = 413;
        return reply_static(s, c, *status, "{\"error\":\"request body too large\"}");
    }
    if (st->is_post && st->over == AK_OK)
        st->over = cn_budget_reserve(s->budget, &st->held, cn_budget_json_cost(st->body, st->len));
    if (st->is_post && st->over != AK_OK)
        return reply_over_budget(s, c, st->over, status);
    if (st->route == NULL) {
        *status = strcmp(method, "POST") == 0 || is_get(method) ? MHD_HTTP_NOT_FOUND
                                                                : MHD_HTTP_METHOD_NOT_ALLOWED;
        return reply_static(s, c, *status,
                            *status == MHD_HTTP_NOT_FOUND ? "{\"error\":\"not found\"}"
                                                          : "{\"error\":\"method not allowed\"}");
    }
    if (st->route->auth && !st->authed) {
        *status = MHD_HTTP_UNAUTHORIZED;
        return reply_static(s, c, *status, "{\"error\":\"unauthorized\"}");
    }
    if (st->is_post && st->body == NULL) {
        st->body = calloc(1, 1);
        if (st->body == NULL)
            return MHD_NO;
    }
    cn_server_req q = {.method = method,
                       .path = url,
                       .body = st->is_post ? st->body : NULL,
                       .len = st->len,
                       .client = st->client,
                       .identity = st->identity,
                       .draining = rt_conns_draining(rt_mhd_conns(s->mhd))};
    cn_server_resp r = {0};
    if (st->route->fn(st->route->ctx, &q, &r) != AK_OK)
        return MHD_NO;
    *status = r.status;
    return reply(s, c, &r);
}

/*
 * First call of a request (its head is complete): nothing is read or allocated for a request
 * the server will not execute. Refused at once (the connection then closes, the body unread):
 * closing down (503), a POST without valid credentials (401), a body far over max_body or over
 * the memory budget by its Content-Length (413 / 503).
 */
static enum MHD_Result first_call(cn_server *s, struct MHD_Connection *c, const char *url,
                                  const char *method, void **req_cls)
{
    unsigned status = 0;
    enum MHD_Result ret = MHD_YES;
    const cn_route *route = route_of(s, method, url);
    if (!rt_conns_begin(rt_mhd_conns(s->mhd), c)) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        ret = reply_static(s, c, status,
                           "{\"error\":\"shutting down: the request was not executed, retry\"}");
        goto out;
    }
    req_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return MHD_NO;
    *req_cls = st;
    st->route = route;
    st->is_post = strcmp(method, "POST") == 0;
    if (st->route != NULL && st->route->auth)
        st->authed = authorize(s, c, st);
    if (!st->is_post)
        return MHD_YES; /* answered on the next call (keep-alive) */
    if (st->route != NULL && st->route->auth && !st->authed) {
        status = MHD_HTTP_UNAUTHORIZED;
        ret = reply_static(s, c, status, "{\"error\":\"unauthorized\"}");
        goto out;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > s->cfg.max_body) {
        st->too_big = 1;
        /* Far too large: refuse before reading (the connection closes). Otherwise the body
         * is drained unread so that the client sees the 413 rather than a reset. */
        if (declared / 8 > s->cfg.max_body) {
            status = 413;
            ret = reply_static(s, c, status, "{\"error\":\"request body too large\"}");
        }
        goto out;
    }
    if (declared > 0) {
        st->over = cn_budget_reserve(s->budget, &st->held, (size_t)declared + 1);
        if (st->over != AK_OK) {
            ret = reply_over_budget(s, c, st->over, &status);
            goto out;
        }
        st->held_body = (size_t)declared + 1;
        st->declared = (size_t)declared;
    }
out:
    if (status != 0)
        cn_metrics_http(metric_of(s, route, url), status);
    return ret;
}

/* Body bytes as they arrive: counted against max_body and the budget; dropped once refused. */
static enum MHD_Result take_upload(cn_server *s, req_state *st, const char *upload, size_t n)
{
    if (st->too_big || !st->is_post || st->over != AK_OK)
        return MHD_YES;
    if (st->len + n > s->cfg.max_body) {
        st->too_big = 1;
        goto drop;
    }
    if (st->len + n + 1 > st->cap) {
        size_t ncap = st->cap ? st->cap : (st->declared ? st->declared + 1 : 1024);
        while (ncap < st->len + n + 1)
            ncap *= 2;
        if (ncap > st->held_body) {
            st->over = cn_budget_reserve(s->budget, &st->held, ncap - st->held_body);
            if (st->over != AK_OK)
                goto drop;
            st->held_body = ncap;
        }
        char *nb = realloc(st->body, ncap);
        if (nb == NULL)
            return MHD_NO;
        st->body = nb;
        st->cap = ncap;
    }
    memcpy(st->body + st->len, upload, n);
    st->len += n;
    st->body[st->len] = '\0';
    return MHD_YES;
drop:
    free(st->body);
    st->body = NULL;
    st->len = st->cap = st->held_body = 0;
    cn_budget_release(s->budget, &st->held);
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)version;
    cn_server *s = cls;
    req_state *st = *req_cls;
    if (st == NULL) /* first call: checks only (answering now would cost keep-alive) */
        return first_call(s, c, url, method, req_cls);
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        return take_upload(s, st, upload, n);
    }
    unsigned status = 500;
    enum MHD_Result ret = serve(s, c, url, method, st, &status);
    cn_metrics_http(metric_of(s, st->route, url), status);
    return ret;
}

/* libmicrohttpd's lines and the drain's (rt_mhd). */
static void log_line(void *cls, const char *line, unsigned long dropped)
{
    char n[24];
    (void)cls;
    snprintf(n, sizeof(n), "%lu", dropped);
    cn_log(CN_LOG_WARN, "libmicrohttpd", "detail", line, dropped ? "not_logged" : NULL, n,
           (char *)NULL);
}

/* The answer was written (or the connection failed): the request's state goes. */
static void request_done(void *cls, struct MHD_Connection *c, void **req_cls)
{
    cn_server *s = cls;
    req_state *st = *req_cls;
    (void)c;
    if (st != NULL) {
        free(st->body);
        cn_budget_release(s->budget, &st->held);
        free(st);
        *req_cls = NULL;
    }
}

ak_err cn_server_start(cn_server **out, const cn_server_config *cfg, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    cn_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return AK_ERR_NOMEM;
    s->cfg = *cfg;
    pthread_rwlock_init(&s->auth_lk, NULL);
    if (cfg->n_routes > CN_SERVER_MAX_ROUTES) {
        snprintf(err, err_cap, "too many HTTP routes");
        goto out;
    }
    memcpy(s->routes, cfg->routes, cfg->n_routes * sizeof(*s->routes));
    s->cfg.routes = s->routes;
    if (cn_budget_new(&s->budget, cfg->max_request_memory, cfg->memory_budget) != AK_OK) {
        snprintf(err, err_cap, "memory limits: need max_body <= max_request_memory <= budget");
        goto out;
    }
    /* One thread per connection (cn_server.h); poll, not select: descriptors may pass 1024. */
    rt_mhd_config mc = {.host = cfg->host,
                        .host_name = "--http-host",
                        .port = cfg->port,
                        .listen_fd = cfg->listen_fd,
                        .stack_size = CN_SERVER_STACK,
                        .max_connections = cfg->max_connections,
                        .per_ip_limit = cfg->per_ip_limit,
                        .idle_timeout_s = cfg->idle_timeout_s,
                        .conn_memory = 64 * 1024,
                        .header_timeout_ms = cfg->header_timeout_s * 1000u,
                        .tls_cert_pem = cfg->tls_cert_pem,
                        .tls_key_pem = cfg->tls_key_pem,
                        .handler = handler,
                        .cls = s,
                        .on_done = request_done,
                        .log = log_line};
    rc = rt_mhd_start(&s->mhd, &mc, err, err_cap);
    if (rc != AK_OK)
        goto out;
    s->cfg.tls_cert_pem = s->cfg.tls_key_pem = NULL;
    *out = s;
    s = NULL;
out:
    if (s != NULL) {
        cn_budget_free(s->budget);
        pthread_rwlock_destroy(&s->auth_lk);
        free(s);
    }
    return rc;
}

unsigned cn_server_port(const cn_server *s)
{
    return rt_mhd_port(s->mhd);
}

const cn_auth *cn_server_swap_auth(cn_server *s, const cn_auth *auth)
{
    pthread_rwlock_wrlock(&s->auth_lk);
    const cn_auth *old = s->cfg.auth;
    s->cfg.auth = auth;
    pthread_rwlock_unlock(&s->auth_lk);
    return old;
}

size_t cn_server_drain(cn_server *s, unsigned timeout_ms)
{
    size_t left = rt_mhd_drain(s->mhd, timeout_ms, CN_DRAIN_GRACE_MS);
    char n[24], open_n[24];
    snprintf(n, sizeof(n), "%zu", left);
    snprintf(open_n, sizeof(open_n), "%u", rt_mhd_connections(s->mhd));
    cn_log(left == 0 ? CN_LOG_INFO : CN_LOG_WARN,
           left == 0 ? "drained: every request in flight was answered"
                     : "drain timeout: requests still in flight are cut off",
           "in_flight", n, "connections", open_n, (char *)NULL);
    return left;
}

void cn_server_stop(cn_server *s)
{
    if (s == NULL)
        return;
    rt_mhd_stop(s->mhd);
    cn_budget_free(s->budget);
    pthread_rwlock_destroy(&s->auth_lk);
    free(s);
}
