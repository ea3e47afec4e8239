/* cn_http.c - libmicrohttpd front end of the connector (see cn_http.h). */
#include "cn_http.h"

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
#include "cn_audit.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_signer_manager.h"
#include "rt_conns.h"
#include "rt_listen.h"

/* TLS 1.2 minimum (issue 18), as on the key server; GnuTLS defaults otherwise. */
#define CN_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* During a drain, a connection idle this long with nothing unread is closed. */
#define CN_DRAIN_GRACE_MS 1000

struct cn_http {
    struct MHD_Daemon *d;
    cn_http_config cfg; /* cfg.auth: the authentication in force, under auth_lk */
    pthread_rwlock_t auth_lk;
    unsigned port;
    rt_conns *conns;
    cn_budget *budget;
};

typedef struct {
    char *body;
    size_t len, cap;
    size_t declared; /* Content-Length, 0 if none */
    size_t held;     /* bytes reserved in the budget (body capacity + parse tree) */
    size_t held_body;
    ak_err over; /* AK_OK, or the budget's refusal (AK_ERR_LIMIT / AK_ERR_UNAVAILABLE) */
    int too_big;
    int is_post;
} req_state;

/* A persistent (read-only) buffer for reply(): libmicrohttpd only reads it. */
static void *persistent(const char *s)
{
    return (void *)(uintptr_t)s;
}

/* body: MHD_RESPMEM_MUST_FREE hands a malloc'd buffer over (freed here on failure). */
static enum MHD_Result reply(cn_http *h, struct MHD_Connection *c, unsigned status,
                             const char *ctype, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    if (ctype != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    /* Draining: this is the connection's last answer (libmicrohttpd closes after it). */
    if (rt_conns_draining(h->conns))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_static(cn_http *h, struct MHD_Connection *c, unsigned status,
                                    const char *json)
{
    return reply(h, c, status, "application/json", persistent(json), strlen(json),
                 MHD_RESPMEM_PERSISTENT);
}

static cn_http_path path_of(const char *method, const char *url)
{
    if (strcmp(method, "POST") == 0)
        return CN_PATH_RPC;
    if (strcmp(url, "/health") == 0)
        return CN_PATH_HEALTH;
    if (strcmp(url, "/ready") == 0)
        return CN_PATH_READY;
    if (strcmp(url, "/metrics") == 0)
        return CN_PATH_METRICS;
    if (strcmp(url, "/signers") == 0)
        return CN_PATH_SIGNERS;
    return CN_PATH_OTHER;
}

static int authorized(cn_http *h, struct MHD_Connection *c)
{
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *jwt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cf-Access-Jwt-Assertion");
    const char *reason = NULL;
    char who[CN_AUDIT_CLIENT_MAX] = "";
    pthread_rwlock_rdlock(&h->auth_lk);
    int ok = h->cfg.auth == NULL || !cn_auth_enabled(h->cfg.auth) ||
             cn_auth_check(h->cfg.auth, authz, jwt, time(NULL), &reason) == AK_OK;
    if (ok && cn_audit_enabled()) /* who signs what, for the audit log (cn_audit.h) */
        cn_auth_identify(h->cfg.auth, authz, jwt, time(NULL), who, sizeof who);
    pthread_rwlock_unlock(&h->auth_lk);
    cn_audit_set_client(who);
    if (ok)
        return 1;
    cn_metrics_auth_failure();
    cn_log(CN_LOG_WARN, "client authentication failed", "reason", reason ? reason : "",
           (char *)NULL);
    return 0;
}

/* The identity of a client authorized() accepted, for the per-client rate limit (cn_rate). */
static void client_of(cn_http *h, struct MHD_Connection *c, char *out, size_t cap)
{
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *jwt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cf-Access-Jwt-Assertion");
    pthread_rwlock_rdlock(&h->auth_lk);
    cn_auth_client_id(h->cfg.auth, authz, jwt, out, cap);
    pthread_rwlock_unlock(&h->auth_lk);
}

/* The budget's refusal as a JSON-RPC error (EIP-1474 -32005 "limit exceeded"): 413 when the
 * request alone is too large, 503 when the requests in flight use the budget (retry later). */
static enum MHD_Result reply_over_budget(cn_http *h, struct MHD_Connection *c, ak_err over,
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
                     cn_budget_per_request(h->budget));
    } else {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        n = snprintf(body, 320,
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32005,\"message\":"
                     "\"server busy: the memory budget of requests in flight (%zu bytes, "
                     "http.memory_budget_bytes) is in use; the request was not executed, retry\"}}",
                     cn_budget_global(h->budget));
    }
    return reply(h, c, *status, "application/json", body, n > 0 && n < 320 ? (size_t)n : 0,
                 MHD_RESPMEM_MUST_FREE);
}

/* A complete POST: reserve its parse tree, then hand it to the router or the POST route. */
static enum MHD_Result serve_post(cn_http *h, struct MHD_Connection *c, const char *url,
                                  req_state *st, unsigned *status)
{
    if (st->too_big) {
        *status = 413;
        return reply_static(h, c, *status, "{\"error\":\"request body too large\"}");
    }
    if (st->over == AK_OK)
        st->over = cn_budget_reserve(h->budget, &st->held, cn_budget_json_cost(st->body, st->len));
    if (st->over != AK_OK)
        return reply_over_budget(h, c, st->over, status);
    char *out = NULL;
    size_t out_len = 0;
    if (st->body == NULL) {
        st->body = calloc(1, 1);
        if (st->body == NULL)
            return MHD_NO;
    }
    if (h->cfg.post_route != NULL && strcmp(url, h->cfg.post_route) == 0) {
        if (h->cfg.post_route_fn(h->cfg.post_route_ctx, st->body, st->len, &out, &out_len,
                                 status) != AK_OK) {
            *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            return reply_static(h, c, *status, "{\"error\":\"internal error: out of memory\"}");
        }
        return reply(h, c, *status, "application/json", out, out_len, MHD_RESPMEM_MUST_FREE);
    }
    char client[CN_AUTH_ID_MAX];
    client_of(h, c, client, sizeof(client));
    if (cn_rpc_handle_as(h->cfg.rpc, client, st->body, st->len, &out, &out_len) != AK_OK) {
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return reply_static(h, c, *status,
                            "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                            "\"message\":\"internal error: out of memory\"}}");
    }
    *status = MHD_HTTP_OK;
    if (out == NULL)
        return reply(h, c, *status, "application/json", persistent(""), 0, MHD_RESPMEM_PERSISTENT);
    return reply(h, c, *status, "application/json", out, out_len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve(cn_http *h, struct MHD_Connection *c, const char *url,
                             const char *method, req_state *st, unsigned *status)
{
    cn_http_path p = path_of(method, url);
    if (p == CN_PATH_RPC)
        return serve_post(h, c, url, st, status);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
        return reply_static(h, c, *status, "{\"error\":\"method not allowed\"}");
    }
    if (p == CN_PATH_HEALTH) {
        *status = MHD_HTTP_OK;
        return reply_static(h, c, *status, "{\"status\":\"ok\"}");
    }
    if (p == CN_PATH_READY && rt_conns_draining(h->conns)) {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return reply_static(h, c, *status, "{\"status\":\"not ready\",\"detail\":\"draining\"}");
    }
    if (p == CN_PATH_READY) {
        char detail[256] = "", *body = malloc(384);
        int ok = h->cfg.ready ? h->cfg.ready(h->cfg.ready_ctx, detail, sizeof(detail)) : 1;
        if (body == NULL)
            return MHD_NO;
        /* detail is produced by our own code: no quotes or backslashes in it. */
        int n = snprintf(body, 384, "{\"status\":\"%s\",\"detail\":\"%s\"}",
                         ok ? "ready" : "not ready", detail);
        *status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        return reply(h, c, *status, "application/json", body, n > 0 && n < 384 ? (size_t)n : 0,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (p == CN_PATH_METRICS) {
        if (!authorized(h, c)) {
            *status = MHD_HTTP_UNAUTHORIZED;
            return reply_static(h, c, *status, "{\"error\":\"unauthorized\"}");
        }
        char *text = NULL;
        size_t len = 0;
        if (cn_metrics_render(&text, &len) != AK_OK)
            return MHD_NO;
        *status = MHD_HTTP_OK;
        return reply(h, c, *status, "text/plain; version=0.0.4; charset=utf-8", text, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (p == CN_PATH_SIGNERS) {
        if (!authorized(h, c)) {
            *status = MHD_HTTP_UNAUTHORIZED;
            return reply_static(h, c, *status, "{\"error\":\"unauthorized\"}");
        }
        char *text = NULL;
        size_t len = 0;
        if (cn_signer_manager_status_json(h->cfg.signers, h->cfg.n_signers, &text, &len) != AK_OK)
            return MHD_NO;
        *status = MHD_HTTP_OK;
        return reply(h, c, *status, "application/json", text, len, MHD_RESPMEM_MUST_FREE);
    }
    *status = MHD_HTTP_NOT_FOUND;
    return reply_static(h, c, *status, "{\"error\":\"not found\"}");
}

/*
 * First call of a request (its head is complete): nothing is read or allocated for a request
 * the server will not execute. Refused at once (the connection then closes, the body unread):
 * closing down (503), a POST without valid credentials (401), a body far over max_body or over
 * the memory budget by its Content-Length (413 / 503).
 */
static enum MHD_Result first_call(cn_http *h, struct MHD_Connection *c, const char *url,
                                  const char *method, void **req_cls)
{
    unsigned status = 0;
    enum MHD_Result ret = MHD_YES;
    cn_http_path p = path_of(method, url);
    if (!rt_conns_begin(h->conns, c)) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        ret = reply_static(h, c, status,
                           "{\"error\":\"shutting down: the request was not executed, retry\"}");
        goto out;
    }
    req_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return MHD_NO;
    *req_cls = st;
    st->is_post = strcmp(method, "POST") == 0;
    if (!st->is_post)
        return MHD_YES;
    if (!authorized(h, c)) {
        status = MHD_HTTP_UNAUTHORIZED;
        ret = reply_static(h, c, status, "{\"error\":\"unauthorized\"}");
        goto out;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > h->cfg.max_body) {
        st->too_big = 1;
        /* Far too large: refuse before reading (the connection closes). Otherwise the body
         * is drained unread so that the client sees the 413 rather than a reset. */
        if (declared / 8 > h->cfg.max_body) {
            status = 413;
            ret = reply_static(h, c, status, "{\"error\":\"request body too large\"}");
        }
        goto out;
    }
    if (declared > 0) {
        st->over = cn_budget_reserve(h->budget, &st->held, (size_t)declared + 1);
        if (st->over != AK_OK) {
            ret = reply_over_budget(h, c, st->over, &status);
            goto out;
        }
        st->held_body = (size_t)declared + 1;
        st->declared = (size_t)declared;
    }
out:
    if (status != 0)
        cn_metrics_http(p, status);
    return ret;
}

/* Body bytes as they arrive: counted against max_body and the budget; dropped once refused. */
static enum MHD_Result take_upload(cn_http *h, req_state *st, const char *upload, size_t n)
{
    if (st->too_big || !st->is_post || st->over != AK_OK)
        return MHD_YES;
    if (st->len + n > h->cfg.max_body) {
        st->too_big = 1;
        goto drop;
    }
    if (st->len + n + 1 > st->cap) {
        size_t ncap = st->cap ? st->cap : (st->declared ? st->declared + 1 : 1024);
        while (ncap < st->len + n + 1)
            ncap *= 2;
        if (ncap > st->held_body) {
            st->over = cn_budget_reserve(h->budget, &st->held, ncap - st->held_body);
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
    cn_budget_release(h->budget, &st->held);
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)version;
    cn_http *h = cls;
    req_state *st = *req_cls;
    if (st == NULL) /* first call: checks only (answering now would cost keep-alive) */
        return first_call(h, c, url, method, req_cls);
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        return take_upload(h, st, upload, n);
    }
    unsigned status = 500;
    enum MHD_Result ret = serve(h, c, url, method, st, &status);
    cn_metrics_http(path_of(method, url), status);
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
    cn_http *h = cls;
    (void)toe;
    req_state *st = *req_cls;
    if (st != NULL) {
        free(st->body);
        cn_budget_release(h->budget, &st->held);
        free(st);
        *req_cls = NULL;
    }
    rt_conns_end(h->conns, c);
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    cn_http *h = cls;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        rt_conns_open(h->conns, c, ci != NULL ? ci->connect_fd : -1);
    } else {
        rt_conns_close(h->conns, c);
    }
}

ak_err cn_http_start(cn_http **out, const cn_http_config *cfg, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    cn_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return AK_ERR_NOMEM;
    h->cfg = *cfg;
    pthread_rwlock_init(&h->auth_lk, NULL);
    if (cfg->port > 65535) {
        snprintf(err, err_cap, "invalid HTTP port");
        goto out;
    }
    if (cfg->listen_fd >= 0) {
        /* socket activation: the address is the socket's (see the .socket unit) */
    } else if (inet_pton(AF_INET, cfg->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, err_cap, "--http-host must be a numeric IPv4 or IPv6 address");
        goto out;
    }
    if ((cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL)) {
        snprintf(err, err_cap, "TLS needs both a certificate and a key");
        goto out;
    }
    if (cn_budget_new(&h->budget, cfg->max_request_memory, cfg->memory_budget) != AK_OK) {
        snprintf(err, err_cap, "memory limits: need max_body <= max_request_memory <= budget");
        goto out;
    }
    rc = rt_conns_new(&h->conns, cfg->max_connections, cfg->header_timeout_s * 1000u, NULL);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "cannot start the connection tracker");
        goto out;
    }
    if (cfg->tls_cert_pem != NULL)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    if (cfg->listen_fd >= 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd, NULL};
    else
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_conn, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL};
    if (cfg->tls_cert_pem != NULL) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                            (void *)(uintptr_t)cfg->tls_cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                            (void *)(uintptr_t)cfg->tls_key_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)(uintptr_t)CN_TLS_PRIORITIES};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, handler, h, MHD_OPTION_ARRAY,
                            opts, MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(err, err_cap, "cannot listen on %s:%u (in use, or bad TLS material)", cfg->host,
                 cfg->port);
        rc = AK_ERR_IO;
        goto out;
    }
    if (cfg->listen_fd >= 0) {
        h->port = rt_listen_port(cfg->listen_fd);
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : cfg->port;
    }
    h->cfg.tls_cert_pem = h->cfg.tls_key_pem = NULL;
    *out = h;
    h = NULL;
    rc = AK_OK;
out:
    if (h != NULL) {
        rt_conns_free(h->conns);
        cn_budget_free(h->budget);
        pthread_rwlock_destroy(&h->auth_lk);
        free(h);
    }
    return rc;
}

unsigned cn_http_port(const cn_http *h)
{
    return h->port;
}

const cn_auth *cn_http_swap_auth(cn_http *h, const cn_auth *auth)
{
    pthread_rwlock_wrlock(&h->auth_lk);
    const cn_auth *old = h->cfg.auth;
    h->cfg.auth = auth;
    pthread_rwlock_unlock(&h->auth_lk);
    return old;
}

size_t cn_http_drain(cn_http *h, unsigned timeout_ms)
{
    /* No new connections: MHD hands the listening socket back. Closing it refuses newcomers;
     * a socket-activated one lives on in systemd, its queue kept for the next process. */
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    else
        cn_log(CN_LOG_WARN, "could not stop accepting before the drain", (char *)NULL);
    size_t left = rt_conns_drain(h->conns, timeout_ms, CN_DRAIN_GRACE_MS);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    char n[24], open_n[24];
    snprintf(n, sizeof(n), "%zu", left);
    snprintf(open_n, sizeof(open_n), "%u", di != NULL ? di->num_connections : 0);
    cn_log(left == 0 ? CN_LOG_INFO : CN_LOG_WARN,
           left == 0 ? "drained: every request in flight was answered"
                     : "drain timeout: requests still in flight are cut off",
           "in_flight", n, "connections", open_n, (char *)NULL);
    return left;
}

void cn_http_stop(cn_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    rt_conns_free(h->conns);
    cn_budget_free(h->budget);
    pthread_rwlock_destroy(&h->auth_lk);
    free(h);
}
