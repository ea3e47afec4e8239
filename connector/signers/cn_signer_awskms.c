/*
 * cn_signer_awskms.c - the "aws_kms" signer: AWS KMS GetPublicKey/Sign over the JSON 1.1 protocol
 * with our own SigV4 (see cn_signer_awskms.h for config, retries and error mapping).
 *
 * Owns: the configuration (an ak_cfg table), the credentials' keeper (cn_awscreds: config,
 * environment or workload, in locked memory), and a cn_rhttp client (the connector's one HTTP
 * client: handle pool, base options, deadline, retries with backoff). The SigV4 headers of each
 * attempt (a headers callback) and the KMS error-type classification (a check callback) are this
 * file's own.
 */
#include "cn_signer_awskms.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_secmem.h"
#include "cn_awscreds.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "cn_backend.h"
#include "cn_rhttp.h"
#include "cn_sigv4.h"

#define KEY_ID_MAX   256
#define REGION_MAX   32
#define HOST_MAX     255
#define URL_MAX      (HOST_MAX + 16)
#define TYPE_MAX     63
#define POOL_DEFAULT 16
#define POOL_MAX     256

typedef struct {
    char key_id[KEY_ID_MAX + 1];
    char region[REGION_MAX + 1];
    char url[URL_MAX + 1];   /* scheme://authority/ */
    char host[HOST_MAX + 1]; /* authority, as sent in Host and signed */
    int https;
    cn_awscreds_keeper *creds; /* config, environment or workload (cn_awscreds.h) */
    long timeout_ms, connect_timeout_ms;
    int retries, sign_sha;
    size_t pool_size;
    cn_rhttp *http;
    _Atomic uint32_t latency_us;
    const char *name; /* the signer's name (for logs) */
    /* as written, checked in parse_cfg */
    const char *key_id_s, *region_s, *endpoint_s, *akid_s, *secret_s, *token_s;
} awskms;

/* One call's state for the callbacks: the operation, and the KMS error type of the last answer. */
typedef struct {
    awskms *k;
    const char *target;
    char type[TYPE_MAX + 1];
} kms_ctx;

/* One attempt's secrets in locked memory: the Authorization value and the credentials signed
 * with (the header lines are locked too: cn_rhttp_header_add). */
typedef struct {
    char auth[CN_SIGV4_AUTH_MAX];
    cn_awscreds cc;
} hdr_mem;

/* The SigV4-signed headers of one attempt (cn_rhttp_headers_fn): a fresh x-amz-date each time. */
static ak_err kms_headers(void *user, struct curl_slist **out, const char *method, const char *path,
                          const char *post, size_t post_len)
{
    kms_ctx *x = user;
    awskms *k = x->k;
    char date[CN_SIGV4_DATE_SIZE], sha[CN_SIGV4_HASH_SIZE], tgt[64];
    size_t nh = 0;
    cn_sigv4_pair sh[6];
    hdr_mem *m = ak_secure_alloc(sizeof *m);
    ak_err rc = AK_ERR_NOMEM;
    (void)path;
    *out = NULL;
    if (m == NULL || (rc = cn_awscreds_current(k->creds, &m->cc)) != AK_OK)
        goto out;
    snprintf(tgt, sizeof tgt, "TrentService.%s", x->target);
    cn_sigv4_amz_date(date, time(NULL));
    cn_sigv4_payload_hash(sha, (const uint8_t *)post, post_len);
    sh[nh++] = (cn_sigv4_pair){"host", k->host};
    sh[nh++] = (cn_sigv4_pair){"content-type", "application/x-amz-json-1.1"};
    sh[nh++] = (cn_sigv4_pair){"x-amz-target", tgt};
    sh[nh++] = (cn_sigv4_pair){"x-amz-date", date};
    if (m->cc.token[0] != '\0')
        sh[nh++] = (cn_sigv4_pair){"x-amz-security-token", m->cc.token};
    if (k->sign_sha)
        sh[nh++] = (cn_sigv4_pair){"x-amz-content-sha256", sha};
    cn_sigv4_req req = {.method = method,
                        .path = "/",
                        .headers = sh,
                        .n_headers = nh,
                        .payload = (const uint8_t *)post,
                        .payload_len = post_len,
                        .region = k->region,
                        .service = "kms",
                        .amz_date = date,
                        .access_key_id = m->cc.akid,
                        .secret_key = m->cc.secret,
                        .secret_len = strlen(m->cc.secret)};
    rc = cn_sigv4_authorization(m->auth, sizeof m->auth, &req);
    for (size_t i = 0; i < nh; i++)
        rc = cn_rhttp_header_add(out, rc, "%s: %s", sh[i].name, sh[i].value);
    rc = cn_rhttp_header_add(out, rc, "Authorization: %s", m->auth);
    rc = cn_rhttp_header_add(out, rc, "Expect:");
out:
    if (m != NULL)
        ak_secure_free(m, sizeof *m);
    return rc;
}

/* The KMS error type ("__type", namespace prefix removed), restricted to [A-Za-z0-9]. */
static void error_type(char out[TYPE_MAX + 1], const cn_rhttp_resp *r)
{
    cJSON *j = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
    out[0] = '\0';
    if (cJSON_IsString(t)) {
        const char *s = strrchr(t->valuestring, '#');
        s = s ? s + 1 : t->valuestring;
        size_t n = 0;
        for (; s[n] && n < TYPE_MAX; n++) {
            char c = s[n];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                break;
            out[n] = c;
        }
        out[n] = '\0';
    }
    cJSON_Delete(j);
}

static int type_is(const char *type, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(type, *list) == 0)
            return 1;
    return 0;
}

/* Map a non-200 answer to an error; *retry for throttling and server-side failures. */
static ak_err classify(long status, const char *type, int *retry)
{
    static const char *const auth[] = {"UnrecognizedClientException",
                                       "InvalidSignatureException",
                                       "IncompleteSignatureException",
                                       "ExpiredTokenException",
                                       "InvalidClientTokenId",
                                       "MissingAuthenticationTokenException",
                                       NULL};
    static const char *const again[] = {"ThrottlingException", "KMSInternalException",
                                        "DependencyTimeoutException", NULL};
    static const char *const down[] = {"DisabledException", "KMSInvalidStateException",
                                       "KeyUnavailableException", NULL};
    *retry = 0;
    if (type_is(type, auth))
        return AK_ERR_AUTH;
    if (strcmp(type, "AccessDeniedException") == 0)
        return AK_ERR_FORBIDDEN;
    if (strcmp(type, "NotFoundException") == 0)
        return AK_ERR_KEY_NOT_FOUND;
    if (type_is(type, again) || status == 429 || status >= 500) {
        *retry = 1;
        return AK_ERR_UNAVAILABLE;
    }
    if (type_is(type, down))
        return AK_ERR_UNAVAILABLE;
    if (status == 401 || status == 403)
        return AK_ERR_AUTH;
    return AK_ERR_UPSTREAM;
}

/* The answer of one attempt (cn_rhttp_check_fn): 200, or the error its KMS type says. */
static ak_err kms_check(void *user, const cn_rhttp_resp *r, int *retry)
{
    kms_ctx *x = user;
    *retry = 0;
    if (r->status == 200)
        return AK_OK;
    error_type(x->type, r);
    return classify(r->status, x->type, retry);
}

/*
 * A KMS call with bounded retries and backoff (cn_rhttp), never past timeout_ms (max_retries
 * < 0: the configured retries). On AK_OK, *out is the parsed JSON answer (caller frees).
 */
static AK_WUR ak_err kms_call(awskms *k, const char *target, const char *post, long timeout_ms,
                              int max_retries, cJSON **out, char type[TYPE_MAX + 1])
{
    kms_ctx x = {.k = k, .target = target};
    cn_rhttp_req q = {.method = "POST",
                      .base = k->url,
                      .path = "",
                      .body = post,
                      .body_len = strlen(post),
                      .headers_fn = kms_headers,
                      .user = &x};
    cn_rhttp_hooks hk = {.check = kms_check};
    cn_rhttp_resp r;
    char st[16] = "-";
    *out = NULL;
    ak_err rc = cn_rhttp_resp_init_max(&r, CN_AWSKMS_MAX_BODY, 0);
    if (rc == AK_OK)
        rc = cn_rhttp_call_until(k->http, &q, &hk, &r, cn_rhttp_now_ms() + timeout_ms, max_retries);
    if (rc == AK_OK) {
        *out = r.body ? cJSON_ParseWithLength(r.body, r.len) : NULL;
        if (!cJSON_IsObject(*out)) {
            cJSON_Delete(*out);
            *out = NULL;
            rc = AK_ERR_UPSTREAM;
        }
    }
    snprintf(type, TYPE_MAX + 1, "%s", x.type);
    if (rc != AK_OK) {
        if (r.status != 0)
            snprintf(st, sizeof st, "%ld", r.status);
        cn_log(CN_LOG_WARN, "aws_kms call failed", "signer", k->name, "op", target, "status", st,
               "aws_error", type[0] ? type : "-", "error", ak_errname(rc), (char *)NULL);
    }
    cn_rhttp_resp_clear(&r);
    return rc;
}

/* ---- signer ops ------------------------------------------------------------------------- */

static ak_err awskms_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                          const cn_sign_ctx *ctx)
{
    awskms *k = s->impl;
    char b64[AK_B64_ENCODED_SIZE(32)], type[TYPE_MAX + 1];
    char req[KEY_ID_MAX + sizeof b64 + 128];
    cJSON *j = NULL;
    int64_t t0 = cn_rhttp_now_ms();
    (void)ctx;
    ak_err rc = ak_b64_encode(b64, sizeof b64, digest, 32);
    if (rc != AK_OK)
        goto out;
    /* key_id is restricted to [A-Za-z0-9:/_.-]: no JSON escaping needed. */
    snprintf(req, sizeof req,
             "{\"KeyId\":\"%s\",\"Message\":\"%s\",\"MessageType\":\"DIGEST\","
             "\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
             k->key_id, b64);
    rc = kms_call(k, "Sign", req, k->timeout_ms, k->retries, &j, type);
    if (rc != AK_OK)
        goto out;
    rc = AK_ERR_UPSTREAM;
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "Signature");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(j, "SigningAlgorithm");
    if (!cJSON_IsString(sig) ||
        (alg != NULL && !(cJSON_IsString(alg) && strcmp(alg->valuestring, "ECDSA_SHA_256") == 0)))
        goto out;
    if (ak_b64_decode(out->bytes, sizeof out->bytes, &out->len, sig->valuestring,
                      strlen(sig->valuestring)) != AK_OK)
        goto out;
    out->form = CN_SIG_DER;
    out->has_recid = 0;
    uint32_t us = (uint32_t)((cn_rhttp_now_ms() - t0) * 1000);
    uint32_t old = atomic_load(&k->latency_us);
    atomic_store(&k->latency_us, old == 0 ? us : (old * 7 + us) / 8);
    rc = AK_OK;
out:
    cJSON_Delete(j);
    return rc;
}

/* GetPublicKey -> 04|X|Y, checking key spec, usage and algorithm when reported.
 */
static AK_WUR ak_err get_public_key(awskms *k, uint8_t pub[65], long timeout_ms, int retries,
                                    char *err, size_t cap)
{
    char req[KEY_ID_MAX + 32], type[TYPE_MAX + 1];
    uint8_t der[512];
    size_t der_len = 0;
    cJSON *j = NULL;
    snprintf(req, sizeof req, "{\"KeyId\":\"%s\"}", k->key_id);
    ak_err rc = kms_call(k, "GetPublicKey", req, timeout_ms, retries, &j, type);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, "aws_kms: GetPublicKey for key_id %s failed: %s%s%s%s", k->key_id,
                    ak_strerror(rc), type[0] ? " (" : "", type, type[0] ? ")" : "");
        goto out;
    }
    rc = AK_ERR_UPSTREAM;
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(j, "PublicKey");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "KeySpec");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "KeyUsage");
    const cJSON *algs = cJSON_GetObjectItemCaseSensitive(j, "SigningAlgorithms");
    if (!cJSON_IsString(pk) || ak_b64_decode(der, sizeof der, &der_len, pk->valuestring,
                                             strlen(pk->valuestring)) != AK_OK) {
        cn_rcfg_err(err, cap, "aws_kms: GetPublicKey answer has no valid PublicKey");
        goto out;
    }
    rc = AK_ERR_KEY_TYPE;
    int alg_ok = algs == NULL;
    const cJSON *a;
    cJSON_ArrayForEach(a, algs) alg_ok |=
        cJSON_IsString(a) && strcmp(a->valuestring, "ECDSA_SHA_256") == 0;
    if ((spec != NULL &&
         !(cJSON_IsString(spec) && strcmp(spec->valuestring, "ECC_SECG_P256K1") == 0)) ||
        (usage != NULL &&
         !(cJSON_IsString(usage) && strcmp(usage->valuestring, "SIGN_VERIFY") == 0)) ||
        !alg_ok || ak_pubkey_parse_spki(pub, der, der_len) != AK_OK) {
        cn_rcfg_err(err, cap,
                    "aws_kms: key %s is not an ECC_SECG_P256K1 SIGN_VERIFY key with "
                    "ECDSA_SHA_256",
                    k->key_id);
        goto out;
    }
    rc = AK_OK;
out:
    cJSON_Delete(j);
    return rc;
}

static ak_err awskms_health(cn_signer *s, cn_signer_health *out)
{
    awskms *k = s->impl;
    uint8_t pub[65];
    ak_err rc = get_public_key(k, pub, k->timeout_ms, 0, NULL, 0);
    if (rc == AK_OK && memcmp(pub, s->pubkey, 65) != 0)
        rc = AK_ERR_PUBKEY; /* the alias now points at another key */
    return cn_backend_health(out, rc, (unsigned)k->pool_size, atomic_load(&k->latency_us),
                             "aws_kms");
}

static void awskms_destroy(cn_signer *s)
{
    awskms *k = s->impl;
    if (k == NULL)
        return;
    cn_rhttp_free(k->http);
    cn_awscreds_keeper_free(k->creds);
    ak_wipe(k, sizeof *k);
    free(k);
    s->impl = NULL;
}

static const cn_signer_ops awskms_ops = {"aws_kms", awskms_sign, awskms_health, awskms_destroy};

/* ---- construction ----------------------------------------------------------------------- */

/* endpoint -> url, host, https. */
static AK_WUR ak_err parse_endpoint(awskms *k, const char *ep, char *err, size_t cap)
{
    int https = strncmp(ep, "https://", 8) == 0;
    const char *auth = https ? ep + 8 : strncmp(ep, "http://", 7) == 0 ? ep + 7 : NULL;
    size_t n = auth ? strlen(auth) : 0;
    if (n > 0 && auth[n - 1] == '/')
        n--;
    if (auth == NULL || n == 0 || n > HOST_MAX || strcspn(auth, "/?#@ \t\r\n") < n) {
        cn_rcfg_err(err, cap, "aws_kms.endpoint: must be https://host[:port] (no path)");
        return AK_ERR_CONFIG;
    }
    memcpy(k->host, auth, n);
    k->host[n] = '\0';
    if (!https) {
        /* Plain HTTP only to this machine (local emulators): never send SigV4 over a network. */
        static const char *const loop[] = {"127.0.0.1", "localhost", "[::1]"};
        int ok = 0;
        for (size_t i = 0; i < 3; i++) {
            size_t l = strlen(loop[i]);
            ok |= strncmp(k->host, loop[i], l) == 0 && (k->host[l] == '\0' || k->host[l] == ':');
        }
        if (!ok) {
            cn_rcfg_err(err, cap, "aws_kms.endpoint: http:// is only allowed to a loopback host");
            return AK_ERR_CONFIG;
        }
    }
    k->https = https;
    snprintf(k->url, sizeof k->url, "%s://%s/", https ? "https" : "http", k->host);
    return AK_OK;
}

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("name"),
    AK_CFG_REF("key_id", 0, awskms, key_id_s, KEY_ID_MAX),
    AK_CFG_REF("region", 0, awskms, region_s, REGION_MAX),
    AK_CFG_REF("endpoint", 0, awskms, endpoint_s, URL_MAX),
    AK_CFG_REF("access_key_id", 0, awskms, akid_s, CN_AWSCREDS_AKID_MAX), /* cn_awscreds_keeper */
    AK_CFG_REF("secret_access_key", 0, awskms, secret_s, CN_AWSCREDS_SECRET_MAX),
    AK_CFG_REF("session_token", 0, awskms, token_s, CN_AWSCREDS_TOKEN_MAX),
    AK_CFG_INT("timeout_ms", 0, awskms, timeout_ms, 1, 600000, 5000),
    AK_CFG_INT("connect_timeout_ms", 0, awskms, connect_timeout_ms, 1, 600000, 2000),
    AK_CFG_INT("retries", 0, awskms, retries, 0, 10, 3),
    AK_CFG_INT("pool_size", 0, awskms, pool_size, 1, POOL_MAX, POOL_DEFAULT),
    AK_CFG_BOOL("sign_content_sha256", 0, awskms, sign_sha, 0),
};

static AK_WUR ak_err parse_cfg(awskms *k, cn_signer *s, const cJSON *cfg, char *err, size_t cap)
{
    const char *v;
    char ep[URL_MAX + 1];
    ak_err rc = ak_cfg_read(k, k_fields, AK_CFG_COUNT(k_fields), cfg, "aws_kms", err, cap);
    if (rc != AK_OK)
        return rc;
    if ((v = k->key_id_s) == NULL || !ak_cfg_safe_id(v, KEY_ID_MAX, 1)) {
        cn_rcfg_err(err, cap, "aws_kms.key_id: required, 1..%d characters of [A-Za-z0-9:/_.-]",
                    KEY_ID_MAX);
        return AK_ERR_CONFIG;
    }
    snprintf(k->key_id, sizeof k->key_id, "%s", v);
    if ((v = k->region_s) == NULL ||
        strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v)) {
        cn_rcfg_err(err, cap, "aws_kms.region: required, e.g. \"us-east-1\"");
        return AK_ERR_CONFIG;
    }
    snprintf(k->region, sizeof k->region, "%s", v);
    /* the default name; the registry checks and applies "name", read here already for the
     * credentials' log line */
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    snprintf(s->name, sizeof s->name, "%.63s", cJSON_IsString(nm) ? nm->valuestring : k->key_id);
    snprintf(ep, sizeof ep, "https://kms.%s.amazonaws.com", k->region);
    if ((rc = parse_endpoint(k, k->endpoint_s ? k->endpoint_s : ep, err, cap)) != AK_OK)
        return rc;
    return cn_awscreds_keeper_new(&k->creds, k->akid_s, k->secret_s, k->token_s, s->name,
                                  k->connect_timeout_ms, err, cap);
}

static AK_WUR ak_err awskms_start(cn_signer *s, int has_want, const uint8_t want[20], char *err,
                                  size_t cap)
{
    awskms *k = s->impl;
    (void)has_want;
    (void)want;
    cn_rhttp_opts o = {.timeout_ms = k->timeout_ms,
                       .connect_timeout_ms = k->connect_timeout_ms,
                       .retries = k->retries,
                       .pool_size = k->pool_size};
    cn_rhttp_more m = {.allow_http = !k->https}; /* http: to a loopback only (parse_endpoint) */
    ak_err rc = cn_rhttp_new_ext(&k->http, &o, &m);
    if (rc == AK_OK)
        rc = get_public_key(k, s->pubkey, k->timeout_ms, k->retries, err, cap);
    if (rc == AK_OK)
        ak_addr_from_pubkey(s->address, s->pubkey);
    return rc;
}

static AK_WUR ak_err awskms_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg,
                                      char *err, size_t cap)
{
    awskms *k = s->impl;
    k->name = s->name;
    st->start = awskms_start;
    return parse_cfg(k, s, cfg, err, cap);
}

static const cn_backend k_awskms = {"aws_kms",           "aws-kms",      "aws_kms",
                                    CN_LEVEL_PRODUCTION, sizeof(awskms), &awskms_ops,
                                    awskms_configure};

ak_err cn_awskms_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_awskms, cfg, err, err_cap);
}
