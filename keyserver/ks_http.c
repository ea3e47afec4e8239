/* ks_http.c - the key server's HTTP layer: TLS identity hooks, body accounting, replies (see
 * ks_http.h), on the libmicrohttpd glue both daemons share (runtime/rt_mhd). */
#include "ks_http.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ks_guard.h"
#include "rt_clock.h"
#include "rt_mhd.h"

#define KS_STACK_SIZE     (256 * 1024) /* per connection thread; the handler's frames are small */
#define KS_DRAIN_GRACE_MS 1000 /* during a drain, idle this long with nothing unread: closed */

struct ks_http {
    rt_mhd *mhd; /* listening, threads, TLS, open connections and the drain (rt_mhd.h) */
    ks_ctx *ctx;
    ks_tls_creds *creds;
    ks_guard *guard; /* deadlines and caps of unauthenticated connections */
};

typedef struct {
    char *buf;
    size_t len, cap;
    size_t expected; /* Content-Length, 0 if none */
} req_ctx;

/* Deadlines and caps for a connection that has not authenticated yet (ks_guard.h). */
static void guard_conn_start(ks_http *h, struct MHD_Connection *conn, ks_tls_conn *tc,
                             gnutls_session_t s)
{
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (fi == NULL)
        return;
    if (tc == NULL) { /* out of memory: nothing to hold the entry, so no connection either */
        (void)shutdown(fi->connect_fd, SHUT_RDWR);
        return;
    }
    tc->guard = ks_guard_start(h->guard, fi->connect_fd, ai != NULL ? ai->client_addr : NULL, s);
}

static void guard_conn_closed(ks_http *h, ks_tls_conn *tc)
{
    if (tc != NULL)
        ks_guard_closed(h->guard, tc->guard);
}

static ak_err guard_setup(ks_http *h, char *msg, size_t msg_cap)
{
    if (ks_guard_new(&h->guard, h->ctx->cfg, rt_clock_system(), &h->ctx->metrics) == AK_OK)
        return AK_OK;
    snprintf(msg, msg_cap, "cannot start the connection deadline thread");
    return AK_ERR_INTERNAL;
}

/* A connection opened: its TLS identity slot and the deadlines of an unauthenticated one. */
static void conn_open(void *cls, struct MHD_Connection *conn, void **socket_context)
{
    ks_http *h = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t s = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
    *socket_context = ks_tls_conn_start(h->creds, s);
    guard_conn_start(h, conn, *socket_context, s);
}

static void conn_close(void *cls, struct MHD_Connection *conn, void **socket_context)
{
    (void)conn;
    guard_conn_closed(cls, *socket_context);
    ks_tls_conn_free(*socket_context);
    *socket_context = NULL;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls)
{
    (void)cls;
    (void)conn;
    req_ctx *rc = *con_cls;
    if (rc != NULL) {
        free(rc->buf);
        free(rc);
    }
    *con_cls = NULL;
}

static enum MHD_Result send_reply(ks_http *h, struct MHD_Connection *conn, ks_reply *r)
{
    static const char fallback[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}";
    char *body = r->body;
    r->body = NULL;
    if (body == NULL)
        return rt_mhd_reply(h->mhd, conn, 500, NULL, NULL, fallback, sizeof fallback - 1, NULL,
                            NULL);
    return rt_mhd_reply(h->mhd, conn, r->status, r->content_type, body, NULL, r->len,
                        r->allow != NULL ? MHD_HTTP_HEADER_ALLOW : NULL, r->allow);
}

static enum MHD_Result reply_error(ks_http *h, struct MHD_Connection *conn, ks_endpoint ep,
                                   unsigned status, const char *code, const char *msg)
{
    ks_reply r;
    memset(&r, 0, sizeof r);
    ks_api_error(&r, status, code, msg);
    ks_metrics_request(&h->ctx->metrics, ep, r.status);
    return send_reply(h, conn, &r);
}

static ks_endpoint path_ep(const char *url)
{
    if (strcmp(url, "/sign") == 0)
        return KS_EP_SIGN;
    if (strcmp(url, "/pubkey") == 0)
        return KS_EP_PUBKEY;
    if (strcmp(url, "/health") == 0)
        return KS_EP_HEALTH;
    if (strcmp(url, "/metrics") == 0)
        return KS_EP_METRICS;
    return KS_EP_OTHER;
}

/*
 * A certificate from our CA whose identity (CN or fingerprint) is not in `clients` may use
 * nothing: 403 on every endpoint, before any body is read. A POST /sign is still a signing
 * decision, so it is audited (outcome "refused_client", no key or digest: the body is not read);
 * if that record cannot be written the answer is 503, as for any other refusal.
 */
static enum MHD_Result refuse_unknown(ks_http *h, struct MHD_Connection *conn, const char *url,
                                      const char *method, const ks_tls_conn *tc)
{
    ks_endpoint ep = path_ep(url);
    if (ep == KS_EP_SIGN && strcmp(method, "POST") == 0) {
        ks_audit_rec ar;
        memset(&ar, 0, sizeof ar);
        ar.client_cn = tc->cn;
        ar.client_fp = tc->fp;
        ar.outcome = "refused_client";
        if (ks_audit_append(h->ctx->audit, &ar) != AK_OK)
            return reply_error(h, conn, ep, 503, "audit_unavailable",
                               "the audit record could not be written; nothing was signed for "
                               "this request");
    }
    return reply_error(h, conn, ep, 403, "client_not_allowed",
                       "this client certificate is not allowed to use the key server");
}

/* First call of a request: identity and Content-Length are checked before any body is read. */
static enum MHD_Result first_call(ks_http *h, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **con_cls)
{
    const ks_config *cfg = h->ctx->cfg;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    ks_tls_conn *tc = ci != NULL ? ci->socket_context : NULL;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t s = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
    if (tc == NULL || !ks_tls_conn_identity(tc, s, cfg)) {
        atomic_fetch_add(&h->ctx->metrics.tls_rejected, 1);
        return reply_error(
            h, conn, path_ep(url), 403, "client_certificate_required",
            tc != NULL && tc->why != NULL ? tc->why : "a valid client certificate is required");
    }
    ks_guard_authenticated(h->guard, tc->guard);
    if (h->ctx->gens != NULL) { /* the clients of the generation in force (hot reload) */
        ks_gen *g = ks_gens_acquire(h->ctx->gens);
        ks_gen_client(g->cfg, tc->cn, tc->fp, &tc->cn_client, &tc->fp_client);
        ks_gens_release(h->ctx->gens, g);
    }
    if (tc->cn_client < 0 && tc->fp_client < 0)
        return refuse_unknown(h, conn, url, method, tc);
    req_ctx *rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        return MHD_NO;
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        char *end = NULL;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0' || v > cfg->max_body) {
            free(rc);
            return reply_error(h, conn, path_ep(url), 413, "body_too_large",
                               "the body is larger than the limit");
        }
        rc->expected = (size_t)v;
    }
    *con_cls = rc;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ks_http *h = cls;
    req_ctx *rc = *con_cls;
    (void)version;
    if (rc == NULL && !rt_conns_begin(rt_mhd_conns(h->mhd), conn))
        return reply_error(h, conn, path_ep(url), 503, "shutting_down",
                           "the key server is shutting down; nothing was done, retry");
    if (rc == NULL)
        return first_call(h, conn, url, method, con_cls);
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (n > h->ctx->cfg->max_body - rc->len)
            return MHD_NO; /* chunked upload past the limit: abort the connection */
        if (rc->len + n > rc->cap) {
            size_t cap = rc->expected >= rc->len + n ? rc->expected : 2 * (rc->len + n);
            if (cap > h->ctx->cfg->max_body)
                cap = h->ctx->cfg->max_body;
            char *nb = realloc(rc->buf, cap);
            if (nb == NULL)
                return MHD_NO;
            rc->buf = nb;
            rc->cap = cap;
        }
        memcpy(rc->buf + rc->len, upload_data, n);
        rc->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    /* libmicrohttpd decodes %00 into the value, so the C string would stop there and
     * "key-one%00x" would be looked up as "key-one": compare the decoded length to strlen. */
    const char *qkey = NULL;
    size_t qkey_len = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "key_id", strlen("key_id"),
                                      &qkey, &qkey_len) == MHD_YES &&
        qkey != NULL && strlen(qkey) != qkey_len)
        return reply_error(h, conn, path_ep(url), 400, "bad_key_id",
                           "the key_id query parameter contains a NUL character");
    ks_reply r;
    ks_api_handle(h->ctx, ci->socket_context, method, url, qkey, rc->buf ? rc->buf : "", rc->len,
                  &r);
    return send_reply(h, conn, &r);
}

/* libmicrohttpd's lines (at most RT_MHD_LOG_BURST a second: a flood of connections that never
 * authenticate, closed by ks_guard, would flood the log too) and the drain's. */
static void log_line(void *cls, const char *line, unsigned long dropped)
{
    (void)cls;
    if (dropped > 0)
        fprintf(stderr, "anode-keyserver: http: (%lu messages not logged: more than %d a second)\n",
                dropped, RT_MHD_LOG_BURST);
    fprintf(stderr, "anode-keyserver: http: %s\n", line);
}

ak_err ks_http_start(ks_http **out, ks_ctx *ctx, ks_tls_creds *creds, char *msg, size_t msg_cap)
{
    return ks_http_start_on(out, ctx, creds, -1, msg, msg_cap);
}

ak_err ks_http_start_on(ks_http **out, ks_ctx *ctx, ks_tls_creds *creds, int listen_fd, char *msg,
                        size_t msg_cap)
{
    const ks_config *cfg = ctx->cfg;
    ks_http *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h == NULL)
        return AK_ERR_NOMEM;
    h->ctx = ctx;
    h->creds = creds;
    ks_tls_creds_set_metrics(creds, &ctx->metrics);
    if (guard_setup(h, msg, msg_cap) != AK_OK) {
        free(h);
        return AK_ERR_INTERNAL;
    }
    /* threads > 0: epoll + a pool of that many workers; 0: one thread per connection (the
     * handler blocks for the HSM call and the audit sync, see docs/keyserver.md). */
    rt_mhd_config mc = {.host = cfg->listen_address,
                        .host_name = "listen.address",
                        .port = cfg->port,
                        .listen_fd = listen_fd,
                        .threads = cfg->threads > 0 ? (unsigned)cfg->threads : 0,
                        .stack_size = KS_STACK_SIZE,
                        .max_connections =
                            cfg->max_connections > 0 ? (unsigned)cfg->max_connections : 1,
                        .per_ip_limit = (unsigned)cfg->max_per_ip,
                        .idle_timeout_s = (unsigned)cfg->connection_timeout_s,
                        .conn_memory = (size_t)cfg->connection_memory,
                        .tls_cert_pem = ks_tls_cert_pem(creds),
                        .tls_key_pem = ks_tls_key_pem(creds),
                        .tls_trust_pem = ks_tls_trust_pem(creds),
                        .handler = on_request,
                        .cls = h,
                        .on_open = conn_open,
                        .on_close = conn_close,
                        .on_done = request_done,
                        .log = log_line};
    ak_err rc = rt_mhd_start(&h->mhd, &mc, msg, msg_cap);
    if (rc != AK_OK) {
        ks_guard_free(h->guard);
        free(h);
        return rc;
    }
    *out = h;
    return AK_OK;
}

size_t ks_http_drain(ks_http *h, unsigned timeout_ms)
{
    return rt_mhd_drain(h->mhd, timeout_ms, KS_DRAIN_GRACE_MS);
}

void ks_http_stop(ks_http *h)
{
    if (h == NULL)
        return;
    rt_mhd_stop(h->mhd);
    ks_guard_free(h->guard);
    free(h);
}

unsigned ks_http_port(const ks_http *h)
{
    return rt_mhd_port(h->mhd);
}
