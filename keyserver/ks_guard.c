/* ks_guard.c - deadlines and caps for unauthenticated connections (see ks_guard.h). */
#include "ks_guard.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "rt_ticker.h"

struct ks_guard_conn {
    ks_guard_conn *prev, *next; /* on g's list while unauthenticated */
    int on_list;
    int fd;
    gnutls_session_t session;
    int family;
    uint8_t addr[16];
    int64_t start_ms; /* connection start */
    int64_t hs_ms;    /* end of the handshake, 0 before */
    int hello;        /* its ClientHello has been received */
};

struct ks_guard {
    pthread_mutex_t mu;
    rt_ticker *reaper;          /* every KS_GUARD_TICK_MS: reaper_tick */
    ks_guard_conn *head, *tail; /* oldest first */
    unsigned n;
    unsigned cap_ip, cap_all;
    int64_t hs_ms, hdr_ms;
    const rt_clock *clk;
    ks_metrics *m;
};

/* The GnuTLS hook has no argument of ours and libmicrohttpd owns the session's user pointer:
 * the guard the hook reports to is process-wide (one key server daemon per process). */
static _Atomic(ks_guard *) hook_guard;

static void count(ks_guard *g, atomic_uint_fast64_t *ctr)
{
    if (g->m != NULL)
        atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
}

static void unlink_conn(ks_guard *g, ks_guard_conn *c)
{
    if (!c->on_list)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        g->tail = c->prev;
    c->prev = c->next = NULL;
    c->on_list = 0;
    g->n--;
}

/* Under g->mu, on a listed connection: libmicrohttpd has not closed fd yet (ks_guard.h). */
static void close_conn(ks_guard *g, ks_guard_conn *c)
{
    (void)shutdown(c->fd, SHUT_RDWR);
    unlink_conn(g, c);
}

static void peer_key(ks_guard_conn *c, const struct sockaddr *sa)
{
    c->family = sa != NULL ? sa->sa_family : AF_UNSPEC;
    if (c->family == AF_INET)
        memcpy(c->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    else if (c->family == AF_INET6)
        memcpy(c->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

static int same_peer(const ks_guard_conn *a, const ks_guard_conn *b)
{
    if (a->family != b->family)
        return 0;
    return memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* GnuTLS handshake hook (every message): marks the client's ClientHello and Finished as they
 * arrive. Runs on the connection's thread; finds the entry by session under the lock. */
static int hs_done(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                   const gnutls_datum_t *msg)
{
    (void)when;
    (void)msg;
    ks_guard *g = atomic_load(&hook_guard);
    if (g == NULL || !incoming ||
        (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO && htype != GNUTLS_HANDSHAKE_FINISHED))
        return 0;
    pthread_mutex_lock(&g->mu);
    for (ks_guard_conn *c = g->head; c != NULL; c = c->next) {
        if (c->session != session)
            continue;
        c->hello = 1;
        if (htype == GNUTLS_HANDSHAKE_FINISHED && c->hs_ms == 0) {
            c->hs_ms = rt_clock_mono_ms(g->clk);
            if (c->hs_ms == 0)
                c->hs_ms = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* Under g->mu, the list full: whom to evict. The oldest connection that has shown no sign of
 * a handshake (no ClientHello processed, nothing waiting in its receive buffer) - an idle flood
 * connection - rather than a client whose handshake is under way but not yet processed (the
 * server may be busy accepting the flood); failing that, the oldest. */
static ks_guard_conn *victim(ks_guard *g)
{
    for (ks_guard_conn *c = g->head; c != NULL; c = c->next) {
        int pending = 0;
        if (c->hello || c->hs_ms != 0)
            continue;
        if (ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0)
            continue;
        return c;
    }
    return g->head;
}

ks_guard_conn *ks_guard_start(ks_guard *g, int fd, const struct sockaddr *peer,
                              gnutls_session_t session)
{
    ks_guard_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        (void)shutdown(fd, SHUT_RDWR);
        return NULL;
    }
    c->fd = fd;
    c->session = session;
    peer_key(c, peer);
    if (session != NULL)
        gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_POST,
                                           hs_done);
    pthread_mutex_lock(&g->mu);
    c->start_ms = rt_clock_mono_ms(g->clk);
    unsigned same = 0;
    for (ks_guard_conn *o = g->head; o != NULL; o = o->next)
        same += same_peer(o, c);
    if (same >= g->cap_ip) {
        (void)shutdown(fd, SHUT_RDWR); /* this address has enough handshakes in progress */
        count(g, &g->m->conn_closed_ip_cap);
    } else {
        if (g->n >= g->cap_all && g->head != NULL) {
            close_conn(g, victim(g));
            count(g, &g->m->conn_evicted);
        }
        c->prev = g->tail;
        if (g->tail != NULL)
            g->tail->next = c;
        else
            g->head = c;
        g->tail = c;
        c->on_list = 1;
        g->n++;
    }
    pthread_mutex_unlock(&g->mu);
    return c;
}

void ks_guard_authenticated(ks_guard *g, ks_guard_conn *c)
{
    if (c == NULL || !c->on_list)
        return;
    pthread_mutex_lock(&g->mu);
    unlink_conn(g, c);
    pthread_mutex_unlock(&g->mu);
}

void ks_guard_closed(ks_guard *g, ks_guard_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    unlink_conn(g, c);
    pthread_mutex_unlock(&g->mu);
    free(c);
}

unsigned ks_guard_reap(ks_guard *g, int64_t now_ms)
{
    unsigned closed = 0;
    pthread_mutex_lock(&g->mu);
    ks_guard_conn *c = g->head;
    while (c != NULL) {
        ks_guard_conn *next = c->next;
        int hs = c->hs_ms != 0;
        if (now_ms >= (hs ? c->hs_ms + g->hdr_ms : c->start_ms + g->hs_ms)) {
            close_conn(g, c);
            count(g, hs ? &g->m->conn_header_deadline : &g->m->conn_handshake_deadline);
            closed++;
        }
        c = next;
    }
    pthread_mutex_unlock(&g->mu);
    return closed;
}

static void reaper_tick(void *arg)
{
    ks_guard *g = arg;
    (void)ks_guard_reap(g, rt_clock_mono_ms(g->clk));
}

ak_err ks_guard_new(ks_guard **out, const ks_config *cfg, const rt_clock *clk, ks_metrics *m)
{
    ks_guard *g = calloc(1, sizeof *g);
    *out = NULL;
    if (g == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&g->mu, NULL);
    g->cap_ip = cfg->max_unauth_per_ip;
    g->cap_all = cfg->max_unauth;
    g->hs_ms = (int64_t)cfg->handshake_timeout_s * 1000;
    g->hdr_ms = (int64_t)cfg->header_timeout_s * 1000;
    g->clk = clk;
    g->m = m;
    ak_err rc = rt_ticker_start(&g->reaper, KS_GUARD_TICK_MS, reaper_tick, g);
    if (rc != AK_OK) {
        ks_guard_free(g);
        return rc;
    }
    atomic_store(&hook_guard, g);
    *out = g;
    return AK_OK;
}

void ks_guard_free(ks_guard *g)
{
    if (g == NULL)
        return;
    ks_guard *self = g;
    (void)atomic_compare_exchange_strong(&hook_guard, &self, NULL);
    rt_ticker_stop(g->reaper);
    while (g->head != NULL) /* entries are freed by ks_guard_closed() */
        unlink_conn(g, g->head);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
