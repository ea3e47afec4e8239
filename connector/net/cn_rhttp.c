/* cn_rhttp.c - shared HTTPS client of the remote backends (see cn_rhttp.h). */
#include "cn_rhttp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_secmem.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS   1000
#define BASE_MAX         256

struct cn_rhttp {
    char *ca; /* NULL: libcurl's default store */
    long timeout_ms, connect_timeout_ms;
    int retries;
    cn_rhttp_pool pool;
};

int64_t cn_rhttp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cn_rhttp_backoff(long *backoff, long max_ms, int64_t deadline)
{
    /* Full jitter in [backoff/2, backoff*3/2), never past the deadline. */
    long ms = *backoff / 2 + (long)((unsigned long)random() % (unsigned long)*backoff);
    if (ms >= (long)(deadline - cn_rhttp_now_ms()))
        return 0;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    *backoff = *backoff * 2 > max_ms ? max_ms : *backoff * 2;
    return 1;
}

ak_err cn_rhttp_pool_init(cn_rhttp_pool *p, size_t size)
{
    memset(p, 0, sizeof *p);
    p->size = size ? size : 1;
    p->idle = calloc(p->size, sizeof *p->idle);
    if (p->idle == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&p->mu, NULL);
    return AK_OK;
}

CURL *cn_rhttp_pool_take(cn_rhttp_pool *p)
{
    CURL *c = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle > 0)
        c = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->mu);
    return c;
}

void cn_rhttp_pool_put(cn_rhttp_pool *p, CURL *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle < p->size) {
        p->idle[p->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    curl_easy_cleanup(c); /* NULL is a no-op */
}

void cn_rhttp_pool_destroy(cn_rhttp_pool *p)
{
    if (p->idle == NULL)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof *p);
}

ak_err cn_rhttp_handle_base(CURL *c, const char *protocols, const char *ca, long connect_timeout_ms)
{
    int bad = 0;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK; /* ignore *_proxy env vars */
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    if (ca != NULL) {
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, ca) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK;
    }
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    return bad ? AK_ERR_INTERNAL : AK_OK;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    cn_rhttp_resp *r = userdata;
    size_t n = size * nmemb;
    if (n > CN_RHTTP_MAX_BODY - r->len) {
        r->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static CURL *handle_new(const cn_rhttp *h)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    int bad = cn_rhttp_handle_base(c, "https", h->ca, h->connect_timeout_ms) != AK_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 4L) != CURLE_OK;
    if (bad) {
        curl_easy_cleanup(c);
        return NULL;
    }
    return c;
}

static CURL *handle_get(cn_rhttp *h)
{
    CURL *c = cn_rhttp_pool_take(&h->pool);
    return c ? c : handle_new(h);
}

int cn_rhttp_curl_retryable(CURLcode c, int tls_connect)
{
    if (c == CURLE_SSL_CONNECT_ERROR)
        return tls_connect;
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0; /* TLS and certificate failures do not heal by retrying */
    }
}

ak_err cn_rhttp_curl_err(CURLcode c, int overflow)
{
    if (c == CURLE_OPERATION_TIMEDOUT)
        return AK_ERR_TIMEOUT;
    if (c == CURLE_WRITE_ERROR && overflow)
        return AK_ERR_UPSTREAM;
    if (c == CURLE_OUT_OF_MEMORY)
        return AK_ERR_NOMEM;
    return AK_ERR_NETWORK;
}

static int status_retryable(long s)
{
    return s == 429 || s == 502 || s == 503 || s == 504;
}

ak_err cn_rhttp_status_err(long status)
{
    switch (status) {
    case 401:
        return AK_ERR_AUTH;
    case 403:
        return AK_ERR_FORBIDDEN;
    case 404:
        return AK_ERR_NOT_FOUND;
    case 429:
    case 502:
    case 503:
    case 504:
        return AK_ERR_UNAVAILABLE;
    default:
        return AK_ERR_UPSTREAM;
    }
}

void cn_rhttp_headers_free(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next)
        if (p->data != NULL)
            ak_wipe(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

int cn_rhttp_base_ok(const char *url)
{
    size_t n = url ? strlen(url) : 0;
    return n > 8 && n <= BASE_MAX && strncmp(url, "https://", 8) == 0 &&
           strpbrk(url, "?#@ \t\r\n\"\\") == NULL;
}

ak_err cn_rhttp_resp_init(cn_rhttp_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->body = ak_secure_alloc(CN_RHTTP_MAX_BODY + 1);
    return resp->body ? AK_OK : AK_ERR_NOMEM;
}

void cn_rhttp_resp_clear(cn_rhttp_resp *resp)
{
    if (resp->body != NULL)
        ak_secure_free(resp->body, CN_RHTTP_MAX_BODY + 1);
    memset(resp, 0, sizeof *resp);
}

/* One attempt. *retry says whether another may help. */
static AK_WUR ak_err http_once(cn_rhttp *h, const cn_rhttp_req *q, long timeout_ms,
                               cn_rhttp_resp *r, int *retry)
{
    char url[CN_RHTTP_URL_MAX + 1];
    struct curl_slist *hdrs = NULL;
    ak_err rc = AK_ERR_INTERNAL;
    CURL *c = handle_get(h);
    *retry = 0;
    r->len = 0;
    r->overflow = 0;
    r->status = 0;
    r->body[0] = '\0';
    if (c == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    if ((size_t)snprintf(url, sizeof url, "%s%s", q->base, q->path) >= sizeof url) {
        rc = AK_ERR_LIMIT;
        goto out;
    }
    if (q->headers_fn != NULL) {
        rc = q->headers_fn(q->user, &hdrs, q->method, q->path, q->body, q->body_len);
        if (rc != AK_OK)
            goto out;
        rc = AK_ERR_INTERNAL;
    }
    int bad = 0;
    bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, r) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
    if (strcmp(q->method, "POST") == 0) {
        bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)q->body_len) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "") != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    }
    if (bad)
        goto out;
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = cn_rhttp_curl_err(cc, r->overflow);
        *retry = cn_rhttp_curl_retryable(cc, 0);
        goto out;
    }
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK)
        goto out;
    *retry = status_retryable(r->status);
    rc = AK_OK;
out:
    if (c != NULL) {
        /* Do not keep pointers to the caller's buffers in a pooled handle. */
        (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
        (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        if (rc != AK_OK && rc != AK_ERR_UPSTREAM) {
            curl_easy_cleanup(c); /* unknown state: do not reuse */
            c = NULL;
        }
    }
    cn_rhttp_pool_put(&h->pool, c);
    cn_rhttp_headers_free(hdrs);
    return rc;
}

ak_err cn_rhttp_call(cn_rhttp *h, const cn_rhttp_req *req, cn_rhttp_resp *resp)
{
    ak_err rc = AK_ERR_NETWORK;
    int64_t deadline = cn_rhttp_now_ms() + h->timeout_ms;
    long backoff = BACKOFF_FIRST_MS;
    for (int attempt = 0; attempt <= h->retries; attempt++) {
        int retry = 0;
        long left = (long)(deadline - cn_rhttp_now_ms());
        if (left <= 0)
            return AK_ERR_TIMEOUT;
        ak_err e = http_once(h, req, left, resp, &retry);
        if (e == AK_OK && !retry)
            return AK_OK;
        rc = e == AK_OK ? AK_ERR_UNAVAILABLE : e;
        if (!retry || attempt == h->retries ||
            !cn_rhttp_backoff(&backoff, BACKOFF_MAX_MS, deadline))
            break;
    }
    return rc;
}

ak_err cn_rhttp_new(cn_rhttp **out, const cn_rhttp_opts *o)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_rhttp *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h == NULL)
        return rc;
    h->timeout_ms = o->timeout_ms;
    h->connect_timeout_ms = o->connect_timeout_ms;
    h->retries = o->retries < 0 ? 0 : o->retries;
    h->ca = o->ca ? strdup(o->ca) : NULL;
    if (cn_rhttp_pool_init(&h->pool, o->pool_size) != AK_OK || (o->ca != NULL && h->ca == NULL))
        goto out;
    *out = h;
    h = NULL;
    rc = AK_OK;
out:
    cn_rhttp_free(h);
    return rc;
}

void cn_rhttp_free(cn_rhttp *h)
{
    if (h == NULL)
        return;
    cn_rhttp_pool_destroy(&h->pool);
    free(h->ca);
    free(h);
}
