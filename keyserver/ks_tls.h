/*
 * ks_tls.h - mutual TLS for the key server: credentials with the client CA and CRL, the
 * per-connection hook that makes a client certificate mandatory, and the verified identity.
 *
 * libmicrohttpd 0.9.75 only *requests* a client certificate and has no CRL option. So at
 * connection start (MHD_CONNECTION_NOTIFY_STARTED, before the handshake) ks_tls_conn_start()
 * replaces MHD's credentials on the GnuTLS session with ours (server cert/key, client CA, CRL),
 * sets GNUTLS_CERT_REQUIRE and asks GnuTLS to verify the peer during the handshake: a client
 * without a valid, unrevoked, in-date certificate from our CA fails the handshake. The handler
 * checks again (ks_tls_conn_identity(): gnutls_certificate_verify_peers status must be 0) once
 * per connection and caches the subject CN and the SHA-256 fingerprint of the certificate, so
 * keep-alive requests do not re-verify the chain (~0.5 ms). Both checks require the clientAuth
 * extended key usage (a serverAuth-only certificate from our CA is refused). The handler also
 * refuses (tc->why, logged by fingerprint) a certificate with more than one subject CN and one
 * not issued directly by a CA of tls.client_issuers (ks_tls_pki.h); the CRL is verified before
 * it is used (ks_tls_pki.h), and the TLS key must pass the secret-file checks. The cached identity
 * also keeps the certificate's notAfter: once it has passed, every further request on that
 * connection is refused (403) although the connection itself stays open.
 *
 * Reload (SIGHUP, ks_tls_creds_reload()): the four TLS files are read again and, only if all of
 * them are valid, become the credentials of every new connection (a bad file changes nothing:
 * the old set stays in force and the caller logs why). A connection already open is checked
 * again on its next request against the new set (chain, CRL, validity: ~0.5 ms once per
 * connection per reload) and refused (403) from then on if it no longer verifies, so revoking
 * a stolen certificate needs no restart. Old credentials are freed with their last connection.
 *
 * Ownership: ks_tls_creds_load() returns creds freed by ks_tls_creds_free() (after the HTTP
 * daemon has stopped); the PEM copies it keeps for MHD's options (cert, key, trust: the start-up
 * files) live as long as the creds; the key copy is wiped. A ks_tls_conn is allocated by
 * ks_tls_conn_start() and freed by ks_tls_conn_free(); it holds a reference on the credentials
 * its handshake used.
 * Thread safety: ks_tls_creds_reload() may run while connections start, verify and close.
 */
#ifndef KS_TLS_H
#define KS_TLS_H

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ak_err.h"
#include "ks_config.h"
#include "ks_metrics.h"

typedef struct ks_tls_creds ks_tls_creds;
typedef struct ks_tls_gen ks_tls_gen;

#define KS_TLS_CHAIN_MAX 16 /* certificates in a client's chain checked again after a reload */

typedef struct {
    int checked;            /* verification done for this connection */
    int ok;                 /* ... and it passed */
    char cn[KS_CN_MAX + 1]; /* subject CN ("" if none) */
    uint8_t fp[32];         /* SHA-256 of the certificate DER */
    long cn_client;         /* index into cfg->clients by CN, or -1 */
    long fp_client;         /* index into cfg->clients by fingerprint, or -1 */
    time_t not_after;       /* the certificate's expiry: refused after it */
    ks_tls_creds *creds;    /* for the generation now in force */
    ks_tls_gen *gen;        /* the credentials of this connection's handshake (a reference) */
    unsigned long gen_seen; /* the generation the identity was last checked against */
    const char *why;        /* a static reason when a verified certificate was refused, or NULL */
    struct ks_guard_conn
        *guard; /* the connection's deadline entry (ks_guard.h), owned by ks_http */
} ks_tls_conn;

AK_WUR ak_err ks_tls_creds_load(ks_tls_creds **out, const ks_config *cfg, char *msg,
                                size_t msg_cap);
void ks_tls_creds_free(ks_tls_creds *c);
/* Read the TLS files named by cfg again; AK_OK: new connections use them and open ones are
 * re-checked. On error (msg says which file and why) the credentials in force are unchanged. */
AK_WUR ak_err ks_tls_creds_reload(ks_tls_creds *c, const ks_config *cfg, char *msg, size_t msg_cap);
/* Count reloads (ok / failed) in m from now on (m must outlive c). */
void ks_tls_creds_set_metrics(ks_tls_creds *c, ks_metrics *m);
const char *ks_tls_cert_pem(const ks_tls_creds *c);
const char *ks_tls_key_pem(const ks_tls_creds *c);
const char *ks_tls_trust_pem(const ks_tls_creds *c);

/* Called on MHD_CONNECTION_NOTIFY_STARTED with the connection's GnuTLS session. */
ks_tls_conn *ks_tls_conn_start(ks_tls_creds *c, gnutls_session_t session);
void ks_tls_conn_free(ks_tls_conn *tc);

/* Verify (first call on the connection only) and fill tc; returns tc->ok, which later calls
 * clear once the certificate has expired or no longer verifies after a reload. */
int ks_tls_conn_identity(ks_tls_conn *tc, gnutls_session_t session, const ks_config *cfg);

/* Expiry of the TLS files cfg names, read from disk when called (for /metrics: what a restart
 * or the next SIGHUP uses; after a successful reload, what new connections are served). Unix
 * seconds; 0 where the file is absent, unreadable or has no such date. Files over 1 MiB are not
 * read. The client CA bundle reports the earliest notAfter of its certificates. */
typedef struct {
    int64_t cert_not_after;      /* tls.cert: the server certificate (first in the file) */
    int64_t client_ca_not_after; /* tls.client_ca: earliest notAfter in the bundle */
    int64_t crl_next_update;     /* tls.crl: its nextUpdate (0: no CRL configured) */
} ks_tls_expiry;

void ks_tls_expiry_read(const ks_config *cfg, ks_tls_expiry *out);

#endif
