/*
 * ks_guard.h - the key server's defence against connections that never authenticate (issue 17):
 * handshake and header deadlines, a per-address cap and a global cap of unauthenticated
 * connections.
 *
 * A connection is "unauthenticated" from its start (MHD_CONNECTION_NOTIFY_STARTED, before the
 * TLS handshake) until its first request's headers arrive with a client certificate that
 * verified (ks_guard_authenticated()). While unauthenticated it must finish its TLS handshake
 * within handshake_timeout_s of its start, and then send its first request's headers within
 * header_timeout_s of the end of the handshake (the GnuTLS "Finished" hook marks it); a reaper
 * thread checks every KS_GUARD_TICK_MS and closes a late connection with shutdown(2), which
 * makes libmicrohttpd's own thread end it. Bytes trickling in (slowloris) do not move either
 * deadline, unlike libmicrohttpd's idle timeout.
 * Caps: at most max_unauth_per_ip unauthenticated connections per client address (a new one
 * over it is closed at once) and max_unauth in all (a new one over it evicts the oldest
 * unauthenticated connection that shows no sign of a handshake - no ClientHello processed,
 * nothing in its receive buffer - else the oldest: a legitimate handshake takes milliseconds).
 * max_unauth < max_connections, so connections that never authenticate can never hold the slots of
 * authenticated clients.
 *
 * Thread safety: every function may be called from any libmicrohttpd thread; one mutex guards
 * the list of unauthenticated connections (at most max_unauth + 1 entries, scanned linearly).
 * A descriptor is only shut down while its connection is on that list, and ks_guard_closed()
 * (from the connection-closed notification, before libmicrohttpd closes the descriptor) takes
 * it off under the same mutex, so the reaper never touches a closed or reused descriptor.
 * Ownership: ks_guard_new() returns a guard freed by ks_guard_free() after the HTTP daemon has
 * stopped; ks_guard_start() returns an entry freed by ks_guard_closed().
 */
#ifndef KS_GUARD_H
#define KS_GUARD_H

#include <gnutls/gnutls.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ak_err.h"
#include "ks_config.h"
#include "ks_metrics.h"
#include "rt_clock.h"

#define KS_GUARD_TICK_MS 100

typedef struct ks_guard ks_guard;
typedef struct ks_guard_conn ks_guard_conn;

/* Starts the reaper thread. m receives the counts of closed connections (may be NULL). */
AK_WUR ak_err ks_guard_new(ks_guard **out, const ks_config *cfg, const rt_clock *clk,
                           ks_metrics *m);
void ks_guard_free(ks_guard *g);

/* A connection started (fd, peer address, its GnuTLS session or NULL). Returns its entry, or
 * NULL when out of memory (the connection is then shut down at once). A connection over the
 * per-address cap is shut down at once but still gets an entry, for ks_guard_closed(). */
ks_guard_conn *ks_guard_start(ks_guard *g, int fd, const struct sockaddr *peer,
                              gnutls_session_t session);
/* Its first request's headers arrived with a verified certificate: no deadline any more. */
void ks_guard_authenticated(ks_guard *g, ks_guard_conn *c);
/* The connection closed (NULL ok). */
void ks_guard_closed(ks_guard *g, ks_guard_conn *c);

/* Close the unauthenticated connections past their deadline at now_ms (the reaper's step;
 * exposed for tests that drive the clock). Returns how many were closed. */
unsigned ks_guard_reap(ks_guard *g, int64_t now_ms);

#endif
