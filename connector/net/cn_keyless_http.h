/*
 * cn_keyless_http.h - the HTTP side of the keyless/custom signer (cn_signer_keyless.c): the
 * connector's one HTTP client (cn_rhttp) set up for one signer's 1..CN_KH_MAX_URLS key server
 * base URLs - mutual TLS, handle pool or CURLSH, retries with backoff, URL failover and the
 * background prober are cn_rhttp's. It knows nothing of signing or of the JSON it carries.
 *
 * Owns: the cn_rhttp client and the request header list, whose bearer line lives in locked
 * memory (the only copy of the token; wiped at free). The caller owns every body buffer and
 * string it passes in; nothing here keeps a pointer to them after a call returns.
 *
 * Retries (cn_kh_call): cn_rhttp's rule (network errors, timeouts, TLS handshake failures, HTTP
 * 429/502/503/504), up to cfg.retries extra rounds, never past the deadline. Failover: each
 * round tries the healthy URLs in config order, then those marked down; a URL that failed in a
 * retryable way is marked down for CN_KH_COOLDOWN_MS. With more than one URL the prober
 * (cn_kh_start_prober) probes each down URL's /health every second and keeps it down until it
 * answers 200.
 *
 * Limits: URLs <= CN_KH_URL_MAX chars, file paths <= CN_KH_PATH_MAX; response bodies bounded by
 * the caller's cn_kh_body.cap (a larger one is AK_ERR_UPSTREAM). Thread-safe: once, call and the
 * marks from any thread. The process must call curl_global_init() once before any thread starts.
 */
#ifndef CN_KEYLESS_HTTP_H
#define CN_KEYLESS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "cn_rhttp.h"

#define CN_KH_MAX_URLS    CN_RHTTP_MAX_URLS
#define CN_KH_URL_MAX     256
#define CN_KH_PATH_MAX    1024
#define CN_KH_COOLDOWN_MS CN_RHTTP_COOLDOWN_MS

/* What the signer's config parser fills in; copied by cn_kh_new(). */
typedef struct {
    char urls[CN_KH_MAX_URLS][CN_KH_URL_MAX + 1]; /* base URLs, no trailing '/' */
    size_t n_urls;                                /* 1..CN_KH_MAX_URLS */
    char cert[CN_KH_PATH_MAX + 1];                /* "" = no client certificate */
    char key[CN_KH_PATH_MAX + 1];
    char ca[CN_KH_PATH_MAX + 1]; /* "" = the system's trust store */
    long connect_timeout_ms;
    int retries;      /* extra rounds in cn_kh_call */
    int use_share;    /* 1 = one CURLSH, an easy handle per request; 0 = pool of easy handles */
    int allow_http;   /* accept http:// as well as https:// */
    size_t pool_size; /* idle easy handles kept (pool mode), >= 1 */
} cn_kh_cfg;

/* A response buffer owned by the caller: data has room for cap bytes. */
typedef struct {
    char *data;
    size_t len, cap; /* cap <= the allocation; a larger body is AK_ERR_UPSTREAM */
    int overflow;
} cn_kh_body;

typedef struct cn_kh cn_kh;

/*
 * A client for cfg. bearer (not NUL-terminated, <= 4096 bytes, may be NULL) is sent as
 * "Authorization: Bearer ..." on every request. AK_ERR_NOMEM, or AK_ERR_INTERNAL with err set
 * (if err_cap > 0) when the HTTP client cannot be made. Free with cn_kh_free().
 */
AK_WUR ak_err cn_kh_new(cn_kh **out, const cn_kh_cfg *cfg, const char *bearer, size_t bearer_len,
                        char *err, size_t err_cap);

/* Stops the prober, closes every handle, wipes the bearer. NULL is a no-op. */
void cn_kh_free(cn_kh *kh);

/* Start the background prober, once (only useful with more than one URL). AK_ERR_INTERNAL on
 * failure. */
AK_WUR ak_err cn_kh_start_prober(cn_kh *kh);

/*
 * One HTTP exchange with URL number url (no retry, marks untouched). post: NULL for GET. On
 * AK_OK, *status is the HTTP status and body holds the response. *retry says whether another
 * attempt may help (cn_rhttp's retry rule).
 */
AK_WUR ak_err cn_kh_once(cn_kh *kh, size_t url, const char *path, const char *post, long timeout_ms,
                         cn_kh_body *body, long *status, int *retry);

/*
 * The request with retries and failover until deadline (monotonic ms, rt_clock_system()). A
 * status other than 429/502/503/504 is returned to the caller as AK_OK with that *status.
 */
AK_WUR ak_err cn_kh_call(cn_kh *kh, const char *path, const char *post, cn_kh_body *body,
                         long *status, int64_t deadline);

/* The down mark of URL number url: 0 = healthy, else monotonic ms until which it is down. */
int64_t cn_kh_down_until(cn_kh *kh, size_t url);

/* Mark URL number url healthy (down = 0) or down for CN_KH_COOLDOWN_MS (down = 1). */
void cn_kh_mark(cn_kh *kh, size_t url, int down);

/* The ak_err of a non-200 HTTP status: cn_rhttp_status_err(), except 404 KEY_NOT_FOUND. */
ak_err cn_kh_status_err(long status);

#endif
