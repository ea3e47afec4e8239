/* ks_tls.c - client-certificate enforcement and identity (see ks_tls.h). */
#include "ks_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ak_secmem.h"

#define KS_PEM_MAX (1024 * 1024)

struct ks_tls_creds {
    gnutls_certificate_credentials_t cred;
    char *cert_pem, *key_pem, *trust_pem;
    size_t key_len;
};

__attribute__((format(printf, 3, 4))) static void set_msg(char *msg, size_t cap, const char *fmt,
                                                          ...)
{
    if (msg == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

static ak_err slurp(char **out, size_t *len, const char *path, const char *field, char *msg,
                    size_t cap)
{
    ak_err err = AK_ERR_CONFIG;
    size_t n = 0;
    char *buf = malloc(KS_PEM_MAX + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (buf == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if (fd < 0) {
        set_msg(msg, cap, "%s: cannot open \"%s\": %s", field, path, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, KS_PEM_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_msg(msg, cap, "%s: read failed: %s", field, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KS_PEM_MAX) {
            set_msg(msg, cap, "%s: larger than %d bytes", field, KS_PEM_MAX);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    err = AK_OK;
out:
    if (buf != NULL) {
        ak_wipe(buf, n);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return err;
}

ak_err ks_tls_creds_load(ks_tls_creds **out, const ks_config *cfg, char *msg, size_t msg_cap)
{
    ak_err err;
    size_t len = 0;
    char *crl = NULL;
    ks_tls_creds *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return AK_ERR_NOMEM;
    if ((err = slurp(&c->cert_pem, &len, cfg->tls_cert, "tls.cert", msg, msg_cap)) != AK_OK ||
        (err = slurp(&c->key_pem, &c->key_len, cfg->tls_key, "tls.key", msg, msg_cap)) != AK_OK ||
        (err = slurp(&c->trust_pem, &len, cfg->tls_client_ca, "tls.client_ca", msg, msg_cap)) !=
            AK_OK)
        goto out;
    err = AK_ERR_CONFIG;
    if (gnutls_certificate_allocate_credentials(&c->cred) != GNUTLS_E_SUCCESS) {
        set_msg(msg, msg_cap, "tls: cannot allocate credentials");
        goto out;
    }
    gnutls_datum_t cd = {(unsigned char *)c->cert_pem, (unsigned)strlen(c->cert_pem)};
    gnutls_datum_t kd = {(unsigned char *)c->key_pem, (unsigned)c->key_len};
    int rc = gnutls_certificate_set_x509_key_mem(c->cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        set_msg(msg, msg_cap, "tls.cert/tls.key: not a matching PEM certificate and key: %s",
                gnutls_strerror(rc));
        goto out;
    }
    gnutls_datum_t td = {(unsigned char *)c->trust_pem, (unsigned)strlen(c->trust_pem)};
    rc = gnutls_certificate_set_x509_trust_mem(c->cred, &td, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        set_msg(msg, msg_cap, "tls.client_ca: no PEM CA certificate in \"%s\"%s%s",
                cfg->tls_client_ca, rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
        goto out;
    }
    if (cfg->tls_crl[0] != '\0') {
        if ((err = slurp(&crl, &len, cfg->tls_crl, "tls.crl", msg, msg_cap)) != AK_OK)
            goto out;
        err = AK_ERR_CONFIG;
        gnutls_datum_t rd = {(unsigned char *)crl, (unsigned)len};
        rc = gnutls_certificate_set_x509_crl_mem(c->cred, &rd, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            set_msg(msg, msg_cap, "tls.crl: no valid PEM CRL in \"%s\"%s%s", cfg->tls_crl,
                    rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
            goto out;
        }
    }
    *out = c;
    c = NULL;
    err = AK_OK;
out:
    free(crl);
    ks_tls_creds_free(c);
    return err;
}

void ks_tls_creds_free(ks_tls_creds *c)
{
    if (c == NULL)
        return;
    if (c->cred != NULL)
        gnutls_certificate_free_credentials(c->cred);
    if (c->key_pem != NULL)
        ak_wipe(c->key_pem, c->key_len);
    free(c->key_pem);
    free(c->cert_pem);
    free(c->trust_pem);
    free(c);
}

const char *ks_tls_cert_pem(const ks_tls_creds *c)
{
    return c->cert_pem;
}

const char *ks_tls_key_pem(const ks_tls_creds *c)
{
    return c->key_pem;
}

const char *ks_tls_trust_pem(const ks_tls_creds *c)
{
    return c->trust_pem;
}

/* A client certificate must name TLS client authentication in its extended key usage: a
 * server certificate from the same CA (or any other purpose) is not a client identity.
 * GnuTLS accepts a certificate without any EKU extension for every purpose (RFC 5280 4.2.1.12);
 * deploy/pki.sh always sets one. Mutable only because the GnuTLS API takes a non-const pointer. */
static gnutls_typed_vdata_st client_purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                               (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};

ks_tls_conn *ks_tls_conn_start(ks_tls_creds *c, gnutls_session_t session)
{
    ks_tls_conn *tc = calloc(1, sizeof *tc);
    if (tc == NULL)
        return NULL;
    tc->cn_client = tc->fp_client = -1;
    if (session != NULL) {
        /* Our credentials carry the CRL; REQUIRE + verify-during-handshake refuse a client
         * without a valid certificate before any HTTP is read. */
        (void)gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, c->cred);
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert2(session, &client_purpose, 1, 0);
    }
    return tc;
}

void ks_tls_conn_free(ks_tls_conn *tc)
{
    free(tc);
}

int ks_tls_conn_identity(ks_tls_conn *tc, gnutls_session_t session, const ks_config *cfg)
{
    gnutls_x509_crt_t crt = NULL;
    unsigned status = 1, n = 0;
    if (tc->checked) {
        /* A keep-alive connection does not outlive its certificate. */
        if (tc->ok && time(NULL) > tc->not_after)
            tc->ok = 0;
        return tc->ok;
    }
    tc->checked = 1;
    tc->ok = 0;
    if (session == NULL)
        goto out;
    if (gnutls_certificate_verify_peers(session, &client_purpose, 1, &status) != GNUTLS_E_SUCCESS ||
        status != 0)
        goto out;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &n);
    if (chain == NULL || n == 0)
        goto out;
    size_t fpl = sizeof tc->fp;
    if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS ||
        gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) != GNUTLS_E_SUCCESS ||
        gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, tc->fp, &fpl) != GNUTLS_E_SUCCESS ||
        fpl != 32)
        goto out;
    tc->not_after = gnutls_x509_crt_get_expiration_time(crt);
    if (tc->not_after == (time_t)-1 || time(NULL) > tc->not_after)
        goto out;
    size_t cnl = sizeof tc->cn;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, tc->cn, &cnl) !=
        GNUTLS_E_SUCCESS)
        tc->cn[0] = '\0';
    for (size_t i = 0; i < cfg->n_clients; i++) {
        const ks_client_cfg *cl = &cfg->clients[i];
        if (cl->by_fingerprint && tc->fp_client < 0 && ak_ct_equal(cl->fp, tc->fp, 32))
            tc->fp_client = (long)i;
        if (!cl->by_fingerprint && tc->cn_client < 0 && tc->cn[0] != '\0' &&
            strcmp(cl->cn, tc->cn) == 0)
            tc->cn_client = (long)i;
    }
    tc->ok = 1;
out:
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    return tc->ok;
}
