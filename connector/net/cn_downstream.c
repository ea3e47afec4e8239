/* cn_downstream.c - the node transport over the one HTTP client (cn_rhttp) and JSON-RPC calls
 * (see .h). */
#include "cn_downstream.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_metrics.h"
#include "cn_rhttp.h"
#include "rt_clock.h"

#define POOL_MAX 64 /* idle handles kept; more threads than this make new handles */

struct cn_downstream {
    cn_rhttp *http;
    char *url;
    long timeout_ms;
    size_t max_response;
};

static ak_err curl_post(void *ctx, const char *body, size_t len, long *status, char **resp,
                        size_t *resp_len, char *err, size_t err_cap)
{
    cn_downstream *d = ctx;
    const rt_clock *clk = rt_clock_system();
    int64_t t0 = clk->mono_ns(clk->ctx);
    cn_rhttp_req q = {.method = "POST", .base = d->url, .path = "", .body = body, .body_len = len};
    /* The node's answer goes to the JSON-RPC layer whatever its status: nothing is retried. */
    cn_rhttp_hooks hk = {.check = cn_rhttp_accept_any};
    cn_rhttp_resp r;
    ak_err rc = cn_rhttp_resp_init_max(&r, d->max_response, 0);
    if (rc == AK_OK)
        rc = cn_rhttp_call_until(d->http, &q, &hk, &r, t0 / 1000000 + d->timeout_ms, 0);
    if (rc != AK_OK && r.overflow) {
        snprintf(err, err_cap, "downstream response exceeds %zu bytes", d->max_response);
        rc = AK_ERR_LIMIT;
    } else if (rc != AK_OK) {
        snprintf(err, err_cap, "downstream unreachable: %s",
                 r.curl != CURLE_OK ? curl_easy_strerror(r.curl) : ak_strerror(rc));
    } else {
        *status = r.status;
        *resp_len = r.len;
        *resp = cn_rhttp_resp_take(&r);
        rc = *resp != NULL ? AK_OK : AK_ERR_NOMEM;
    }
    cn_rhttp_resp_clear(&r);
    cn_metrics_downstream(rc == AK_OK, (double)(clk->mono_ns(clk->ctx) - t0) / 1e9);
    return rc;
}

ak_err cn_downstream_new(cn_downstream **out, const char *url, long timeout_ms, size_t max_response)
{
    static const char *const hdrs[] = {"Content-Type: application/json", "Expect:"};
    ak_err rc = AK_ERR_NOMEM;
    cn_downstream *d = calloc(1, sizeof(*d));
    if (d == NULL)
        goto out;
    timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    /* The node may be http:// (a local node); no retries: a forwarded call is not repeated. */
    cn_rhttp_opts o = {.timeout_ms = timeout_ms,
                       .connect_timeout_ms = timeout_ms < 5000 ? timeout_ms : 5000L,
                       .pool_size = POOL_MAX};
    cn_rhttp_more m = {.allow_http = 1, .headers = hdrs, .n_headers = 2};
    d->timeout_ms = timeout_ms;
    d->max_response = max_response;
    if ((d->url = strdup(url)) == NULL || (rc = cn_rhttp_new_ext(&d->http, &o, &m)) != AK_OK)
        goto out;
    *out = d;
    d = NULL;
out:
    cn_downstream_free(d);
    return rc;
}

void cn_downstream_free(cn_downstream *d)
{
    if (d == NULL)
        return;
    cn_rhttp_free(d->http);
    free(d->url);
    free(d);
}

cn_transport cn_downstream_transport(cn_downstream *d)
{
    cn_transport t = {curl_post, d};
    return t;
}

static _Atomic unsigned long g_call_id = 1;

ak_err cn_ds_call(const cn_transport *t, cn_ds_reply *reply, const char *method, cJSON *params)
{
    ak_err rc = AK_ERR_NOMEM;
    char *body = NULL, *resp = NULL;
    size_t resp_len = 0;
    long status = 0;
    cJSON *req = NULL, *parsed = NULL;
    memset(reply, 0, sizeof(*reply));

    req = cJSON_CreateObject();
    if (req == NULL)
        goto out;
    if (params == NULL)
        params = cJSON_CreateArray();
    if (params == NULL)
        goto out;
    cJSON_AddItemToObject(req, "params", params);
    params = NULL;
    if (!cJSON_AddStringToObject(req, "jsonrpc", "2.0") ||
        !cJSON_AddNumberToObject(req, "id", (double)atomic_fetch_add(&g_call_id, 1)) ||
        !cJSON_AddStringToObject(req, "method", method))
        goto out;
    body = cJSON_PrintUnformatted(req);
    if (body == NULL)
        goto out;
    rc = t->post(t->ctx, body, strlen(body), &status, &resp, &resp_len, reply->msg,
                 sizeof(reply->msg));
    if (rc != AK_OK)
        goto out;
    rc = AK_ERR_UPSTREAM;
    parsed = cJSON_ParseWithLength(resp, resp_len);
    if (!cJSON_IsObject(parsed)) {
        snprintf(reply->msg, sizeof(reply->msg), "downstream answered %s to %s (HTTP %ld)",
                 parsed ? "a non-object" : "invalid JSON", method, status);
        goto out;
    }
    cJSON *err = cJSON_GetObjectItemCaseSensitive(parsed, "error");
    if (cJSON_IsObject(err)) {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        snprintf(reply->msg, sizeof(reply->msg), "%s", cJSON_IsString(m) ? m->valuestring : "");
        reply->error = cJSON_DetachItemViaPointer(parsed, err);
        goto out;
    }
    if (status != 200 || !cJSON_HasObjectItem(parsed, "result")) {
        snprintf(reply->msg, sizeof(reply->msg), "downstream gave no result to %s (HTTP %ld)",
                 method, status);
        goto out;
    }
    reply->result = cJSON_DetachItemFromObjectCaseSensitive(parsed, "result");
    rc = AK_OK;
out:
    cJSON_Delete(params);
    cJSON_Delete(req);
    cJSON_Delete(parsed);
    free(body);
    free(resp);
    return rc;
}

void cn_ds_reply_free(cn_ds_reply *reply)
{
    if (reply == NULL)
        return;
    cJSON_Delete(reply->result);
    cJSON_Delete(reply->error);
    reply->result = NULL;
    reply->error = NULL;
}
