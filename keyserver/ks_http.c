/* ks_http.c - libmicrohttpd glue: TLS hooks, body accounting, replies (see ks_http.h). */
#include "ks_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ks_guard.h"
#include "rt_clock.h"
#include "rt_conns.h"
#include "rt_listen.h"

/* TLS 1.2 minimum (issue 3); GnuTLS defaults otherwise. */
#define KS_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define KS_STACK_SIZE     (256 * 1024) /* per connection thread; the handler's frames are small */
#define KS_DRAIN_GRACE_MS 1000 /* during a drain, idle this long with nothing unread: closed */

struct ks_http {
    struct MHD_Daemon *d;
    ks_ctx *ctx;
    ks_tls_creds *creds;
    ks_guard *guard; /* deadlines and caps of unauthenticated connections */
    rt_conns *conns; /* open connections, for the drain (shutdown part, below) */
    struct MHD_OptionItem listen_opts[2];
    int listen_fd; /* the listening socket: inherited, or bound here (bind_listen) */
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

/*
 * Shutdown part (issue 17): graceful drain. The open connections are tracked (rt_conns) so that
 * ks_http_drain can stop accepting, let the requests in flight finish and be written with
 * "Connection: close", close idle keep-alive connections, and refuse (503, nothing done) a
 * request that starts once the server is closing.
 */
static void drain_track_open(ks_http *h, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    rt_conns_open(h->conns, conn, ci != NULL ? ci->connect_fd : -1);
}

static void drain_track_close(ks_http *h, struct MHD_Connection *conn)
{
    rt_conns_close(h->conns, conn);
}

static int drain_admit(ks_http *h, struct MHD_Connection *conn)
{
    return rt_conns_begin(h->conns, conn);
}

static void drain_track_end(ks_http *h, struct MHD_Connection *conn)
{
    rt_conns_end(h->conns, conn);
}

/* Draining: this is the connection's last answer (libmicrohttpd closes after it). */
static enum MHD_Result drain_last_answer(ks_http *h, struct MHD_Response *resp)
{
    if (!rt_conns_draining(h->conns))
        return MHD_YES;
    return MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    ks_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        gnutls_session_t s = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
        *socket_context = ks_tls_conn_start(h->creds, s);
        guard_conn_start(h, conn, *socket_context, s);
        drain_track_open(h, conn);
    } else {
        guard_conn_closed(h, *socket_context);
        drain_track_close(h, conn);
        ks_tls_conn_free(*socket_context);
        *socket_context = NULL;
    }
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    drain_track_end(cls, conn);
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
    struct MHD_Response *resp;
    if (r->body != NULL) {
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(r->body);
    } else {
        r->status = 500;
        r->content_type = "application/json";
        resp = MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback,
                                               MHD_RESPMEM_PERSISTENT);
    }
    r->body = NULL;
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(
        resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
    if (ok == MHD_YES && r->allow != NULL)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (ok == MHD_YES)
        ok = drain_last_answer(h, resp);
    if (ok == MHD_YES)
        ok = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ok;
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
    if (rc == NULL && !drain_admit(h, conn))
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

/* libmicrohttpd logs a line per failed handshake: a flood of connections that never
 * authenticate (closed by ks_guard) would flood the log too. At most KS_LOG_BURST lines per
 * second; the number dropped is logged with the next line that passes. */
#define KS_LOG_BURST 20
static int log_mhd_allowed(unsigned long *dropped)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t window;
    static unsigned n;
    static unsigned long skipped;
    int ok;
    time_t now = time(NULL);
    pthread_mutex_lock(&mu);
    if (now != window) {
        window = now;
        n = 0;
    }
    ok = n < KS_LOG_BURST;
    if (ok) {
        n++;
        *dropped = skipped;
        skipped = 0;
    } else {
        skipped++;
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

__attribute__((format(printf, 2, 0))) static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    unsigned long dropped = 0;
    (void)cls;
    if (!log_mhd_allowed(&dropped))
        return;
    if (dropped > 0)
        fprintf(stderr, "anode-keyserver: http: (%lu messages not logged: more than 20 a second)\n",
                dropped);
    fputs("anode-keyserver: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/*
 * Bind and listen ourselves (issue 12): a port clash is then reported once, with the port and
 * errno ("cannot listen on 127.0.0.1 port 8443: Address already in use"), instead of
 * libmicrohttpd's "Failed to bind to port 0" (it logs the port argument, 0 when given an
 * address) followed by a guess. Same socket options as libmicrohttpd's own: SO_REUSEADDR,
 * IPV6_V6ONLY for an IPv6 address, non-blocking, close-on-exec, backlog SOMAXCONN.
 */
static int bind_listen(const struct sockaddr *sa, socklen_t sa_len, char *msg, size_t msg_cap,
                       const ks_config *cfg)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (sa->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, sa, sa_len) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(msg, msg_cap, "cannot listen on %s port %u: %s", cfg->listen_address, cfg->port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Shutdown part: the connection tracker and the listening socket (inherited or bound). */
static AK_WUR ak_err drain_setup(ks_http *h, int listen_fd)
{
    h->listen_opts[0] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
    h->listen_opts[1] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->listen_fd = listen_fd;
    return rt_conns_new(
        &h->conns, h->ctx->cfg->max_connections > 0 ? h->ctx->cfg->max_connections : 1, 0, NULL);
}

ak_err ks_http_start(ks_http **out, ks_ctx *ctx, ks_tls_creds *creds, char *msg, size_t msg_cap)
{
    return ks_http_start_on(out, ctx, creds, -1, msg, msg_cap);
}

ak_err ks_http_start_on(ks_http **out, ks_ctx *ctx, ks_tls_creds *creds, int listen_fd, char *msg,
                        size_t msg_cap)
{
    const ks_config *cfg = ctx->cfg;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa;
    socklen_t sa_len;
    int own_fd = -1; /* the socket bound here, until libmicrohttpd owns it */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    /* threads > 0: epoll + a pool of that many workers; 0: one thread per connection (the
     * handler blocks for the HSM call and the audit sync, see docs/keyserver.md). */
    struct MHD_OptionItem threading[2] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (cfg->threads > 0) {
        flags |= MHD_USE_EPOLL;
        threading[0] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        threading[0] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, KS_STACK_SIZE, NULL};
    }
    ks_http *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h == NULL)
        return AK_ERR_NOMEM;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, cfg->listen_address, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a4;
        sa_len = sizeof a4;
    } else if (inet_pton(AF_INET6, cfg->listen_address, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a6;
        sa_len = sizeof a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(msg, msg_cap, "listen.address: not an IPv4 or IPv6 address");
        free(h);
        return AK_ERR_CONFIG;
    }
    h->ctx = ctx;
    h->creds = creds;
    ks_tls_creds_set_metrics(creds, &ctx->metrics);
    if (guard_setup(h, msg, msg_cap) != AK_OK) {
        free(h);
        return AK_ERR_INTERNAL;
    }
    if (listen_fd < 0 && (listen_fd = own_fd = bind_listen(sa, sa_len, msg, msg_cap, cfg)) < 0) {
        ks_guard_free(h->guard);
        free(h);
        return AK_ERR_NETWORK;
    }
    if (drain_setup(h, listen_fd) != AK_OK) {
        snprintf(msg, msg_cap, "out of memory");
        if (own_fd >= 0)
            close(own_fd);
        ks_guard_free(h->guard);
        free(h);
        return AK_ERR_NOMEM;
    }
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_ARRAY, h->listen_opts, MHD_OPTION_ARRAY, threading, MHD_OPTION_HTTPS_MEM_CERT,
        ks_tls_cert_pem(creds), MHD_OPTION_HTTPS_MEM_KEY, ks_tls_key_pem(creds),
        MHD_OPTION_HTTPS_MEM_TRUST, ks_tls_trust_pem(creds), MHD_OPTION_HTTPS_PRIORITIES,
        KS_TLS_PRIORITIES, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout_s,
        MHD_OPTION_NOTIFY_CONNECTION, notify_conn, h, MHD_OPTION_NOTIFY_COMPLETED, request_done, h,
        MHD_OPTION_END);
    if (h->d == NULL) {
        /* libmicrohttpd closed the listening socket it was given (measured on 0.9.75) */
        snprintf(msg, msg_cap, "cannot start the HTTPS server on %s port %u (TLS setup failed?)",
                 cfg->listen_address, cfg->port);
        ks_guard_free(h->guard);
        rt_conns_free(h->conns);
        free(h);
        return AK_ERR_NETWORK;
    }
    *out = h;
    return AK_OK;
}

size_t ks_http_drain(ks_http *h, unsigned timeout_ms)
{
    /* No new connections: closing the listening socket refuses newcomers; a socket-activated
     * one lives on in systemd, its queue kept for the next process. */
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    else
        fputs("anode-keyserver: could not stop accepting before the drain\n", stderr);
    return rt_conns_drain(h->conns, timeout_ms, KS_DRAIN_GRACE_MS);
}

void ks_http_stop(ks_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    ks_guard_free(h->guard);
    rt_conns_free(h->conns);
    free(h);
}

unsigned ks_http_port(const ks_http *h)
{
    if (h->listen_fd >= 0)
        return rt_listen_port(h->listen_fd);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return di != NULL ? di->port : 0;
}
