/*
 * cn_rhttp_base.c - the building blocks of the one HTTP client (see cn_rhttp.h): the handle pool,
 * the base options of every handle, the curl and HTTP error mappings, header lines (built and
 * wiped), the base URL check and the public backoff. cn_rhttp.c composes them into requests.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_secmem.h"
#include "cn_rhttp.h"

#define BASE_MAX 256

int64_t cn_rhttp_now_ms(void)
{
    return rt_clock_mono_ms(rt_clock_system());
}

/* The one backoff: full jitter in [backoff/2, backoff*3/2), never reaching the deadline. */
int cn_rhttp_backoff_left(long *backoff, long max_ms, long left_ms)
{
    long ms = *backoff / 2 + (long)((unsigned long)random() % (unsigned long)*backoff);
    if (ms >= left_ms)
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
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0; /* certificate failures do not heal by retrying */
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

/* The header lines of one attempt (cn_rhttp_header_add): one block of locked memory, the list's
 * nodes first, so that the head of the list is the block. */
typedef struct {
    struct curl_slist nodes[CN_RHTTP_HDR_LINES];
    size_t n, used;
    char text[CN_RHTTP_HDR_TEXT];
} hdr_block;

void cn_rhttp_headers_free(struct curl_slist *l)
{
    ak_secure_free(l, sizeof(hdr_block)); /* wipes it */
}

ak_err cn_rhttp_header_add(struct curl_slist **l, ak_err rc, const char *fmt, ...)
{
    hdr_block *b = (hdr_block *)(void *)*l;
    va_list ap;
    if (rc != AK_OK)
        return rc;
    if (b == NULL && (b = ak_secure_alloc(sizeof *b)) == NULL)
        return AK_ERR_NOMEM;
    size_t left = sizeof b->text - b->used;
    va_start(ap, fmt);
    int n = vsnprintf(b->text + b->used, left, fmt, ap);
    va_end(ap);
    *l = NULL;
    if (n < 0 || (size_t)n >= left || b->n == CN_RHTTP_HDR_LINES) {
        cn_rhttp_headers_free(&b->nodes[0]);
        return AK_ERR_LIMIT;
    }
    b->nodes[b->n] = (struct curl_slist){.data = b->text + b->used, .next = NULL};
    if (b->n > 0)
        b->nodes[b->n - 1].next = &b->nodes[b->n];
    b->n++;
    b->used += (size_t)n + 1;
    *l = &b->nodes[0];
    return AK_OK;
}

int cn_rhttp_base_ok(const char *url)
{
    size_t n = url ? strlen(url) : 0;
    return n > 8 && n <= BASE_MAX && strncmp(url, "https://", 8) == 0 &&
           strpbrk(url, "?#@ \t\r\n\"\\") == NULL;
}
