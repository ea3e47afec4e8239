/*
 * cn_rhttp.h - the connector's one HTTP client (libcurl). Every outbound request goes through
 * it: the downstream node (cn_downstream), the key server (cn_signer_keyless), the remote backends
 * (hashicorp_vault, cloudflare_secrets, mpc_kms), aws_kms and the AWS credential endpoints.
 *
 * Owns, per client: a bounded pool of easy handles that keep their connections alive (or, with
 * opts.share, one CURLSH and a handle per request), the base options every handle gets (each
 * curl_easy_setopt checked: no signals, no proxy from the environment, no redirects, only
 * https - or http too when allowed -, TLS >= 1.2 with peer and host verification, the CA file,
 * the client certificate and key), a deadline per call, bounded retries with one jittered
 * exponential backoff (50 ms doubling, capped at 1 s, +-50%), an optional failover set of base
 * URLs with down marks and a background prober, and one mapping of transport and HTTP failures
 * to ak_err. One retry rule for every caller: network failures, timeouts, TLS handshake
 * failures and HTTP 429/502/503/504 (a caller's check function may add its own, aws_kms does).
 *
 * Secrets: response bodies may carry private keys or tokens, so cn_rhttp_resp_init() bodies
 * come from ak_secure_alloc (locked, not dumped) and are wiped by cn_rhttp_resp_clear(). Request
 * headers are built per attempt by the caller's callback (so a signature over a fresh
 * timestamp can be made for each retry) in locked memory (cn_rhttp_header_add), wiped when
 * freed. Limit: libcurl copies headers and bodies into its own send buffer, which it does not
 * wipe.
 *
 * Bounds: response bodies <= the response's max (CN_RHTTP_MAX_BODY by default; larger ones fail
 * with AK_ERR_UPSTREAM and resp->overflow set); URLs <= CN_RHTTP_URL_MAX; <= CN_RHTTP_MAX_URLS
 * failover URLs. Thread-safe: one cn_rhttp is shared by all request threads.
 * The process must call curl_global_init() once before any thread starts.
 */
#ifndef CN_RHTTP_H
#define CN_RHTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "ak_err.h"
#include "rt_clock.h"

#define CN_RHTTP_MAX_BODY    ((size_t)64 * 1024)
#define CN_RHTTP_URL_MAX     2048
#define CN_RHTTP_MAX_URLS    8
#define CN_RHTTP_COOLDOWN_MS 2000 /* a failed failover URL is tried last for this long */

typedef struct cn_rhttp cn_rhttp;

typedef struct {
    const char *ca;          /* CA bundle file for the server certificate; NULL: system store */
    long timeout_ms;         /* cn_rhttp_call: whole request including retries, 1..600000 */
    long connect_timeout_ms; /* TCP + TLS handshake per attempt */
    int retries;             /* extra attempts (rounds over the failover set) */
    size_t pool_size;        /* idle handles kept, >= 1 */
} cn_rhttp_opts;

/* What cn_rhttp_new_ext adds (more NULL or zero: the remote backends' defaults). */
typedef struct {
    int allow_http;          /* also http:// (the node, loopback endpoints); 0: https only */
    const char *cert, *key;  /* client certificate and key files (mutual TLS); NULL: none */
    int share;               /* 1: one CURLSH (connections, TLS sessions, DNS), no pool */
    const char *const *urls; /* failover set for requests with base NULL; copied */
    size_t n_urls;           /* 0..CN_RHTTP_MAX_URLS */
    const rt_clock *clock;   /* deadlines and down marks; NULL: rt_clock_system() */
    /* Header lines of every request without its own (no headers_fn, no hooks->headers): */
    const char *const *headers; /* copied */
    size_t n_headers;
    const char *secret_prefix; /* and secret_prefix + secret[0..secret_len) last, e.g. */
    const char *secret;        /* "Authorization: Bearer " + a token: that line is kept in */
    size_t secret_len;         /* locked memory, its only copy, wiped at free; <= 8192 */
} cn_rhttp_more;

/* A response. The body is NUL-terminated whenever it has room (always, except wrapped buffers
 * filled to their last byte). */
typedef struct {
    long status;
    char *body;
    size_t len;
    int overflow;  /* the answer was larger than max */
    CURLcode curl; /* the last attempt's libcurl result; CURLE_OK when an answer arrived */
    size_t max;    /* largest body accepted */
    size_t room;   /* bytes allocated at body */
    int mode;      /* private: how body is held */
} cn_rhttp_resp;

/*
 * Builds the request headers for one attempt (called again for each retry) with
 * cn_rhttp_header_add into *out (NULL on entry); the client wipes and frees the list after the
 * attempt. Return AK_OK or an error (no retry).
 */
typedef ak_err (*cn_rhttp_headers_fn)(void *user, struct curl_slist **out, const char *method,
                                      const char *path, const char *body, size_t body_len);

/*
 * Judges one HTTP answer (any status): AK_OK hands it to the caller; an error ends the call
 * with that error unless *retry is set and attempts remain.
 */
typedef ak_err (*cn_rhttp_check_fn)(void *user, const cn_rhttp_resp *resp, int *retry);

typedef struct {
    const char *method; /* "GET", "POST", or another verb sent without a body ("PUT") */
    const char *base;   /* scheme://host:port[/path] (no trailing slash); NULL: the failover set */
    const char *path;   /* /v1/..., with query if any ("" for none); passed to headers_fn too */
    const char *body;   /* POST body or NULL */
    size_t body_len;
    cn_rhttp_headers_fn headers_fn; /* may be NULL */
    void *user;                     /* for headers_fn and the hooks */
} cn_rhttp_req;

/* Optional per-request hooks (NULL or zero fields: the defaults). */
typedef struct {
    struct curl_slist *headers; /* lines used when headers_fn is NULL (not freed); NULL: the
                                 * client's (cn_rhttp_more.headers) */
    cn_rhttp_check_fn check;    /* NULL: 429/502/503/504 retried, then AK_ERR_UNAVAILABLE; any
                                 * other status is AK_OK */
} cn_rhttp_hooks;

/* A check that hands every answer to the caller, whatever its status (no status retried). */
ak_err cn_rhttp_accept_any(void *user, const cn_rhttp_resp *resp, int *retry);

/* On failure *out is NULL. The options (strings included) are copied. more may be NULL. */
AK_WUR ak_err cn_rhttp_new_ext(cn_rhttp **out, const cn_rhttp_opts *opts,
                               const cn_rhttp_more *more);
void cn_rhttp_free(cn_rhttp *h); /* stops the prober; NULL allowed */

/* resp->body: CN_RHTTP_MAX_BODY + 1 bytes of locked memory. Free with cn_rhttp_resp_clear(). */
AK_WUR ak_err cn_rhttp_resp_init(cn_rhttp_resp *resp);
/* secure: max + 1 bytes of locked memory now; else plain heap grown as data arrives (not for
 * secrets). */
AK_WUR ak_err cn_rhttp_resp_init_max(cn_rhttp_resp *resp, size_t max, int secure);
/* The caller's buffer buf[0..cap): answers up to cap bytes; clear() leaves buf alone. */
void cn_rhttp_resp_wrap(cn_rhttp_resp *resp, char *buf, size_t cap);
/* Heap bodies only: the body (NUL-terminated, never NULL on AK_OK) passes to the caller, who
 * frees it with free(); resp is cleared. NULL if out of memory or not a heap body. */
char *cn_rhttp_resp_take(cn_rhttp_resp *resp);
void cn_rhttp_resp_clear(cn_rhttp_resp *resp); /* wipes and frees; NULL body allowed */

/*
 * One request with retries. AK_OK means an HTTP answer arrived that the check accepted;
 * otherwise the check's error, AK_ERR_NETWORK (refused, reset, TLS), AK_ERR_TIMEOUT,
 * AK_ERR_UPSTREAM (oversized body), AK_ERR_LIMIT (URL too long), AK_ERR_NOMEM. Never runs past
 * opts.timeout_ms.
 */
AK_WUR ak_err cn_rhttp_call(cn_rhttp *h, const cn_rhttp_req *req, cn_rhttp_resp *resp);

/*
 * The same until deadline (monotonic ms of the client's clock) with retries extra rounds (< 0:
 * opts.retries). With base NULL each round tries the failover URLs not marked down, in order,
 * then those marked down; a URL whose attempt failed in a retryable way is marked down for
 * CN_RHTTP_COOLDOWN_MS, one that answered is marked healthy. AK_ERR_ARG: base NULL and no
 * failover set.
 */
AK_WUR ak_err cn_rhttp_call_until(cn_rhttp *h, const cn_rhttp_req *req, const cn_rhttp_hooks *hooks,
                                  cn_rhttp_resp *resp, int64_t deadline, int retries);

/*
 * One attempt (no retry, no check, marks untouched) to req->base, or to failover URL number url
 * when req->base is NULL. On AK_OK resp->status is the HTTP status; *retry says whether another
 * attempt may help (the retry rule above).
 */
AK_WUR ak_err cn_rhttp_once(cn_rhttp *h, const cn_rhttp_req *req, const cn_rhttp_hooks *hooks,
                            size_t url, long timeout_ms, cn_rhttp_resp *resp, int *retry);

/* Failover marks: 0 = healthy, else monotonic ms until which URL number url is down. */
int64_t cn_rhttp_down_until(cn_rhttp *h, size_t url);
void cn_rhttp_mark(cn_rhttp *h, size_t url, int down); /* down for CN_RHTTP_COOLDOWN_MS, or up */

/* Start, once, a thread that every second GETs path from each failover URL marked down and
 * keeps it down until it answers 200. AK_ERR_INTERNAL on failure. */
AK_WUR ak_err cn_rhttp_start_prober(cn_rhttp *h, const char *path);

/* HTTP status of a non-success answer -> ak_err (401 AUTH, 403 FORBIDDEN, 404 NOT_FOUND,
 * 429/502/503/504 UNAVAILABLE, others UPSTREAM). */
ak_err cn_rhttp_status_err(long status);

/*
 * Append the line fmt formats to *l (NULL: a new list), for a headers_fn. The list and its text
 * are one block of locked memory (lines may hold tokens and signatures), handed to libcurl as
 * our own nodes: at most CN_RHTTP_HDR_LINES lines sharing CN_RHTTP_HDR_TEXT bytes. Nothing is
 * done when rc is not AK_OK: rc is returned, so that calls chain. On failure (AK_ERR_LIMIT,
 * AK_ERR_NOMEM) the list is freed and *l is NULL.
 */
#define CN_RHTTP_HDR_LINES 12
#define CN_RHTTP_HDR_TEXT  16000
AK_WUR ak_err cn_rhttp_header_add(struct curl_slist **l, ak_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Wipe and free a list of cn_rhttp_header_add (NULL allowed). */
void cn_rhttp_headers_free(struct curl_slist *l);

/* Check a configured base URL: https://, no query/fragment/userinfo/space, <= 256 chars. */
int cn_rhttp_base_ok(const char *url);

/* ---- building blocks (used above; kept for backends that drive libcurl themselves) -------- */

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
 * The options every handle gets: no signals, only the given protocols ("https", or
 * "http,https"), no proxy, no redirects, TLS >= 1.2 with peer and host verification (CA file
 * ca, or the system store when NULL), connect timeout, TCP_NODELAY and keep-alive.
 * AK_ERR_INTERNAL if libcurl refuses one.
 */
AK_WUR ak_err cn_rhttp_handle_base(CURL *c, const char *protocols, const char *ca,
                                   long connect_timeout_ms);

/* A failed transfer -> AK_ERR_TIMEOUT, AK_ERR_UPSTREAM (body overflow), AK_ERR_NOMEM or
 * AK_ERR_NETWORK. */
ak_err cn_rhttp_curl_err(CURLcode c, int overflow);
/* 1 if another attempt may help (network failures, timeouts, HTTP/2 stream errors); a TLS
 * handshake failure counts only when tls_connect is set (the client always sets it: load
 * balancers drop handshakes under load). Certificate failures never count. */
int cn_rhttp_curl_retryable(CURLcode c, int tls_connect);

int64_t cn_rhttp_now_ms(void); /* the system clock's monotonic ms (rt_clock) */
/*
 * Sleep a jittered backoff in [*backoff/2, *backoff*3/2) and double *backoff (capped at
 * max_ms). Returns 0 without sleeping when the sleep would use up left_ms (the time left before
 * the caller's deadline, by the client's own clock): the caller then stops retrying.
 */
int cn_rhttp_backoff_left(long *backoff, long max_ms, long left_ms);
#define CN_RHTTP_BACKOFF_MAX_MS 1000 /* the client's cap; 50 ms is the first backoff */

#endif
