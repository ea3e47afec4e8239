/*
 * cn_signer_keyless.c - the "keyless" signer: anode-keyserver over mutual TLS with libcurl
 * (see cn_signer_keyless.h for the protocol, retry and failover rules).
 *
 * Owns: the parsed configuration, the HTTP client (cn_keyless_http.h: handle pool or CURLSH,
 * retries, URL failover, the prober; "connection_reuse": "pool" or "share" picks the first or
 * the second), the batching queue, the latency estimate and the intent kinds the key server
 * advertised (issue 11; the send_intent rule itself is cn_ks_reply's). No key material.
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

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_hex.h"
#include "cn_secfile.h"
#include "cn_keyless_http.h"
#include "cn_ks_reply.h"
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
    const char *intent; /* the intent's JSON text, or NULL: digest only */
    char *why;          /* the key server's reason for a refusal (may be NULL) */
    size_t why_cap;
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

    /* issue 11: "send_intent" (CN_KS_SEND_*); the intent kinds the key server's /health advertised
     * (bit per ak_intent_kind), learned at start and on every health check. */
    int send_intent;
    _Atomic unsigned intents;
    _Atomic int intents_learned;

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

/* Parse body as a JSON object; a non-200 status maps to its error (its reason into why). */
static AK_WUR ak_err parse_response(cJSON **out, const cn_kh_body *body, long status, char *why,
                                    size_t why_cap)
{
    if (status != 200) {
        cn_ks_reply_body_why(why, why_cap, body->data, body->len);
        return cn_kh_status_err(status);
    }
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
                               const waiter *w)
{
    const uint8_t *digest = w->digest;
    const char *rid = w->rid;
    char b64[AK_B64_ENCODED_SIZE(32)];
    ak_err rc = ak_b64_encode(b64, sizeof b64, digest, 32);
    if (rc != AK_OK)
        return rc;
    /* key_id and rid are restricted to [A-Za-z0-9._:-]: no JSON escaping needed. */
    int n =
        snprintf(dst, cap,
                 "{\"key_id\":\"%s\",\"algorithm\":\"ECDSA_SHA256\",\"data\":\"%s\","
                 "\"request_id\":\"%s\"%s%s}",
                 k->key_id, b64, rid, w->intent ? ",\"intent\":" : "", w->intent ? w->intent : "");
    if (n < 0 || (size_t)n >= cap)
        return AK_ERR_BUFFER;
    *len = (size_t)n;
    return AK_OK;
}

/* The bytes one request object of w may take. */
static size_t item_cap(const waiter *w)
{
    return ITEM_MAX + (w->intent != NULL ? strlen(w->intent) + 16 : 0);
}

/* One signature in the single form (retries and failover in http_call). */
static AK_WUR ak_err sign_alone(keyless *k, const waiter *w, int64_t deadline)
{
    size_t req_len = 0, cap = item_cap(w);
    char *req = malloc(cap);
    cn_kh_body body = {malloc(CN_KEYLESS_MAX_BODY), 0, CN_KEYLESS_MAX_BODY, 0};
    cJSON *j = NULL;
    long status = 0;
    int64_t t0 = now_us();
    ak_err rc = body.data && req ? item_json(req, cap, &req_len, k, w) : AK_ERR_NOMEM;
    if (rc != AK_OK)
        goto out;
    rc = cn_kh_call(k->kh, "/sign", req, &body, &status, deadline);
    if (rc != AK_OK)
        goto out;
    rc = parse_response(&j, &body, status, w->why, w->why_cap);
    if (rc != AK_OK)
        goto out;
    rc = take_sig(k, w->out, j, w->rid);
    if (rc == AK_OK)
        note_latency(k, t0);
out:
    cJSON_Delete(j);
    free(body.data);
    free(req);
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
    if (strcmp(c->valuestring, "key_not_allowed") == 0 ||
        strcmp(c->valuestring, "forbidden") == 0 || strcmp(c->valuestring, "policy_denied") == 0)
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
    size_t cap = 32, len = 13, item_len = 0;
    size_t body_cap = n * RESULT_MAX + 256;
    char *req = NULL;
    cn_kh_body body = {malloc(body_cap), 0, body_cap, 0};
    cJSON *j = NULL;
    long status = 0;
    int64_t deadline = m[0]->deadline_ms, t0 = now_us();
    ak_err rc = AK_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        m[i]->rc = AK_ERR_UPSTREAM;
    for (size_t i = 0; i < n; i++)
        cap += item_cap(m[i]) + 1;
    req = malloc(cap);
    if (req == NULL || body.data == NULL)
        goto out;
    memcpy(req, "{\"requests\":[", len);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            req[len++] = ',';
        if ((rc = item_json(req + len, cap - len - 3, &item_len, k, m[i])) != AK_OK)
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
    rc = parse_response(&j, &body, status, NULL, 0);
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
        if (cJSON_IsObject(it) && cJSON_HasObjectItem(it, "error")) {
            w->rc = item_err(it, &w->alone);
            cn_ks_reply_why(w->why, w->why_cap, it);
        } else
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
        w->rc = sign_alone(k, w, w->deadline_ms);
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

/* The signature of w: alone at once, or queued for a batch (cn_signer_keyless.h). */
static ak_err sign_queued(keyless *k, const waiter *init)
{
    waiter w = *init;
    int64_t deadline = w.deadline_ms;
    ak_err rc = AK_ERR_INTERNAL;
    if (k->batch_max <= 1)
        return sign_alone(k, &w, deadline);
    pthread_mutex_lock(&k->bmu);
    if (k->inflight < k->max_inflight && k->qhead == NULL) {
        /* Nothing in the way: alone, at once (no added delay at low load). */
        k->inflight++;
        pthread_mutex_unlock(&k->bmu);
        rc = sign_alone(k, &w, deadline);
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
        return sign_alone(k, &w, deadline);
    return w.rc;
}

/* Learn the intent kinds from a /health answer (its "intents" array; none listed = none). */
static void learn_intents(keyless *k, const cn_kh_body *body)
{
    int ok = 0;
    unsigned mask = cn_ks_reply_intents(body->data, body->len, &ok);
    if (!ok)
        return;
    atomic_store(&k->intents, mask);
    atomic_store(&k->intents_learned, 1);
}

/* One GET /health to learn the intent kinds (at start, and by "always" before its first). */
static void fetch_intents(keyless *k)
{
    cn_kh_body body = {malloc(CN_KEYLESS_MAX_BODY), 0, CN_KEYLESS_MAX_BODY, 0};
    long status = 0;
    if (body.data != NULL &&
        cn_kh_call(k->kh, "/health", NULL, &body, &status, now_ms() + k->timeout_ms) == AK_OK &&
        status == 200)
        learn_intents(k, &body);
    free(body.data);
}

static ak_err keyless_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                           const cn_sign_ctx *ctx)
{
    keyless *k = s->impl;
    char rid[REQ_ID_MAX + 1], *intent = NULL;
    waiter w = {.digest = digest,
                .out = out,
                .rid = rid,
                .deadline_ms = now_ms() + k->timeout_ms,
                .why = ctx != NULL ? ctx->why : NULL,
                .why_cap = ctx != NULL ? ctx->why_cap : 0};
    if (ctx != NULL && ctx->request_id != NULL && safe_id(ctx->request_id, REQ_ID_MAX))
        snprintf(rid, sizeof rid, "%s", ctx->request_id);
    else
        snprintf(rid, sizeof rid, "cn-%ld-%llu", (long)getpid(),
                 (unsigned long long)atomic_fetch_add(&k->seq, 1));
    if (k->send_intent == CN_KS_SEND_ALWAYS && !atomic_load(&k->intents_learned))
        fetch_intents(k);
    ak_err rc = cn_ks_intent_text(&intent, k->send_intent, atomic_load(&k->intents), ctx);
    if (rc != AK_OK)
        return rc;
    w.intent = intent;
    rc = sign_queued(k, &w);
    free(intent);
    return rc;
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
            if (k->send_intent != CN_KS_SEND_NEVER)
                learn_intents(k, &body);
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
    ak_err rc = parse_response(&j, body, status, NULL, 0);
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

static AK_WUR ak_err cfg_path(char *dst, size_t cap, const cJSON *cfg, const char *name, char *err,
                              size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= cap) {
        set_err(err, err_cap, "keyless.%s: required file path (< %zu chars)", name, cap);
        return AK_ERR_CONFIG;
    }
    if (access(v->valuestring, R_OK) != 0) {
        set_err(err, err_cap, "keyless.%s: cannot read %s", name, v->valuestring);
        return AK_ERR_CONFIG;
    }
    snprintf(dst, cap, "%s", v->valuestring);
    return AK_OK;
}

static AK_WUR ak_err cfg_long(long *dst, const cJSON *cfg, const char *name, long def, long lo,
                              long hi, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    *dst = def;
    if (v == NULL)
        return AK_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        set_err(err, err_cap, "keyless.%s: integer %ld..%ld", name, lo, hi);
        return AK_ERR_CONFIG;
    }
    *dst = (long)v->valuedouble;
    return AK_OK;
}

static AK_WUR ak_err parse_cfg(keyless *k, cn_signer *s, const cJSON *cfg,
                               const cn_keyless_ext *ext, char *err, size_t cap)
{
    static const char *const known[] = {"type",      "name",         "urls",
                                        "key_id",    "client_cert",  "client_key",
                                        "ca",        "timeout_ms",   "connect_timeout_ms",
                                        "retries",   "pool_size",    "connection_reuse",
                                        "batch_max", "max_inflight", "send_intent"};
    const cJSON *it;
    long v = 0;
    cJSON_ArrayForEach(it, cfg)
    {
        size_t i = 0, j = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i], it->string) != 0)
            i++;
        while (ext && ext->extra_known && ext->extra_known[j] &&
               strcmp(ext->extra_known[j], it->string) != 0)
            j++;
        if (i == sizeof known / sizeof known[0] &&
            !(ext && ext->extra_known && ext->extra_known[j])) {
            set_err(err, cap, "keyless: unknown field \"%.64s\"", it->string);
            return AK_ERR_CONFIG;
        }
    }
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(cfg, "urls");
    int n = cJSON_GetArraySize(urls);
    if (!cJSON_IsArray(urls) || n < 1 || n > CN_KEYLESS_MAX_URLS) {
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
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(cfg, "key_id");
    if (!cJSON_IsString(kid) || !safe_id(kid->valuestring, KEY_ID_MAX)) {
        set_err(err, cap, "keyless.key_id: 1..%d characters of [A-Za-z0-9._:-]", KEY_ID_MAX);
        return AK_ERR_CONFIG;
    }
    snprintf(k->key_id, sizeof k->key_id, "%s", kid->valuestring);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (name != NULL && (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
                         strlen(name->valuestring) >= sizeof s->name)) {
        set_err(err, cap, "keyless.name: string of 1..%zu chars", sizeof s->name - 1);
        return AK_ERR_CONFIG;
    }
    snprintf(s->name, sizeof s->name, "%.63s", name ? name->valuestring : k->key_id);
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(cfg, "connection_reuse");
    if (mode != NULL && !str_field_is(cfg, "connection_reuse", "pool") &&
        !str_field_is(cfg, "connection_reuse", "share")) {
        set_err(err, cap, "keyless.connection_reuse: \"pool\" or \"share\"");
        return AK_ERR_CONFIG;
    }
    k->hc.use_share = str_field_is(cfg, "connection_reuse", "share");
    /* issue 11: "auto" (default), "always", "never"; a "custom" server signs digests only. */
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(cfg, "send_intent");
    k->send_intent = ext != NULL  ? CN_KS_SEND_NEVER
                     : si == NULL ? CN_KS_SEND_AUTO
                                  : cn_ks_send_parse(cJSON_GetStringValue(si));
    if (k->send_intent < 0 || (ext != NULL && si != NULL)) {
        set_err(err, cap, "keyless.send_intent: \"auto\", \"always\" or \"never\"%s",
                ext != NULL ? " (type keyless only)" : "");
        return AK_ERR_CONFIG;
    }
    ak_err rc = AK_OK;
    /* "custom": client certificate (both or neither) and ca are optional. */
    int opt = ext != NULL && ext->optional_tls_files;
    int want_cert =
        !opt || cJSON_HasObjectItem(cfg, "client_cert") || cJSON_HasObjectItem(cfg, "client_key");
    if ((want_cert &&
         ((rc = cfg_path(k->hc.cert, sizeof k->hc.cert, cfg, "client_cert", err, cap)) != AK_OK ||
          (rc = cfg_path(k->hc.key, sizeof k->hc.key, cfg, "client_key", err, cap)) != AK_OK)) ||
        ((!opt || cJSON_HasObjectItem(cfg, "ca")) &&
         (rc = cfg_path(k->hc.ca, sizeof k->hc.ca, cfg, "ca", err, cap)) != AK_OK) ||
        (rc = cfg_long(&k->timeout_ms, cfg, "timeout_ms", 5000, 1, 600000, err, cap)) != AK_OK ||
        (rc = cfg_long(&k->hc.connect_timeout_ms, cfg, "connect_timeout_ms", 2000, 1, 600000, err,
                       cap)) != AK_OK ||
        (rc = cfg_long(&v, cfg, "retries", 2, 0, 10, err, cap)) != AK_OK)
        return rc;
    if (want_cert && (rc = cn_secret_file_check(k->hc.key, err, cap)) != AK_OK)
        return rc; /* the client key to the key server is a secret file (issue 18) */
    if (k->hc.cert[0] != '\0')
        (void)cn_metrics_cert_register("client", s->name, k->hc.cert);
    k->hc.retries = (int)v;
    if ((rc = cfg_long(&v, cfg, "pool_size", POOL_DEFAULT, 1, POOL_MAX, err, cap)) != AK_OK)
        return rc;
    k->hc.pool_size = (size_t)v;
    /* "custom" servers may not know the batch form: batching is opt-in there. */
    if ((rc = cfg_long(&v, cfg, "batch_max", ext != NULL ? 1 : BATCH_DEFAULT, 1, BATCH_MAX, err,
                       cap)) != AK_OK)
        return rc;
    k->batch_max = (unsigned)v;
    if ((rc = cfg_long(&v, cfg, "max_inflight", INFLIGHT_DEFAULT, 1, POOL_MAX, err, cap)) != AK_OK)
        return rc;
    k->max_inflight = (unsigned)v;
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
    if (k->send_intent != CN_KS_SEND_NEVER)
        fetch_intents(k); /* a key server that does not answer now is learned from later */
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
