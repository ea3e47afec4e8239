/* cn_rate.c - per-client signing rate limit (see cn_rate.h). */
#include "cn_rate.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_bucket.h"
#include "ak_cfg.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_policy.h"

#define TABLE 4096 /* open addressing, at most 3/4 full (CN_RATE_MAX_CLIENTS) */

typedef struct {
    char id[CN_RATE_ID_MAX + 1]; /* "" = free slot */
    ak_bucket b;
} slot;

struct cn_rate {
    pthread_mutex_t mu;
    const rt_clock *clock;
    double per_s, burst;
    slot *slots; /* TABLE */
    size_t used;
    ak_bucket overflow;
};

static double now_s(const cn_rate *r)
{
    return (double)r->clock->mono_ns(r->clock->ctx) / 1e9;
}

static ak_err num(double *out, const cJSON *obj, const char *name, double lo, double hi, char *err,
                  size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return ak_cfg_fail(err, cap, "signing_rate_limit.%s: a number in [%g, %g]", name, lo, hi);
    *out = v->valuedouble;
    return AK_OK;
}

ak_err cn_rate_new(cn_rate **out, const cJSON *cfg, char *err, size_t err_cap)
{
    const cJSON *it;
    double per_s = 0, burst = 0;
    *out = NULL;
    if (cfg == NULL)
        return AK_OK;
    if (!cJSON_IsObject(cfg))
        return ak_cfg_fail(err, err_cap, "signing_rate_limit: must be an object");
    cJSON_ArrayForEach(it, cfg)
    {
        if (strcmp(it->string, "per_second") != 0 && strcmp(it->string, "burst") != 0 &&
            strcmp(it->string, "comment") != 0)
            return ak_cfg_fail(err, err_cap, "signing_rate_limit.%.64s: unknown field", it->string);
    }
    if (num(&per_s, cfg, "per_second", 0.001, 1e6, err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    burst = per_s < 1 ? 1 : per_s;
    if (cJSON_HasObjectItem(cfg, "burst") &&
        num(&burst, cfg, "burst", 1, 1e7, err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    cn_rate *r = calloc(1, sizeof *r);
    if (r == NULL || (r->slots = calloc(TABLE, sizeof *r->slots)) == NULL) {
        free(r);
        return AK_ERR_NOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->clock = rt_clock_system();
    r->per_s = per_s;
    r->burst = burst;
    ak_bucket_init(&r->overflow, per_s, burst, now_s(r));
    *out = r;
    return AK_OK;
}

void cn_rate_set_clock(cn_rate *r, const rt_clock *clock)
{
    pthread_mutex_lock(&r->mu);
    r->clock = clock != NULL ? clock : rt_clock_system();
    ak_bucket_init(&r->overflow, r->per_s, r->burst, now_s(r));
    memset(r->slots, 0, TABLE * sizeof(*r->slots));
    r->used = 0;
    pthread_mutex_unlock(&r->mu);
}

void cn_rate_free(cn_rate *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->slots);
    free(r);
}

/* FNV-1a over the (cut) identity. */
static size_t hash(const char *id, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)id[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h % TABLE);
}

/* The bucket of id (created if there is room), under r->mu. */
static ak_bucket *bucket_of(cn_rate *r, const char *id, double now)
{
    size_t n = strnlen(id, CN_RATE_ID_MAX);
    size_t i = hash(id, n);
    for (size_t probe = 0; probe < TABLE; probe++, i = (i + 1) % TABLE) {
        slot *s = &r->slots[i];
        if (s->id[0] == '\0') {
            if (r->used >= CN_RATE_MAX_CLIENTS)
                return &r->overflow;
            memcpy(s->id, id, n);
            s->id[n] = '\0';
            ak_bucket_init(&s->b, r->per_s, r->burst, now);
            r->used++;
            return &s->b;
        }
        if (strncmp(s->id, id, n) == 0 && s->id[n] == '\0')
            return &s->b;
    }
    return &r->overflow;
}

int cn_rate_take(cn_rate *r, const char *client, unsigned n)
{
    if (r == NULL || n == 0)
        return 1;
    if (client == NULL || client[0] == '\0')
        client = "anonymous";
    pthread_mutex_lock(&r->mu);
    double now = now_s(r);
    int ok = ak_bucket_take(bucket_of(r, client, now), (double)n, now);
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* Signing calls in doc (one request object or a batch of them). */
static unsigned signing_calls(const cJSON *doc)
{
    unsigned n = 0;
    const cJSON *m = cJSON_IsArray(doc) ? doc->child : doc;
    for (; m != NULL; m = cJSON_IsArray(doc) ? m->next : NULL) {
        const cJSON *method = cJSON_GetObjectItemCaseSensitive(m, "method");
        n += cJSON_IsString(method) && cn_policy_is_signing_method(method->valuestring);
    }
    return n;
}

int cn_rate_admit(cn_rate *r, const char *client, const cJSON *doc, unsigned max_sign, int *code,
                  char *msg, size_t msg_cap)
{
    unsigned n = signing_calls(doc);
    if (cJSON_IsArray(doc) && n > max_sign) {
        *code = CN_RATE_E_BATCH;
        snprintf(msg, msg_cap, "invalid request: the batch carries %u signing calls, more than %u",
                 n, max_sign);
        return 0;
    }
    if (cn_rate_take(r, client, n))
        return 1;
    cn_metrics_rate_limited(n);
    cn_log(CN_LOG_WARN, "signing rate limit reached", "client", client ? client : "anonymous",
           (char *)NULL);
    *code = CN_RATE_E_LIMIT;
    snprintf(msg, msg_cap, "limit exceeded: the client's signing rate limit is reached");
    return 0;
}
