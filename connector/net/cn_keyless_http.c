/*
 * cn_keyless_http.c - the keyless signer's HTTP client: handle pool or CURLSH, retries,
 * failover and the URL prober (see cn_keyless_http.h for the rules and the limits).
 *
 * Connection reuse: use_share 0 keeps a free list of easy handles (each keeps its TLS
 * connections alive between requests); use_share 1 makes an easy handle per request attached
 * to one CURLSH that shares the connection cache and TLS sessions. Both keep connections; see
 * docs/connector.md for the measurement. No key material: the client key file is read by
 * libcurl/OpenSSL when a connection is made; the bearer line lives in locked memory.
 */
#include "cn_keyless_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ak_secmem.h"

#define BACKOFF_FIRST_MS  50
#define BACKOFF_MAX_MS    1000
#define PROBE_INTERVAL_MS 1000
#define REQ_PATH_MAX      256 /* path + query of one request */
#define PROBE_BODY_MAX    ((size_t)64 * 1024)

typedef struct {
    char base[CN_KH_URL_MAX + 1];
    _Atomic int64_t down_until_ms; /* monotonic ms; 0 = healthy */
} ks_url;

struct cn_kh {
    ks_url urls[CN_KH_MAX_URLS];
    size_t n_urls;
    char cert[CN_KH_PATH_MAX + 1], key[CN_KH_PATH_MAX + 1], ca[CN_KH_PATH_MAX + 1];
    long connect_timeout_ms;
    int retries;
    int use_share;
    int allow_http;
    char *auth_hdr; /* "Authorization: Bearer ..." in locked memory, or NULL */
    size_t auth_cap;

    pthread_mutex_t mu; /* guards idle[] / n_idle */
    CURL **idle;
    size_t n_idle, pool_size;

    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];

    struct curl_slist *headers;

    /* Background re-check of failed URLs (only with more than one URL). */
    pthread_t prober;
    int prober_started;
    pthread_mutex_t probe_mu; /* guards stopping */
    pthread_cond_t probe_cv;
    int stopping;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- curl plumbing ---------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    cn_kh_body *b = userdata;
    size_t n = size * nmemb;
    if (n > b->cap - b->len) {
        b->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
    (void)h;
    (void)access;
    cn_kh *k = user;
    pthread_mutex_lock(&k->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    (void)h;
    cn_kh *k = user;
    pthread_mutex_unlock(&k->share_mu[data]);
}

/* A handle with every per-signer option set; per-request options are set in http_once(). */
static CURL *handle_new(cn_kh *k)
{
    CURL *h = curl_easy_init();
    if (h == NULL)
        return NULL;
    int bad = 0;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, k->allow_http ? "http,https" : "https") !=
           CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK; /* ignore *_proxy env vars */
    bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    if (k->ca[0] != '\0') { /* "custom" without "ca": the system's trust store */
        bad |= curl_easy_setopt(h, CURLOPT_CAINFO, k->ca) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK;
    }
    if (k->cert[0] != '\0') { /* "custom" may run without a client certificate */
        bad |= curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_SSLKEY, k->key) != CURLE_OK;
    }
    bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, k->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, k->headers) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)CN_KH_MAX_URLS) != CURLE_OK;
    if (k->use_share)
        bad |= curl_easy_setopt(h, CURLOPT_SHARE, k->share) != CURLE_OK;
    if (bad) {
        curl_easy_cleanup(h);
        return NULL;
    }
    return h;
}

static CURL *handle_get(cn_kh *k)
{
    CURL *h = NULL;
    if (!k->use_share) {
        pthread_mutex_lock(&k->mu);
        if (k->n_idle > 0)
            h = k->idle[--k->n_idle];
        pthread_mutex_unlock(&k->mu);
    }
    return h ? h : handle_new(k);
}

static void handle_put(cn_kh *k, CURL *h)
{
    if (h == NULL)
        return;
    if (!k->use_share) {
        pthread_mutex_lock(&k->mu);
        if (k->n_idle < k->pool_size) {
            k->idle[k->n_idle++] = h;
            h = NULL;
        }
        pthread_mutex_unlock(&k->mu);
    }
    curl_easy_cleanup(h); /* NULL is a no-op */
}

static int curl_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static ak_err curl_to_err(CURLcode c, const cn_kh_body *b)
{
    if (c == CURLE_OPERATION_TIMEDOUT)
        return AK_ERR_TIMEOUT;
    if (c == CURLE_WRITE_ERROR && b->overflow)
        return AK_ERR_UPSTREAM;
    if (c == CURLE_OUT_OF_MEMORY)
        return AK_ERR_NOMEM;
    return AK_ERR_NETWORK; /* refused, reset, TLS handshake or certificate failure */
}

ak_err cn_kh_status_err(long status)
{
    switch (status) {
    case 403:
        return AK_ERR_FORBIDDEN;
    case 404:
        return AK_ERR_KEY_NOT_FOUND;
    case 503:
        return AK_ERR_UNAVAILABLE;
    default:
        return AK_ERR_UPSTREAM;
    }
}

/*
 * One HTTP exchange with one URL. post: NULL for GET. On AK_OK, *status is the HTTP status
 * and body holds the response (bounded). *retry says whether another attempt may help.
 */
static AK_WUR ak_err http_once(cn_kh *k, const ks_url *u, const char *path, const char *post,
                               long timeout_ms, cn_kh_body *body, long *status, int *retry)
{
    char url[CN_KH_URL_MAX + REQ_PATH_MAX];
    ak_err rc = AK_ERR_INTERNAL;
    CURL *h = handle_get(k);
    *retry = 0;
    body->len = 0;
    body->overflow = 0;
    if (h == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    snprintf(url, sizeof url, "%s%s", u->base, path);
    int bad = 0;
    bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, body) != CURLE_OK;
    if (post != NULL) {
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(post)) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, post) != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    }
    if (bad)
        goto out;
    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        rc = curl_to_err(c, body);
        *retry = curl_retryable(c);
        goto out;
    }
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status) != CURLE_OK)
        goto out;
    *retry = *status == 503;
    rc = AK_OK;
out:
    if (h != NULL) {
        /* Do not keep a pointer to the caller's stack buffers in a pooled handle. */
        (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        if (rc != AK_OK && !*retry && rc != AK_ERR_UPSTREAM) {
            curl_easy_cleanup(h); /* unknown state: do not reuse */
            h = NULL;
        }
    }
    handle_put(k, h);
    return rc;
}

/*
 * The request with retries and failover. Rounds: each round tries the healthy URLs in
 * config order, then those still cooling down; between rounds it sleeps an exponential
 * backoff with jitter. Never runs past deadline (monotonic ms). status and body as in
 * http_once; a non-2xx status other than 503 is returned to the caller (AK_OK with that
 * status).
 */
ak_err cn_kh_call(cn_kh *k, const char *path, const char *post, cn_kh_body *body, long *status,
                  int64_t deadline)
{
    ak_err rc = AK_ERR_NETWORK;
    long backoff = BACKOFF_FIRST_MS;
    for (int round = 0; round <= k->retries; round++) {
        size_t order[CN_KH_MAX_URLS], n = 0;
        int64_t t = now_ms(), down[CN_KH_MAX_URLS];
        /* One snapshot per URL: other threads and the prober change the marks concurrently. */
        for (size_t i = 0; i < k->n_urls; i++)
            down[i] = atomic_load(&k->urls[i].down_until_ms);
        for (size_t i = 0; i < k->n_urls; i++)
            if (down[i] <= t)
                order[n++] = i;
        for (size_t i = 0; i < k->n_urls; i++)
            if (down[i] > t)
                order[n++] = i;
        for (size_t j = 0; j < n; j++) {
            ks_url *u = &k->urls[order[j]];
            int retry = 0;
            long left = (long)(deadline - now_ms());
            if (left <= 0)
                return rc == AK_ERR_NETWORK ? AK_ERR_TIMEOUT : rc;
            ak_err e = http_once(k, u, path, post, left, body, status, &retry);
            if (e == AK_OK && *status != 503) {
                atomic_store(&u->down_until_ms, 0);
                return AK_OK;
            }
            rc = e == AK_OK ? AK_ERR_UNAVAILABLE : e;
            if (!retry)
                return rc;
            atomic_store(&u->down_until_ms, now_ms() + CN_KH_COOLDOWN_MS);
        }
        if (round == k->retries)
            break;
        /* Full jitter in [backoff/2, backoff*3/2), never past the deadline. */
        long sleep = backoff / 2 + (long)((unsigned long)random() % (unsigned long)backoff);
        long left = (long)(deadline - now_ms());
        if (sleep >= left)
            return rc;
        sleep_ms(sleep);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return rc;
}

/*
 * While a URL is marked down, probe its /health every PROBE_INTERVAL_MS and keep it marked
 * down until it answers 200: live requests then never pay a connect timeout to find out.
 */
static void *prober_main(void *arg)
{
    cn_kh *k = arg;
    cn_kh_body body = {malloc(PROBE_BODY_MAX), 0, PROBE_BODY_MAX, 0};
    long status = 0;
    pthread_mutex_lock(&k->probe_mu);
    while (!k->stopping && body.data != NULL) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += PROBE_INTERVAL_MS / 1000;
        ts.tv_nsec += (PROBE_INTERVAL_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&k->probe_cv, &k->probe_mu, &ts);
        if (k->stopping)
            break;
        pthread_mutex_unlock(&k->probe_mu);
        for (size_t i = 0; i < k->n_urls; i++) {
            int retry = 0;
            if (atomic_load(&k->urls[i].down_until_ms) == 0)
                continue;
            ak_err e = http_once(k, &k->urls[i], "/health", NULL, k->connect_timeout_ms + 1000,
                                 &body, &status, &retry);
            atomic_store(&k->urls[i].down_until_ms,
                         e == AK_OK && status == 200 ? 0 : now_ms() + CN_KH_COOLDOWN_MS);
        }
        pthread_mutex_lock(&k->probe_mu);
    }
    pthread_mutex_unlock(&k->probe_mu);
    free(body.data);
    return NULL;
}

ak_err cn_kh_start_prober(cn_kh *k)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return AK_ERR_INTERNAL;
    int bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
              pthread_cond_init(&k->probe_cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad)
        return AK_ERR_INTERNAL;
    if (pthread_create(&k->prober, NULL, prober_main, k) != 0) {
        pthread_cond_destroy(&k->probe_cv);
        return AK_ERR_INTERNAL;
    }
    k->prober_started = 1;
    return AK_OK;
}

ak_err cn_kh_once(cn_kh *kh, size_t url, const char *path, const char *post, long timeout_ms,
                  cn_kh_body *body, long *status, int *retry)
{
    if (url >= kh->n_urls) {
        *retry = 0;
        return AK_ERR_ARG;
    }
    return http_once(kh, &kh->urls[url], path, post, timeout_ms, body, status, retry);
}

int64_t cn_kh_down_until(cn_kh *kh, size_t url)
{
    return url < kh->n_urls ? atomic_load(&kh->urls[url].down_until_ms) : 0;
}

void cn_kh_mark(cn_kh *kh, size_t url, int down)
{
    if (url < kh->n_urls)
        atomic_store(&kh->urls[url].down_until_ms, down ? now_ms() + CN_KH_COOLDOWN_MS : 0);
}

void cn_kh_free(cn_kh *k)
{
    if (k == NULL)
        return;
    if (k->prober_started) {
        pthread_mutex_lock(&k->probe_mu);
        k->stopping = 1;
        pthread_cond_signal(&k->probe_cv);
        pthread_mutex_unlock(&k->probe_mu);
        pthread_join(k->prober, NULL);
        pthread_cond_destroy(&k->probe_cv);
    }
    pthread_mutex_destroy(&k->probe_mu);
    for (size_t i = 0; i < k->n_idle; i++)
        curl_easy_cleanup(k->idle[i]);
    free(k->idle);
    if (k->share != NULL) {
        curl_share_cleanup(k->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&k->share_mu[i]);
    }
    /* The slist holds the secret auth_hdr by pointer: detach it before freeing the list. */
    for (struct curl_slist *l = k->headers; l != NULL && k->auth_hdr != NULL; l = l->next)
        if (l->data == k->auth_hdr)
            l->data = NULL;
    curl_slist_free_all(k->headers);
    if (k->auth_hdr != NULL)
        ak_secure_free(k->auth_hdr, k->auth_cap);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

ak_err cn_kh_new(cn_kh **out, const cn_kh_cfg *cfg, const char *bearer, size_t bearer_len,
                 char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_kh *k = NULL;
    if (out == NULL || cfg == NULL || cfg->n_urls < 1 || cfg->n_urls > CN_KH_MAX_URLS ||
        cfg->pool_size < 1 || (bearer != NULL && bearer_len > 4096))
        return AK_ERR_ARG;
    *out = NULL;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->probe_mu, NULL);
    for (size_t i = 0; i < cfg->n_urls; i++)
        snprintf(k->urls[i].base, sizeof k->urls[i].base, "%s", cfg->urls[i]);
    k->n_urls = cfg->n_urls;
    snprintf(k->cert, sizeof k->cert, "%s", cfg->cert);
    snprintf(k->key, sizeof k->key, "%s", cfg->key);
    snprintf(k->ca, sizeof k->ca, "%s", cfg->ca);
    k->connect_timeout_ms = cfg->connect_timeout_ms;
    k->retries = cfg->retries;
    k->use_share = cfg->use_share;
    k->allow_http = cfg->allow_http;
    k->pool_size = cfg->pool_size;
    k->idle = calloc(k->pool_size, sizeof *k->idle);
    k->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = k->headers ? curl_slist_append(k->headers, "Expect:") : NULL;
    if (k->idle == NULL || h2 == NULL)
        goto out;
    k->headers = h2;
    if (bearer != NULL) {
        /* curl_slist_append copies: build the line in locked memory, append, then swap the
         * copy for ours so the only copy of the token is wiped at free. */
        k->auth_cap = bearer_len + 32;
        k->auth_hdr = ak_secure_alloc(k->auth_cap);
        if (k->auth_hdr == NULL)
            goto out;
        memcpy(k->auth_hdr, "Authorization: Bearer ", 22);
        memcpy(k->auth_hdr + 22, bearer, bearer_len);
        k->auth_hdr[22 + bearer_len] = '\0';
        h2 = curl_slist_append(k->headers, "Authorization: Bearer x");
        if (h2 == NULL)
            goto out;
        k->headers = h2;
        struct curl_slist *last = h2;
        while (last->next != NULL)
            last = last->next;
        free(last->data);
        last->data = k->auth_hdr; /* owned by k: detached again before curl_slist_free_all */
    }
    if (k->use_share) {
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_init(&k->share_mu[i], NULL);
        k->share = curl_share_init();
        if (k->share == NULL ||
            curl_share_setopt(k->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
            curl_share_setopt(k->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
            curl_share_setopt(k->share, CURLSHOPT_USERDATA, k) != CURLSHE_OK ||
            curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
            curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
                CURLSHE_OK ||
            curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
            if (err != NULL && err_cap > 0)
                snprintf(err, err_cap, "keyless: libcurl share setup failed");
            rc = AK_ERR_INTERNAL;
            goto out;
        }
    }
    *out = k;
    k = NULL;
    rc = AK_OK;
out:
    cn_kh_free(k);
    return rc;
}
