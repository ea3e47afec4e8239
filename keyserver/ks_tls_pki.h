/*
 * ks_tls_pki.h - the X.509 checks ks_tls adds to GnuTLS' own: CRLs verified before use, and
 * the issuers a client certificate may come from.
 *
 * CRLs (RFC 5280 6.3.3): GnuTLS adds any PEM CRL to the trust list without checking who signed
 * it or when, so a CRL signed by another key that copies the CA's name, another CA's CRL (which
 * then matches no certificate), an expired or a future-dated one would all be used silently.
 * ks_tls_crl_check() refuses each of those with a reason: every CRL in the file must be issued
 * and signed by a CA of tls.client_ca, have thisUpdate <= now and a nextUpdate > now (a CRL
 * without nextUpdate is refused: RFC 5280 5.1.2.5 makes it mandatory). With tls.crl_required,
 * every CA of tls.client_ca must also have a CRL in the file. The check is made when the files
 * are loaded (start-up, SIGHUP); a CRL that passes its nextUpdate while the server runs stays
 * in use until the next reload (the operator's job: docs/keyserver.md).
 *
 * Issuers: a client certificate is accepted only when it is issued directly by a certificate of
 * tls.client_issuers (default: the certificates of tls.client_ca), so a certificate from an
 * intermediate CA under the root gets no identity unless that intermediate is listed.
 * ks_tls_issuers_load() reads that list and checks that each listed certificate is a CA that
 * verifies against the client CA. ks_tls_issuer_ok() is the per-connection check.
 *
 * Ownership: ks_tls_issuers_load() returns an array freed with gnutls_free() after
 * gnutls_x509_crt_deinit() on each element. Limits: KS_TLS_PKI_MAX certificates or CRLs.
 */
#ifndef KS_TLS_PKI_H
#define KS_TLS_PKI_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stddef.h>

#include "ak_err.h"
#include "ks_config.h"

#define KS_TLS_PKI_MAX 64

/* trust: the PEM text of tls.client_ca; crl: of tls.crl. msg names tls.crl, the path, and why. */
AK_WUR ak_err ks_tls_crl_check(const gnutls_datum_t *trust, const gnutls_datum_t *crl,
                               const ks_config *cfg, char *msg, size_t msg_cap);

/* cred already holds the client CA (trust is its PEM text). */
AK_WUR ak_err ks_tls_issuers_load(gnutls_x509_crt_t **out, unsigned *n_out,
                                  gnutls_certificate_credentials_t cred,
                                  const gnutls_datum_t *trust, const ks_config *cfg, char *msg,
                                  size_t msg_cap);

/* 1 if leaf is issued (name and signature) by one of the n issuers. */
int ks_tls_issuer_ok(gnutls_x509_crt_t leaf, gnutls_x509_crt_t *issuers, unsigned n);

#endif
