/* cn_downstream.c - libcurl transport to the downstream node and JSON-RPC calls (see .h). */
#include "cn_downstream.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cn_metrics.h"

#define POOL_MAX 64 /* idle handles kept; more threads than this make new handles */

struct cn_downstream {
    char *url;
    long timeout_ms;
    size_t max_response;
    pthread_mutex_t lock;
    CURL *idle[POOL_MAX];
    size_t n_idle;
    struct curl_slist *headers;
};

typedef struct {
    char *p;
    size_t len, cap, max;
    int over;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sink *s = userdata;
    size_t n = size * nmemb;
    if (s->len + n + 1 > s->max) {
        s->over = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t ncap = s->cap ? s->cap : 4096;
        while (ncap < s->len + n + 1)
            ncap *= 2;
        char *np = realloc(s->p, ncap);
        if (np == NULL)
            return 0;
        s->p = np;
        s->cap = ncap;
    }
    memcpy(s->p + s->len, ptr, n);
    s->len += n;
    s->p[s->len] = '\0';
    return n;
}

static CURL *take_handle(cn_downstream *d)
{
    CURL *h = NULL;
    pthread_mutex_lock(&d->lock);
    if (d->n_idle > 0)
        h = d->idle[--d->n_idle];
    pthread_mutex_unlock(&d->lock);
    if (h != NULL)
        return h;
    h = curl_easy_init();
    if (h == NULL)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, d->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, d->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, d->timeout_ms < 5000 ? d->timeout_ms : 5000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

static void give_handle(cn_downstream *d, CURL *h)
{
    pthread_mutex_lock(&d->lock);
    if (d->n_idle < POOL_MAX) {
        d->idle[d->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ak_err curl_post(void *ctx, const char *body, size_t len, long *status, char **resp,
                        size_t *resp_len, char *err, size_t err_cap)
{
    cn_downstream *d = ctx;
    ak_err rc = AK_OK;
    sink s = {NULL, 0, 0, d->max_response, 0};
    double t0 = now_s();
    CURL *h = take_handle(d);
    if (h == NULL) {
        snprintf(err, err_cap, "cannot create an HTTP handle");
        rc = AK_ERR_NOMEM;
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        if (s.over) {
            snprintf(err, err_cap, "downstream response exceeds %zu bytes", d->max_response);
            rc = AK_ERR_LIMIT;
        } else {
            snprintf(err, err_cap, "downstream unreachable: %s", curl_easy_strerror(cc));
            rc = cc == CURLE_OPERATION_TIMEDOUT ? AK_ERR_TIMEOUT : AK_ERR_NETWORK;
        }
        /* A handle whose transfer failed may hold a broken connection: do not pool it. */
        curl_easy_cleanup(h);
        h = NULL;
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (s.p == NULL) {
        s.p = calloc(1, 1);
        if (s.p == NULL) {
            rc = AK_ERR_NOMEM;
            goto out;
        }
    }
    *resp = s.p;
    *resp_len = s.len;
    s.p = NULL;
out:
    if (h != NULL)
        give_handle(d, h);
    free(s.p);
    cn_metrics_downstream(rc == AK_OK, now_s() - t0);
    return rc;
}

ak_err cn_downstream_new(cn_downstream **out, const char *url, long timeout_ms, size_t max_response)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_downstream *d = calloc(1, sizeof(*d));
    if (d == NULL)
        goto out;
    d->url = strdup(url);
    d->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    d->max_response = max_response;
    d->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (d->url == NULL || d->headers == NULL)
        goto out;
    if (pthread_mutex_init(&d->lock, NULL) != 0)
        goto out;
    *out = d;
    d = NULL;
    rc = AK_OK;
out:
    if (d != NULL) {
        free(d->url);
        curl_slist_free_all(d->headers);
        free(d);
    }
    return rc;
}

void cn_downstream_free(cn_downstream *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_idle; i++)
        curl_easy_cleanup(d->idle[i]);
    curl_slist_free_all(d->headers);
    pthread_mutex_destroy(&d->lock);
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
