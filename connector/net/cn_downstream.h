/*
 * cn_downstream.h - the connector's client of the downstream Ethereum node (libcurl).
 *
 * cn_transport is the seam the router talks through: one function that POSTs a JSON body and
 * hands back the HTTP status and body. cn_downstream implements it over the connector's one
 * HTTP client (cn_rhttp: a pool of easy handles that keep their connections alive, every
 * libcurl option checked, TLS >= 1.2, http or https); the unit tests implement it with a
 * scripted fake node. No proxy: http_proxy/https_proxy/all_proxy from the environment do not
 * apply to the node (as for every other outbound connection of the connector). No retry: a
 * forwarded call is made once, whatever the node answers.
 *
 * cn_ds_call() is a JSON-RPC call made by the connector itself (eth_getTransactionCount,
 * eth_estimateGas, ...) on top of a transport.
 *
 * Errors: AK_ERR_NETWORK / AK_ERR_TIMEOUT - the node could not be reached in time (JSON-RPC
 * -32002); AK_ERR_UPSTREAM - the node answered but not with a usable JSON-RPC response, or (for
 * cn_ds_call, with reply->error set) with a JSON-RPC error object.
 * Bounds: a response body larger than the max_response given at creation is AK_ERR_LIMIT.
 */
#ifndef CN_DOWNSTREAM_H
#define CN_DOWNSTREAM_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"

/*
 * POST body[0..len) as application/json. On AK_OK *status is the HTTP status and *resp a
 * malloc'd NUL-terminated body (caller frees with free()). On failure err gets a short,
 * secret-free reason.
 */
typedef AK_WUR ak_err (*cn_post_fn)(void *ctx, const char *body, size_t len, long *status,
                                    char **resp, size_t *resp_len, char *err, size_t err_cap);

typedef struct {
    cn_post_fn post;
    void *ctx;
} cn_transport;

typedef struct cn_downstream cn_downstream;

/* url: http(s)://host:port/path; timeout_ms covers the whole request. */
AK_WUR ak_err cn_downstream_new(cn_downstream **out, const char *url, long timeout_ms,
                                size_t max_response);
void cn_downstream_free(cn_downstream *d); /* NULL allowed */
cn_transport cn_downstream_transport(cn_downstream *d);

typedef struct {
    cJSON *result; /* AK_OK: the "result" member, detached; caller frees via cn_ds_reply_free */
    cJSON *error;  /* AK_ERR_UPSTREAM from a JSON-RPC error: the node's error object */
    char msg[192]; /* any failure: a short reason */
} cn_ds_reply;

/* Call method with params (taken: freed by this call, may be NULL for []). */
AK_WUR ak_err cn_ds_call(const cn_transport *t, cn_ds_reply *reply, const char *method,
                         cJSON *params);
void cn_ds_reply_free(cn_ds_reply *reply);

#endif
