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
 * extended key usage (a serverAuth-only certificate from our CA is refused). The cached identity
 * also keeps the certificate's notAfter: once it has passed, every further request on that
 * connection is refused (403) although the connection itself stays open.
 *
 * Limits: the CRL is read once, at start-up; a CRL change takes effect at the next restart,
 * and a connection verified before a revocation keeps its identity until it closes.
 *
 * Ownership: ks_tls_creds_load() returns creds freed by ks_tls_creds_free(); the PEM copies it
 * keeps for MHD's options (cert, key, trust) live as long as the creds; the key copy is wiped.
 * A ks_tls_conn is allocated by ks_tls_conn_start() and freed by ks_tls_conn_free().
 */
#ifndef KS_TLS_H
#define KS_TLS_H

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ak_err.h"
#include "ks_config.h"

typedef struct ks_tls_creds ks_tls_creds;

typedef struct {
    int checked;            /* verification done for this connection */
    int ok;                 /* ... and it passed */
    char cn[KS_CN_MAX + 1]; /* subject CN ("" if none) */
    uint8_t fp[32];         /* SHA-256 of the certificate DER */
    long cn_client;         /* index into cfg->clients by CN, or -1 */
    long fp_client;         /* index into cfg->clients by fingerprint, or -1 */
    time_t not_after;       /* the certificate's expiry: refused after it */
} ks_tls_conn;

AK_WUR ak_err ks_tls_creds_load(ks_tls_creds **out, const ks_config *cfg, char *msg,
                                size_t msg_cap);
void ks_tls_creds_free(ks_tls_creds *c);
const char *ks_tls_cert_pem(const ks_tls_creds *c);
const char *ks_tls_key_pem(const ks_tls_creds *c);
const char *ks_tls_trust_pem(const ks_tls_creds *c);

/* Called on MHD_CONNECTION_NOTIFY_STARTED with the connection's GnuTLS session. */
ks_tls_conn *ks_tls_conn_start(ks_tls_creds *c, gnutls_session_t session);
void ks_tls_conn_free(ks_tls_conn *tc);

/* Verify (first call on the connection only) and fill tc; returns tc->ok, which later calls
 * clear once the certificate has expired. */
int ks_tls_conn_identity(ks_tls_conn *tc, gnutls_session_t session, const ks_config *cfg);

#endif
