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

#include <microhttpd.h>

#include "cn_audit.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_signer_manager.h"

struct cn_http {
    struct MHD_Daemon *d;
    cn_http_config cfg; /* cfg.auth: the authentication in force, under auth_lk */
    pthread_rwlock_t auth_lk;
    unsigned port;
};

typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
    int is_post;
} req_state;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)(uintptr_t)body);
        return MHD_NO;
    }
    if (ctype != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_static(struct MHD_Connection *c, unsigned status, const char *json)
{
    return reply(c, status, "application/json", json, strlen(json), MHD_RESPMEM_PERSISTENT);
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

static enum MHD_Result serve(cn_http *h, struct MHD_Connection *c, const char *url,
                             const char *method, req_state *st, unsigned *status)
{
    cn_http_path p = path_of(method, url);
    if (p == CN_PATH_RPC) {
        if (st->too_big) {
            *status = 413;
            return reply_static(c, *status, "{\"error\":\"request body too large\"}");
        }
        if (!authorized(h, c)) {
            *status = MHD_HTTP_UNAUTHORIZED;
            return reply_static(c, *status, "{\"error\":\"unauthorized\"}");
        }
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
                return reply_static(c, *status, "{\"error\":\"internal error: out of memory\"}");
            }
            return reply(c, *status, "application/json", out, out_len, MHD_RESPMEM_MUST_FREE);
        }
        if (cn_rpc_handle(h->cfg.rpc, st->body, st->len, &out, &out_len) != AK_OK) {
            *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            return reply_static(c, *status,
                                "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                                "\"message\":\"internal error: out of memory\"}}");
        }
        *status = MHD_HTTP_OK;
        if (out == NULL)
            return reply(c, *status, "application/json", "", 0, MHD_RESPMEM_PERSISTENT);
        return reply(c, *status, "application/json", out, out_len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
        return reply_static(c, *status, "{\"error\":\"method not allowed\"}");
    }
    if (p == CN_PATH_HEALTH) {
        *status = MHD_HTTP_OK;
        return reply_static(c, *status, "{\"status\":\"ok\"}");
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
        return reply(c, *status, "application/json", body, n > 0 && n < 384 ? (size_t)n : 0,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (p == CN_PATH_METRICS) {
        if (!authorized(h, c)) {
            *status = MHD_HTTP_UNAUTHORIZED;
            return reply_static(c, *status, "{\"error\":\"unauthorized\"}");
        }
        char *text = NULL;
        size_t len = 0;
        if (cn_metrics_render(&text, &len) != AK_OK)
            return MHD_NO;
        *status = MHD_HTTP_OK;
        return reply(c, *status, "text/plain; version=0.0.4; charset=utf-8", text, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (p == CN_PATH_SIGNERS) {
        if (!authorized(h, c)) {
            *status = MHD_HTTP_UNAUTHORIZED;
            return reply_static(c, *status, "{\"error\":\"unauthorized\"}");
        }
        char *text = NULL;
        size_t len = 0;
        if (cn_signer_manager_status_json(h->cfg.signers, h->cfg.n_signers, &text, &len) != AK_OK)
            return MHD_NO;
        *status = MHD_HTTP_OK;
        return reply(c, *status, "application/json", text, len, MHD_RESPMEM_MUST_FREE);
    }
    *status = MHD_HTTP_NOT_FOUND;
    return reply_static(c, *status, "{\"error\":\"not found\"}");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)version;
    cn_http *h = cls;
    req_state *st = *req_cls;
    if (st == NULL) {
        /* First call: only set up (answering now would cost keep-alive). */
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        st->is_post = strcmp(method, "POST") == 0;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        *req_cls = st;
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (st->is_post && declared > h->cfg.max_body) {
            st->too_big = 1;
            /* Far too large: refuse before reading (the connection closes). Otherwise the body
             * is drained unread so that the client sees the 413 rather than a reset. */
            if (declared / 8 > h->cfg.max_body) {
                cn_metrics_http(CN_PATH_RPC, 413);
                return reply_static(c, 413, "{\"error\":\"request body too large\"}");
            }
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (st->too_big || !st->is_post)
            return MHD_YES;
        if (st->len + n > h->cfg.max_body) {
            st->too_big = 1;
            free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t ncap = st->cap ? st->cap : 1024;
            while (ncap < st->len + n + 1)
                ncap *= 2;
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

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_state *st = *req_cls;
    if (st == NULL)
        return;
    free(st->body);
    free(st);
    *req_cls = NULL;
}

ak_err cn_http_start(cn_http **out, const cn_http_config *cfg, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    cn_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return AK_ERR_NOMEM;
    h->cfg = *cfg;
    pthread_rwlock_init(&h->auth_lk, NULL);
    if (cfg->port > 65535) {
        snprintf(err, err_cap, "invalid HTTP port");
        goto out;
    }
    if (inet_pton(AF_INET, cfg->host, &in4->sin_addr) == 1) {
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
    if (cfg->tls_cert_pem != NULL)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)(uintptr_t)cfg->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)(uintptr_t)cfg->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (cfg->tls_cert_pem == NULL)
        opts[8].option = MHD_OPTION_END; /* stop before the TLS items */
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, handler, h, MHD_OPTION_ARRAY,
                            opts, MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(err, err_cap, "cannot listen on %s:%u (in use, or bad TLS material)", cfg->host,
                 cfg->port);
        rc = AK_ERR_IO;
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    h->cfg.tls_cert_pem = h->cfg.tls_key_pem = NULL;
    *out = h;
    h = NULL;
    rc = AK_OK;
out:
    if (h != NULL) {
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

void cn_http_stop(cn_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    pthread_rwlock_destroy(&h->auth_lk);
    free(h);
}
