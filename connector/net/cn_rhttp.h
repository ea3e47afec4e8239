/*
 * cn_rhttp.h - a small HTTPS client (libcurl) shared by the remote secret/signing backends
 * (hashicorp_vault, cloudflare_secrets, mpc_kms): a bounded pool of easy handles that keep
 * their TLS connections alive, a per-request deadline, bounded retries with exponential backoff
 * and jitter, and one mapping of transport and HTTP failures to ak_err.
 *
 * Secrets: response bodies may carry private keys or tokens, so every response buffer comes
 * from ak_secure_alloc (locked, not dumped) and is wiped by cn_rhttp_resp_clear(). Request
 * headers are built per attempt by the caller's callback (so a signature over a fresh
 * timestamp can be made for each retry) and their strings are wiped before they are freed.
 * Limit: libcurl copies headers and bodies into its own send buffer, which it does not wipe.
 *
 * Bounds: response bodies <= CN_RHTTP_MAX_BODY (larger ones fail with AK_ERR_UPSTREAM); URLs
 * <= CN_RHTTP_URL_MAX. Only https:// URLs, unless the options allow http (tests never do).
 * Thread-safe: one cn_rhttp is shared by all request threads.
 * The process must call curl_global_init() once before any thread starts.
 *
 * The pieces at the end (handle pool, common handle options, curl error mapping, backoff) also
 * serve aws_kms, which builds its own signed requests and classifies answers by KMS error type.
 */
#ifndef CN_RHTTP_H
#define CN_RHTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "ak_err.h"

#define CN_RHTTP_MAX_BODY ((size_t)64 * 1024)
#define CN_RHTTP_URL_MAX  1024

typedef struct cn_rhttp cn_rhttp;

typedef struct {
    const char *ca;          /* CA bundle file for the server certificate; NULL: system store */
    long timeout_ms;         /* whole request including retries, 1..600000 */
    long connect_timeout_ms; /* TCP + TLS handshake per attempt */
    int retries;             /* extra attempts on network errors, timeouts, 429/502/503/504 */
    size_t pool_size;        /* idle handles kept, >= 1 */
} cn_rhttp_opts;

/* A response: body in locked memory (NUL-terminated), wiped by cn_rhttp_resp_clear(). */
typedef struct {
    long status;
    char *body; /* ak_secure_alloc(CN_RHTTP_MAX_BODY + 1) */
    size_t len;
    int overflow;
} cn_rhttp_resp;

/*
 * Builds the request headers for one attempt (called again for each retry). *out is a new
 * list the client wipes and frees after the attempt. Return AK_OK or an error (no retry).
 */
typedef ak_err (*cn_rhttp_headers_fn)(void *user, struct curl_slist **out, const char *method,
                                      const char *path, const char *body, size_t body_len);

typedef struct {
    const char *method; /* "GET" or "POST" */
    const char *base;   /* https://host:port (no trailing slash) */
    const char *path;   /* /v1/..., with query if any; passed to headers_fn too */
    const char *body;   /* POST body or NULL */
    size_t body_len;
    cn_rhttp_headers_fn headers_fn; /* may be NULL */
    void *user;
} cn_rhttp_req;

/* On failure *out is NULL. The options are copied. */
AK_WUR ak_err cn_rhttp_new(cn_rhttp **out, const cn_rhttp_opts *opts);
void cn_rhttp_free(cn_rhttp *h); /* NULL allowed */

/* Allocate resp->body (locked memory). Free with cn_rhttp_resp_clear(). */
AK_WUR ak_err cn_rhttp_resp_init(cn_rhttp_resp *resp);
void cn_rhttp_resp_clear(cn_rhttp_resp *resp); /* wipes and frees; NULL body allowed */

/*
 * One request with retries. AK_OK means an HTTP answer arrived (any status other than a
 * retried one that ran out of attempts: then 429/502/503/504 map to AK_ERR_UNAVAILABLE);
 * otherwise AK_ERR_NETWORK (refused, reset, TLS), AK_ERR_TIMEOUT, AK_ERR_UPSTREAM (oversized
 * body), AK_ERR_NOMEM. Never runs past opts.timeout_ms.
 */
AK_WUR ak_err cn_rhttp_call(cn_rhttp *h, const cn_rhttp_req *req, cn_rhttp_resp *resp);

/* HTTP status of a non-success answer -> ak_err (401 AUTH, 403 FORBIDDEN, 404 NOT_FOUND,
 * 429/502/503/504 UNAVAILABLE, others UPSTREAM). */
ak_err cn_rhttp_status_err(long status);

/* Wipe each string of a header list, then free it (NULL allowed). */
void cn_rhttp_headers_free(struct curl_slist *l);

/* Check a configured base URL: https://, no query/fragment/userinfo/space, <= 256 chars. */
int cn_rhttp_base_ok(const char *url);

/* ---- building blocks (used above, and by aws_kms) ---------------------------------------- */

/* Idle easy handles (each keeps its connection alive), at most size kept; thread-safe. */
typedef struct {
    pthread_mutex_t mu; /* guards idle / n_idle */
    CURL **idle;
    size_t n_idle, size;
} cn_rhttp_pool;

/* size 0 means 1. On failure the pool is left zeroed (cn_rhttp_pool_destroy is a no-op). */
AK_WUR ak_err cn_rhttp_pool_init(cn_rhttp_pool *p, size_t size);
CURL *cn_rhttp_pool_take(cn_rhttp_pool *p);        /* an idle handle or NULL; the caller owns it */
void cn_rhttp_pool_put(cn_rhttp_pool *p, CURL *c); /* kept, or cleaned up if full; NULL ok */
void cn_rhttp_pool_destroy(cn_rhttp_pool *p);      /* a zeroed pool is fine */

/*
 * The options every backend handle gets: no signals, only the given protocols ("https", or
 * "http" for a loopback test endpoint), no proxy, no redirects, TLS >= 1.2 with peer and host
 * verification (CA file ca, or the system store when NULL), connect timeout, TCP_NODELAY and
 * keep-alive. AK_ERR_INTERNAL if libcurl refuses one.
 */
AK_WUR ak_err cn_rhttp_handle_base(CURL *c, const char *protocols, const char *ca,
                                   long connect_timeout_ms);

/* A failed transfer -> AK_ERR_TIMEOUT, AK_ERR_UPSTREAM (body overflow), AK_ERR_NOMEM or
 * AK_ERR_NETWORK. */
ak_err cn_rhttp_curl_err(CURLcode c, int overflow);
/* 1 if another attempt may help (network failures, timeouts); a TLS handshake failure counts
 * only when tls_connect is set (aws_kms: load balancers drop handshakes under load). */
int cn_rhttp_curl_retryable(CURLcode c, int tls_connect);

int64_t cn_rhttp_now_ms(void); /* CLOCK_MONOTONIC */
/*
 * Sleep a jittered backoff in [*backoff/2, *backoff*3/2) and double *backoff (capped at
 * max_ms). Returns 0 without sleeping when the sleep would reach the deadline (ms, as
 * cn_rhttp_now_ms): the caller then stops retrying.
 */
int cn_rhttp_backoff(long *backoff, long max_ms, int64_t deadline);

#endif
