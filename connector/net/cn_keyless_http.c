/*
 * cn_keyless_http.c - the keyless signer's HTTP client over cn_rhttp (see cn_keyless_http.h).
 *
 * Connection reuse: use_share 0 keeps cn_rhttp's pool of easy handles (each keeps its TLS
 * connections alive between requests); use_share 1 makes an easy handle per request attached
 * to one CURLSH that shares the connection cache and TLS sessions. Both keep connections; see
 * docs/connector.md for the measurement. No key material: the client key file is read by
 * libcurl/OpenSSL when a connection is made; the bearer line lives in locked memory.
 */
#include "cn_keyless_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_secmem.h"

#define BEARER_MAX 4096

struct cn_kh {
    cn_rhttp *http;
    struct curl_slist *headers; /* sent on every request; may hold auth_hdr */
    char *auth_hdr;             /* "Authorization: Bearer ..." in locked memory, or NULL */
    size_t auth_cap;
};

static void body_from(cn_kh_body *b, const cn_rhttp_resp *r)
{
    b->len = r->len;
    b->overflow = r->overflow;
}

ak_err cn_kh_status_err(long status)
{
    return status == 404 ? AK_ERR_KEY_NOT_FOUND : cn_rhttp_status_err(status);
}

ak_err cn_kh_once(cn_kh *kh, size_t url, const char *path, const char *post, long timeout_ms,
                  cn_kh_body *body, long *status, int *retry)
{
    cn_rhttp_req q = {.method = post ? "POST" : "GET",
                      .path = path,
                      .body = post,
                      .body_len = post ? strlen(post) : 0};
    cn_rhttp_hooks hk = {.headers = kh->headers};
    cn_rhttp_resp r;
    cn_rhttp_resp_wrap(&r, body->data, body->cap);
    ak_err rc = cn_rhttp_once(kh->http, &q, &hk, url, timeout_ms, &r, retry);
    body_from(body, &r);
    *status = r.status;
    return rc;
}

ak_err cn_kh_call(cn_kh *kh, const char *path, const char *post, cn_kh_body *body, long *status,
                  int64_t deadline)
{
    cn_rhttp_req q = {.method = post ? "POST" : "GET",
                      .path = path,
                      .body = post,
                      .body_len = post ? strlen(post) : 0};
    cn_rhttp_hooks hk = {.headers = kh->headers};
    cn_rhttp_resp r;
    cn_rhttp_resp_wrap(&r, body->data, body->cap);
    ak_err rc = cn_rhttp_call_until(kh->http, &q, &hk, &r, deadline, -1);
    body_from(body, &r);
    *status = r.status;
    return rc;
}

ak_err cn_kh_start_prober(cn_kh *kh)
{
    return cn_rhttp_start_prober(kh->http, "/health");
}

int64_t cn_kh_down_until(cn_kh *kh, size_t url)
{
    return cn_rhttp_down_until(kh->http, url);
}

void cn_kh_mark(cn_kh *kh, size_t url, int down)
{
    cn_rhttp_mark(kh->http, url, down);
}

void cn_kh_free(cn_kh *k)
{
    if (k == NULL)
        return;
    cn_rhttp_free(k->http); /* stops the prober first */
    /* The slist holds the secret auth_hdr by pointer: detach it before freeing the list. */
    for (struct curl_slist *l = k->headers; l != NULL && k->auth_hdr != NULL; l = l->next)
        if (l->data == k->auth_hdr)
            l->data = NULL;
    curl_slist_free_all(k->headers);
    if (k->auth_hdr != NULL)
        ak_secure_free(k->auth_hdr, k->auth_cap);
    free(k);
}

/* Content-Type, no Expect: 100-continue, and the bearer line if any. */
static AK_WUR ak_err headers_new(cn_kh *k, const char *bearer, size_t bearer_len)
{
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    if (l == NULL || (k->headers = curl_slist_append(l, "Expect:")) == NULL) {
        curl_slist_free_all(l);
        return AK_ERR_NOMEM;
    }
    if (bearer == NULL)
        return AK_OK;
    /* curl_slist_append copies: build the line in locked memory, append a placeholder, then
     * swap the copy for ours so the only copy of the token is wiped at free. */
    k->auth_cap = bearer_len + 32;
    k->auth_hdr = ak_secure_alloc(k->auth_cap);
    if (k->auth_hdr == NULL || curl_slist_append(k->headers, "Authorization: Bearer x") == NULL)
        return AK_ERR_NOMEM;
    memcpy(k->auth_hdr, "Authorization: Bearer ", 22);
    memcpy(k->auth_hdr + 22, bearer, bearer_len);
    k->auth_hdr[22 + bearer_len] = '\0';
    struct curl_slist *last = k->headers;
    while (last->next != NULL)
        last = last->next;
    free(last->data);
    last->data = k->auth_hdr; /* owned by k: detached again before curl_slist_free_all */
    return AK_OK;
}

ak_err cn_kh_new(cn_kh **out, const cn_kh_cfg *cfg, const char *bearer, size_t bearer_len,
                 char *err, size_t err_cap)
{
    const char *urls[CN_KH_MAX_URLS];
    cn_kh *k = NULL;
    ak_err rc = AK_ERR_NOMEM;
    if (out == NULL || cfg == NULL || cfg->n_urls < 1 || cfg->n_urls > CN_KH_MAX_URLS ||
        cfg->pool_size < 1 || (bearer != NULL && bearer_len > BEARER_MAX))
        return AK_ERR_ARG;
    *out = NULL;
    for (size_t i = 0; i < cfg->n_urls; i++)
        urls[i] = cfg->urls[i];
    cn_rhttp_opts o = {.ca = cfg->ca[0] ? cfg->ca : NULL, /* "custom" without "ca": system */
                       .connect_timeout_ms = cfg->connect_timeout_ms,
                       .retries = cfg->retries,
                       .pool_size = cfg->pool_size};
    cn_rhttp_more m = {.allow_http = cfg->allow_http,
                       .cert = cfg->cert[0] ? cfg->cert : NULL, /* "custom" may have none */
                       .key = cfg->cert[0] ? cfg->key : NULL,
                       .share = cfg->use_share,
                       .urls = urls,
                       .n_urls = cfg->n_urls};
    if ((k = calloc(1, sizeof *k)) == NULL || (rc = headers_new(k, bearer, bearer_len)) != AK_OK)
        goto out;
    if ((rc = cn_rhttp_new_ext(&k->http, &o, &m)) != AK_OK) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "keyless: cannot create the HTTP client");
        rc = rc == AK_ERR_NOMEM ? rc : AK_ERR_INTERNAL;
        goto out;
    }
    *out = k;
    k = NULL;
out:
    cn_kh_free(k);
    return rc;
}
