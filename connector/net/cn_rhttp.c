/* cn_rhttp.c - the connector's one HTTP client: handles, responses, requests with retries and
 * failover, the prober (see cn_rhttp.h; the building blocks are in cn_rhttp_base.c). */
#include "cn_rhttp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_secmem.h"
#include "rt_ticker.h"

#define BACKOFF_FIRST_MS  50
#define PROBE_INTERVAL_MS 1000
#define HEAP_FIRST        4096

enum { RESP_SECURE = 1, RESP_HEAP, RESP_WRAP };

typedef struct {
    char *base;
    _Atomic int64_t down_until; /* monotonic ms; 0 = healthy */
} fo_url;

struct cn_rhttp {
    char *ca, *cert, *key; /* NULL: none / libcurl's default store */
    long timeout_ms, connect_timeout_ms;
    int retries, allow_http;
    const rt_clock *clock;
    cn_rhttp_pool pool;
    CURLSH *share; /* opts.share: instead of the pool */
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    fo_url urls[CN_RHTTP_MAX_URLS];
    size_t n_urls;
    struct curl_slist *headers; /* cn_rhttp_more.headers; may hold secret_line */
    char *secret_line;          /* locked memory, or NULL */
    size_t secret_cap;
    char *probe_path; /* the prober (cn_rhttp_start_prober), every PROBE_INTERVAL_MS */
    rt_ticker *prober;
};

static int64_t now_ms(const cn_rhttp *h)
{
    return rt_clock_mono_ms(h->clock);
}

/* ---- handles -------------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    cn_rhttp_resp *r = userdata;
    size_t n = size * nmemb;
    if (n > r->max - r->len) {
        r->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (r->mode == RESP_HEAP && r->len + n + 1 > r->room) {
        size_t room = r->room ? r->room : HEAP_FIRST;
        while (room < r->len + n + 1)
            room *= 2;
        room = room > r->max + 1 ? r->max + 1 : room;
        char *p = realloc(r->body, room);
        if (p == NULL)
            return 0;
        r->body = p;
        r->room = room;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    if (r->len < r->room)
        r->body[r->len] = '\0';
    return n;
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *user)
{
    (void)c;
    (void)access;
    pthread_mutex_lock(&((cn_rhttp *)user)->share_mu[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *user)
{
    (void)c;
    pthread_mutex_unlock(&((cn_rhttp *)user)->share_mu[data]);
}

static CURL *handle_new(const cn_rhttp *h)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    long maxconn = h->n_urls > 4 ? (long)h->n_urls : 4L;
    int bad = cn_rhttp_handle_base(c, h->allow_http ? "http,https" : "https", h->ca,
                                   h->connect_timeout_ms) != AK_OK;
    if (h->cert != NULL) {
        bad |= curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_SSLKEY, h->key) != CURLE_OK;
    }
    if (h->share != NULL)
        bad |= curl_easy_setopt(c, CURLOPT_SHARE, h->share) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_MAXCONNECTS, maxconn) != CURLE_OK;
    if (bad) {
        curl_easy_cleanup(c);
        return NULL;
    }
    return c;
}

static CURL *handle_get(cn_rhttp *h)
{
    CURL *c = h->share ? NULL : cn_rhttp_pool_take(&h->pool);
    return c ? c : handle_new(h);
}

static void handle_put(cn_rhttp *h, CURL *c)
{
    if (h->share != NULL)
        curl_easy_cleanup(c); /* the connection stays in the share */
    else
        cn_rhttp_pool_put(&h->pool, c);
}

/* ---- errors ----------------------------------------------------------------------------- */

static int status_retryable(long s)
{
    return s == 429 || s == 502 || s == 503 || s == 504;
}

static ak_err check_default(void *user, const cn_rhttp_resp *r, int *retry)
{
    (void)user;
    *retry = status_retryable(r->status);
    return *retry ? AK_ERR_UNAVAILABLE : AK_OK;
}

ak_err cn_rhttp_accept_any(void *user, const cn_rhttp_resp *r, int *retry)
{
    (void)user;
    (void)r;
    *retry = 0;
    return AK_OK;
}

/* ---- responses -------------------------------------------------------------------------- */

ak_err cn_rhttp_resp_init_max(cn_rhttp_resp *resp, size_t max, int secure)
{
    memset(resp, 0, sizeof *resp);
    resp->max = max;
    resp->mode = secure ? RESP_SECURE : RESP_HEAP;
    if (!secure)
        return AK_OK; /* allocated as data arrives */
    resp->body = ak_secure_alloc(max + 1);
    resp->room = max + 1;
    return resp->body ? AK_OK : AK_ERR_NOMEM;
}

ak_err cn_rhttp_resp_init(cn_rhttp_resp *resp)
{
    return cn_rhttp_resp_init_max(resp, CN_RHTTP_MAX_BODY, 1);
}

void cn_rhttp_resp_wrap(cn_rhttp_resp *resp, char *buf, size_t cap)
{
    memset(resp, 0, sizeof *resp);
    resp->body = buf;
    resp->max = cap;
    resp->room = cap;
    resp->mode = RESP_WRAP;
}

char *cn_rhttp_resp_take(cn_rhttp_resp *resp)
{
    char *p = resp->mode == RESP_HEAP ? resp->body : NULL;
    if (resp->mode == RESP_HEAP && p == NULL)
        p = calloc(1, 1); /* an empty answer */
    if (p != NULL)
        memset(resp, 0, sizeof *resp);
    return p;
}

void cn_rhttp_resp_clear(cn_rhttp_resp *resp)
{
    if (resp->body != NULL && resp->mode == RESP_SECURE)
        ak_secure_free(resp->body, resp->room);
    else if (resp->mode == RESP_HEAP)
        free(resp->body);
    memset(resp, 0, sizeof *resp);
}

/* ---- requests --------------------------------------------------------------------------- */

/* One attempt to base. *retry says whether another may help. */
static AK_WUR ak_err http_once(cn_rhttp *h, const cn_rhttp_req *q, const cn_rhttp_hooks *k,
                               const char *base, long timeout_ms, cn_rhttp_resp *r, int *retry)
{
    char url[CN_RHTTP_URL_MAX + 1];
    struct curl_slist *hdrs = q->headers_fn ? NULL : k->headers ? k->headers : h->headers;
    ak_err rc = AK_ERR_INTERNAL;
    CURL *c = handle_get(h);
    int post = strcmp(q->method, "POST") == 0;
    *retry = 0;
    r->len = r->status = r->overflow = 0;
    r->curl = CURLE_OK;
    if (r->room > 0)
        r->body[0] = '\0';
    if (c == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    if ((size_t)snprintf(url, sizeof url, "%s%s", base, q->path) >= sizeof url) {
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
    if (post) {
        bad |=
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "") != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    }
    /* A pooled handle keeps the verb of its last request: set or reset it every time. */
    bad |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
                            post || strcmp(q->method, "GET") == 0 ? NULL : q->method) != CURLE_OK;
    if (bad)
        goto out;
    r->curl = curl_easy_perform(c);
    if (r->curl != CURLE_OK) {
        rc = cn_rhttp_curl_err(r->curl, r->overflow);
        *retry = cn_rhttp_curl_retryable(r->curl, 1);
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
    handle_put(h, c);
    if (q->headers_fn != NULL)
        cn_rhttp_headers_free(hdrs);
    return rc;
}

static const cn_rhttp_hooks no_hooks;

ak_err cn_rhttp_once(cn_rhttp *h, const cn_rhttp_req *req, const cn_rhttp_hooks *hooks, size_t url,
                     long timeout_ms, cn_rhttp_resp *resp, int *retry)
{
    *retry = 0;
    if (req->base == NULL && url >= h->n_urls)
        return AK_ERR_ARG;
    return http_once(h, req, hooks ? hooks : &no_hooks, req->base ? req->base : h->urls[url].base,
                     timeout_ms, resp, retry);
}

/* The order of one round: the failover URLs not marked down, then the others (one snapshot of
 * the marks: other threads and the prober change them meanwhile). */
static size_t round_order(cn_rhttp *h, size_t order[CN_RHTTP_MAX_URLS])
{
    int64_t t = now_ms(h), down[CN_RHTTP_MAX_URLS];
    size_t n = 0;
    for (size_t i = 0; i < h->n_urls; i++)
        down[i] = atomic_load(&h->urls[i].down_until);
    for (size_t i = 0; i < h->n_urls; i++)
        if (down[i] <= t)
            order[n++] = i;
    for (size_t i = 0; i < h->n_urls; i++)
        if (down[i] > t)
            order[n++] = i;
    return n;
}

ak_err cn_rhttp_call_until(cn_rhttp *h, const cn_rhttp_req *req, const cn_rhttp_hooks *hooks,
                           cn_rhttp_resp *resp, int64_t deadline, int retries)
{
    ak_err rc = AK_ERR_NETWORK;
    long backoff = BACKOFF_FIRST_MS;
    cn_rhttp_check_fn check = hooks && hooks->check ? hooks->check : check_default;
    retries = retries < 0 ? h->retries : retries;
    if (req->base == NULL && h->n_urls == 0)
        return AK_ERR_ARG;
    for (int round = 0;; round++) {
        size_t order[CN_RHTTP_MAX_URLS] = {0};
        size_t n = req->base ? 1 : round_order(h, order);
        for (size_t j = 0; j < n; j++) {
            int retry = 0;
            long left = (long)(deadline - now_ms(h));
            if (left <= 0)
                return rc == AK_ERR_NETWORK ? AK_ERR_TIMEOUT : rc;
            rc = cn_rhttp_once(h, req, hooks, order[j], left, resp, &retry);
            if (rc == AK_OK)
                rc = check(req->user, resp, &retry);
            if (req->base == NULL && (rc == AK_OK || retry))
                cn_rhttp_mark(h, order[j], rc != AK_OK);
            if (rc == AK_OK || !retry)
                return rc;
        }
        if (round >= retries ||
            !cn_rhttp_backoff_left(&backoff, CN_RHTTP_BACKOFF_MAX_MS, (long)(deadline - now_ms(h))))
            return rc;
    }
}

ak_err cn_rhttp_call(cn_rhttp *h, const cn_rhttp_req *req, cn_rhttp_resp *resp)
{
    return cn_rhttp_call_until(h, req, NULL, resp, now_ms(h) + h->timeout_ms, -1);
}

/* ---- failover marks and the prober --------------------------------------------------------- */

int64_t cn_rhttp_down_until(cn_rhttp *h, size_t url)
{
    return url < h->n_urls ? atomic_load(&h->urls[url].down_until) : 0;
}

void cn_rhttp_mark(cn_rhttp *h, size_t url, int down)
{
    if (url < h->n_urls)
        atomic_store(&h->urls[url].down_until, down ? now_ms(h) + CN_RHTTP_COOLDOWN_MS : 0);
}

/* While a URL is marked down, GET its probe path every PROBE_INTERVAL_MS and keep it down until
 * it answers 200: live requests then never pay a connect timeout to find out. */
static void probe(void *arg)
{
    cn_rhttp *h = arg;
    cn_rhttp_resp r;
    cn_rhttp_req q = {.method = "GET", .path = h->probe_path};
    if (cn_rhttp_resp_init_max(&r, CN_RHTTP_MAX_BODY, 0) != AK_OK)
        return;
    for (size_t i = 0; i < h->n_urls; i++) {
        int retry = 0;
        if (atomic_load(&h->urls[i].down_until) == 0)
            continue;
        ak_err e = cn_rhttp_once(h, &q, NULL, i, h->connect_timeout_ms + 1000, &r, &retry);
        cn_rhttp_mark(h, i, !(e == AK_OK && r.status == 200));
    }
    cn_rhttp_resp_clear(&r);
}

ak_err cn_rhttp_start_prober(cn_rhttp *h, const char *path)
{
    if (h->probe_path != NULL || (h->probe_path = strdup(path)) == NULL) /* once */
        return AK_ERR_INTERNAL;
    return rt_ticker_start(&h->prober, PROBE_INTERVAL_MS, probe, h) == AK_OK ? AK_OK
                                                                             : AK_ERR_INTERNAL;
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static AK_WUR ak_err share_new(cn_rhttp *h)
{
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_mu[i], NULL);
    h->share = curl_share_init();
    if (h->share == NULL ||
        curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)
        return AK_ERR_INTERNAL;
    return AK_OK;
}

/* The client's header lines; the secret one is built in locked memory and swapped in for the
 * placeholder curl_slist_append copied, so the list holds the only copy. */
static AK_WUR ak_err headers_new(cn_rhttp *h, const cn_rhttp_more *m)
{
    struct curl_slist *l;
    for (size_t i = 0; i < m->n_headers; i++) {
        if ((l = curl_slist_append(h->headers, m->headers[i])) == NULL)
            return AK_ERR_NOMEM;
        h->headers = l;
    }
    if (m->secret_prefix == NULL)
        return AK_OK;
    size_t pl = strlen(m->secret_prefix);
    if (m->secret == NULL || m->secret_len > 8192 || memchr(m->secret, '\n', m->secret_len) ||
        memchr(m->secret, '\r', m->secret_len))
        return AK_ERR_ARG;
    h->secret_cap = pl + m->secret_len + 1;
    if ((h->secret_line = ak_secure_alloc(h->secret_cap)) == NULL ||
        (l = curl_slist_append(h->headers, "X-Placeholder: x")) == NULL)
        return AK_ERR_NOMEM;
    h->headers = l;
    memcpy(h->secret_line, m->secret_prefix, pl);
    memcpy(h->secret_line + pl, m->secret, m->secret_len);
    h->secret_line[pl + m->secret_len] = '\0';
    while (l->next != NULL)
        l = l->next;
    free(l->data);
    l->data = h->secret_line; /* detached again before curl_slist_free_all */
    return AK_OK;
}

static char *dup_opt(const char *s, int *bad)
{
    char *d = s != NULL ? strdup(s) : NULL;
    *bad |= s != NULL && d == NULL;
    return d;
}

ak_err cn_rhttp_new_ext(cn_rhttp **out, const cn_rhttp_opts *o, const cn_rhttp_more *more)
{
    static const cn_rhttp_more none;
    const cn_rhttp_more *m = more ? more : &none;
    ak_err rc = AK_ERR_NOMEM;
    int bad = 0;
    cn_rhttp *h = NULL;
    *out = NULL;
    if (m->n_urls > CN_RHTTP_MAX_URLS || (m->cert != NULL) != (m->key != NULL))
        return AK_ERR_ARG;
    if ((h = calloc(1, sizeof *h)) == NULL)
        return rc;
    h->timeout_ms = o->timeout_ms;
    h->connect_timeout_ms = o->connect_timeout_ms;
    h->retries = o->retries < 0 ? 0 : o->retries;
    h->allow_http = m->allow_http;
    h->clock = m->clock ? m->clock : rt_clock_system();
    h->ca = dup_opt(o->ca, &bad);
    h->cert = dup_opt(m->cert, &bad);
    h->key = dup_opt(m->key, &bad);
    for (size_t i = 0; i < m->n_urls; i++)
        h->urls[i].base = dup_opt(m->urls[i], &bad);
    h->n_urls = m->n_urls;
    if (bad || cn_rhttp_pool_init(&h->pool, o->pool_size) != AK_OK)
        goto out;
    if ((rc = headers_new(h, m)) != AK_OK)
        goto out;
    if (m->share && (rc = share_new(h)) != AK_OK)
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
    rt_ticker_stop(h->prober);
    cn_rhttp_pool_destroy(&h->pool);
    if (h->share != NULL) {
        curl_share_cleanup(h->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&h->share_mu[i]);
    }
    for (size_t i = 0; i < h->n_urls; i++)
        free(h->urls[i].base);
    for (struct curl_slist *l = h->headers; l != NULL && h->secret_line != NULL; l = l->next)
        if (l->data == h->secret_line)
            l->data = NULL; /* ours, not the list's */
    curl_slist_free_all(h->headers);
    if (h->secret_line != NULL)
        ak_secure_free(h->secret_line, h->secret_cap);
    free(h->probe_path);
    free(h->ca);
    free(h->cert);
    free(h->key);
    free(h);
}
