/* rt_mhd.c - libmicrohttpd glue shared by both daemons (see rt_mhd.h). */
#include "rt_mhd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rt_listen.h"

struct rt_mhd {
    struct MHD_Daemon *d;
    rt_mhd_config cfg;
    rt_conns *conns;
    unsigned port;
};

/* At most RT_MHD_LOG_BURST lines a second (process-wide); *dropped: lines skipped since the
 * last one that went through. */
static int log_allowed(unsigned long *dropped)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t window;
    static unsigned n;
    static unsigned long skipped;
    time_t now = time(NULL);
    pthread_mutex_lock(&mu);
    if (now != window) {
        window = now;
        n = 0;
    }
    int ok = n < RT_MHD_LOG_BURST;
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

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    rt_mhd *m = cls;
    char line[256];
    unsigned long dropped = 0;
    if (m->cfg.log == NULL || !log_allowed(&dropped))
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    m->cfg.log(m->cfg.cls, line, dropped);
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    rt_mhd *m = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (m->cfg.on_open != NULL)
            m->cfg.on_open(m->cfg.cls, c, socket_context);
        rt_conns_open(m->conns, c, ci != NULL ? ci->connect_fd : -1);
    } else {
        /* before libmicrohttpd closes the socket (rt_conns.h) */
        rt_conns_close(m->conns, c);
        if (m->cfg.on_close != NULL)
            m->cfg.on_close(m->cfg.cls, c, socket_context);
    }
}

/* The answer was written (or the connection failed): the request is no longer in flight. */
static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    rt_mhd *m = cls;
    (void)toe;
    if (m->cfg.on_done != NULL)
        m->cfg.on_done(m->cfg.cls, c, req_cls);
    rt_conns_end(m->conns, c);
}

/* Bind and listen on cfg's address (rt_mhd.h); *ipv6 for an IPv6 address. -1 with err set:
 * cannot listen; -2: not an address. */
static int bind_listen(const rt_mhd_config *cfg, int *ipv6, char *err, size_t err_cap)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa = (struct sockaddr *)&a4;
    socklen_t sa_len = sizeof a4;
    int one = 1;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    *ipv6 = 0;
    if (cfg->host != NULL && inet_pton(AF_INET, cfg->host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)cfg->port);
    } else if (cfg->host != NULL && inet_pton(AF_INET6, cfg->host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a6;
        sa_len = sizeof a6;
        *ipv6 = 1;
    } else {
        snprintf(err, err_cap, "%s: not a numeric IPv4 or IPv6 address", cfg->host_name);
        return -2;
    }
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (*ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, sa, sa_len) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, err_cap, "cannot listen on %s port %u: %s", cfg->host, cfg->port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

ak_err rt_mhd_start(rt_mhd **out, const rt_mhd_config *cfg, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    int fd = cfg->listen_fd, ipv6 = 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_OptionItem opts[20];
    size_t n = 0;
    *out = NULL;
    rt_mhd *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return AK_ERR_NOMEM;
    m->cfg = *cfg;
    m->cfg.tls_cert_pem = m->cfg.tls_key_pem = m->cfg.tls_trust_pem = NULL;
    if (cfg->port > 65535 || cfg->max_connections == 0 ||
        (cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL)) {
        snprintf(err, err_cap, "invalid HTTP port, connection limit or TLS pair");
        goto out;
    }
    rc = rt_conns_new(&m->conns, cfg->max_connections, cfg->header_timeout_ms, NULL);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "cannot start the connection tracker");
        goto out;
    }
    if (fd < 0 && (fd = bind_listen(cfg, &ipv6, err, err_cap)) < 0) {
        rc = fd == -2 ? AK_ERR_CONFIG : AK_ERR_NETWORK;
        goto out;
    }
    rc = AK_ERR_NETWORK;
    m->port = rt_listen_port(fd);
    /* The logger first: libmicrohttpd warns about every option processed before it. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, m};
    if (cfg->threads > 0) {
        flags |= MHD_USE_EPOLL;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)cfg->stack_size, NULL};
    }
    flags |= ipv6 ? MHD_USE_IPv6 : 0;
    flags |= cfg->tls_cert_pem != NULL ? MHD_USE_TLS : 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        (intptr_t)cfg->conn_memory, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, m};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_conn, m};
    const struct {
        enum MHD_OPTION opt;
        const char *pem;
    } tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem},
               {MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem},
               {MHD_OPTION_HTTPS_MEM_TRUST, cfg->tls_trust_pem},
               {MHD_OPTION_HTTPS_PRIORITIES, cfg->tls_cert_pem ? RT_MHD_TLS_PRIORITIES : NULL}};
    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
        if (tls[i].pem != NULL)
            opts[n++] = (struct MHD_OptionItem){tls[i].opt, 0, (void *)(uintptr_t)tls[i].pem};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    *out = m; /* before any connection: the handler may read it from its first call */
    m->d = MHD_start_daemon(flags, 0, NULL, NULL, cfg->handler, cfg->cls, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    fd = -1; /* libmicrohttpd owns it now, and closed it if it failed (measured on 0.9.75) */
    if (m->d == NULL) {
        *out = NULL;
        snprintf(err, err_cap, "cannot start the HTTP server on %s port %u (TLS setup failed?)",
                 cfg->host ? cfg->host : "the inherited socket", cfg->port);
        goto out;
    }
    m = NULL;
    rc = AK_OK;
out:
    if (fd >= 0 && cfg->listen_fd < 0)
        close(fd);
    if (m != NULL) {
        rt_conns_free(m->conns);
        free(m);
    }
    return rc;
}

void rt_mhd_stop(rt_mhd *m)
{
    if (m == NULL)
        return;
    MHD_stop_daemon(m->d);
    rt_conns_free(m->conns);
    free(m);
}

unsigned rt_mhd_port(const rt_mhd *m)
{
    return m->port;
}

unsigned rt_mhd_connections(const rt_mhd *m)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di != NULL ? di->num_connections : 0;
}

rt_conns *rt_mhd_conns(rt_mhd *m)
{
    return m->conns;
}

size_t rt_mhd_drain(rt_mhd *m, unsigned timeout_ms, unsigned grace_ms)
{
    /* No new connections: MHD hands the listening socket back. Closing it refuses newcomers;
     * a socket-activated one lives on in systemd, its queue kept for the next process. */
    MHD_socket fd = MHD_quiesce_daemon(m->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    else if (m->cfg.log != NULL)
        m->cfg.log(m->cfg.cls, "could not stop accepting before the drain", 0);
    return rt_conns_drain(m->conns, timeout_ms, grace_ms);
}

enum MHD_Result rt_mhd_reply(rt_mhd *m, struct MHD_Connection *c, unsigned status,
                             const char *ctype, char *body, const char *static_body, size_t len,
                             const char *hdr, const char *hdr_value)
{
    struct MHD_Response *r =
        body != NULL ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
                     : MHD_create_response_from_buffer(len, (void *)(uintptr_t)static_body,
                                                       MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                 ctype ? ctype : "application/json");
    if (ok == MHD_YES && hdr != NULL)
        ok = MHD_add_response_header(r, hdr, hdr_value);
    if (ok == MHD_YES && rt_conns_draining(m->conns))
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}
