/*
 * cn_oauth.h - OAuth 2.0 bearer tokens for the cloud KMS backends (gcp_kms, azure_key_vault):
 * the token-response parser, a thread-safe token cache that refreshes before expiry, form
 * encoding (application/x-www-form-urlencoded, RFC 6749 appendix B) and the plain-HTTP GET to a
 * workload identity endpoint on the host (GCE metadata server, Azure IMDS, App Service).
 *
 * Token responses (RFC 6749 section 5.1, and the metadata/IMDS variants): {"access_token": s,
 * "token_type": "Bearer" (optional, case-insensitive), "expires_in": n | "n"} or, without
 * expires_in, "expires_on": n | "n" (epoch seconds: App Service). The token is 1..
 * CN_OAUTH_TOKEN_MAX visible ASCII characters; its lifetime 1..86400 s. Anything else is
 * refused (never guessed).
 *
 * Cache: the token lives in locked memory (ak_secure_alloc), wiped when replaced and on
 * destroy. It is refreshed when its remaining life falls under the margin (300 s, or half its
 * lifetime when that is shorter; or a fixed margin the caller gives - AWS credentials): while it is
 * still valid ONE caller fetches a new one and the others keep using the old one; once it has
 * expired, callers wait for the fetch. A failed refresh of a still-valid token is retried after 10
 * s. cn_oauth_cache_reject() drops a token the service refused (401), so the next call fetches.
 * Thread-safe.
 */
#ifndef CN_OAUTH_H
#define CN_OAUTH_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "ak_err.h"
#include "cn_rhttp.h"

#define CN_OAUTH_TOKEN_MAX 8192
#define CN_OAUTH_TTL_MAX   86400

/*
 * Fetch a new token into tok (cap bytes, NUL-terminated, *len) with its lifetime in seconds.
 * err gets a secret-free reason on failure.
 */
typedef ak_err (*cn_oauth_fetch_fn)(void *user, char *tok, size_t cap, size_t *len, long *ttl_s,
                                    char *err, size_t err_cap);

typedef struct {
    pthread_mutex_t mu;       /* guards tok, len, expires, refresh_at, next_try */
    pthread_mutex_t fetch_mu; /* held by the one caller fetching */
    int init;
    char *tok; /* ak_secure_alloc(CN_OAUTH_TOKEN_MAX + 1) */
    size_t len;
    time_t expires, refresh_at, next_try;
    cn_oauth_fetch_fn fetch;
    void *user;
    const char *what; /* backend name for logs, e.g. "gcp_kms" (static) */
    const char *name; /* signer name for logs (outlives the cache) */
    long margin_s;    /* 0: 300 s or half the lifetime; else this many seconds */
    unsigned long fetches;
} cn_oauth_cache;

/* Set up c and fetch the first token (err says why not). cn_oauth_cache_destroy on any result.
 * margin_s: refresh this long before expiry (0: the default rule above). */
AK_WUR ak_err cn_oauth_cache_init(cn_oauth_cache *c, cn_oauth_fetch_fn fetch, void *user,
                                  const char *what, const char *name, long margin_s, char *err,
                                  size_t err_cap);
void cn_oauth_cache_destroy(cn_oauth_cache *c); /* wipes; a zeroed c is fine */

/* A copy of a valid token into dst (cap >= CN_OAUTH_TOKEN_MAX + 1), refreshing as needed. */
AK_WUR ak_err cn_oauth_cache_get(cn_oauth_cache *c, char *dst, size_t cap, size_t *len);

/* Parse a token response (see above). tok gets the token (cap bytes); body is not modified. */
AK_WUR ak_err cn_oauth_parse_token(char *tok, size_t cap, size_t *len, long *ttl_s,
                                   const char *body, size_t body_len, time_t now);

/*
 * A token from a token endpoint (RFC 6749 section 4): POST form (application/x-www-form-
 * urlencoded) to base + path through http, then its answer (cn_oauth_parse_token). A non-200
 * status is AK_ERR_AUTH for 400/401/403 (credentials refused), else the status's error; err
 * names `what` and the status, never the body (it may echo secrets).
 */
AK_WUR ak_err cn_oauth_token_post(cn_rhttp *http, const char *base, const char *path,
                                  const char *form, const char *what, char *tok, size_t cap,
                                  size_t *len, long *ttl, char *err, size_t err_cap);

/*
 * The same from a host-local identity endpoint: GET url with one extra header line ("Name:
 * value", may be NULL) with a client of its own (cn_oauth_host_call). Plain http only to a
 * loopback address, 169.254.169.254 or metadata.google.internal (cn_oauth_url_ok); https with
 * the system store. No proxy, no redirects.
 */
AK_WUR ak_err cn_oauth_token_get(const char *url, const char *header, long timeout_ms,
                                 const char *what, char *tok, size_t cap, size_t *len, long *ttl,
                                 char *err, size_t err_cap);

/* Append "&name=value" (no '&' first) to buf, value percent-encoded; AK_ERR_LIMIT if full. */
AK_WUR ak_err cn_oauth_form_add(char *buf, size_t cap, const char *name, const char *value);

/*
 * 1 if url may be asked for host-local credentials: https, or plain http to a loopback address
 * (127.x, localhost, [::1]) or one of http_hosts[0..n); never with userinfo. Parsed by libcurl
 * itself, so that what is checked is what it will connect to.
 */
int cn_oauth_url_ok(const char *url, const char *const *http_hosts, size_t n);

/*
 * One request to url (the whole URL) with one extra header line ("Name: value", may be NULL)
 * through h, no retry, every status handed back. AK_OK when an HTTP answer arrived; else err
 * says why (no secrets).
 */
AK_WUR ak_err cn_oauth_host_call(cn_rhttp *h, cn_rhttp_resp *resp, const char *method,
                                 const char *url, const char *header, long timeout_ms, char *err,
                                 size_t err_cap);

/*
 * One JSON request with "Authorization: Bearer <token from c>" (and "Content-Type:
 * application/json" when body is not NULL) through http, into resp (set up here:
 * cn_rhttp_resp_init; the caller clears it in every case). A 401 drops the token
 * (cn_oauth_cache_reject) and the request is made once more with a fresh one. AK_OK when a 200
 * answer arrived; another status is status_err(resp) (NULL: cn_rhttp_status_err); else the
 * errors of cn_rhttp_call and cn_oauth_cache_get.
 */
AK_WUR ak_err cn_oauth_call(cn_rhttp *http, cn_oauth_cache *c, const char *method, const char *base,
                            const char *path, const char *body, cn_rhttp_resp *resp,
                            ak_err (*status_err)(const cn_rhttp_resp *resp));

/* Split an https URL "https://host[:port]/path" into base (cap bytes) and path (cap bytes). */
AK_WUR ak_err cn_oauth_split_url(char *base, char *path, size_t cap, const char *url);

#endif
