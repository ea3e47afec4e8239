/*
 * cn_sigv4.c - AWS Signature Version 4 (see cn_sigv4.h). Steps follow AWS's "Create a signed AWS
 * API request" (canonical request, string to sign, signing key, signature). OpenSSL for SHA-256 and
 * HMAC. Owns nothing; no I/O.
 */
#include "cn_sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ak_hex.h"
#include "ak_secmem.h"

#define SCOPE_MAX 128

/* A bounded string builder: an overflow sets the flag and stops appending. */
typedef struct {
    char *p;
    size_t cap, len;
    int overflow;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void cn_sigv4_amz_date(char out[CN_SIGV4_DATE_SIZE], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, CN_SIGV4_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm);
}

void cn_sigv4_payload_hash(char out[CN_SIGV4_HASH_SIZE], const uint8_t *data, size_t len)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256(len ? data : (const uint8_t *)"", len, h);
    ak_hex_bare(out, h, sizeof h);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* RFC 3986 percent-encoding of everything but unreserved characters (SigV4 UriEncode). */
static void sb_uri_encode(sb *b, const char *s)
{
    static const char d[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c)) {
            sb_put(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', d[c >> 4], d[c & 15]};
            sb_put(b, e, 3);
        }
    }
}

static int token_ok(const char *s, size_t max, int allow_upper)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                 (allow_upper && c >= 'A' && c <= 'Z');
        if (!ok || n >= max)
            return 0;
    }
    return n > 0;
}

static int date_ok(const char *d)
{
    if (d == NULL || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

/* Lowercased header names, sorted; the index order is returned in order[]. */
typedef struct {
    char name[CN_SIGV4_NAME_MAX + 1];
    const char *value;
} hdr;

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const hdr *)a)->name, ((const hdr *)b)->name);
}

typedef struct {
    char *name, *value; /* encoded, heap */
} qp;

static int qp_cmp(const void *a, const void *b)
{
    const qp *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static void sb_header_value(sb *b, const char *v)
{
    /* Trim, and collapse runs of spaces/tabs into one space (SigV4 canonical headers). */
    while (*v == ' ' || *v == '\t')
        v++;
    int pending_space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            pending_space = 1;
            continue;
        }
        if (pending_space)
            sb_put(b, " ", 1);
        pending_space = 0;
        sb_put(b, v, 1);
    }
}

static char *encode_dup(const char *s)
{
    size_t n = strlen(s);
    if (n > CN_SIGV4_VALUE_MAX)
        return NULL;
    char *out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    sb b = {out, 3 * n + 1, 0, 0};
    out[0] = '\0';
    sb_uri_encode(&b, s);
    return out;
}

/*
 * Canonical request into out; signed header list ("a;b;c") into sh. Validates the request.
 */
static AK_WUR ak_err build_creq(char *out, size_t cap, char *sh, size_t sh_cap,
                                const cn_sigv4_req *r)
{
    hdr h[CN_SIGV4_MAX_HEADERS];
    qp q[CN_SIGV4_MAX_QUERY];
    char ph[CN_SIGV4_HASH_SIZE];
    size_t nq = 0;
    int have_host = 0, have_date = 0;
    ak_err rc = AK_ERR_ARG;
    memset(q, 0, sizeof q);

    if (out == NULL || cap == 0 || r == NULL || !token_ok(r->method, 16, 1) || r->path == NULL ||
        r->path[0] != '/' || (r->n_query > 0 && r->query == NULL) ||
        (r->payload == NULL && r->payload_len > 0) || r->headers == NULL || !date_ok(r->amz_date))
        goto out;
    for (const char *p = r->path; *p; p++)
        if (!unreserved((unsigned char)*p) && *p != '/')
            goto out;
    rc = AK_ERR_LIMIT;
    if (r->n_headers > CN_SIGV4_MAX_HEADERS || r->n_query > CN_SIGV4_MAX_QUERY)
        goto out;
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        size_t len = n ? strlen(n) : 0;
        rc = AK_ERR_ARG;
        if (len == 0 || v == NULL)
            goto out;
        rc = AK_ERR_LIMIT;
        if (len > CN_SIGV4_NAME_MAX || strlen(v) > CN_SIGV4_VALUE_MAX)
            goto out;
        rc = AK_ERR_ARG;
        for (size_t j = 0; j <= len; j++) {
            char c = n[j];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (j < len && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                goto out;
            h[i].name[j] = c;
        }
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                goto out; /* no CR/LF: a header value cannot smuggle another line */
        h[i].value = v;
        have_host |= strcmp(h[i].name, "host") == 0;
        if (strcmp(h[i].name, "x-amz-date") == 0) {
            if (strcmp(v, r->amz_date) != 0)
                goto out;
            have_date = 1;
        }
    }
    rc = AK_ERR_ARG;
    if (!have_host || !have_date)
        goto out;
    qsort(h, r->n_headers, sizeof h[0], hdr_cmp);
    for (size_t i = 1; i < r->n_headers; i++)
        if (strcmp(h[i - 1].name, h[i].name) == 0)
            goto out;
    for (nq = 0; nq < r->n_query; nq++) {
        rc = AK_ERR_ARG;
        if (r->query[nq].name == NULL || r->query[nq].value == NULL)
            goto out;
        rc = AK_ERR_LIMIT;
        q[nq].name = encode_dup(r->query[nq].name);
        q[nq].value = encode_dup(r->query[nq].value);
        if (q[nq].name == NULL || q[nq].value == NULL) {
            nq++;
            goto out;
        }
    }
    qsort(q, nq, sizeof q[0], qp_cmp);

    sb b = {out, cap, 0, 0}, s = {sh, sh_cap, 0, 0};
    out[0] = '\0';
    sh[0] = '\0';
    sb_str(&b, r->method);
    sb_str(&b, "\n");
    sb_str(&b, r->path);
    sb_str(&b, "\n");
    for (size_t i = 0; i < nq; i++) {
        if (i > 0)
            sb_str(&b, "&");
        sb_str(&b, q[i].name);
        sb_str(&b, "=");
        sb_str(&b, q[i].value);
    }
    sb_str(&b, "\n");
    for (size_t i = 0; i < r->n_headers; i++) {
        sb_str(&b, h[i].name);
        sb_str(&b, ":");
        sb_header_value(&b, h[i].value);
        sb_str(&b, "\n");
        if (i > 0)
            sb_str(&s, ";");
        sb_str(&s, h[i].name);
    }
    sb_str(&b, "\n");
    sb_str(&b, sh);
    sb_str(&b, "\n");
    cn_sigv4_payload_hash(ph, r->payload, r->payload_len);
    sb_str(&b, ph);
    rc = b.overflow || s.overflow ? AK_ERR_LIMIT : AK_OK;
out:
    for (size_t i = 0; i < nq; i++) {
        free(q[i].name);
        free(q[i].value);
    }
    return rc;
}

ak_err cn_sigv4_canonical_request(char *out, size_t cap, const cn_sigv4_req *req)
{
    char sh[CN_SIGV4_MAX_HEADERS * (CN_SIGV4_NAME_MAX + 1) + 1];
    return build_creq(out, cap, sh, sizeof sh, req);
}

/* String to sign; scope and signed headers also returned for the Authorization value. */
static AK_WUR ak_err build_sts(char *out, size_t cap, char scope[SCOPE_MAX], char *sh,
                               size_t sh_cap, const cn_sigv4_req *r)
{
    char *creq = malloc(CN_SIGV4_CREQ_MAX);
    uint8_t h[SHA256_DIGEST_LENGTH];
    char hx[CN_SIGV4_HASH_SIZE];
    ak_err rc = AK_ERR_NOMEM;
    if (creq == NULL)
        goto out;
    rc = AK_ERR_ARG;
    if (r == NULL || !token_ok(r->region, 32, 0) || !token_ok(r->service, 32, 0))
        goto out;
    rc = build_creq(creq, CN_SIGV4_CREQ_MAX, sh, sh_cap, r);
    if (rc != AK_OK)
        goto out;
    snprintf(scope, SCOPE_MAX, "%.8s/%s/%s/aws4_request", r->amz_date, r->region, r->service);
    SHA256((const uint8_t *)creq, strlen(creq), h);
    ak_hex_bare(hx, h, sizeof h);
    int n = snprintf(out, cap, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, hx);
    rc = n < 0 || (size_t)n >= cap ? AK_ERR_BUFFER : AK_OK;
out:
    free(creq);
    return rc;
}

ak_err cn_sigv4_string_to_sign(char *out, size_t cap, const cn_sigv4_req *req)
{
    char scope[SCOPE_MAX];
    char sh[CN_SIGV4_MAX_HEADERS * (CN_SIGV4_NAME_MAX + 1) + 1];
    if (out == NULL || cap == 0)
        return AK_ERR_ARG;
    return build_sts(out, cap, scope, sh, sizeof sh, req);
}

static AK_WUR int hmac256(uint8_t out[32], const void *key, size_t key_len, const void *data,
                          size_t len)
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) != NULL && n == 32;
}

ak_err cn_sigv4_authorization(char *out, size_t cap, const cn_sigv4_req *req)
{
    char sts[512], scope[SCOPE_MAX], sig_hex[CN_SIGV4_HASH_SIZE];
    char sh[CN_SIGV4_MAX_HEADERS * (CN_SIGV4_NAME_MAX + 1) + 1];
    uint8_t *ksecret = NULL, k1[32], k2[32];
    size_t klen = 0;
    ak_err rc = AK_ERR_ARG;
    if (out == NULL || cap == 0 || req == NULL || !token_ok(req->access_key_id, 128, 1) ||
        req->secret_key == NULL || req->secret_len == 0 || req->secret_len > 256)
        goto out;
    out[0] = '\0';
    rc = build_sts(sts, sizeof sts, scope, sh, sizeof sh, req);
    if (rc != AK_OK)
        goto out;
    rc = AK_ERR_NOMEM;
    klen = 4 + req->secret_len;
    ksecret = ak_secure_alloc(klen);
    if (ksecret == NULL)
        goto out;
    static const uint8_t prefix[4] = {'A', 'W', 'S', '4'};
    memcpy(ksecret, prefix, sizeof prefix);
    memcpy(ksecret + 4, req->secret_key, req->secret_len);
    /* kDate, kRegion, kService, kSigning, signature: each HMAC keyed with the previous one. */
    rc = AK_ERR_CRYPTO;
    if (!hmac256(k1, ksecret, klen, req->amz_date, 8) ||
        !hmac256(k2, k1, 32, req->region, strlen(req->region)) ||
        !hmac256(k1, k2, 32, req->service, strlen(req->service)) ||
        !hmac256(k2, k1, 32, "aws4_request", 12) || !hmac256(k1, k2, 32, sts, strlen(sts)))
        goto out;
    ak_hex_bare(sig_hex, k1, 32);
    int n = snprintf(out, cap, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                     req->access_key_id, scope, sh, sig_hex);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        rc = AK_ERR_BUFFER;
        goto out;
    }
    rc = AK_OK;
out:
    ak_secure_free(ksecret, klen);
    ak_wipe(k1, sizeof k1);
    ak_wipe(k2, sizeof k2);
    return rc;
}
