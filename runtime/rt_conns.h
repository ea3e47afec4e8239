/*
 * rt_conns.h - the open connections of an HTTP server, for what libmicrohttpd 0.9.75 does not do
 * itself: close a connection that has not delivered a complete request head within a deadline
 * (slowloris: its idle timeout restarts with every byte), and drain on shutdown.
 *
 * The server calls rt_conns_open / rt_conns_close from its connection notifications (close must
 * come before the socket is closed: libmicrohttpd notifies first), rt_conns_begin when a
 * request's head is complete (first handler call) and rt_conns_end when its answer has been
 * written (request-completed notification; a connection not in a request is left alone, so the
 * server may call it for every completion). A connection is closed from outside only with
 * shutdown(2), under the tracker's lock, so the descriptor is always still that connection's;
 * the server then reads EOF and frees it in its own thread.
 *
 * Header deadline: a connection that is not in a request and whose last event (open, or the end
 * of its previous answer) is older than header_timeout_ms is closed - a slow client, or an idle
 * keep-alive connection - unless unread bytes wait in its socket (then the server, not the
 * client, is behind). A reaper thread checks every 100 ms.
 *
 * Drain (rt_conns_drain): from then on answers should carry "Connection: close"
 * (rt_conns_draining); connections not in a request, with nothing unread and idle for at least
 * grace_ms (RT_CONNS_FRESH_GRACE_MS for a connection that has not had a request yet: its
 * client may be about to send one, or still be in the TLS handshake) are closed; requests in flight
 * finish and are written; when no connection is left, or at the deadline, the tracker is "closing":
 * rt_conns_begin returns 0 and the server refuses without doing anything.
 *
 * Limits: at most max connections are tracked (the server's connection limit); one more is not
 * tracked (neither deadline nor drain applies to it) and counted in rt_conns_untracked.
 * Memory: max * 32 bytes, allocated once.
 */
#ifndef RT_CONNS_H
#define RT_CONNS_H

#include <stddef.h>

#include "ak_err.h"
#include "rt_clock.h"

/* Drain grace of a connection that never had a request (see above). */
#define RT_CONNS_FRESH_GRACE_MS 2000

typedef struct rt_conns rt_conns;

/* header_timeout_ms 0 = no header deadline. clk is borrowed (NULL: the system clock). */
AK_WUR ak_err rt_conns_new(rt_conns **out, size_t max, unsigned header_timeout_ms,
                           const rt_clock *clk);
void rt_conns_free(rt_conns *t); /* stops the reaper; NULL allowed */

void rt_conns_open(rt_conns *t, const void *key, int fd);
void rt_conns_close(rt_conns *t, const void *key);

/* 1: go ahead (the request is in flight); 0: closing, or this connection was shut down by the
 * tracker - refuse without doing anything. */
int rt_conns_begin(rt_conns *t, const void *key);
void rt_conns_end(rt_conns *t, const void *key);

int rt_conns_draining(rt_conns *t);

/*
 * Drain as described above, for at most timeout_ms. Returns the number of requests still in
 * flight at the deadline (0: everything was answered). The caller then stops the server.
 */
size_t rt_conns_drain(rt_conns *t, unsigned timeout_ms, unsigned grace_ms);

/* Counters: connections closed for the header deadline; connections not tracked. */
unsigned long rt_conns_header_closed(rt_conns *t);
unsigned long rt_conns_untracked(rt_conns *t);

#endif
