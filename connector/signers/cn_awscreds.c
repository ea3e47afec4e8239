/* cn_awscreds.c - AWS container / instance credentials (see cn_awscreds.h). */
#include "cn_awscreds.h" /* timegm and strptime: the build defines _GNU_SOURCE */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ak_secmem.h"
#include "cn_log.h"
#include "cn_oauth.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_rhttp.h"
#include "rt_file.h"

#define ANSWER_MAX (16 * 1024)
#define URL_MAX    1024

typedef enum { CN_AWSCREDS_NONE = 0, CN_AWSCREDS_CONTAINER, CN_AWSCREDS_INSTANCE } cn_awscreds_src;

static int disabled(const char *v)
{
    return v != NULL && strcasecmp(v, "true") == 0;
}

/* The source the environment names: container, else instance, else none (IMDS disabled). */
static cn_awscreds_src cn_awscreds_source(void)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if ((rel != NULL && rel[0] != '\0') || (full != NULL && full[0] != '\0'))
        return CN_AWSCREDS_CONTAINER;
    return disabled(getenv("AWS_EC2_METADATA_DISABLED")) ? CN_AWSCREDS_NONE : CN_AWSCREDS_INSTANCE;
}

static const char *cn_awscreds_source_name(cn_awscreds_src src)
{
    return src == CN_AWSCREDS_CONTAINER  ? "container credentials endpoint"
           : src == CN_AWSCREDS_INSTANCE ? "EC2 instance metadata (IMDSv2)"
                                         : "none";
}

/* "YYYY-MM-DDTHH:MM:SSZ" (fractions allowed) -> time_t; 0 if it does not parse. */
static time_t parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    if (*end == '.') {
        const char *d = ++end;
        while (*end >= '0' && *end <= '9')
            end++;
        if (end == d)
            return 0; /* "." without digits */
    }
    if (strcmp(end, "Z") != 0 || tm.tm_year < 100) /* before 2000: not an expiry */
        return 0;
    return timegm(&tm);
}

static int copy_field(char *out, size_t cap, const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= cap ||
        !ak_cfg_visible(v->valuestring, strlen(v->valuestring)))
        return 0;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 1;
}

/* The credential document of both sources. */
static AK_WUR ak_err parse_doc(cn_awscreds *out, const char *text, const char *from, char *err,
                               size_t cap)
{
    cJSON *j = cJSON_Parse(text);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
    ak_err rc = AK_ERR_AUTH;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) {
        cn_rcfg_err(err, cap, "%s: the answer is not a JSON object", from);
    } else if (code != NULL &&
               (!cJSON_IsString(code) || strcmp(code->valuestring, "Success") != 0)) {
        cn_rcfg_err(err, cap, "%s: Code is not \"Success\"", from);
    } else if (!copy_field(out->akid, sizeof out->akid, j, "AccessKeyId") ||
               !copy_field(out->secret, sizeof out->secret, j, "SecretAccessKey") ||
               !copy_field(out->token, sizeof out->token, j, "Token")) {
        cn_rcfg_err(err, cap,
                    "%s: AccessKeyId, SecretAccessKey and Token must be printable strings", from);
    } else if (exp != NULL &&
               (!cJSON_IsString(exp) || !(out->expires = parse_time(exp->valuestring)))) {
        cn_rcfg_err(err, cap, "%s: Expiration is not an RFC 3339 UTC time", from);
    } else {
        rc = AK_OK;
    }
    if (rc != AK_OK)
        ak_wipe(out, sizeof *out);
    cn_remote_key_wipe_json(j); /* the parsed secrets live in cJSON's heap strings */
    cJSON_Delete(j);
    return rc;
}

static AK_WUR ak_err fetch_container(cn_awscreds *out, cn_rhttp *h, long timeout_ms,
                                     cn_rhttp_resp *a, char *err, size_t cap)
{
    /* plain http: a loopback or the ECS/EKS credential address (the AWS SDKs' rule) */
    static const char *const ecs[] = {"169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"};
    char url[URL_MAX], hdr[CN_AWSCREDS_TOKEN_MAX + 32] = "";
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *tok_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    ak_err rc;
    if (rel != NULL && rel[0] != '\0')
        snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
    else
        snprintf(url, sizeof url, "%s", full != NULL ? full : "");
    if (rel != NULL && rel[0] != '\0' && rel[0] != '/') {
        cn_rcfg_err(err, cap, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: must start with /");
        return AK_ERR_CONFIG;
    }
    if (!cn_oauth_url_ok(url, ecs, sizeof ecs / sizeof ecs[0])) {
        cn_rcfg_err(err, cap,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http only to a loopback or the "
                    "ECS/EKS credential address");
        return AK_ERR_CONFIG;
    }
    if (tok_file != NULL && tok_file[0] != '\0') {
        /* a token too long for the header is refused, never cut */
        size_t n = 0;
        if (rt_file_read_into(hdr + 15, sizeof hdr - 15, &n, tok_file) != AK_OK || n == 0) {
            cn_rcfg_err(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: cannot read it");
            return AK_ERR_CONFIG;
        }
        memcpy(hdr, "Authorization: ", 15);
        hdr[strcspn(hdr, "\r\n")] = '\0'; /* the file's trailing newline */
    } else if (tok != NULL && tok[0] != '\0') {
        if (strcspn(tok, "\r\n") != strlen(tok)) {
            cn_rcfg_err(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN: holds a line break");
            return AK_ERR_CONFIG;
        }
        snprintf(hdr, sizeof hdr, "Authorization: %s", tok);
    }
    rc = cn_oauth_host_call(h, a, "GET", url, hdr[0] ? hdr : NULL, timeout_ms, err, cap);
    ak_wipe(hdr, sizeof hdr);
    if (rc != AK_OK)
        return rc;
    if (a->status != 200) {
        cn_rcfg_err(err, cap, "container credentials endpoint: HTTP %ld", a->status);
        return AK_ERR_AUTH;
    }
    return parse_doc(out, a->body, "container credentials endpoint", err, cap);
}

static AK_WUR ak_err fetch_instance(cn_awscreds *out, cn_rhttp *h, long timeout_ms,
                                    cn_rhttp_resp *a, char *err, size_t cap)
{
    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char base[URL_MAX], url[URL_MAX + 256], hdr[512], role[128];
    ak_err rc;
    snprintf(base, sizeof base, "%s", ep != NULL && ep[0] != '\0' ? ep : "http://169.254.169.254");
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    rc = cn_oauth_host_call(h, a, "PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600",
                            timeout_ms, err, cap);
    if (rc == AK_OK &&
        (a->status != 200 || a->len == 0 || a->len >= 256 || strcspn(a->body, "\r\n ") != a->len)) {
        cn_rcfg_err(err, cap, "instance metadata: no IMDSv2 session token (HTTP %ld)", a->status);
        rc = AK_ERR_AUTH;
    }
    if (rc != AK_OK)
        return rc;
    snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %.255s", a->body); /* < 256, checked */
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    rc = cn_oauth_host_call(h, a, "GET", url, hdr, timeout_ms, err, cap);
    size_t rl = a->len ? strcspn(a->body, "\r\n") : 0;
    if (rc == AK_OK &&
        (a->status != 200 || rl == 0 || rl >= sizeof role || strcspn(a->body, "/?#% ") < rl)) {
        cn_rcfg_err(err, cap, "instance metadata: no IAM role attached to this instance (HTTP %ld)",
                    a->status);
        rc = AK_ERR_AUTH;
    }
    if (rc == AK_OK) {
        memcpy(role, a->body, rl);
        role[rl] = '\0';
        snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, role);
        rc = cn_oauth_host_call(h, a, "GET", url, hdr, timeout_ms, err, cap);
        if (rc == AK_OK && a->status != 200) {
            cn_rcfg_err(err, cap, "instance metadata: role credentials: HTTP %ld", a->status);
            rc = AK_ERR_AUTH;
        }
        if (rc == AK_OK)
            rc = parse_doc(out, a->body, "instance metadata", err, cap);
    }
    ak_wipe(hdr, sizeof hdr);
    return rc;
}

/* Fetch credentials from src within timeout_ms per HTTP request. */
static AK_WUR ak_err cn_awscreds_fetch(cn_awscreds *out, cn_awscreds_src src, long timeout_ms,
                                       char *err, size_t err_cap)
{
    cn_rhttp_opts o = {.timeout_ms = timeout_ms, .connect_timeout_ms = timeout_ms, .pool_size = 1};
    cn_rhttp_more m = {.allow_http = 1}; /* cn_oauth_url_ok says where plain http may go */
    cn_rhttp *h = NULL;
    cn_rhttp_resp a = {0};
    ak_err rc = cn_rhttp_new_ext(&h, &o, &m);
    memset(out, 0, sizeof *out);
    if (rc != AK_OK || (rc = cn_rhttp_resp_init_max(&a, ANSWER_MAX, 1)) != AK_OK)
        goto out;
    if (src == CN_AWSCREDS_CONTAINER)
        rc = fetch_container(out, h, timeout_ms, &a, err, err_cap);
    else if (src == CN_AWSCREDS_INSTANCE)
        rc = fetch_instance(out, h, timeout_ms, &a, err, err_cap);
    else {
        cn_rcfg_err(err, err_cap, "no credential source");
        rc = AK_ERR_CONFIG;
    }
out:
    cn_rhttp_resp_clear(&a);
    cn_rhttp_free(h);
    return rc;
}

/* ---- the keeper of one signer's credentials ---------------------------------------------- */

struct cn_awscreds_keeper {
    cn_awscreds fixed;     /* config or environment (src CN_AWSCREDS_NONE) */
    cn_awscreds_src src;   /* else: the workload source, its credentials in tokens */
    cn_oauth_cache tokens; /* "akid\nsecret\ntoken" with the credentials' lifetime */
    long timeout_ms;
};

/* cn_oauth_fetch_fn: fresh credentials from k->src, serialised for the cache. */
static ak_err keeper_fetch(void *user, char *tok, size_t cap, size_t *len, long *ttl_s, char *err,
                           size_t err_cap)
{
    cn_awscreds_keeper *k = user;
    cn_awscreds *c = ak_secure_alloc(sizeof *c);
    ak_err rc = AK_ERR_NOMEM;
    if (c == NULL)
        return rc;
    rc = cn_awscreds_fetch(c, k->src, k->timeout_ms, err, err_cap);
    long ttl = c->expires == 0 ? CN_OAUTH_TTL_MAX : (long)(c->expires - time(NULL));
    if (rc == AK_OK && ttl < 1) {
        cn_rcfg_err(err, err_cap, "%s: the credentials have expired",
                    cn_awscreds_source_name(k->src));
        rc = AK_ERR_AUTH;
    }
    int n = rc == AK_OK ? snprintf(tok, cap, "%s\n%s\n%s", c->akid, c->secret, c->token) : -1;
    if (rc == AK_OK && (n < 0 || (size_t)n >= cap))
        rc = AK_ERR_LIMIT; /* cannot happen: 128 + 256 + 4096 bytes fit a token */
    *len = rc == AK_OK ? (size_t)n : 0;
    *ttl_s = ttl > CN_OAUTH_TTL_MAX ? CN_OAUTH_TTL_MAX : ttl;
    ak_secure_free(c, sizeof *c);
    return rc;
}

/* No keys in the config or the environment: the container endpoint or instance metadata. */
static AK_WUR ak_err keeper_workload(cn_awscreds_keeper *k, const char *name, char *err, size_t cap)
{
    char why[192] = "";
    static const char *const unsupported[] = {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                                              "AWS_PROFILE"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        const char *v = getenv(unsupported[i]);
        if (v != NULL && v[0] != '\0') {
            /* The SDKs would use web identity (IRSA) or a profile before the container or the
             * instance: taking the instance's role instead would sign as another principal. */
            cn_rcfg_err(err, cap,
                        "aws_kms: credentials: %s is set, but web-identity and profile credentials "
                        "are not supported; give access_key_id/secret_access_key or the "
                        "AWS_ACCESS_KEY_ID variables, or unset it to use the container endpoint or "
                        "instance metadata",
                        unsupported[i]);
            return AK_ERR_CONFIG;
        }
    }
    k->src = cn_awscreds_source();
    if (k->src == CN_AWSCREDS_NONE) {
        cn_rcfg_err(err, cap,
                    "aws_kms: credentials: set access_key_id and secret_access_key in the config, "
                    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or run "
                    "where a container credentials endpoint or EC2 instance metadata provides them "
                    "(AWS_EC2_METADATA_DISABLED is set)");
        return AK_ERR_CONFIG;
    }
    ak_err rc = cn_oauth_cache_init(&k->tokens, keeper_fetch, k, "aws_kms", name,
                                    CN_AWSCREDS_MARGIN_S, why, sizeof why);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap,
                    "aws_kms: credentials: none in the config or the environment, and the %s gave "
                    "none: %s",
                    cn_awscreds_source_name(k->src), why);
        return rc == AK_ERR_NOMEM ? rc : AK_ERR_CONFIG;
    }
    cn_log(CN_LOG_INFO, "aws_kms: temporary credentials", "signer", name, "source",
           cn_awscreds_source_name(k->src), (char *)NULL);
    return AK_OK;
}

/* Fixed keys from the config or the environment (src names which, for messages). */
static AK_WUR ak_err keeper_fixed(cn_awscreds *f, const char *akid, const char *secret,
                                  const char *token, const char *src, char *err, size_t cap)
{
    size_t n = strlen(akid);
    if (n > CN_AWSCREDS_AKID_MAX ||
        strspn(akid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789") != n) {
        cn_rcfg_err(err, cap, "aws_kms: access key id (%s) must be 1..%d letters/digits", src,
                    CN_AWSCREDS_AKID_MAX);
        return AK_ERR_CONFIG;
    }
    memcpy(f->akid, akid, n + 1);
    n = strlen(secret);
    if (n > CN_AWSCREDS_SECRET_MAX) {
        cn_rcfg_err(err, cap, "aws_kms: secret access key (%s) must be 1..%d bytes", src,
                    CN_AWSCREDS_SECRET_MAX);
        return AK_ERR_CONFIG;
    }
    memcpy(f->secret, secret, n + 1);
    if (token == NULL)
        return AK_OK;
    if ((n = strlen(token)) > CN_AWSCREDS_TOKEN_MAX || !ak_cfg_visible(token, n)) {
        cn_rcfg_err(err, cap, "aws_kms: session token (%s) must be 1..%d printable bytes", src,
                    CN_AWSCREDS_TOKEN_MAX);
        return AK_ERR_CONFIG;
    }
    memcpy(f->token, token, n + 1);
    return AK_OK;
}

ak_err cn_awscreds_keeper_new(cn_awscreds_keeper **out, const char *akid, const char *secret,
                              const char *token, const char *name, long timeout_ms, char *err,
                              size_t cap)
{
    const char *src = "config";
    cn_awscreds_keeper *k = ak_secure_alloc(sizeof *k);
    ak_err rc = AK_ERR_NOMEM;
    *out = NULL;
    if (k == NULL)
        return rc;
    memset(k, 0, sizeof *k);
    k->timeout_ms = timeout_ms;
    if (akid == NULL && secret == NULL && token == NULL) {
        src = "environment";
        akid = getenv("AWS_ACCESS_KEY_ID");
        secret = getenv("AWS_SECRET_ACCESS_KEY");
        token = getenv("AWS_SESSION_TOKEN");
        if (token != NULL && token[0] == '\0')
            token = NULL;
        if ((akid == NULL || akid[0] == '\0') && (secret == NULL || secret[0] == '\0')) {
            rc = keeper_workload(k, name, err, cap);
            goto out;
        }
    }
    rc = AK_ERR_CONFIG;
    if (akid == NULL || secret == NULL || akid[0] == '\0' || secret[0] == '\0')
        cn_rcfg_err(err, cap,
                    "aws_kms: credentials: set access_key_id and secret_access_key in the config, "
                    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
    else
        rc = keeper_fixed(&k->fixed, akid, secret, token, src, err, cap);
out:
    if (rc == AK_OK)
        *out = k;
    else
        cn_awscreds_keeper_free(k);
    return rc;
}

void cn_awscreds_keeper_free(cn_awscreds_keeper *k)
{
    if (k == NULL)
        return;
    cn_oauth_cache_destroy(&k->tokens);
    ak_secure_free(k, sizeof *k);
}

ak_err cn_awscreds_current(cn_awscreds_keeper *k, cn_awscreds *out)
{
    size_t len = 0;
    if (k->src == CN_AWSCREDS_NONE) {
        memcpy(out, &k->fixed, sizeof *out);
        return AK_OK;
    }
    char *tok = ak_secure_alloc(CN_OAUTH_TOKEN_MAX + 1);
    ak_err rc = tok != NULL ? cn_oauth_cache_get(&k->tokens, tok, CN_OAUTH_TOKEN_MAX + 1, &len)
                            : AK_ERR_NOMEM;
    memset(out, 0, sizeof *out);
    if (rc == AK_OK) {
        /* keeper_fetch wrote it: three printable fields, each within its bound */
        char *secret = strchr(tok, '\n'), *token = secret ? strchr(secret + 1, '\n') : NULL;
        int fits = token != NULL && (size_t)(secret - tok) <= CN_AWSCREDS_AKID_MAX &&
                   (size_t)(token - secret - 1) <= CN_AWSCREDS_SECRET_MAX &&
                   strlen(token + 1) <= CN_AWSCREDS_TOKEN_MAX;
        rc = fits ? AK_OK : AK_ERR_INTERNAL;
        if (fits) {
            memcpy(out->akid, tok, (size_t)(secret - tok));
            memcpy(out->secret, secret + 1, (size_t)(token - secret - 1));
            memcpy(out->token, token + 1, strlen(token + 1));
        }
    }
    if (tok != NULL)
        ak_secure_free(tok, CN_OAUTH_TOKEN_MAX + 1);
    return rc;
}
