/* cn_server.c - libmicrohttpd glue and the route table of the connector (see cn_server.h). */
#include "cn_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cn_budget.h"
#include "cn_log.h"
#include "rt_conns.h"
#include "rt_listen.h"

/* TLS 1.2 minimum (issue 18), as on the key server; GnuTLS defaults otherwise. */
#define CN_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* During a drain, a connection idle this long with nothing unread is closed. */
#define CN_DRAIN_GRACE_MS 1000

struct cn_server {
    struct MHD_Daemon *d;
    cn_server_config cfg; /* cfg.auth: the authentication in force, under auth_lk */
    cn_route routes[CN_SERVER_MAX_ROUTES];
    pthread_rwlock_t auth_lk;
    unsigned port;
    rt_conns *conns;
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
    struct MHD_Response *r =
        resp->body != NULL
            ? MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(resp->len, (void *)(uintptr_t)resp->static_body,
                                              MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(resp->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->ctype ? resp->ctype : "application/json");
    if (resp->status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (resp->status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    /* Draining: this is the connection's last answer (libmicrohttpd closes after it). */
    if (rt_conns_draining(s->conns))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, resp->status, r);
    MHD_destroy_response(r);
    return ret;
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
                       .draining = rt_conns_draining(s->conns)};
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
    if (!rt_conns_begin(s->conns, c)) {
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

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    cn_log(CN_LOG_WARN, "libmicrohttpd", "detail", line, (char *)NULL);
}

/* The answer was written (or the connection failed): the request is no longer in flight. */
static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    cn_server *s = cls;
    (void)toe;
    req_state *st = *req_cls;
    if (st != NULL) {
        free(st->body);
        cn_budget_release(s->budget, &st->held);
        free(st);
        *req_cls = NULL;
    }
    rt_conns_end(s->conns, c);
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    cn_server *s = cls;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        rt_conns_open(s->conns, c, ci != NULL ? ci->connect_fd : -1);
    } else {
        rt_conns_close(s->conns, c);
    }
}

/* The listening address from cfg (not used with an inherited socket); *ipv6 set for AF_INET6. */
static int listen_addr(struct sockaddr_storage *ss, int *ipv6, const cn_server_config *cfg)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    *ipv6 = 0;
    if (cfg->listen_fd >= 0)
        return 1; /* socket activation: the address is the socket's (see the .socket unit) */
    if (inet_pton(AF_INET, cfg->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
        return 1;
    }
    if (inet_pton(AF_INET6, cfg->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        *ipv6 = 1;
        return 1;
    }
    return 0;
}

ak_err cn_server_start(cn_server **out, const cn_server_config *cfg, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    struct sockaddr_storage ss;
    int ipv6 = 0;
    /* One thread per connection (cn_server.h); poll, not select: descriptors may pass 1024. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
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
    if (cfg->port > 65535) {
        snprintf(err, err_cap, "invalid HTTP port");
        goto out;
    }
    if (!listen_addr(&ss, &ipv6, cfg)) {
        snprintf(err, err_cap, "--http-host must be a numeric IPv4 or IPv6 address");
        goto out;
    }
    if (ipv6)
        flags |= MHD_USE_IPv6;
    if ((cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL)) {
        snprintf(err, err_cap, "TLS needs both a certificate and a key");
        goto out;
    }
    if (cn_budget_new(&s->budget, cfg->max_request_memory, cfg->memory_budget) != AK_OK) {
        snprintf(err, err_cap, "memory limits: need max_body <= max_request_memory <= budget");
        goto out;
    }
    rc = rt_conns_new(&s->conns, cfg->max_connections, cfg->header_timeout_s * 1000u, NULL);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "cannot start the connection tracker");
        goto out;
    }
    if (cfg->tls_cert_pem != NULL)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    /* The logger first: libmicrohttpd warns about every option processed before it. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL};
    if (cfg->listen_fd >= 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd, NULL};
    else
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, CN_SERVER_STACK, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_conn, s};
    if (cfg->tls_cert_pem != NULL) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                            (void *)(uintptr_t)cfg->tls_cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                            (void *)(uintptr_t)cfg->tls_key_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)(uintptr_t)CN_TLS_PRIORITIES};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, handler, s, MHD_OPTION_ARRAY,
                            opts, MHD_OPTION_END);
    if (s->d == NULL) {
        snprintf(err, err_cap, "cannot listen on %s:%u (in use, or bad TLS material)", cfg->host,
                 cfg->port);
        rc = AK_ERR_IO;
        goto out;
    }
    if (cfg->listen_fd >= 0) {
        s->port = rt_listen_port(cfg->listen_fd);
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : cfg->port;
    }
    s->cfg.tls_cert_pem = s->cfg.tls_key_pem = NULL;
    *out = s;
    s = NULL;
    rc = AK_OK;
out:
    if (s != NULL) {
        rt_conns_free(s->conns);
        cn_budget_free(s->budget);
        pthread_rwlock_destroy(&s->auth_lk);
        free(s);
    }
    return rc;
}

unsigned cn_server_port(const cn_server *s)
{
    return s->port;
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
    /* No new connections: MHD hands the listening socket back. Closing it refuses newcomers;
     * a socket-activated one lives on in systemd, its queue kept for the next process. */
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    else
        cn_log(CN_LOG_WARN, "could not stop accepting before the drain", (char *)NULL);
    size_t left = rt_conns_drain(s->conns, timeout_ms, CN_DRAIN_GRACE_MS);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    char n[24], open_n[24];
    snprintf(n, sizeof(n), "%zu", left);
    snprintf(open_n, sizeof(open_n), "%u", di != NULL ? di->num_connections : 0);
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
    MHD_stop_daemon(s->d);
    rt_conns_free(s->conns);
    cn_budget_free(s->budget);
    pthread_rwlock_destroy(&s->auth_lk);
    free(s);
}
