/*
 * cn_signer_keyless.c - the "keyless" signer: anode-keyserver over mutual TLS with libcurl
 * (see cn_signer_keyless.h for the protocol, retry and failover rules).
 *
 * Owns: the parsed configuration, the HTTP client (cn_keyless_http.h: handle pool or CURLSH,
 * retries, URL failover, the prober; "connection_reuse": "pool" or "share" picks the first or
 * the second), the batching queue and the latency estimate. No key material.
 *
 * Batching (cn_signer_keyless.h): the queue holds waiters that live on their callers' stacks;
 * a waiter is only touched under bmu, and its caller returns only once it is W_DONE (or it
 * left the queue itself at its deadline). The leader of a batch owns the members' out buffers
 * until it marks them W_DONE. Measured effect: docs/benchmarks.md.
 */
#include "cn_signer_keyless.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ak_cfg.h"
#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_hex.h"
#include "cn_secfile.h"
#include "cn_keyless_http.h"
#include "cn_metrics.h"

_Static_assert(CN_KEYLESS_MAX_URLS == CN_KH_MAX_URLS, "one URL limit");
_Static_assert(CN_KEYLESS_COOLDOWN_MS == CN_KH_COOLDOWN_MS, "one cooldown");

#define KEY_ID_MAX    128
#define REQ_ID_MAX    64
#define POOL_DEFAULT  16
#define POOL_MAX      256
#define BATCH_DEFAULT 64  /* "batch_max" default (keyless; "custom" defaults to 1) */
#define BATCH_MAX     256 /* the key server's default max_batch */
/* "max_inflight" default: 4 - under load a few batches are being signed (the key server spreads
 * a batch's items over all its HSM sessions) while the next ones gather, so a network HSM's
 * queue stays fed across batch boundaries; bench_e2e --hsm-latency-ms measured 4 against 1, 2
 * and 8 (docs/benchmarks.md). A lone signature still goes at once. */
#define INFLIGHT_DEFAULT 4
#define QUEUE_MAX        4096 /* waiting signatures per signer; more -> AK_ERR_BUSY */
/* One request object of a batch: key_id, b64 digest, request id and the JSON around them. */
#define ITEM_MAX (KEY_ID_MAX + REQ_ID_MAX + AK_B64_ENCODED_SIZE(32) + 96)
/* One result object: key_id, request_id, b64 DER signature or an error (the key server's
 * longest message is < 100 bytes), JSON around them. Custom servers get the same bound. */
#define RESULT_MAX 1024

/* One signature waiting for (or travelling in) a batch; lives on its caller's stack. */
typedef struct waiter {
    const uint8_t *digest;
    const char *rid;
    int64_t deadline_ms;
    cn_raw_sig *out;
    ak_err rc;
    int state; /* W_QUEUED, W_LEAD, W_TAKEN, W_DONE */
    int alone; /* the batch could not carry it: the caller sends it alone */
    pthread_cond_t cv;
    struct waiter *next;
} waiter;

enum { W_QUEUED, W_LEAD, W_TAKEN, W_DONE };

typedef struct {
    cn_kh_cfg hc; /* URLs, TLS files, connect timeout, retries, pool: for cn_kh_new() */
    cn_kh *kh;
    char key_id[KEY_ID_MAX + 1];
    long timeout_ms;

    /* Opportunistic batching (group commit): at most max_inflight POST /sign in flight; a
     * signature that finds a free slot and nobody waiting goes alone, at once; the others
     * queue and the next free slot carries up to batch_max of them as one batch. */
    pthread_mutex_t bmu; /* guards inflight and the queue */
    unsigned inflight, max_inflight, batch_max;
    waiter *qhead, *qtail;
    size_t qlen;

    _Atomic uint64_t seq;        /* request id counter */
    _Atomic uint32_t latency_us; /* EWMA of successful sign latency */
} keyless;

/* A short, secret-free reason for the caller (err may be NULL). */
#define set_err(err, cap, ...)                                                                     \
    ((err) != NULL && (cap) > 0 ? (void)snprintf((err), (cap), __VA_ARGS__) : (void)0)

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

/* Parse body as a JSON object; a non-200 status maps to its error. */
static AK_WUR ak_err parse_response(cJSON **out, const cn_kh_body *body, long status)
{
    if (status != 200)
        return cn_kh_status_err(status);
    *out = cJSON_ParseWithLength(body->data, body->len);
    if (*out == NULL || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return AK_ERR_UPSTREAM;
    }
    return AK_OK;
}

static int str_field_is(const cJSON *obj, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

/* ---- signer ops ------------------------------------------------------------------------- */

static int safe_id(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= max || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* Check one successful sign answer (single form or one batch result) and take its DER. */
static AK_WUR ak_err take_sig(const keyless *k, cn_raw_sig *out, const cJSON *j, const char *rid)
{
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "signature");
    if (!str_field_is(j, "key_id", k->key_id) || !str_field_is(j, "algorithm", "ECDSA_SHA256") ||
        !str_field_is(j, "request_id", rid) || !cJSON_IsString(sig))
        return AK_ERR_UPSTREAM;
    if (ak_b64_decode(out->bytes, sizeof out->bytes, &out->len, sig->valuestring,
                      strlen(sig->valuestring)) != AK_OK)
        return AK_ERR_UPSTREAM;
    out->form = CN_SIG_DER;
    out->has_recid = 0;
    return AK_OK;
}

static void note_latency(keyless *k, int64_t t0_us)
{
    uint32_t us = (uint32_t)(now_us() - t0_us);
    uint32_t old = atomic_load(&k->latency_us);
    atomic_store(&k->latency_us, old == 0 ? us : (old * 7 + us) / 8);
}

/* One sign request object into dst; AK_ERR_BUFFER if it does not fit. */
static AK_WUR ak_err item_json(char *dst, size_t cap, size_t *len, const keyless *k,
                               const uint8_t digest[32], const char *rid)
{
    char b64[AK_B64_ENCODED_SIZE(32)];
    ak_err rc = ak_b64_encode(b64, sizeof b64, digest, 32);
    if (rc != AK_OK)
        return rc;
    /* key_id and rid are restricted to [A-Za-z0-9._:-]: no JSON escaping needed. */
    int n = snprintf(dst, cap,
                     "{\"key_id\":\"%s\",\"algorithm\":\"ECDSA_SHA256\",\"data\":\"%s\","
                     "\"request_id\":\"%s\"}",
                     k->key_id, b64, rid);
    if (n < 0 || (size_t)n >= cap)
        return AK_ERR_BUFFER;
    *len = (size_t)n;
    return AK_OK;
}

/* One signature in the single form (retries and failover in http_call). */
static AK_WUR ak_err sign_alone(keyless *k, cn_raw_sig *out, const uint8_t digest[32],
                                const char *rid, int64_t deadline)
{
    char req[ITEM_MAX];
    size_t req_len = 0;
    cn_kh_body body = {malloc(CN_KEYLESS_MAX_BODY), 0, CN_KEYLESS_MAX_BODY, 0};
    cJSON *j = NULL;
    long status = 0;
    int64_t t0 = now_us();
    ak_err rc = body.data ? item_json(req, sizeof req, &req_len, k, digest, rid) : AK_ERR_NOMEM;
    if (rc != AK_OK)
        goto out;
    rc = cn_kh_call(k->kh, "/sign", req, &body, &status, deadline);
    if (rc != AK_OK)
        goto out;
    rc = parse_response(&j, &body, status);
    if (rc != AK_OK)
        goto out;
    rc = take_sig(k, out, j, rid);
    if (rc == AK_OK)
        note_latency(k, t0);
out:
    cJSON_Delete(j);
    free(body.data);
    return rc;
}

/*
 * The error of one failed batch result, as the single form's HTTP status would have mapped it
 * (the batch form has one status for all). An unavailable HSM sets *alone: that signature is
 * then sent again alone, where retries and failover apply as for any single request.
 */
static ak_err item_err(const cJSON *item, int *alone)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(item, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    *alone = 0;
    if (!cJSON_IsString(c))
        return AK_ERR_UPSTREAM;
    if (strcmp(c->valuestring, "key_not_allowed") == 0 || strcmp(c->valuestring, "forbidden") == 0)
        return AK_ERR_FORBIDDEN;
    if (strcmp(c->valuestring, "key_not_found") == 0 || strcmp(c->valuestring, "not_found") == 0)
        return AK_ERR_KEY_NOT_FOUND;
    if (strstr(c->valuestring, "unavailable") != NULL) {
        *alone = 1;
        return AK_ERR_UNAVAILABLE;
    }
    return AK_ERR_UPSTREAM;
}

/*
 * n >= 2 signatures as one POST /sign {"requests":[...]}; fills each member's rc/out (or sets
 * alone). The request runs until the earliest member deadline, with the usual retries and
 * failover. A server that refuses the batch form as such (400, 404, 405, 413, 415, 501 for the
 * whole request) gets each signature alone.
 */
static void run_batch(keyless *k, waiter *const *m, size_t n)
{
    size_t cap = n * ITEM_MAX + 32, len = 13, item_len = 0;
    size_t body_cap = n * RESULT_MAX + 256;
    char *req = malloc(cap);
    cn_kh_body body = {malloc(body_cap), 0, body_cap, 0};
    cJSON *j = NULL;
    long status = 0;
    int64_t deadline = m[0]->deadline_ms, t0 = now_us();
    ak_err rc = AK_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        m[i]->rc = AK_ERR_UPSTREAM;
    if (req == NULL || body.data == NULL)
        goto out;
    memcpy(req, "{\"requests\":[", len);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            req[len++] = ',';
        if ((rc = item_json(req + len, cap - len - 3, &item_len, k, m[i]->digest, m[i]->rid)) !=
            AK_OK)
            goto out;
        len += item_len;
        if (m[i]->deadline_ms < deadline)
            deadline = m[i]->deadline_ms;
    }
    memcpy(req + len, "]}", 3);
    rc = cn_kh_call(k->kh, "/sign", req, &body, &status, deadline);
    if (rc != AK_OK)
        goto out;
    if (status == 400 || status == 404 || status == 405 || status == 413 || status == 415 ||
        status == 501) {
        for (size_t i = 0; i < n; i++)
            m[i]->alone = 1;
        goto out; /* rc is AK_OK: the members keep their rc and go alone */
    }
    rc = parse_response(&j, &body, status);
    if (rc != AK_OK)
        goto out;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results"), *it;
    rc = AK_ERR_UPSTREAM;
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) != (int)n)
        goto out;
    size_t at = 0;
    cJSON_ArrayForEach(it, res)
    {
        if (at >= n)
            break; /* the size was checked above; this keeps the bound local */
        waiter *w = m[at++];
        if (cJSON_IsObject(it) && cJSON_HasObjectItem(it, "error"))
            w->rc = item_err(it, &w->alone);
        else
            w->rc = cJSON_IsObject(it) ? take_sig(k, w->out, it, w->rid) : AK_ERR_UPSTREAM;
    }
    note_latency(k, t0);
    rc = AK_OK;
out:
    for (size_t i = 0; i < n && rc != AK_OK; i++)
        m[i]->rc = rc;
    cJSON_Delete(j);
    free(body.data);
    free(req);
}

/* With bmu held: one request finished; hand its slot to the first waiter, which leads. */
static void slot_release(keyless *k)
{
    k->inflight--;
    waiter *h = k->qhead;
    if (h == NULL)
        return;
    k->qhead = h->next;
    if (k->qhead == NULL)
        k->qtail = NULL;
    k->qlen--;
    h->state = W_LEAD;
    k->inflight++;
    pthread_cond_signal(&h->cv);
}

/* With bmu held: drop w (still queued) from the queue. */
static void unqueue(keyless *k, waiter *w)
{
    waiter **pp = &k->qhead, *prev = NULL;
    while (*pp != NULL && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = w->next;
    if (k->qtail == w)
        k->qtail = prev;
    k->qlen--;
}

/* With bmu held (released during the request): w got a slot; send it and up to batch_max - 1
 * waiters behind it, then wake them and pass the slot on. */
static void lead(keyless *k, waiter *w)
{
    waiter *m[BATCH_MAX];
    size_t n = 0;
    int64_t t = now_ms();
    m[n++] = w;
    w->state = W_TAKEN;
    while (n < k->batch_max && k->qhead != NULL) {
        waiter *x = k->qhead;
        k->qhead = x->next;
        if (k->qhead == NULL)
            k->qtail = NULL;
        k->qlen--;
        if (x->deadline_ms <= t) {
            /* Out of time already: it must not cut the batch's deadline short. */
            x->rc = AK_ERR_TIMEOUT;
            x->state = W_DONE;
            pthread_cond_signal(&x->cv);
            continue;
        }
        x->state = W_TAKEN;
        m[n++] = x;
    }
    pthread_mutex_unlock(&k->bmu);
    if (n == 1)
        w->rc = sign_alone(k, w->out, w->digest, w->rid, w->deadline_ms);
    else
        run_batch(k, m, n);
    pthread_mutex_lock(&k->bmu);
    for (size_t i = 1; i < n; i++) {
        m[i]->state = W_DONE;
        pthread_cond_signal(&m[i]->cv);
    }
    slot_release(k);
}

static int cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int bad =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    return bad ? -1 : 0;
}

static ak_err keyless_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                           const cn_sign_ctx *ctx)
{
    keyless *k = s->impl;
    char rid[REQ_ID_MAX + 1];
    int64_t deadline = now_ms() + k->timeout_ms;
    ak_err rc = AK_ERR_INTERNAL;
    waiter w = {.digest = digest, .out = out, .rid = rid, .deadline_ms = deadline};
    if (ctx != NULL && ctx->request_id != NULL && safe_id(ctx->request_id, REQ_ID_MAX))
        snprintf(rid, sizeof rid, "%s", ctx->request_id);
    else
        snprintf(rid, sizeof rid, "cn-%ld-%llu", (long)getpid(),
                 (unsigned long long)atomic_fetch_add(&k->seq, 1));
    if (k->batch_max <= 1)
        return sign_alone(k, out, digest, rid, deadline);
    pthread_mutex_lock(&k->bmu);
    if (k->inflight < k->max_inflight && k->qhead == NULL) {
        /* Nothing in the way: alone, at once (no added delay at low load). */
        k->inflight++;
        pthread_mutex_unlock(&k->bmu);
        rc = sign_alone(k, out, digest, rid, deadline);
        pthread_mutex_lock(&k->bmu);
        slot_release(k);
        pthread_mutex_unlock(&k->bmu);
        return rc;
    }
    if (k->qlen >= QUEUE_MAX || cond_init_mono(&w.cv) != 0) {
        pthread_mutex_unlock(&k->bmu);
        return k->qlen >= QUEUE_MAX ? AK_ERR_BUSY : AK_ERR_INTERNAL;
    }
    if (k->qtail != NULL)
        k->qtail->next = &w;
    else
        k->qhead = &w;
    k->qtail = &w;
    k->qlen++;
    for (;;) {
        if (w.state == W_DONE)
            break;
        if (w.state == W_LEAD) {
            if (now_ms() >= deadline) { /* granted too late: pass the slot on */
                w.rc = AK_ERR_TIMEOUT;
                slot_release(k);
            } else {
                lead(k, &w);
            }
            break;
        }
        if (w.state == W_QUEUED) {
            if (now_ms() >= deadline) {
                unqueue(k, &w);
                w.rc = AK_ERR_TIMEOUT;
                break;
            }
            struct timespec ts = {.tv_sec = deadline / 1000,
                                  .tv_nsec = (deadline % 1000) * 1000000L};
            (void)pthread_cond_timedwait(&w.cv, &k->bmu, &ts);
        } else {
            /* W_TAKEN: the batch's request ends by the earliest member deadline. */
            (void)pthread_cond_wait(&w.cv, &k->bmu);
        }
    }
    pthread_mutex_unlock(&k->bmu);
    pthread_cond_destroy(&w.cv);
    if (w.alone)
        return sign_alone(k, out, digest, rid, deadline);
    return w.rc;
}

static ak_err keyless_health(cn_signer *s, cn_signer_health *out)
{
    keyless *k = s->impl;
    cn_kh_body body = {malloc(CN_KEYLESS_MAX_BODY), 0, CN_KEYLESS_MAX_BODY, 0};
    long status = 0;
    memset(out, 0, sizeof *out);
    out->max_concurrency = (unsigned)k->hc.pool_size;
    out->expected_latency_ms = (atomic_load(&k->latency_us) + 999) / 1000;
    /* One pass over the URLs, no backoff: a health probe must answer quickly. */
    ak_err rc = body.data ? AK_ERR_NETWORK : AK_ERR_NOMEM;
    for (size_t i = 0; i < k->hc.n_urls && body.data != NULL; i++) {
        int retry = 0;
        rc = cn_kh_once(k->kh, i, "/health", NULL, k->hc.connect_timeout_ms + 1000, &body, &status,
                        &retry);
        if (rc == AK_OK && status == 200) {
            cn_kh_mark(k->kh, i, 0);
            out->can_sign = 1;
            break;
        }
        if (rc == AK_OK)
            rc = cn_kh_status_err(status);
        if (retry)
            cn_kh_mark(k->kh, i, 1);
    }
    if (!out->can_sign)
        snprintf(out->detail, sizeof out->detail, "key server: %s", ak_strerror(rc));
    free(body.data);
    return AK_OK;
}

static void keyless_destroy(cn_signer *s)
{
    keyless *k = s->impl;
    if (k == NULL)
        return;
    cn_kh_free(k->kh); /* stops the prober first */
    pthread_mutex_destroy(&k->bmu);
    free(k);
    s->impl = NULL;
}

static const cn_signer_ops keyless_ops = {
    .type = "keyless",
    .sign = keyless_sign,
    .health = keyless_health,
    .destroy = keyless_destroy,
};

static const cn_signer_ops custom_ops = {
    .type = "custom",
    .sign = keyless_sign,
    .health = keyless_health,
    .destroy = keyless_destroy,
};

/* ---- construction ----------------------------------------------------------------------- */

/* Check one /pubkey answer; pub/addr set on success. */
static AK_WUR ak_err check_pubkey(keyless *k, uint8_t pub[65], uint8_t addr[20],
                                  const cn_kh_body *body, long status, char *err, size_t cap)
{
    uint8_t raw[65], a2[20];
    size_t raw_len = 0;
    cJSON *j = NULL;
    ak_err rc = parse_response(&j, body, status);
    if (rc != AK_OK) {
        set_err(err, cap, "keyless: GET /pubkey for key_id %s failed: %s", k->key_id,
                ak_strerror(rc));
        goto out;
    }
    rc = AK_ERR_UPSTREAM;
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(j, "public_key");
    const cJSON *ad = cJSON_GetObjectItemCaseSensitive(j, "address");
    if (!str_field_is(j, "key_id", k->key_id) || !str_field_is(j, "curve", "secp256k1") ||
        !cJSON_IsString(pk) || !cJSON_IsString(ad)) {
        set_err(err, cap, "keyless: /pubkey answer malformed (key_id, curve, public_key, address)");
        goto out;
    }
    if (ak_hex_decode(raw, sizeof raw, &raw_len, pk->valuestring, strlen(pk->valuestring)) !=
            AK_OK ||
        ak_pubkey_parse(pub, raw, raw_len) != AK_OK) {
        set_err(err, cap, "keyless: /pubkey public_key is not a secp256k1 point");
        goto out;
    }
    if (ak_addr_parse(a2, ad->valuestring, strlen(ad->valuestring)) != AK_OK) {
        set_err(err, cap, "keyless: /pubkey address is not a valid address");
        goto out;
    }
    ak_addr_from_pubkey(addr, pub);
    if (memcmp(addr, a2, 20) != 0) {
        set_err(err, cap, "keyless: /pubkey address does not match keccak(public_key)");
        goto out;
    }
    rc = AK_OK;
out:
    cJSON_Delete(j);
    return rc;
}

/*
 * The key from the first URL that answers (with retries), then every other URL that answers
 * at once must report the same key: two key servers with different keys behind one account
 * would make signatures fail at random.
 */
static AK_WUR ak_err fetch_pubkey(keyless *k, uint8_t pub[65], uint8_t addr[20], char *err,
                                  size_t cap)
{
    char path[KEY_ID_MAX + 32];
    uint8_t pub2[65], addr2[20];
    cn_kh_body body = {malloc(CN_KEYLESS_MAX_BODY), 0, CN_KEYLESS_MAX_BODY, 0};
    long status = 0;
    ak_err rc = AK_ERR_NOMEM;
    if (body.data == NULL)
        goto out;
    snprintf(path, sizeof path, "/pubkey?key_id=%s", k->key_id);
    rc = cn_kh_call(k->kh, path, NULL, &body, &status, now_ms() + k->timeout_ms);
    if (rc != AK_OK) {
        set_err(err, cap, "keyless: GET /pubkey for key_id %s failed: %s", k->key_id,
                ak_strerror(rc));
        goto out;
    }
    rc = check_pubkey(k, pub, addr, &body, status, err, cap);
    for (size_t i = 0; i < k->hc.n_urls && rc == AK_OK; i++) {
        int retry = 0;
        if (cn_kh_down_until(k->kh, i) != 0)
            continue; /* failed just now */
        if (cn_kh_once(k->kh, i, path, NULL, k->timeout_ms, &body, &status, &retry) != AK_OK ||
            status != 200)
            continue; /* down now: it is checked by every signature later anyway */
        rc = check_pubkey(k, pub2, addr2, &body, status, err, cap);
        if (rc == AK_OK && memcmp(pub, pub2, 65) != 0) {
            set_err(err, cap, "keyless: urls[%zu] reports another public key for key_id %s", i,
                    k->key_id);
            rc = AK_ERR_UPSTREAM;
        }
    }
out:
    free(body.data);
    return rc;
}

/* A configured file that must be readable now ("" = not given). */
static AK_WUR ak_err cfg_readable(const char *path, const char *name, char *err, size_t err_cap)
{
    if (path[0] == '\0') {
        set_err(err, err_cap, "keyless: missing required field \"%s\"", name);
        return AK_ERR_CONFIG;
    }
    if (access(path, R_OK) != 0) {
        set_err(err, err_cap, "keyless.%s: cannot read %s", name, path);
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

/* Members as written; urls and connection_reuse are checked in parse_cfg. */
typedef struct {
    const char *name, *reuse;
    long batch_max, max_inflight;
} keyless_cfg;

#define N_EXTRA_MAX 8 /* extra_known members of a caller (custom: token_*, security_level) */

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("urls"),
    AK_CFG_STR("key_id", AK_CFG_REQUIRED | AK_CFG_ID, keyless, key_id, NULL),
    AK_CFG_STR("client_cert", AK_CFG_PATH, keyless, hc.cert, NULL),
    AK_CFG_STR("client_key", AK_CFG_PATH, keyless, hc.key, NULL),
    AK_CFG_STR("ca", AK_CFG_PATH, keyless, hc.ca, NULL),
    AK_CFG_INT("timeout_ms", 0, keyless, timeout_ms, 1, 600000, 5000),
    AK_CFG_INT("connect_timeout_ms", 0, keyless, hc.connect_timeout_ms, 1, 600000, 2000),
    AK_CFG_INT("retries", 0, keyless, hc.retries, 0, 10, 2),
    AK_CFG_INT("pool_size", 0, keyless, hc.pool_size, 1, POOL_MAX, POOL_DEFAULT),
};

static const ak_cfg_field k_own_fields[] = {
    AK_CFG_REF("name", 0, keyless_cfg, name, 63),
    AK_CFG_REF("connection_reuse", 0, keyless_cfg, reuse, 5),
    /* 0 = absent: "custom" servers may not know the batch form, batching is opt-in there */
    AK_CFG_INT("batch_max", 0, keyless_cfg, batch_max, 1, BATCH_MAX, 0),
    AK_CFG_INT("max_inflight", 0, keyless_cfg, max_inflight, 1, POOL_MAX, INFLIGHT_DEFAULT),
};

static AK_WUR ak_err parse_cfg(keyless *k, cn_signer *s, const cJSON *cfg,
                               const cn_keyless_ext *ext, char *err, size_t cap)
{
    /* Unknown members are refused over the union of both tables and the caller's extras;
     * each table is then read with the others' members known. */
    ak_cfg_field all[AK_CFG_COUNT(k_fields) + AK_CFG_COUNT(k_own_fields) + N_EXTRA_MAX];
    size_t n = 0;
    keyless_cfg c;
    const cJSON *it;
    ak_err rc = AK_ERR_CONFIG;
    for (size_t i = 0; i < AK_CFG_COUNT(k_fields); i++)
        all[n++] = k_fields[i];
    for (size_t i = 0; i < AK_CFG_COUNT(k_own_fields); i++)
        all[n++] = (ak_cfg_field)AK_CFG_KNOWN(k_own_fields[i].name);
    for (size_t i = 0; ext && ext->extra_known && ext->extra_known[i]; i++) {
        if (i == N_EXTRA_MAX)
            return AK_ERR_ARG;
        all[n++] = (ak_cfg_field)AK_CFG_KNOWN(ext->extra_known[i]);
    }
    if (ak_cfg_read(k, all, n, cfg, "keyless", err, cap) != AK_OK)
        return rc;
    for (size_t i = 0; i < AK_CFG_COUNT(k_fields); i++)
        all[i].type = AK_CFG_T_KNOWN; /* read above */
    for (size_t i = 0; i < AK_CFG_COUNT(k_own_fields); i++)
        all[AK_CFG_COUNT(k_fields) + i] = k_own_fields[i];
    if (ak_cfg_read(&c, all, n, cfg, "keyless", err, cap) != AK_OK)
        return rc;
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(cfg, "urls");
    int nu = cJSON_GetArraySize(urls);
    if (!cJSON_IsArray(urls) || nu < 1 || nu > CN_KEYLESS_MAX_URLS) {
        set_err(err, cap, "keyless.urls: array of 1..%d https URLs", CN_KEYLESS_MAX_URLS);
        return AK_ERR_CONFIG;
    }
    cJSON_ArrayForEach(it, urls)
    {
        size_t len = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
        int https = len > 8 && strncmp(it->valuestring, "https://", 8) == 0;
        int http = k->hc.allow_http && len > 7 && strncmp(it->valuestring, "http://", 7) == 0;
        if (len > CN_KH_URL_MAX || !(https || http) ||
            strpbrk(it->valuestring, "?#@ \t\r\n") != NULL) {
            set_err(err, cap, "keyless.urls[%zu]: must be an %s base URL", k->hc.n_urls,
                    k->hc.allow_http ? "http:// or https://" : "https://");
            return AK_ERR_CONFIG;
        }
        char *base = k->hc.urls[k->hc.n_urls];
        snprintf(base, sizeof k->hc.urls[0], "%s", it->valuestring);
        if (base[len - 1] == '/')
            base[len - 1] = '\0';
        k->hc.n_urls++;
    }
    snprintf(s->name, sizeof s->name, "%.63s", c.name ? c.name : k->key_id);
    if (c.reuse != NULL && strcmp(c.reuse, "pool") != 0 && strcmp(c.reuse, "share") != 0) {
        set_err(err, cap, "keyless.connection_reuse: \"pool\" or \"share\"");
        return AK_ERR_CONFIG;
    }
    k->hc.use_share = c.reuse != NULL && strcmp(c.reuse, "share") == 0;
    /* "custom": client certificate (both or neither) and ca are optional. */
    int opt = ext != NULL && ext->optional_tls_files;
    int want_cert = !opt || k->hc.cert[0] != '\0' || k->hc.key[0] != '\0';
    if ((want_cert && ((rc = cfg_readable(k->hc.cert, "client_cert", err, cap)) != AK_OK ||
                       (rc = cfg_readable(k->hc.key, "client_key", err, cap)) != AK_OK)) ||
        ((!opt || k->hc.ca[0] != '\0') && (rc = cfg_readable(k->hc.ca, "ca", err, cap)) != AK_OK))
        return rc;
    if (want_cert && (rc = cn_secret_file_check(k->hc.key, err, cap)) != AK_OK)
        return rc; /* the client key to the key server is a secret file (issue 18) */
    if (k->hc.cert[0] != '\0')
        (void)cn_metrics_cert_register("client", s->name, k->hc.cert);
    k->batch_max = c.batch_max != 0 ? (unsigned)c.batch_max : ext != NULL ? 1 : BATCH_DEFAULT;
    k->max_inflight = (unsigned)c.max_inflight;
    return AK_OK;
}

ak_err cn_keyless_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_keyless_signer_new_ext(out, cfg, NULL, err, err_cap);
}

ak_err cn_keyless_signer_new_ext(cn_signer **out, const cJSON *cfg, const cn_keyless_ext *ext,
                                 char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_signer *s = NULL;
    keyless *k = NULL;
    if (out == NULL)
        return AK_ERR_ARG;
    *out = NULL;
    if (!cJSON_IsObject(cfg)) {
        set_err(err, err_cap, "keyless: signer config must be an object");
        return AK_ERR_CONFIG;
    }
    s = calloc(1, sizeof *s);
    k = calloc(1, sizeof *k);
    if (s == NULL || k == NULL) {
        free(k);
        goto out;
    }
    pthread_mutex_init(&k->bmu, NULL);
    s->ops = ext ? &custom_ops : &keyless_ops;
    s->impl = k;
    s->provider = ext && ext->provider ? ext->provider : "anode-keyserver";
    s->level = ext ? ext->level : CN_LEVEL_PRODUCTION;
    k->hc.allow_http = ext != NULL && ext->allow_http;
    rc = parse_cfg(k, s, cfg, ext, err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = cn_kh_new(&k->kh, &k->hc, ext != NULL ? ext->bearer : NULL,
                   ext != NULL ? ext->bearer_len : 0, err, err_cap);
    if (rc != AK_OK)
        goto out;
    /* The address comes from the key server; every URL that answers must agree on it. */
    rc = fetch_pubkey(k, s->pubkey, s->address, err, err_cap);
    if (rc != AK_OK)
        goto out;
    if (k->hc.n_urls > 1 && (rc = cn_kh_start_prober(k->kh)) != AK_OK) {
        set_err(err, err_cap, "keyless: cannot start the URL health prober");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    cn_signer_free(s);
    return rc;
}
