/* test_rt_conns.c - rt_conns on socketpairs: header deadline (with a clock moved by hand), the
 * shut-down connection refused, drain (in flight waited for, idle closed, closing refuses). */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ak_test.h"
#include "rt_conns.h"

static _Atomic int64_t fake_ms;

static int64_t fake_mono(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_ms) * 1000000;
}

static const rt_clock k_fake = {fake_mono, fake_mono, NULL};

/* 1 if the peer of fd was shut down: a read on it sees EOF within ~2 s. */
static int peer_sees_eof(int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b;
    return read(fd, &b, 1) == 0;
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void test_header_deadline(void)
{
    rt_conns *t = NULL;
    int a[2], b[2], c[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, c) == 0);
    atomic_store(&fake_ms, 1000);
    CHECK(rt_conns_new(&t, 4, 2000, &k_fake) == AK_OK);
    rt_conns_open(t, &a, a[0]);
    rt_conns_open(t, &b, b[0]);
    rt_conns_open(t, &c, c[0]);
    CHECK_EQ_INT(rt_conns_begin(t, &b), 1); /* b is in a request: the deadline does not apply */
    CHECK(write(c[1], "x", 1) == 1);        /* c has unread bytes: the server is behind */
    atomic_store(&fake_ms, 1000 + 1999);
    msleep(300);
    CHECK_EQ_INT(rt_conns_header_closed(t), 0);
    atomic_store(&fake_ms, 1000 + 2000);
    msleep(300);
    CHECK(peer_sees_eof(a[1]));
    CHECK_EQ_INT(rt_conns_header_closed(t), 1);
    CHECK_EQ_INT(rt_conns_begin(t, &a), 0); /* its request (if read meanwhile) is not executed */
    rt_conns_end(t, &b);                    /* b answered: its deadline starts again */
    atomic_store(&fake_ms, 1000 + 3000);
    msleep(300);
    CHECK_EQ_INT(rt_conns_header_closed(t), 1);
    atomic_store(&fake_ms, 1000 + 5000);
    msleep(300);
    CHECK(peer_sees_eof(b[1]));
    CHECK_EQ_INT(rt_conns_header_closed(t), 2);
    rt_conns_close(t, &a);
    rt_conns_close(t, &b);
    rt_conns_close(t, &c);
    rt_conns_free(t);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
        close(c[i]);
    }
}

typedef struct {
    rt_conns *t;
    const void *key;
    long after_ms;
} ender;

/* The server side of a request in flight: ends it, then the connection closes. */
static void *end_later(void *arg)
{
    ender *e = arg;
    msleep(e->after_ms);
    CHECK(rt_conns_draining(e->t));
    rt_conns_end(e->t, e->key);
    rt_conns_close(e->t, e->key);
    return NULL;
}

static void test_drain(void)
{
    rt_conns *t = NULL;
    int busy[2], extra[2];
    pthread_t th;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, busy) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, extra) == 0);
    CHECK(rt_conns_new(&t, 1, 0, NULL) == AK_OK);
    rt_conns_open(t, &busy, busy[0]);
    rt_conns_open(t, &extra, extra[0]); /* over max: not tracked */
    CHECK_EQ_INT(rt_conns_untracked(t), 1);
    CHECK_EQ_INT(rt_conns_begin(t, &busy), 1);
    CHECK(!rt_conns_draining(t));
    ender e = {t, &busy, 500};
    CHECK(pthread_create(&th, NULL, end_later, &e) == 0);
    double t0 = ak_test_now_s();
    size_t left = rt_conns_drain(t, 5000, 100);
    double took = ak_test_now_s() - t0;
    CHECK_EQ_INT(left, 0);
    CHECK(took >= 0.4 && took < 4.0); /* waited for the request in flight, not the deadline */
    CHECK_EQ_INT(rt_conns_begin(t, &extra), 0); /* closing: refused */
    pthread_join(th, NULL);
    rt_conns_free(t);
    for (int i = 0; i < 2; i++) {
        close(busy[i]);
        close(extra[i]);
    }
}

static void test_drain_closes_idle_and_times_out(void)
{
    rt_conns *t = NULL;
    int idle[2], stuck[2], fresh[2];
    char b;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, idle) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, stuck) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fresh) == 0);
    CHECK(rt_conns_new(&t, 4, 0, NULL) == AK_OK);
    rt_conns_open(t, &idle, idle[0]);
    rt_conns_open(t, &stuck, stuck[0]);
    rt_conns_open(t, &fresh, fresh[0]);
    CHECK_EQ_INT(rt_conns_begin(t, &idle), 1); /* a keep-alive connection, now idle */
    rt_conns_end(t, &idle);
    CHECK_EQ_INT(rt_conns_begin(t, &stuck), 1);
    double t0 = ak_test_now_s();
    size_t left = rt_conns_drain(t, 600, 50); /* the stuck request never ends */
    double took = ak_test_now_s() - t0;
    CHECK_EQ_INT(left, 1);
    CHECK(took >= 0.55 && took < 3.0);
    CHECK(peer_sees_eof(idle[1])); /* idle: closed by the drain */
    CHECK_EQ_INT(rt_conns_begin(t, &idle), 0);
    /* Never had a request: its client gets RT_CONNS_FRESH_GRACE_MS, longer than this drain. */
    CHECK(recv(fresh[1], &b, 1, MSG_DONTWAIT) < 0);
    rt_conns_free(t);
    for (int i = 0; i < 2; i++) {
        close(idle[i]);
        close(stuck[i]);
        close(fresh[i]);
    }
}

int main(void)
{
    test_header_deadline();
    test_drain();
    test_drain_closes_idle_and_times_out();
    return ak_test_report("test_rt_conns");
}
