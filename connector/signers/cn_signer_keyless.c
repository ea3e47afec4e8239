/*
 * cn_signer_keyless.c - the "keyless" signer: anode-keyserver over mutual TLS with libcurl
 * (see cn_signer_keyless.h for the protocol, retry and failover rules).
 *
 * Owns: the parsed configuration, the HTTP client (cn_rhttp, the connector's one: mutual TLS,
 * handle pool or CURLSH - "connection_reuse": "pool" or "share" -, retries, URL failover, the
 * prober; the bearer line of "custom" in its locked memory), the batching queue, the latency
 * estimate and the intent kinds the key server advertised (issue 11; the send_intent rule itself
 * is cn_ks_reply's). No key material: the client key file is read by libcurl/OpenSSL when a
 * connection is made.
 *
 * Batching (cn_signer_keyless.h): the queue is cn_ksbatch's; this file sends what it hands
 * over, alone (sign_alone) or as one batch request (run_batch).
 */
#include "cn_signer_keyless.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_cfg.h"
#include "ak_addr.h"
#include "ak_b64.h"
#include "cn_backend.h"
#include "cn_secfile.h"
#include "cn_ks_reply.h"
#include "cn_ksbatch.h"
#include "cn_ksproto.h"
#include "cn_metrics.h"
#include "cn_rcfg.h"
#include "cn_rhttp.h"
#include "rt_clock.h"

_Static_assert(CN_KEYLESS_MAX_URLS == CN_RHTTP_MAX_URLS, "one URL limit");
_Static_assert(CN_KEYLESS_COOLDOWN_MS == CN_RHTTP_COOLDOWN_MS, "one cooldown");

#define CN_KH_URL_MAX  256
#define CN_KH_PATH_MAX 1024

/* What the config parser fills in for the HTTP client (cn_rhttp_new_ext). */
typedef struct {
    char urls[CN_KEYLESS_MAX_URLS][CN_KH_URL_MAX + 1]; /* base URLs, no trailing '/' */
    size_t n_urls;                                     /* 1..CN_KEYLESS_MAX_URLS */
    char cert[CN_KH_PATH_MAX + 1];                     /* "" = no client certificate */
    char key[CN_KH_PATH_MAX + 1];
    char ca[CN_KH_PATH_MAX + 1]; /* "" = the system's trust store */
    long connect_timeout_ms;
    int retries;      /* extra rounds */
    int use_share;    /* 1 = one CURLSH, an easy handle per request; 0 = pool of easy handles */
    int allow_http;   /* accept http:// as well as https:// */
    size_t pool_size; /* idle easy handles kept (pool mode), >= 1 */
} cn_kh_cfg;

#define KEY_ID_MAX    128
#define REQ_ID_MAX    64
#define POOL_DEFAULT  16
#define POOL_MAX      256
#define BATCH_DEFAULT 64 /* "batch_max" default (keyless; "custom" defaults to 1) */
/* "max_inflight" default: 4 - under load a few batches are being signed (the key server spreads
 * a batch's items over all its HSM sessions) while the next ones gather, so a network HSM's
 * queue stays fed across batch boundaries; bench_e2e --hsm-latency-ms measured 4 against 1, 2
 * and 8 (docs/benchmarks.md). A lone signature still goes at once. */
#define INFLIGHT_DEFAULT 4
/* One request object of a batch: key_id, b64 digest, request id and the JSON around them. */
#define ITEM_MAX (KEY_ID_MAX + REQ_ID_MAX + AK_B64_ENCODED_SIZE(32) + 96)
/* One result object: key_id, request_id, b64 DER signature or an error (the key server's
 * longest message is < 100 bytes), JSON around them. Custom servers get the same bound. */
#define RESULT_MAX 1024

typedef struct {
    cn_kh_cfg hc; /* URLs, TLS files, connect timeout, retries, pool: for http_new() */
    cn_rhttp *http;
    char key_id[KEY_ID_MAX + 1];
    long timeout_ms;

    /* Opportunistic batching (group commit, cn_ksbatch): signatures that arrive while
     * max_inflight POST /sign are in flight go together in the next free one. */
    cn_ksbatch *batch;

    /* issue 11: "send_intent" (CN_KS_SEND_*); the intent kinds the key server's /health advertised
     * (bit per ak_intent_kind), learned at start and on every health check. */
    int send_intent;
    _Atomic unsigned intents;
    _Atomic int intents_learned;

    _Atomic uint64_t seq;        /* request id counter */
    _Atomic uint32_t latency_us; /* EWMA of successful sign latency */
} keyless;

/* The one clock (rt_clock). */
static int64_t now_us(void)
{
    const rt_clock *c = rt_clock_system();
    return c->mono_ns(c->ctx) / 1000;
}

/* The client's default (429/502/503/504 retried, the URL marked down) but for a state refusal
 * (cn_ks_reply_state_refusal): handed to the caller as it is, the URL left up. */
static ak_err ks_check(void *user, const cn_rhttp_resp *r, int *retry)
{
    (void)user;
    ak_err e = cn_rhttp_status_err(r->status);
    *retry = e == AK_ERR_UNAVAILABLE && !cn_ks_reply_state_refusal(r->status, r->body, r->len);
    return *retry ? e : AK_OK;
}

/* The key server at the failover URLs (base NULL): retries and failover until deadline. */
static AK_WUR ak_err ks_call(keyless *k, const char *path, const char *post, cn_rhttp_resp *r,
                             int64_t deadline)
{
    static const cn_rhttp_hooks hooks = {.check = ks_check};
    cn_rhttp_req q = {post ? "POST" : "GET", NULL, path, post, post ? strlen(post) : 0, NULL, NULL};
    return cn_rhttp_call_until(k->http, &q, &hooks, r, deadline, -1);
}

/* One GET to URL number url, no retry. */
static AK_WUR ak_err ks_get_once(keyless *k, size_t url, const char *path, long timeout_ms,
                                 cn_rhttp_resp *r, int *retry)
{
    cn_rhttp_req q = {"GET", NULL, path, NULL, 0, NULL, NULL};
    return cn_rhttp_once(k->http, &q, NULL, url, timeout_ms, r, retry);
}

/* ---- signer ops ------------------------------------------------------------------------- */

static void note_latency(keyless *k, int64_t t0_us)
{
    uint32_t us = (uint32_t)(now_us() - t0_us);
    uint32_t old = atomic_load(&k->latency_us);
    atomic_store(&k->latency_us, old == 0 ? us : (old * 7 + us) / 8);
}

/* The bytes one request object of w may take (its intent text is spliced in as is). */
static size_t item_cap(const cn_ksb_item *w)
{
    return ITEM_MAX + (w->intent != NULL ? strlen(w->intent) + 16 : 0);
}

/* One signature in the single form (retries and failover in ks_call). */
static ak_err sign_alone(void *user, const cn_ksb_item *w, int64_t deadline)
{
    keyless *k = user;
    size_t req_len = 0, cap = item_cap(w);
    char *req = malloc(cap);
    cn_rhttp_resp body;
    cJSON *j = NULL;
    int64_t t0 = now_us();
    ak_err rc = cn_rhttp_resp_init_max(&body, CN_KEYLESS_MAX_BODY, 0);
    if (rc == AK_OK && req == NULL)
        rc = AK_ERR_NOMEM;
    if (rc != AK_OK || (rc = cn_ksproto_item(req, cap, &req_len, k->key_id, w->digest, w->rid,
                                             w->intent)) != AK_OK)
        goto out;
    rc = ks_call(k, "/sign", req, &body, deadline);
    if (rc != AK_OK)
        goto out;
    rc = cn_ks_reply_parse(&j, body.status, body.body, body.len, w->why, w->why_cap);
    if (rc != AK_OK)
        goto out;
    rc = cn_ksproto_sig(w->out, j, k->key_id, w->rid);
    if (rc == AK_OK)
        note_latency(k, t0);
out:
    cJSON_Delete(j);
    cn_rhttp_resp_clear(&body);
    free(req);
    return rc;
}

/*
 * n >= 2 signatures as one POST /sign {"requests":[...]}; fills each member's rc/out (or sets
 * alone). The request runs until the earliest member deadline, with the usual retries and
 * failover. A server that refuses the batch form as such (400, 404, 405, 413, 415, 501 for the
 * whole request) gets each signature alone.
 */
static void run_batch(void *user, cn_ksb_item *const *m, size_t n)
{
    keyless *k = user;
    size_t cap = 32, len = 13, item_len = 0;
    size_t body_cap = n * RESULT_MAX + 256;
    char *req = NULL;
    cn_rhttp_resp body;
    cJSON *j = NULL;
    int64_t deadline = m[0]->deadline_ms, t0 = now_us();
    ak_err rc = cn_rhttp_resp_init_max(&body, body_cap, 0);
    for (size_t i = 0; i < n; i++) {
        m[i]->rc = AK_ERR_UPSTREAM;
        cap += item_cap(m[i]) + 1;
    }
    req = malloc(cap);
    if (req == NULL || rc != AK_OK) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    memcpy(req, "{\"requests\":[", len);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            req[len++] = ',';
        if ((rc = cn_ksproto_item(req + len, cap - len - 3, &item_len, k->key_id, m[i]->digest,
                                  m[i]->rid, m[i]->intent)) != AK_OK)
            goto out;
        len += item_len;
        if (m[i]->deadline_ms < deadline)
            deadline = m[i]->deadline_ms;
    }
    memcpy(req + len, "]}", 3);
    rc = ks_call(k, "/sign", req, &body, deadline);
    if (rc != AK_OK)
        goto out;
    long status = body.status;
    if (status == 400 || status == 404 || status == 405 || status == 413 || status == 415 ||
        status == 501) {
        for (size_t i = 0; i < n; i++)
            m[i]->alone = 1;
        goto out; /* rc is AK_OK: the members keep their rc and go alone */
    }
    rc = cn_ks_reply_parse(&j, body.status, body.body, body.len, NULL, 0);
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
        cn_ksb_item *w = m[at++];
        if (cJSON_IsObject(it) && cJSON_HasObjectItem(it, "error")) {
            w->rc = cn_ksproto_item_err(it, &w->alone);
            cn_ks_reply_why(w->why, w->why_cap, it);
        } else
            w->rc = cJSON_IsObject(it) ? cn_ksproto_sig(w->out, it, k->key_id, w->rid)
                                       : AK_ERR_UPSTREAM;
    }
    note_latency(k, t0);
    rc = AK_OK;
out:
    for (size_t i = 0; i < n && rc != AK_OK; i++)
        m[i]->rc = rc;
    cJSON_Delete(j);
    cn_rhttp_resp_clear(&body);
    free(req);
}

/* Learn the intent kinds from a /health answer (its "intents" array; none listed = none). */
static void learn_intents(keyless *k, const cn_rhttp_resp *r)
{
    int ok = 0;
    unsigned mask = r->body != NULL ? cn_ks_reply_intents(r->body, r->len, &ok) : 0;
    if (!ok)
        return;
    atomic_store(&k->intents, mask);
    atomic_store(&k->intents_learned, 1);
}

/* One GET /health to learn the intent kinds (at start, and by "always" before its first). */
static void fetch_intents(keyless *k)
{
    cn_rhttp_resp body;
    if (cn_rhttp_resp_init_max(&body, CN_KEYLESS_MAX_BODY, 0) != AK_OK)
        return;
    if (ks_call(k, "/health", NULL, &body, cn_rhttp_now_ms() + k->timeout_ms) == AK_OK &&
        body.status == 200)
        learn_intents(k, &body);
    cn_rhttp_resp_clear(&body);
}

static ak_err keyless_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                           const cn_sign_ctx *ctx)
{
    keyless *k = s->impl;
    char rid[REQ_ID_MAX + 1], *intent = NULL;
    cn_ksb_item w = {.digest = digest,
                     .out = out,
                     .rid = rid,
                     .deadline_ms = cn_rhttp_now_ms() + k->timeout_ms,
                     .why = ctx != NULL ? ctx->why : NULL,
                     .why_cap = ctx != NULL ? ctx->why_cap : 0};
    if (ctx != NULL && ctx->request_id != NULL && ak_cfg_safe_id(ctx->request_id, REQ_ID_MAX, 0))
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
    rc = cn_ksbatch_sign(k->batch, &w);
    free(intent);
    return rc;
}

static ak_err keyless_health(cn_signer *s, cn_signer_health *out)
{
    keyless *k = s->impl;
    cn_rhttp_resp body;
    int up = 0;
    /* One pass over the URLs, no backoff: a health probe must answer quickly. */
    ak_err rc = cn_rhttp_resp_init_max(&body, CN_KEYLESS_MAX_BODY, 0);
    for (size_t i = 0; i < k->hc.n_urls && rc != AK_ERR_NOMEM && !up; i++) {
        int retry = 0;
        rc = ks_get_once(k, i, "/health", k->hc.connect_timeout_ms + 1000, &body, &retry);
        up = rc == AK_OK && body.status == 200;
        if (up && k->send_intent != CN_KS_SEND_NEVER)
            learn_intents(k, &body);
        if (rc == AK_OK && !up)
            rc = cn_ks_reply_status_err(body.status);
        if (up || retry)
            cn_rhttp_mark(k->http, i, !up);
    }
    cn_rhttp_resp_clear(&body);
    return cn_backend_health(out, rc, (unsigned)k->hc.pool_size, atomic_load(&k->latency_us),
                             "key server");
}

static void keyless_destroy(cn_signer *s)
{
    keyless *k = s->impl;
    if (k == NULL)
        return;
    cn_rhttp_free(k->http); /* stops the prober first */
    cn_ksbatch_free(k->batch);
    free(k);
    s->impl = NULL;
}

/* "custom" is the same client with other options (cn_keyless_ext). */
static const cn_signer_ops keyless_ops = {"keyless", keyless_sign, keyless_health, keyless_destroy},
                           custom_ops = {"custom", keyless_sign, keyless_health, keyless_destroy};

/* ---- construction ----------------------------------------------------------------------- */

/* Check one /pubkey answer (cn_ksproto_pubkey); pub/addr set on success. */
static AK_WUR ak_err check_pubkey(keyless *k, uint8_t pub[65], uint8_t addr[20],
                                  const cn_rhttp_resp *body, char *err, size_t cap)
{
    cJSON *j = NULL;
    ak_err rc = cn_ks_reply_parse(&j, body->status, body->body, body->len, NULL, 0);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, "keyless: GET /pubkey for key_id %s failed: %s", k->key_id,
                    ak_strerror(rc));
    else
        rc = cn_ksproto_pubkey(pub, addr, j, k->key_id, err, cap);
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
    cn_rhttp_resp body;
    ak_err rc = cn_rhttp_resp_init_max(&body, CN_KEYLESS_MAX_BODY, 0);
    if (rc != AK_OK)
        goto out;
    snprintf(path, sizeof path, "/pubkey?key_id=%s", k->key_id);
    rc = ks_call(k, path, NULL, &body, cn_rhttp_now_ms() + k->timeout_ms);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, "keyless: GET /pubkey for key_id %s failed: %s", k->key_id,
                    ak_strerror(rc));
        goto out;
    }
    rc = check_pubkey(k, pub, addr, &body, err, cap);
    for (size_t i = 0; i < k->hc.n_urls && rc == AK_OK; i++) {
        int retry = 0;
        if (cn_rhttp_down_until(k->http, i) != 0)
            continue; /* failed just now */
        if (ks_get_once(k, i, path, k->timeout_ms, &body, &retry) != AK_OK || body.status != 200)
            continue; /* down now: it is checked by every signature later anyway */
        rc = check_pubkey(k, pub2, addr2, &body, err, cap);
        if (rc == AK_OK && memcmp(pub, pub2, 65) != 0) {
            cn_rcfg_err(err, cap, "keyless: urls[%zu] reports another public key for key_id %s", i,
                        k->key_id);
            rc = AK_ERR_UPSTREAM;
        }
    }
out:
    cn_rhttp_resp_clear(&body);
    return rc;
}

/* A configured file that must be readable now ("" = not given). */
static AK_WUR ak_err cfg_readable(const char *path, const char *name, char *err, size_t err_cap)
{
    if (path[0] == '\0') {
        cn_rcfg_err(err, err_cap, "keyless: missing required field \"%s\"", name);
        return AK_ERR_CONFIG;
    }
    if (access(path, R_OK) != 0) {
        cn_rcfg_err(err, err_cap, "keyless.%s: cannot read %s", name, path);
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

/* Members as written; urls, connection_reuse and send_intent are checked in parse_cfg. */
typedef struct {
    const char *name, *reuse, *send_intent;
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
    AK_CFG_REF("send_intent", 0, keyless_cfg, send_intent, 6), /* issue 11 */
    /* 0 = absent: "custom" servers may not know the batch form, batching is opt-in there */
    AK_CFG_INT("batch_max", 0, keyless_cfg, batch_max, 1, CN_KSBATCH_MAX, 0),
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
        cn_rcfg_err(err, cap, "keyless.urls: array of 1..%d https URLs", CN_KEYLESS_MAX_URLS);
        return AK_ERR_CONFIG;
    }
    cJSON_ArrayForEach(it, urls)
    {
        size_t len = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
        int https = len > 8 && strncmp(it->valuestring, "https://", 8) == 0;
        int http = k->hc.allow_http && len > 7 && strncmp(it->valuestring, "http://", 7) == 0;
        if (len > CN_KH_URL_MAX || !(https || http) ||
            strpbrk(it->valuestring, "?#@ \t\r\n") != NULL) {
            cn_rcfg_err(err, cap, "keyless.urls[%zu]: must be an %s base URL", k->hc.n_urls,
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
        cn_rcfg_err(err, cap, "keyless.connection_reuse: \"pool\" or \"share\"");
        return AK_ERR_CONFIG;
    }
    k->hc.use_share = c.reuse != NULL && strcmp(c.reuse, "share") == 0;
    /* issue 11: "auto" (default), "always", "never"; a "custom" server signs digests only. */
    k->send_intent = ext != NULL             ? CN_KS_SEND_NEVER
                     : c.send_intent == NULL ? CN_KS_SEND_AUTO
                                             : cn_ks_send_parse(c.send_intent);
    if (k->send_intent < 0 || (ext != NULL && c.send_intent != NULL)) {
        cn_rcfg_err(err, cap, "keyless.send_intent: \"auto\", \"always\" or \"never\"%s",
                    ext != NULL ? " (type keyless only)" : "");
        return AK_ERR_CONFIG;
    }
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
    unsigned batch_max = c.batch_max != 0 ? (unsigned)c.batch_max : ext != NULL ? 1 : BATCH_DEFAULT;
    return cn_ksbatch_new(&k->batch, batch_max, (unsigned)c.max_inflight, sign_alone, run_batch, k);
}

/* The HTTP client for the parsed config: JSON headers, and the bearer line of "custom". */
static AK_WUR ak_err http_new(keyless *k, const cn_keyless_ext *ext, char *err, size_t cap)
{
    static const char *const hdrs[] = {"Content-Type: application/json", "Expect:"};
    const char *urls[CN_KEYLESS_MAX_URLS];
    const cn_kh_cfg *c = &k->hc;
    for (size_t i = 0; i < c->n_urls; i++)
        urls[i] = c->urls[i];
    cn_rhttp_opts o = {.ca = c->ca[0] ? c->ca : NULL, /* "custom" without "ca": system store */
                       .connect_timeout_ms = c->connect_timeout_ms,
                       .retries = c->retries,
                       .pool_size = c->pool_size};
    cn_rhttp_more m = {.allow_http = c->allow_http,
                       .cert = c->cert[0] ? c->cert : NULL, /* "custom" may have none */
                       .key = c->cert[0] ? c->key : NULL,
                       .share = c->use_share,
                       .urls = urls,
                       .n_urls = c->n_urls,
                       .headers = hdrs,
                       .n_headers = 2};
    if (ext != NULL && ext->bearer != NULL) {
        m.secret_prefix = "Authorization: Bearer ";
        m.secret = ext->bearer;
        m.secret_len = ext->bearer_len;
    }
    ak_err rc = cn_rhttp_new_ext(&k->http, &o, &m);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, "keyless: cannot create the HTTP client: %s", ak_strerror(rc));
    return rc;
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
        cn_rcfg_err(err, err_cap, "keyless: signer config must be an object");
        return AK_ERR_CONFIG;
    }
    s = calloc(1, sizeof *s);
    k = calloc(1, sizeof *k);
    if (s == NULL || k == NULL) {
        free(k);
        goto out;
    }
    s->ops = ext ? &custom_ops : &keyless_ops;
    s->impl = k;
    s->provider = ext && ext->provider ? ext->provider : "anode-keyserver";
    s->level = ext ? ext->level : CN_LEVEL_PRODUCTION;
    k->hc.allow_http = ext != NULL && ext->allow_http;
    rc = parse_cfg(k, s, cfg, ext, err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = http_new(k, ext, err, err_cap);
    if (rc != AK_OK)
        goto out;
    /* The address comes from the key server; every URL that answers must agree on it. */
    rc = fetch_pubkey(k, s->pubkey, s->address, err, err_cap);
    if (rc != AK_OK)
        goto out;
    if (k->send_intent != CN_KS_SEND_NEVER)
        fetch_intents(k); /* a key server that does not answer now is learned from later */
    if (k->hc.n_urls > 1 && (rc = cn_rhttp_start_prober(k->http, "/health")) != AK_OK) {
        cn_rcfg_err(err, err_cap, "keyless: cannot start the URL health prober");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    cn_signer_free(s);
    return rc;
}
