/* ks_tls.c - client-certificate enforcement and identity (see ks_tls.h). */
#include "ks_tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ak_secmem.h"
#include "ks_audit.h"
#include "ks_tls_pki.h"

#define KS_PEM_MAX (1024 * 1024)

/* One set of TLS credentials (server certificate and key, client CA, CRL). Each connection
 * holds a reference: a reload installs a new generation, and the old one is freed when its
 * last connection closes. */
struct ks_tls_gen {
    atomic_uint refs; /* the creds' "current" pointer counts as one */
    unsigned long id;
    gnutls_certificate_credentials_t cred;
    gnutls_x509_crt_t *issuers; /* a client certificate must be issued directly by one */
    unsigned n_issuers;
};

struct ks_tls_creds {
    pthread_mutex_t mu; /* guards cur */
    ks_tls_gen *cur;
    atomic_ulong cur_id;                  /* cur->id, read without the lock on every request */
    char *cert_pem, *key_pem, *trust_pem; /* the start-up copies, for MHD's options */
    size_t key_len;
    ks_metrics *metrics; /* reload outcomes are counted here (NULL: not counted) */
    int pinned_issuers;  /* tls.client_issuers is set (for the refusal's message) */
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

/* Read a whole (PEM) file; a secret one (secret_cfg not NULL) must pass the owner and mode
 * checks of ks_config_check_secret(). */
static ak_err slurp(char **out, size_t *len, const char *path, const char *field,
                    const ks_config *secret_cfg, char *msg, size_t cap)
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
    if (secret_cfg != NULL &&
        (err = ks_config_check_secret(secret_cfg, fd, field, path, msg, cap)) != AK_OK)
        goto out;
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

static void gen_unref(ks_tls_gen *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    if (g->cred != NULL)
        gnutls_certificate_free_credentials(g->cred);
    for (unsigned i = 0; i < g->n_issuers; i++)
        gnutls_x509_crt_deinit(g->issuers[i]);
    gnutls_free(g->issuers);
    free(g);
}

/* Read the four TLS files of cfg and build credentials from them. On success *gen holds one
 * reference and, if pems is not NULL, pems[0..2] receive the certificate, key and CA PEM text
 * (*key_len the key's length; the caller wipes the key and frees all three). */
static ak_err gen_build(ks_tls_gen **gen, char *pems[3], size_t *key_len, const ks_config *cfg,
                        unsigned long id, char *msg, size_t msg_cap)
{
    ak_err err;
    size_t len = 0, klen = 0;
    char *cert = NULL, *key = NULL, *trust = NULL, *crl = NULL;
    ks_tls_gen *g = calloc(1, sizeof *g);
    *gen = NULL;
    if (g == NULL)
        return AK_ERR_NOMEM;
    atomic_init(&g->refs, 1);
    g->id = id;
    if ((err = slurp(&cert, &len, cfg->tls_cert, "tls.cert", NULL, msg, msg_cap)) != AK_OK ||
        (err = slurp(&key, &klen, cfg->tls_key, "tls.key", cfg, msg, msg_cap)) != AK_OK ||
        (err = slurp(&trust, &len, cfg->tls_client_ca, "tls.client_ca", NULL, msg, msg_cap)) !=
            AK_OK)
        goto out;
    err = AK_ERR_CONFIG;
    if (gnutls_certificate_allocate_credentials(&g->cred) != GNUTLS_E_SUCCESS) {
        set_msg(msg, msg_cap, "tls: cannot allocate credentials");
        goto out;
    }
    gnutls_datum_t cd = {(unsigned char *)cert, (unsigned)strlen(cert)};
    gnutls_datum_t kd = {(unsigned char *)key, (unsigned)klen};
    int rc = gnutls_certificate_set_x509_key_mem(g->cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        set_msg(msg, msg_cap, "tls.cert/tls.key: not a matching PEM certificate and key: %s",
                gnutls_strerror(rc));
        goto out;
    }
    gnutls_datum_t td = {(unsigned char *)trust, (unsigned)strlen(trust)};
    rc = gnutls_certificate_set_x509_trust_mem(g->cred, &td, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        set_msg(msg, msg_cap, "tls.client_ca: no PEM CA certificate in \"%s\"%s%s",
                cfg->tls_client_ca, rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
        goto out;
    }
    if (cfg->tls_crl[0] != '\0') {
        if ((err = slurp(&crl, &len, cfg->tls_crl, "tls.crl", NULL, msg, msg_cap)) != AK_OK)
            goto out;
        gnutls_datum_t rd = {(unsigned char *)crl, (unsigned)len};
        if ((err = ks_tls_crl_check(&td, &rd, cfg, msg, msg_cap)) != AK_OK)
            goto out;
        err = AK_ERR_CONFIG;
        /* Also let GnuTLS verify it as it is added (it would otherwise keep a CRL whatever
         * signed it): ks_tls_crl_check() already refused what this refuses, with a reason. */
        gnutls_certificate_set_flags(g->cred, GNUTLS_CERTIFICATE_VERIFY_CRLS);
        rc = gnutls_certificate_set_x509_crl_mem(g->cred, &rd, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            set_msg(msg, msg_cap, "tls.crl: no valid PEM CRL in \"%s\"%s%s", cfg->tls_crl,
                    rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
            goto out;
        }
    }
    if ((err = ks_tls_issuers_load(&g->issuers, &g->n_issuers, g->cred, &td, cfg, msg, msg_cap)) !=
        AK_OK)
        goto out;
    if (pems != NULL) {
        pems[0] = cert;
        pems[1] = key;
        pems[2] = trust;
        *key_len = klen;
        cert = key = trust = NULL;
    }
    *gen = g;
    g = NULL;
    err = AK_OK;
out:
    if (key != NULL)
        ak_wipe(key, klen);
    free(key);
    free(cert);
    free(trust);
    free(crl);
    gen_unref(g);
    return err;
}

ak_err ks_tls_creds_load(ks_tls_creds **out, const ks_config *cfg, char *msg, size_t msg_cap)
{
    char *pems[3] = {NULL, NULL, NULL};
    ks_tls_creds *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    ak_err err = gen_build(&c->cur, pems, &c->key_len, cfg, 1, msg, msg_cap);
    c->cert_pem = pems[0];
    c->key_pem = pems[1];
    c->trust_pem = pems[2];
    if (err != AK_OK) {
        ks_tls_creds_free(c);
        return err;
    }
    atomic_init(&c->cur_id, 1);
    c->pinned_issuers = cfg->tls_client_issuers[0] != '\0';
    *out = c;
    return AK_OK;
}

ak_err ks_tls_creds_reload(ks_tls_creds *c, const ks_config *cfg, char *msg, size_t msg_cap)
{
    ks_tls_gen *g = NULL;
    ak_err err = gen_build(&g, NULL, NULL, cfg, atomic_load(&c->cur_id) + 1, msg, msg_cap);
    if (c->metrics != NULL)
        atomic_fetch_add(
            err == AK_OK ? &c->metrics->tls_reloads_ok : &c->metrics->tls_reloads_failed, 1);
    if (err != AK_OK)
        return err; /* the credentials in force stay in force */
    pthread_mutex_lock(&c->mu);
    ks_tls_gen *old = c->cur;
    c->cur = g;
    atomic_store(&c->cur_id, g->id);
    pthread_mutex_unlock(&c->mu);
    gen_unref(old);
    return AK_OK;
}

void ks_tls_creds_set_metrics(ks_tls_creds *c, ks_metrics *m)
{
    c->metrics = m;
}

/* The generation in force, with a reference for the caller. */
static ks_tls_gen *gen_current(ks_tls_creds *c)
{
    pthread_mutex_lock(&c->mu);
    ks_tls_gen *g = c->cur;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&c->mu);
    return g;
}

void ks_tls_creds_free(ks_tls_creds *c)
{
    if (c == NULL)
        return;
    gen_unref(c->cur);
    if (c->key_pem != NULL)
        ak_wipe(c->key_pem, c->key_len);
    free(c->key_pem);
    free(c->cert_pem);
    free(c->trust_pem);
    pthread_mutex_destroy(&c->mu);
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
    tc->creds = c;
    tc->gen = gen_current(c);
    if (session != NULL) {
        /* Our credentials carry the CRL; REQUIRE + verify-during-handshake refuse a client
         * without a valid certificate before any HTTP is read. */
        (void)gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, tc->gen->cred);
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert2(session, &client_purpose, 1, 0);
    }
    return tc;
}

/* Called from MHD's connection-closed notification. MHD deinitialises the GnuTLS session after
 * it, and gnutls_deinit() (3.7) does not read the credentials, so dropping our reference here
 * is safe even when it frees a reloaded-away generation. */
void ks_tls_conn_free(ks_tls_conn *tc)
{
    if (tc == NULL)
        return;
    gen_unref(tc->gen);
    free(tc);
}

/* After a reload: does the peer's chain still verify with the credentials now in force (new
 * CRL, new CA)? Once per connection per reload (~0.5 ms). */
static int still_trusted(ks_tls_conn *tc, gnutls_session_t session)
{
    gnutls_x509_crt_t crts[KS_TLS_CHAIN_MAX];
    gnutls_x509_trust_list_t tl = NULL;
    unsigned n = 0, m = 0, status = 1;
    int ok = 0;
    ks_tls_gen *g = gen_current(tc->creds);
    const gnutls_datum_t *chain =
        session != NULL ? gnutls_certificate_get_peers(session, &n) : NULL;
    if (chain == NULL || n == 0 || n > KS_TLS_CHAIN_MAX)
        goto out;
    for (; m < n; m++) {
        if (gnutls_x509_crt_init(&crts[m]) != GNUTLS_E_SUCCESS)
            goto out;
        if (gnutls_x509_crt_import(crts[m], &chain[m], GNUTLS_X509_FMT_DER) != GNUTLS_E_SUCCESS) {
            m++; /* initialised: deinit it below */
            goto out;
        }
    }
    gnutls_certificate_get_trust_list(g->cred, &tl);
    ok = gnutls_x509_trust_list_verify_crt2(tl, crts, n, &client_purpose, 1, 0, &status, NULL) ==
             GNUTLS_E_SUCCESS &&
         status == 0 && ks_tls_issuer_ok(crts[0], g->issuers, g->n_issuers);
out:
    while (m > 0)
        gnutls_x509_crt_deinit(crts[--m]);
    tc->gen_seen = g->id;
    gen_unref(g);
    return ok;
}

/* A certificate that verified but is refused by one of our own rules: say why to the client
 * (tc->why) and in the log, once per connection, by fingerprint (the CN is the client's text). */
static void refuse_cert(ks_tls_conn *tc, const char *why)
{
    char hex[65];
    ks_audit_hex32(hex, tc->fp);
    tc->why = why;
    fprintf(stderr, "anode-keyserver: tls: client certificate sha256:%s refused: %s\n", hex, why);
}

/* The first request on a connection: verify the peer and cache its identity. */
static void check_first(ks_tls_conn *tc, gnutls_session_t session, const ks_config *cfg)
{
    gnutls_x509_crt_t crt = NULL;
    unsigned status = 1, n = 0;
    tc->checked = 1;
    tc->ok = 0;
    tc->gen_seen = tc->gen->id; /* the handshake was verified with these credentials */
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
    /* One identity rule: tools disagree on which of several CNs is "the" CN (we took the first,
     * others show the last), so a certificate with more than one is refused. */
    char more[8];
    size_t ml = sizeof more;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, more, &ml) !=
        GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
        refuse_cert(tc, "the client certificate has more than one subject CN");
        goto out;
    }
    if (!ks_tls_issuer_ok(crt, tc->gen->issuers, tc->gen->n_issuers)) {
        refuse_cert(tc, tc->creds->pinned_issuers
                            ? "the client certificate is not issued directly by a CA of "
                              "tls.client_issuers"
                            : "the client certificate is not issued directly by a CA of "
                              "tls.client_ca (an intermediate CA must be listed in "
                              "tls.client_issuers)");
        goto out;
    }
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
}

int ks_tls_conn_identity(ks_tls_conn *tc, gnutls_session_t session, const ks_config *cfg)
{
    if (!tc->checked)
        check_first(tc, session, cfg);
    if (!tc->ok)
        return 0;
    /* A keep-alive connection outlives neither its certificate nor a reload that revokes it. */
    if (time(NULL) > tc->not_after ||
        (atomic_load(&tc->creds->cur_id) != tc->gen_seen && !still_trusted(tc, session)))
        tc->ok = 0;
    return tc->ok;
}

/* ---- expiry of the TLS files, for /metrics (ks_tls_expiry_read) ---------------------------- */

#define KS_TLS_EXPIRY_FILE_MAX (1024 * 1024)

/* The whole file into d (gnutls_free); 0 on success. */
static int expiry_load(const char *path, gnutls_datum_t *d)
{
    int rc = -1;
    struct stat st;
    ssize_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    d->data = NULL;
    d->size = 0;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > KS_TLS_EXPIRY_FILE_MAX)
        goto out;
    d->data = gnutls_malloc((size_t)st.st_size);
    if (d->data == NULL)
        goto out;
    while ((size_t)got < (size_t)st.st_size) {
        ssize_t n = read(fd, d->data + got, (size_t)st.st_size - (size_t)got);
        if (n <= 0)
            goto out;
        got += n;
    }
    d->size = (unsigned)got;
    rc = 0;
out:
    if (rc != 0) {
        gnutls_free(d->data);
        d->data = NULL;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Earliest notAfter of the PEM certificates in path (first_only: of the first one); 0 if none. */
static int64_t expiry_certs(const char *path, int first_only)
{
    gnutls_datum_t d;
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    int64_t best = 0;
    if (path[0] == '\0' || expiry_load(path, &d) != 0)
        return 0;
    if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) >= 0) {
        for (unsigned i = 0; i < n; i++) {
            time_t t = gnutls_x509_crt_get_expiration_time(crts[i]);
            if (t != (time_t)-1 && (i == 0 || !first_only) && (best == 0 || (int64_t)t < best))
                best = (int64_t)t;
            gnutls_x509_crt_deinit(crts[i]);
        }
        gnutls_free(crts);
    }
    gnutls_free(d.data);
    return best;
}

static int64_t expiry_crl(const char *path)
{
    gnutls_datum_t d;
    gnutls_x509_crl_t crl = NULL;
    int64_t next = 0;
    if (path[0] == '\0' || expiry_load(path, &d) != 0)
        return 0;
    if (gnutls_x509_crl_init(&crl) == 0) {
        if (gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM) == 0) {
            time_t t = gnutls_x509_crl_get_next_update(crl);
            if (t != (time_t)-1)
                next = (int64_t)t;
        }
        gnutls_x509_crl_deinit(crl);
    }
    gnutls_free(d.data);
    return next;
}

void ks_tls_expiry_read(const ks_config *cfg, ks_tls_expiry *out)
{
    out->cert_not_after = expiry_certs(cfg->tls_cert, 1);
    out->client_ca_not_after = expiry_certs(cfg->tls_client_ca, 0);
    out->crl_next_update = expiry_crl(cfg->tls_crl);
}
