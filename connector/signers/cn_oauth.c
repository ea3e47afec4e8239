/* cn_oauth.c - bearer tokens: parser, cache, form encoding, host-local GET (see cn_oauth.h). */
#include "cn_oauth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ak_secmem.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"

#define MARGIN_S   300
#define RETRY_S    10
#define EXP_DIGITS 12

/* A decimal count in a JSON number or a string of digits (Azure IMDS sends strings). */
static int json_count(const cJSON *v, long long *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= 0 && d < 1e12) || d != (double)(long long)d)
            return 0;
        *out = (long long)d;
        return 1;
    }
    if (!cJSON_IsString(v))
        return 0;
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (n == 0 || n > EXP_DIGITS)
        return 0;
    long long r = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        r = r * 10 + (s[i] - '0');
    }
    *out = r;
    return 1;
}

ak_err cn_oauth_parse_token(char *tok, size_t cap, size_t *len, long *ttl_s, const char *body,
                            size_t body_len, time_t now)
{
    ak_err rc = AK_ERR_UPSTREAM;
    cJSON *j = cJSON_ParseWithLength(body, body_len);
    long long ttl = 0, on = 0;
    *len = 0;
    *ttl_s = 0;
    if (cap > 0)
        tok[0] = '\0';
    if (!cJSON_IsObject(j))
        goto out;
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(j, "token_type");
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    const cJSON *eo = cJSON_GetObjectItemCaseSensitive(j, "expires_on");
    if (!cJSON_IsString(at) ||
        (tt != NULL && (!cJSON_IsString(tt) || strcasecmp(tt->valuestring, "Bearer") != 0)))
        goto out;
    if (ei != NULL) {
        if (!json_count(ei, &ttl))
            goto out;
    } else if (eo != NULL && json_count(eo, &on)) {
        ttl = on - (long long)now;
    } else {
        goto out;
    }
    if (ttl < 1 || ttl > CN_OAUTH_TTL_MAX)
        goto out;
    size_t n = strlen(at->valuestring);
    if (n == 0 || n > CN_OAUTH_TOKEN_MAX || n >= cap || !ak_cfg_visible(at->valuestring, n))
        goto out;
    memcpy(tok, at->valuestring, n + 1);
    *len = n;
    *ttl_s = (long)ttl;
    rc = AK_OK;
out:
    if (j != NULL)
        cn_remote_key_wipe_json(j);
    cJSON_Delete(j);
    return rc;
}

ak_err cn_oauth_form_add(char *buf, size_t cap, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = strnlen(buf, cap);
    if (used == cap)
        return AK_ERR_LIMIT;
    size_t need = (used ? 1 : 0) + strlen(name) + 1;
    for (const char *p = value; *p; p++)
        need += strchr("-._~", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                        (*p >= 'A' && *p <= 'Z')
                    ? 1
                    : 3;
    if (need >= cap - used)
        return AK_ERR_LIMIT;
    char *o = buf + used;
    if (used)
        *o++ = '&';
    o += sprintf(o, "%s=", name);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (strchr("-._~", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
            (*p >= 'A' && *p <= 'Z')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return AK_OK;
}

ak_err cn_oauth_split_url(char *base, char *path, size_t cap, const char *url)
{
    if (url == NULL || strncmp(url, "https://", 8) != 0)
        return AK_ERR_CONFIG;
    const char *slash = strchr(url + 8, '/');
    size_t blen = slash ? (size_t)(slash - url) : strlen(url);
    const char *p = slash ? slash : "/";
    if (blen >= cap || strlen(p) >= cap || blen <= 8)
        return AK_ERR_CONFIG;
    memcpy(base, url, blen);
    base[blen] = '\0';
    snprintf(path, cap, "%s", p);
    return cn_rhttp_base_ok(base) && strpbrk(path, " \t\r\n\"\\#") == NULL ? AK_OK : AK_ERR_CONFIG;
}

/* ---- the host-local identity endpoints --------------------------------------------------- */

int cn_oauth_url_ok(const char *url, const char *const *http_hosts, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
    int allowed = 0;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
        goto out; /* userinfo: refused, whatever the host */
    if (strcmp(scheme, "https") == 0) {
        allowed = 1;
    } else if (strcmp(scheme, "http") == 0) {
        allowed = strncmp(host, "127.", 4) == 0 || strcasecmp(host, "localhost") == 0 ||
                  strcmp(host, "[::1]") == 0;
        for (size_t i = 0; i < n; i++)
            allowed |= strcasecmp(host, http_hosts[i]) == 0;
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return allowed;
}

/* The one header line of a request, if any (cn_rhttp_headers_fn; wiped after the attempt). */
static ak_err header_line(void *user, struct curl_slist **out, const char *method, const char *path,
                          const char *body, size_t body_len)
{
    (void)method;
    (void)path;
    (void)body;
    (void)body_len;
    return user != NULL ? cn_rhttp_header_add(out, AK_OK, "%s", (const char *)user) : AK_OK;
}

ak_err cn_oauth_host_call(cn_rhttp *h, cn_rhttp_resp *resp, const char *method, const char *url,
                          const char *header, long timeout_ms, char *err, size_t err_cap)
{
    cn_rhttp_req q = {.method = method,
                      .base = url,
                      .path = "",
                      .headers_fn = header_line,
                      .user = (void *)(uintptr_t)header};
    cn_rhttp_hooks hk = {.check = cn_rhttp_accept_any};
    ak_err rc = cn_rhttp_call_until(h, &q, &hk, resp, cn_rhttp_now_ms() + timeout_ms, 0);
    if (rc != AK_OK)
        cn_rcfg_err(err, err_cap, "%s",
                    resp->overflow           ? "answer too large"
                    : resp->curl != CURLE_OK ? curl_easy_strerror(resp->curl)
                                             : ak_strerror(rc));
    return rc;
}

/* GET url (cn_oauth_host_call) into resp with a client of its own: plain http only to a loopback
 * address, 169.254.169.254 or metadata.google.internal; https with the system store. */
static ak_err local_get(cn_rhttp_resp *resp, const char *url, const char *header, long timeout_ms,
                        char *err, size_t err_cap)
{
    static const char *const md[] = {"169.254.169.254", "metadata.google.internal"};
    cn_rhttp_opts o = {.timeout_ms = timeout_ms, .connect_timeout_ms = timeout_ms, .pool_size = 1};
    cn_rhttp_more m = {.allow_http = 1}; /* cn_oauth_url_ok says where plain http may go */
    cn_rhttp *h = NULL;
    char why[160] = "";
    if (!cn_oauth_url_ok(url, md, 2)) {
        cn_rcfg_err(err, err_cap,
                    "identity endpoint must be https, or http to the host's metadata "
                    "address or a loopback");
        return AK_ERR_CONFIG;
    }
    ak_err rc = cn_rhttp_new_ext(&h, &o, &m);
    if (rc == AK_OK && (rc = cn_oauth_host_call(h, resp, "GET", url, header, timeout_ms, why,
                                                sizeof why)) != AK_OK)
        cn_rcfg_err(err, err_cap, "identity endpoint: %s", why);
    cn_rhttp_free(h);
    return rc;
}

/* ---- token cache ------------------------------------------------------------------------- */

static void install(cn_oauth_cache *c, const char *tok, size_t len, long ttl)
{
    time_t now = time(NULL);
    long margin = c->margin_s > 0 ? c->margin_s : ttl >= 2 * MARGIN_S ? MARGIN_S : ttl / 2;
    memcpy(c->tok, tok, len + 1);
    c->len = len;
    c->expires = now + ttl;
    c->refresh_at = now + ttl - margin;
    c->next_try = 0;
}

/* Fetch (fetch_mu held, mu not held) and install. */
static ak_err refresh(cn_oauth_cache *c, char *err, size_t err_cap)
{
    char *tok = ak_secure_alloc(CN_OAUTH_TOKEN_MAX + 1);
    size_t len = 0;
    long ttl = 0;
    ak_err rc = AK_ERR_NOMEM;
    if (tok == NULL)
        goto out;
    rc = c->fetch(c->user, tok, CN_OAUTH_TOKEN_MAX + 1, &len, &ttl, err, err_cap);
    pthread_mutex_lock(&c->mu);
    c->fetches++;
    if (rc == AK_OK && (len == 0 || len > CN_OAUTH_TOKEN_MAX || ttl < 1 || ttl > CN_OAUTH_TTL_MAX))
        rc = AK_ERR_UPSTREAM;
    if (rc == AK_OK)
        install(c, tok, len, ttl);
    else
        c->next_try = time(NULL) + RETRY_S;
    pthread_mutex_unlock(&c->mu);
out:
    if (tok != NULL)
        ak_secure_free(tok, CN_OAUTH_TOKEN_MAX + 1);
    return rc;
}

ak_err cn_oauth_cache_init(cn_oauth_cache *c, cn_oauth_fetch_fn fetch, void *user, const char *what,
                           const char *name, long margin_s, char *err, size_t err_cap)
{
    memset(c, 0, sizeof *c);
    c->fetch = fetch;
    c->user = user;
    c->what = what;
    c->name = name;
    c->margin_s = margin_s;
    c->tok = ak_secure_alloc(CN_OAUTH_TOKEN_MAX + 1);
    if (c->tok == NULL)
        return AK_ERR_NOMEM;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return AK_ERR_NOMEM;
    if (pthread_mutex_init(&c->fetch_mu, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        return AK_ERR_NOMEM;
    }
    c->init = 1;
    pthread_mutex_lock(&c->fetch_mu);
    ak_err rc = refresh(c, err, err_cap);
    pthread_mutex_unlock(&c->fetch_mu);
    return rc;
}

void cn_oauth_cache_destroy(cn_oauth_cache *c)
{
    if (c->init) {
        pthread_mutex_destroy(&c->mu);
        pthread_mutex_destroy(&c->fetch_mu);
    }
    if (c->tok != NULL)
        ak_secure_free(c->tok, CN_OAUTH_TOKEN_MAX + 1);
    memset(c, 0, sizeof *c);
}

/* Copy the token if it is valid (mu held): 1 if copied. */
static int copy_valid(cn_oauth_cache *c, char *dst, size_t cap, size_t *len, time_t now)
{
    if (c->len == 0 || now >= c->expires || c->len >= cap)
        return 0;
    memcpy(dst, c->tok, c->len + 1);
    *len = c->len;
    return 1;
}

ak_err cn_oauth_cache_get(cn_oauth_cache *c, char *dst, size_t cap, size_t *len)
{
    char why[192] = "";
    ak_err rc = AK_OK;
    *len = 0;
    pthread_mutex_lock(&c->mu);
    time_t now = time(NULL);
    int have = copy_valid(c, dst, cap, len, now);
    int due = now >= c->refresh_at && now >= c->next_try;
    pthread_mutex_unlock(&c->mu);
    if (have && !due)
        return AK_OK;
    if (have) {
        /* Still valid: one caller refreshes, the others go on with the old token. */
        if (pthread_mutex_trylock(&c->fetch_mu) != 0)
            return AK_OK;
    } else {
        pthread_mutex_lock(&c->fetch_mu);
        pthread_mutex_lock(&c->mu);
        int now_have = copy_valid(c, dst, cap, len, time(NULL));
        pthread_mutex_unlock(&c->mu);
        if (now_have) { /* another caller fetched while we waited */
            pthread_mutex_unlock(&c->fetch_mu);
            return AK_OK;
        }
    }
    rc = refresh(c, why, sizeof why);
    if (rc == AK_OK) {
        pthread_mutex_lock(&c->mu);
        have = copy_valid(c, dst, cap, len, time(NULL));
        pthread_mutex_unlock(&c->mu);
        cn_log(CN_LOG_INFO, "oauth token refreshed", "backend", c->what, "signer", c->name,
               (char *)NULL);
    } else {
        cn_log(CN_LOG_WARN, "oauth token refresh failed", "backend", c->what, "signer", c->name,
               "reason", why[0] ? why : ak_strerror(rc), (char *)NULL);
    }
    pthread_mutex_unlock(&c->fetch_mu);
    if (have)
        return AK_OK;
    return rc == AK_OK ? AK_ERR_AUTH : rc;
}

/* The service refused tok: forget it (if it is still the cached one) so the next get fetches. */
static void cn_oauth_cache_reject(cn_oauth_cache *c, const char *tok, size_t len)
{
    pthread_mutex_lock(&c->mu);
    if (c->len == len && ak_ct_equal(c->tok, tok, len)) {
        ak_wipe(c->tok, c->len);
        c->len = 0;
        c->expires = 0;
        c->refresh_at = 0;
        c->next_try = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- authenticated calls ----------------------------------------------------------------- */

typedef struct {
    const char *tok;
    int json;
} bearer;

static ak_err bearer_headers(void *user, struct curl_slist **out, const char *method,
                             const char *path, const char *body, size_t body_len)
{
    const bearer *b = user;
    (void)method;
    (void)path;
    (void)body;
    (void)body_len;
    ak_err rc = cn_rhttp_header_add(out, AK_OK, "Authorization: Bearer %s", b->tok);
    return b->json ? cn_rhttp_header_add(out, rc, "Content-Type: application/json") : rc;
}

ak_err cn_oauth_call(cn_rhttp *http, cn_oauth_cache *c, const char *method, const char *base,
                     const char *path, const char *body, cn_rhttp_resp *resp,
                     ak_err (*status_err)(const cn_rhttp_resp *resp))
{
    char *tok = ak_secure_alloc(CN_OAUTH_TOKEN_MAX + 1);
    size_t len = 0;
    ak_err rc = cn_rhttp_resp_init(resp);
    if (rc == AK_OK && tok == NULL)
        rc = AK_ERR_NOMEM;
    if (rc != AK_OK)
        goto out;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = cn_oauth_cache_get(c, tok, CN_OAUTH_TOKEN_MAX + 1, &len)) != AK_OK)
            goto out;
        bearer b = {tok, body != NULL};
        cn_rhttp_req q = {method, base, path, body, body ? strlen(body) : 0, bearer_headers, &b};
        rc = cn_rhttp_call(http, &q, resp);
        if (rc != AK_OK || resp->status != 401)
            break;
        cn_oauth_cache_reject(c, tok, len);
    }
    if (rc == AK_OK && resp->status != 200)
        rc = status_err != NULL ? status_err(resp) : cn_rhttp_status_err(resp->status);
out:
    if (tok != NULL)
        ak_secure_free(tok, CN_OAUTH_TOKEN_MAX + 1);
    return rc;
}

/* The token from a token endpoint's answer (cn_oauth_parse_token). A non-200 status is
 * AK_ERR_AUTH for 400/401/403 (credentials refused), else the status's error; err names `what`
 * and the status, never the body (it may echo secrets). */
static ak_err take_answer(const cn_rhttp_resp *r, const char *what, char *tok, size_t cap,
                          size_t *len, long *ttl, char *err, size_t err_cap)
{
    if (r->status != 200) {
        cn_rcfg_err(err, err_cap, "%s answered HTTP %ld", what, r->status);
        return r->status == 400 || r->status == 401 || r->status == 403
                   ? AK_ERR_AUTH
                   : cn_rhttp_status_err(r->status);
    }
    ak_err rc = cn_oauth_parse_token(tok, cap, len, ttl, r->body, r->len, time(NULL));
    if (rc != AK_OK)
        cn_rcfg_err(err, err_cap, "%s: malformed token answer", what);
    return rc;
}

ak_err cn_oauth_token_post(cn_rhttp *http, const char *base, const char *path, const char *form,
                           const char *what, char *tok, size_t cap, size_t *len, long *ttl,
                           char *err, size_t err_cap)
{
    static const char ct[] = "Content-Type: application/x-www-form-urlencoded";
    cn_rhttp_req q = {"POST", base, path, form, strlen(form), header_line, (void *)(uintptr_t)ct};
    cn_rhttp_resp r = {0};
    ak_err rc = cn_rhttp_resp_init(&r);
    if (rc == AK_OK && (rc = cn_rhttp_call(http, &q, &r)) != AK_OK)
        cn_rcfg_err(err, err_cap, "%s: %s", what, ak_strerror(rc));
    else if (rc == AK_OK)
        rc = take_answer(&r, what, tok, cap, len, ttl, err, err_cap);
    cn_rhttp_resp_clear(&r);
    return rc;
}

ak_err cn_oauth_token_get(const char *url, const char *header, long timeout_ms, const char *what,
                          char *tok, size_t cap, size_t *len, long *ttl, char *err, size_t err_cap)
{
    cn_rhttp_resp r = {0};
    ak_err rc = cn_rhttp_resp_init(&r);
    if (rc == AK_OK)
        rc = local_get(&r, url, header, timeout_ms, err, err_cap);
    if (rc == AK_OK)
        rc = take_answer(&r, what, tok, cap, len, ttl, err, err_cap);
    cn_rhttp_resp_clear(&r);
    return rc;
}
