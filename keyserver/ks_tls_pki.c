/* ks_tls_pki.c - CRL verification and pinned client-certificate issuers (see ks_tls_pki.h). */
#include "ks_tls_pki.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ak_cfg.h"

#define KS_ISSUERS_FILE_MAX (1024 * 1024)

static void utc(char out[32], time_t t)
{
    struct tm tm;
    if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "(none)");
}

/* Why a CRL did not verify against the client CA, from gnutls_x509_crl_verify()'s status. */
static const char *crl_reason(unsigned st)
{
    if (st & GNUTLS_CERT_SIGNER_NOT_FOUND)
        return "it is not issued by a CA of tls.client_ca (another CA's CRL?)";
    if (st & GNUTLS_CERT_SIGNATURE_FAILURE)
        return "its signature does not verify with the client CA's key (forged?)";
    if (st & GNUTLS_CERT_SIGNER_NOT_CA)
        return "its issuer is not a CA";
    if (st & GNUTLS_CERT_INSECURE_ALGORITHM)
        return "it is signed with an insecure algorithm";
    if (st & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)
        return "it is dated in the future (thisUpdate)";
    if (st & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED)
        return "it has expired (nextUpdate)";
    return "it does not verify against tls.client_ca";
}

ak_err ks_tls_crl_check(const gnutls_datum_t *trust, const gnutls_datum_t *crl,
                        const ks_config *cfg, char *msg, size_t msg_cap)
{
    ak_err err = AK_ERR_CONFIG;
    gnutls_x509_crt_t *cas = NULL;
    gnutls_x509_crl_t *crls = NULL;
    unsigned n_ca = 0, n_crl = 0;
    const char *path = cfg->tls_crl;
    time_t now = time(NULL);
    char t1[32], t2[32];
    int rc = gnutls_x509_crt_list_import2(&cas, &n_ca, trust, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n_ca == 0) {
        err = ak_cfg_fail(msg, msg_cap, "tls.client_ca: no PEM CA certificate in \"%s\"",
                          cfg->tls_client_ca);
        goto out;
    }
    rc = gnutls_x509_crl_list_import2(&crls, &n_crl, crl, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n_crl == 0) {
        err = ak_cfg_fail(msg, msg_cap, "tls.crl: no valid PEM CRL in \"%s\"%s%s", path,
                          rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
        goto out;
    }
    if (n_crl > KS_TLS_PKI_MAX) {
        err = ak_cfg_fail(msg, msg_cap, "tls.crl: \"%s\" holds more than %d CRLs", path,
                          KS_TLS_PKI_MAX);
        goto out;
    }
    for (unsigned i = 0; i < n_crl; i++) {
        unsigned st = 0;
        rc = gnutls_x509_crl_verify(crls[i], cas, n_ca, 0, &st);
        if (rc < 0 || st != 0) {
            err = ak_cfg_fail(msg, msg_cap, "tls.crl: \"%s\" (CRL %u) refused: %s", path, i + 1,
                              rc < 0 ? gnutls_strerror(rc) : crl_reason(st));
            goto out;
        }
        time_t tu = gnutls_x509_crl_get_this_update(crls[i]);
        time_t nu = gnutls_x509_crl_get_next_update(crls[i]);
        utc(t1, tu);
        utc(t2, nu);
        if (tu == (time_t)-1 || tu > now) {
            err = ak_cfg_fail(
                msg, msg_cap,
                "tls.crl: \"%s\" (CRL %u) refused: it is dated in the future (thisUpdate "
                "%s)",
                path, i + 1, t1);
            goto out;
        }
        if (nu == (time_t)-1) {
            err =
                ak_cfg_fail(msg, msg_cap, "tls.crl: \"%s\" (CRL %u) refused: it has no nextUpdate",
                            path, i + 1);
            goto out;
        }
        if (nu <= now) {
            err = ak_cfg_fail(msg, msg_cap,
                              "tls.crl: \"%s\" (CRL %u) refused: it has expired (nextUpdate %s)",
                              path, i + 1, t2);
            goto out;
        }
    }
    if (cfg->tls_crl_required)
        for (unsigned c = 0; c < n_ca; c++) {
            int found = 0;
            for (unsigned i = 0; i < n_crl && !found; i++)
                found = gnutls_x509_crl_check_issuer(crls[i], cas[c]) != 0;
            if (!found) {
                err = ak_cfg_fail(msg, msg_cap,
                                  "tls.crl: \"%s\" has no CRL for CA %u of tls.client_ca "
                                  "(tls.crl_required is true)",
                                  path, c + 1);
                goto out;
            }
        }
    err = AK_OK;
out:
    for (unsigned i = 0; i < n_ca; i++)
        gnutls_x509_crt_deinit(cas[i]);
    for (unsigned i = 0; i < n_crl; i++)
        gnutls_x509_crl_deinit(crls[i]);
    gnutls_free(cas);
    gnutls_free(crls);
    return err;
}

static ak_err read_pem(gnutls_datum_t *out, const char *path, char *msg, size_t cap)
{
    ak_err err = AK_ERR_CONFIG;
    size_t n = 0;
    unsigned char *buf = malloc(KS_ISSUERS_FILE_MAX + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (buf == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if (fd < 0) {
        err = ak_cfg_fail(msg, cap, "tls.client_issuers: cannot open \"%s\": %s", path,
                          strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, KS_ISSUERS_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = ak_cfg_fail(msg, cap, "tls.client_issuers: read failed: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KS_ISSUERS_FILE_MAX) {
            err = ak_cfg_fail(msg, cap, "tls.client_issuers: larger than %d bytes",
                              KS_ISSUERS_FILE_MAX);
            goto out;
        }
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned)n;
    buf = NULL;
    err = AK_OK;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return err;
}

ak_err ks_tls_issuers_load(gnutls_x509_crt_t **out, unsigned *n_out,
                           gnutls_certificate_credentials_t cred, const gnutls_datum_t *trust,
                           const ks_config *cfg, char *msg, size_t msg_cap)
{
    ak_err err = AK_ERR_CONFIG;
    gnutls_datum_t own = {NULL, 0};
    gnutls_x509_crt_t *iss = NULL;
    gnutls_x509_trust_list_t tl = NULL;
    unsigned n = 0;
    const int pinned = cfg->tls_client_issuers[0] != '\0';
    const char *field = pinned ? "tls.client_issuers" : "tls.client_ca";
    const char *path = pinned ? cfg->tls_client_issuers : cfg->tls_client_ca;
    *out = NULL;
    *n_out = 0;
    if (pinned && (err = read_pem(&own, path, msg, msg_cap)) != AK_OK)
        goto out;
    int rc = gnutls_x509_crt_list_import2(&iss, &n, pinned ? &own : trust, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n == 0) {
        err = ak_cfg_fail(msg, msg_cap, "%s: no PEM certificate in \"%s\"", field, path);
        goto out;
    }
    if (n > KS_TLS_PKI_MAX) {
        err = ak_cfg_fail(msg, msg_cap, "%s: \"%s\" holds more than %d certificates", field, path,
                          KS_TLS_PKI_MAX);
        goto out;
    }
    gnutls_certificate_get_trust_list(cred, &tl);
    for (unsigned i = 0; i < n && pinned; i++) {
        unsigned ca = 0, st = 1;
        if (gnutls_x509_crt_get_basic_constraints(iss[i], NULL, &ca, NULL) < 0 || !ca) {
            err = ak_cfg_fail(msg, msg_cap,
                              "tls.client_issuers: certificate %u of \"%s\" is not a CA", i + 1,
                              path);
            goto out;
        }
        /* An issuer listed here must itself chain to the client CA (a root verifies as itself);
         * an intermediate is checked alone, so it must be signed by a root of client_ca. */
        if (gnutls_x509_trust_list_verify_crt(tl, &iss[i], 1, 0, &st, NULL) < 0 || st != 0) {
            err =
                ak_cfg_fail(msg, msg_cap,
                            "tls.client_issuers: certificate %u of \"%s\" does not verify against "
                            "tls.client_ca",
                            i + 1, path);
            goto out;
        }
    }
    *out = iss;
    *n_out = n;
    iss = NULL;
    n = 0;
    err = AK_OK;
out:
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(iss[i]);
    gnutls_free(iss);
    free(own.data);
    return err;
}

int ks_tls_issuer_ok(gnutls_x509_crt_t leaf, gnutls_x509_crt_t *issuers, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned st = 1;
        if (gnutls_x509_crt_check_issuer(leaf, issuers[i]) &&
            gnutls_x509_crt_verify(leaf, &issuers[i], 1, 0, &st) >= 0 && st == 0)
            return 1;
    }
    return 0;
}
