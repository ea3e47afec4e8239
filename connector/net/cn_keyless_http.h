/*
 * cn_keyless_http.h - the HTTP side of the keyless/custom signer (cn_signer_keyless.c): a
 * libcurl client for one signer's 1..CN_KH_MAX_URLS key server base URLs, with a bounded pool
 * of easy handles (or one CURLSH), retries with backoff, URL failover and a background prober
 * that re-checks failed URLs. It knows nothing of signing or of the JSON it carries.
 *
 * Owns: a copy of the cn_kh_cfg, the pool of CURL easy handles (at most pool_size idle ones
 * are kept; extra ones made under load are closed after use), the CURLSH when "share" is
 * chosen, the request header list, the bearer header line (locked memory, wiped at free), the
 * per-URL "down" marks and the prober thread. The caller owns every body buffer and string it
 * passes in; nothing here keeps a pointer to them after a call returns.
 *
 * Retries (cn_kh_call): on network errors, timeouts and HTTP 503 only, up to cfg.retries extra
 * rounds with exponential backoff (50 ms doubling, +-50% jitter, capped at 1 s), never past the
 * deadline. Failover: each round tries the healthy URLs in config order, then those marked
 * down; a URL that failed with a network error, a timeout or 503 is marked down for
 * CN_KH_COOLDOWN_MS. With more than one URL the prober (cn_kh_start_prober) probes each down
 * URL's /health every second and keeps it down until it answers 200.
 *
 * Limits: URLs <= CN_KH_URL_MAX chars, file paths <= CN_KH_PATH_MAX, request paths (path +
 * query) <= 255 chars; response bodies bounded by the caller's cn_kh_body.cap (a larger one is
 * AK_ERR_UPSTREAM). Thread-safe: once, call and the marks from any thread. The process must
 * call curl_global_init() once before any thread starts.
 */
#ifndef CN_KEYLESS_HTTP_H
#define CN_KEYLESS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define CN_KH_MAX_URLS    8
#define CN_KH_URL_MAX     256
#define CN_KH_PATH_MAX    1024
#define CN_KH_COOLDOWN_MS 2000

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
 * (if err_cap > 0) when libcurl's share setup fails. Free with cn_kh_free().
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
 * attempt may help (network error, timeout, 503).
 */
AK_WUR ak_err cn_kh_once(cn_kh *kh, size_t url, const char *path, const char *post, long timeout_ms,
                         cn_kh_body *body, long *status, int *retry);

/*
 * The request with retries and failover until deadline (monotonic ms, CLOCK_MONOTONIC). A
 * non-2xx status other than 503 is returned to the caller as AK_OK with that *status.
 */
AK_WUR ak_err cn_kh_call(cn_kh *kh, const char *path, const char *post, cn_kh_body *body,
                         long *status, int64_t deadline);

/* The down mark of URL number url: 0 = healthy, else monotonic ms until which it is down. */
int64_t cn_kh_down_until(cn_kh *kh, size_t url);

/* Mark URL number url healthy (down = 0) or down for CN_KH_COOLDOWN_MS (down = 1). */
void cn_kh_mark(cn_kh *kh, size_t url, int down);

/* The ak_err of a non-200 HTTP status: 403 FORBIDDEN, 404 KEY_NOT_FOUND, 503 UNAVAILABLE,
 * anything else UPSTREAM. */
ak_err cn_kh_status_err(long status);

#endif
