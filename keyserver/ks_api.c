/* ks_api.c - /sign, /pubkey, /health, /metrics semantics (see ks_api.h). */
#include "ks_api.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_hex.h"
#include "ak_json.h"
#include "ak_secmem.h"
#include "ak_intent.h"
#include "ak_sig.h"

#define KS_METRICS_BUF (32 * 1024)
#define ALGORITHM      "ECDSA_SHA256"

/* What one request sees: the daemon's shared parts and one configuration generation. */
typedef struct {
    const ks_config *cfg;
    p11_key **keys;
    ks_rate *rate;
    ks_window *window;
    p11_token *tok;
    ks_audit *audit;
    ks_metrics *m;
    uint64_t generation; /* 0: no generations (ctx->gens NULL) */
    st_store *store;     /* the HA pair's shared store, or NULL */
} ks_view;

/* Outcome of one sign item: either a signature or an error (code/message/status). */
typedef struct {
    unsigned status;
    const char *code;
    const char *message;
    char sig_b64[AK_B64_ENCODED_SIZE(AK_DER_SIG_MAX)];
} sign_result;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void set_body(ks_reply *out, cJSON *j)
{
    out->body = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    out->len = out->body != NULL ? strlen(out->body) : 0;
    out->content_type = "application/json";
    if (out->body == NULL)
        out->status = 500;
    cJSON_Delete(j);
}

static cJSON *error_obj(const char *code, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    if (e == NULL || cJSON_AddStringToObject(e, "code", code) == NULL ||
        cJSON_AddStringToObject(e, "message", message) == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void ks_api_error(ks_reply *out, unsigned status, const char *code, const char *message)
{
    out->status = status;
    set_body(out, error_obj(code, message));
}

/* Deepest nesting of arrays/objects in the JSON text, strings skipped; stops past limit. */
static unsigned json_depth(const char *s, size_t n, unsigned limit)
{
    unsigned d = 0, max = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++d > max)
                max = d;
            if (max > limit)
                return max;
        } else if ((c == ']' || c == '}') && d > 0) {
            d--;
        }
    }
    return max;
}

/* Parse the body as a JSON object within the depth limit; on failure fills out and returns NULL. */
static cJSON *parse_body(const ks_view *ctx, const char *body, size_t len, ks_reply *out)
{
    if (json_depth(body, len, ctx->cfg->max_json_depth) > ctx->cfg->max_json_depth) {
        ks_api_error(out, 400, "json_too_deep", "JSON nesting exceeds the limit");
        return NULL;
    }
    /* cJSON would cut a string at \u0000 and keep duplicate keys (ak_json.h): refuse both, so
     * that what is signed is what every other JSON parser on the way saw. */
    if (ak_json_has_nul(body, len)) {
        ks_api_error(out, 400, "invalid_json", "the body contains a NUL character");
        return NULL;
    }
    if (ak_json_has_bad_utf8(body, len)) {
        ks_api_error(out, 400, "invalid_json",
                     "the body is not valid UTF-8 (or has a lone "
                     "surrogate escape)");
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (j == NULL) {
        ks_api_error(out, 400, "bad_json", "the body is not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        ks_api_error(out, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    ak_err e = ak_json_check_keys(j);
    if (e != AK_OK) {
        cJSON_Delete(j);
        ks_api_error(out, 400, "invalid_json",
                     e == AK_ERR_JSON ? "the body has a duplicate object key"
                                      : "an object in the body has too many members");
        return NULL;
    }
    return j;
}

static int key_allowed(const ks_view *ctx, const ks_tls_conn *id, long key)
{
    long who[2] = {id->cn_client, id->fp_client};
    for (int w = 0; w < 2; w++) {
        if (who[w] < 0)
            continue;
        const ks_client_cfg *cl = &ctx->cfg->clients[who[w]];
        if (cl->all_keys)
            return 1;
        for (size_t i = 0; i < cl->n_keys; i++)
            if ((long)cl->key_idx[i] == key)
                return 1;
    }
    return 0;
}

/* Key index the client may use, or -1 for both "unknown" and "not allowed". */
static long lookup_key(const ks_view *ctx, const ks_tls_conn *id, const char *key_id, size_t len)
{
    long k = ks_config_key_index(ctx->cfg, key_id, len);
    if (k < 0 || !key_allowed(ctx, id, k))
        return -1;
    return k;
}

#define E403_CODE "key_not_allowed"
#define E403_MSG  "the key does not exist or this client may not use it"

typedef ks_sign_req sign_req;

/* Validate one sign request object; on error fills res (status 400) and returns 0. A digest
 * that differs from the intent's parses (rq->mismatch): it is refused and audited once the key
 * is known. */
static int parse_sign_item(const cJSON *item, sign_req *rq, sign_result *res)
{
    const cJSON *f;
    ks_policy_stop st;
    memset(rq, 0, sizeof *rq);
    rq->ticket.key = -1;
    res->status = 400;
    if (!cJSON_IsObject(item)) {
        res->code = "bad_request";
        res->message = "a sign request must be a JSON object";
        return 0;
    }
    cJSON_ArrayForEach(f, item)
    {
        const char *n = f->string;
        if (strcmp(n, "key_id") != 0 && strcmp(n, "algorithm") != 0 && strcmp(n, "data") != 0 &&
            strcmp(n, "request_id") != 0 && strcmp(n, "intent") != 0) {
            res->code = "unknown_field";
            res->message = "unknown field in the sign request";
            return 0;
        }
        if (strcmp(n, "intent") == 0 ? !cJSON_IsObject(f) : !cJSON_IsString(f)) {
            res->code = "bad_field_type";
            res->message = "key_id, algorithm, data and request_id must be strings, intent an "
                           "object";
            return 0;
        }
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "key_id");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, "algorithm");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(item, "request_id");
    if (r != NULL) {
        if (strlen(r->valuestring) > KS_REQUEST_ID_MAX) {
            res->code = "bad_request_id";
            res->message = "request_id is longer than 128 bytes";
            return 0;
        }
        rq->request_id = r->valuestring;
    }
    if (k == NULL) {
        res->code = "missing_field";
        res->message = "key_id and data (or intent) are required";
        return 0;
    }
    if (strlen(k->valuestring) == 0 || strlen(k->valuestring) > KS_KEY_ID_MAX) {
        res->code = "bad_key_id";
        res->message = "key_id must be 1..128 bytes";
        return 0;
    }
    rq->key_id = k->valuestring;
    if (a != NULL && strcmp(a->valuestring, ALGORITHM) != 0) {
        res->code = "unknown_algorithm";
        res->message = "algorithm must be ECDSA_SHA256";
        return 0;
    }
    if (!ks_policy_req_parse(rq, item, &st)) {
        res->code = st.code;
        res->message = rq->message;
        if (st.outcome == NULL)
            return 0;
        rq->mismatch = 1;
    }
    res->status = 200;
    return 1;
}

static void audit_rec(ks_audit_rec *ar, const ks_tls_conn *id, const sign_req *rq, const char *o,
                      uint64_t lat)
{
    memset(ar, 0, sizeof *ar);
    ar->client_cn = id->cn;
    ar->client_fp = id->fp;
    ar->key_id = rq->key_id;
    ar->key_id_len = rq->key_id ? strlen(rq->key_id) : 0;
    ar->digest = rq->digest;
    ar->digest_len = 32;
    ar->request_id = rq->request_id;
    ar->request_id_len = rq->request_id ? strlen(rq->request_id) : 0;
    ar->outcome = o;
    ar->latency_us = lat;
    ar->intent = rq->has_intent && !rq->intent_audited ? &rq->intent : NULL;
    ar->rule = rq->rule;
    ar->from = rq->from;
}

static cJSON *result_obj(const sign_req *rq, const sign_result *res)
{
    cJSON *o = res->status == 200 ? cJSON_CreateObject() : error_obj(res->code, res->message);
    if (o == NULL)
        return NULL;
    if (res->status == 200) {
        cJSON_AddStringToObject(o, "key_id", rq->key_id);
        cJSON_AddStringToObject(o, "algorithm", ALGORITHM);
        cJSON_AddStringToObject(o, "signature", res->sig_b64);
    }
    if (rq->request_id != NULL)
        cJSON_AddStringToObject(o, "request_id", rq->request_id);
    return o;
}

/* A refused item (the client may not use this key, or it does not exist). */
static const char *refuse(const ks_view *ctx, sign_result *res)
{
    res->status = 403;
    res->code = E403_CODE;
    res->message = E403_MSG;
    atomic_fetch_add(&ctx->m->refused, 1);
    return "refused";
}

/* The client entry whose rate limit applies: the certificate's fingerprint entry if it has one
 * (the more specific identity), else its CN entry. */
static long rate_client(const ks_tls_conn *id)
{
    return id->fp_client >= 0 ? id->fp_client : id->cn_client;
}

/* A refused item: the client's rate limit is exhausted (429, before any HSM call). */
static const char *rate_limited(const ks_view *ctx, sign_result *res)
{
    res->status = 429;
    res->code = "rate_limited";
    res->message = "this client's signing rate limit is exhausted; retry later";
    atomic_fetch_add(&ctx->m->rate_limited, 1);
    return "refused_rate";
}

/* The reply for one signed item from the HSM's answer; returns the audit outcome. */
static const char *sign_outcome(const ks_view *ctx, ak_err e, const uint8_t *der, size_t der_len,
                                sign_result *res)
{
    if (e == AK_OK && ak_b64_encode(res->sig_b64, sizeof res->sig_b64, der, der_len) == AK_OK) {
        res->status = 200;
        return "signed";
    }
    atomic_fetch_add(&ctx->m->sign_failures, 1);
    int unavailable =
        e == AK_ERR_HSM_UNAVAILABLE || e == AK_ERR_TIMEOUT || e == AK_ERR_BUSY || e == AK_ERR_HSM;
    res->status = unavailable ? 503 : 500;
    res->code = unavailable ? "hsm_unavailable" : "internal";
    res->message = unavailable ? "the HSM is unavailable" : "internal error";
    return "hsm_error";
}

/* Write the audit record of one decision; 0 if it could not be written (fail closed). */
static int record(const ks_view *ctx, const ks_tls_conn *id, const sign_req *rq, sign_result *res,
                  const char *outcome, uint64_t t0, uint64_t *ticket)
{
    ks_audit_rec ar;
    uint64_t lat = now_us() - t0;
    audit_rec(&ar, id, rq, outcome, lat);
    if (ks_audit_write(ctx->audit, &ar, ticket) != AK_OK) {
        ak_wipe(res->sig_b64, sizeof res->sig_b64);
        return 0;
    }
    if (res->status == 200)
        ks_metrics_sign_latency(ctx->m, lat);
    return 1;
}

/* The client entry whose policy override applies (as for the rate limit). */
#define policy_client rate_client

/*
 * Everything decided before the HSM: key, digest mismatch, policy (and the cumulative
 * reservation), rate limit. NULL: go and sign ctx->keys[*key]; else the audit outcome, res set.
 */
static const char *decide(const ks_view *ctx, const ks_tls_conn *id, sign_req *rq, sign_result *res,
                          long *key)
{
    ks_policy_stop st;
    long k = lookup_key(ctx, id, rq->key_id, strlen(rq->key_id));
    *key = k;
    if (k < 0)
        return refuse(ctx, res);
    rq->from = p11_key_address(ctx->keys[k]);
    if (rq->mismatch) {
        res->status = 400;
        res->code = "digest_mismatch";
        res->message = rq->message;
        return "digest_mismatch";
    }
    if (!ks_policy_req_judge(rq, ctx->cfg, ctx->window, policy_client(id), k, &st)) {
        res->status = st.status;
        res->code = st.code;
        res->message = rq->message;
        return st.outcome;
    }
    if (!ks_rate_take(ctx->rate, rate_client(id))) {
        ks_policy_req_release(rq, ctx->window);
        return rate_limited(ctx, res);
    }
    return NULL;
}

typedef struct {
    ks_audit *audit;
    uint64_t ticket;
} decision_sync;

static ak_err decision_sync_run(void *arg)
{
    const decision_sync *d = arg;
    return ks_audit_sync(d->audit, d->ticket);
}

/*
 * One allowed single /sign, with the audit's fdatasync off the latency path (issue 16): a
 * "decision" record (outcome "allowed": this client, this key, this digest, sent to the HSM) is
 * written BEFORE the HSM call and made durable WHILE the HSM signs (p11_token_sign_during); the
 * signature is used only if that record is durable, so no signature ever leaves without a
 * durable record naming it. The result record ("signed" / "hsm_error", with the latency) is
 * written after, by the caller (record()), and is not waited for: it becomes durable with the
 * next fdatasync. Returns the outcome, or NULL if the decision could not be made durable (fail
 * closed: nothing is signed, or the signature is wiped unread).
 */
static const char *sign_durable(const ks_view *ctx, const ks_tls_conn *id, const sign_req *rq,
                                long k, sign_result *res)
{
    uint8_t der[AK_DER_SIG_MAX];
    size_t der_len = 0;
    ks_audit_rec ar;
    decision_sync ds = {ctx->audit, 0};
    audit_rec(&ar, id, rq, "allowed", 0);
    if (ks_audit_write(ctx->audit, &ar, &ds.ticket) != AK_OK)
        return NULL;
    ak_err e = p11_token_sign_during(ctx->tok, ctx->keys[k], rq->digest, der, sizeof der, &der_len,
                                     decision_sync_run, &ds);
    if (e == AK_ERR_AUDIT) { /* the decision is not durable: the signature must not leave */
        ak_wipe(der, sizeof der);
        return NULL;
    }
    const char *outcome = sign_outcome(ctx, e, der, der_len, res);
    ak_wipe(der, sizeof der);
    return outcome;
}

/*
 * Decide, sign, write the audit record. Returns 0 if a record could not be written (fail
 * closed). *ticket gets the ticket the caller syncs (ks_audit_sync) before the reply leaves: a
 * refusal's record; 0 after an HSM call, whose decision record was made durable before the
 * signature was used (sign_durable). A batch syncs once for all its records.
 */
static int do_sign(const ks_view *ctx, const ks_tls_conn *id, sign_req *rq, sign_result *res,
                   uint64_t *ticket)
{
    uint64_t t0 = now_us();
    uint64_t unused = 0;
    long k = -1;
    const char *outcome = decide(ctx, id, rq, res, &k);
    if (outcome == NULL) {
        outcome = sign_durable(ctx, id, rq, k, res);
        if (outcome == NULL || res->status != 200)
            ks_policy_req_release(rq, ctx->window);
        if (outcome == NULL) {
            ak_wipe(res->sig_b64, sizeof res->sig_b64);
            return 0;
        }
        rq->intent_audited = 1; /* the decision record carries the intent (and counts for caps) */
        ticket = &unused;       /* the result record is not waited for (see sign_durable) */
    }
    return record(ctx, id, rq, res, outcome, t0, ticket);
}

/* Per-request working memory of a batch of n items (one allocation each, freed together). */
typedef struct {
    sign_req *rq;
    sign_result *res;
    const char **outcome; /* NULL: the item did not parse (400, not audited) */
    p11_key **keys;       /* the items to sign, m of them ... */
    uint8_t (*dig)[32];
    uint8_t (*der)[AK_DER_SIG_MAX];
    size_t *der_len;
    ak_err *rc;
    size_t *item; /* ... and which item each one is */
} batch_mem;

static void batch_free(batch_mem *b)
{
    free(b->rq);
    free(b->res);
    free(b->outcome);
    free(b->keys);
    free(b->dig);
    free(b->der);
    free(b->der_len);
    free(b->rc);
    free(b->item);
}

static int batch_alloc(batch_mem *b, size_t n)
{
    memset(b, 0, sizeof *b);
    b->rq = calloc(n, sizeof *b->rq);
    b->res = calloc(n, sizeof *b->res);
    b->outcome = calloc(n, sizeof *b->outcome);
    b->keys = calloc(n, sizeof *b->keys); /* NOLINT(bugprone-sizeof-expression): pointers */
    b->dig = calloc(n, sizeof *b->dig);
    b->der = calloc(n, sizeof *b->der);
    b->der_len = calloc(n, sizeof *b->der_len);
    b->rc = calloc(n, sizeof *b->rc);
    b->item = calloc(n, sizeof *b->item);
    return b->rq != NULL && b->res != NULL && b->outcome != NULL && b->keys != NULL &&
           b->dig != NULL && b->der != NULL && b->der_len != NULL && b->rc != NULL &&
           b->item != NULL;
}

/*
 * A batch: parse and authorise every item, sign the allowed ones CONCURRENTLY
 * (p11_token_sign_many: as many at once as the token has free sessions), then write one audit
 * record per decided item, in order (the caller syncs once for all). An item's audited
 * latency is the batch's: its signature waited for the whole batch. Returns 0 if a record
 * could not be written (out is then set: nothing of the batch may leave); -1 out of memory.
 */
static int sign_batch(const ks_view *ctx, const ks_tls_conn *id, const cJSON *reqs, size_t n,
                      cJSON *results, uint64_t *ticket, unsigned *signed_n)
{
    batch_mem b;
    const cJSON *it;
    size_t i = 0, m = 0;
    int ret = -1;
    uint64_t t0 = now_us();

    if (!batch_alloc(&b, n))
        goto out;
    cJSON_ArrayForEach(it, reqs)
    {
        if (i >= n)
            break;
        if (parse_sign_item(it, &b.rq[i], &b.res[i])) {
            long k = -1;
            b.outcome[i] = decide(ctx, id, &b.rq[i], &b.res[i], &k);
            if (b.outcome[i] == NULL) {
                b.keys[m] = ctx->keys[k];
                memcpy(b.dig[m], b.rq[i].digest, 32);
                b.rc[m] = AK_ERR_INTERNAL;
                b.item[m++] = i;
                ks_audit_intent(ctx->audit);
            }
        }
        i++;
    }
    if (m > 0) {
        /* per-item results in b.rc; the call's own result is the first failed item's */
        ak_err e = p11_token_sign_many(ctx->tok, b.keys, (const uint8_t(*)[32])b.dig, m, b.der,
                                       b.der_len, b.rc);
        (void)e;
        for (size_t j = 0; j < m; j++) {
            b.outcome[b.item[j]] =
                sign_outcome(ctx, b.rc[j], b.der[j], b.der_len[j], &b.res[b.item[j]]);
            if (b.res[b.item[j]].status != 200)
                ks_policy_req_release(&b.rq[b.item[j]], ctx->window);
        }
    }
    size_t unwritten = m; /* announced records (ks_audit_intent) not yet written */
    size_t next = 0;      /* b.item[] is ascending: the next item that went to the HSM */
    for (i = 0; i < n; i++) {
        int announced = next < m && b.item[next] == i;
        next += announced ? 1 : 0;
        if (b.outcome[i] != NULL &&
            !record(ctx, id, &b.rq[i], &b.res[i], b.outcome[i], t0, ticket)) {
            /* fail closed: nothing from this batch leaves; withdraw the other announcements */
            ks_audit_intent_cancel(ctx->audit, unwritten - (announced ? 1 : 0));
            ret = 0;
            goto out;
        }
        unwritten -= announced ? 1 : 0;
        *signed_n += b.res[i].status == 200;
        cJSON *o = result_obj(&b.rq[i], &b.res[i]);
        if (o == NULL)
            goto out;
        cJSON_AddItemToArray(results, o);
    }
    ret = 1;
out:
    if (b.res != NULL) {
        for (i = 0; i < n; i++)
            ak_wipe(b.res[i].sig_b64, sizeof b.res[i].sig_b64);
    }
    for (i = 0; b.rq != NULL && i < n; i++)
        ks_policy_req_clear(&b.rq[i]);
    batch_free(&b);
    return ret;
}

static void audit_unavailable(ks_reply *out)
{
    ks_api_error(out, 503, "audit_unavailable",
                 "the audit record could not be written; nothing was signed for this request");
}

static void handle_sign(const ks_view *ctx, const ks_tls_conn *id, const char *body, size_t len,
                        ks_reply *out)
{
    sign_req rq;
    sign_result res;
    uint64_t ticket = 0;
    cJSON *j = parse_body(ctx, body, len, out);
    cJSON *reply = NULL;
    memset(&rq, 0, sizeof rq);
    if (j == NULL)
        return;
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(j, "requests");
    if (reqs == NULL) {
        if (parse_sign_item(j, &rq, &res) &&
            (!do_sign(ctx, id, &rq, &res, &ticket) || ks_audit_sync(ctx->audit, ticket) != AK_OK)) {
            audit_unavailable(out);
            goto out;
        }
        out->status = res.status;
        if (res.status == 200)
            atomic_fetch_add(&ctx->m->signatures, 1);
        set_body(out, result_obj(&rq, &res));
        goto out;
    }
    if (cJSON_GetArraySize(j) != 1 || !cJSON_IsArray(reqs)) {
        ks_api_error(out, 400, "bad_request", "a batch is {\"requests\":[...]} and nothing else");
        goto out;
    }
    int n = cJSON_GetArraySize(reqs);
    if (n < 1 || (unsigned)n > ctx->cfg->max_batch) {
        ks_api_error(out, n < 1 ? 400 : 413, n < 1 ? "empty_batch" : "batch_too_large",
                     n < 1 ? "a batch needs at least one request"
                           : "the batch has more requests than the limit");
        goto out;
    }
    reply = cJSON_CreateObject();
    cJSON *results = cJSON_AddArrayToObject(reply, "results");
    if (results == NULL) {
        ks_api_error(out, 500, "internal", "out of memory");
        goto out;
    }
    unsigned signed_n = 0;
    int r = sign_batch(ctx, id, reqs, (size_t)n, results, &ticket, &signed_n);
    if (r == 0) {
        /* Fail closed: no signature of this batch leaves without its audit record. */
        audit_unavailable(out);
        goto out;
    }
    if (r < 0) {
        ks_api_error(out, 500, "internal", "out of memory");
        goto out;
    }
    /* One fdatasync for the whole batch (ticket 0: nothing was audited). */
    if (ticket != 0 && ks_audit_sync(ctx->audit, ticket) != AK_OK) {
        audit_unavailable(out);
        goto out;
    }
    atomic_fetch_add(&ctx->m->signatures, signed_n);
    out->status = 200;
    set_body(out, reply);
    reply = NULL;
out:
    ks_policy_req_clear(&rq);
    cJSON_Delete(reply);
    cJSON_Delete(j);
}

static cJSON *pubkey_obj(const ks_view *ctx, long k)
{
    char pub[AK_HEX_ENCODED_SIZE(65)], addr[AK_ADDR_STR_SIZE];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || ak_hex_encode(pub, sizeof pub, p11_key_pubkey(ctx->keys[k]), 65) != AK_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    ak_addr_to_checksum(addr, p11_key_address(ctx->keys[k]));
    cJSON_AddStringToObject(o, "key_id", ctx->cfg->keys[k].key_id);
    cJSON_AddStringToObject(o, "curve", "secp256k1");
    cJSON_AddStringToObject(o, "public_key", pub);
    cJSON_AddStringToObject(o, "address", addr);
    return o;
}

/* The key_id of a {"key_id":K} body; on error fills out and returns NULL. */
static const char *body_key_id(const ks_view *ctx, cJSON **j, const char *body, size_t len,
                               ks_reply *out)
{
    *j = parse_body(ctx, body, len, out);
    if (*j == NULL)
        return NULL;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(*j, "key_id");
    if (k == NULL || cJSON_GetArraySize(*j) != 1) {
        ks_api_error(out, 400, k == NULL ? "missing_field" : "unknown_field",
                     "the body must be {\"key_id\":\"...\"}");
        return NULL;
    }
    if (!cJSON_IsString(k)) {
        ks_api_error(out, 400, "bad_field_type", "key_id must be a string");
        return NULL;
    }
    return k->valuestring;
}

static void handle_pubkey(const ks_view *ctx, const ks_tls_conn *id, int post, const char *qkey,
                          const char *body, size_t len, ks_reply *out)
{
    cJSON *j = NULL;
    const char *key_id = qkey;
    if (post && (key_id = body_key_id(ctx, &j, body, len, out)) == NULL)
        goto out;
    if (key_id == NULL) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "keys");
        for (size_t k = 0; arr != NULL && k < ctx->cfg->n_keys; k++)
            if (key_allowed(ctx, id, (long)k))
                cJSON_AddItemToArray(arr, pubkey_obj(ctx, (long)k));
        out->status = 200;
        set_body(out, root);
        goto out;
    }
    long k = lookup_key(ctx, id, key_id, strlen(key_id));
    if (k < 0) {
        ks_api_error(out, 403, E403_CODE, E403_MSG);
        goto out;
    }
    out->status = 200;
    set_body(out, pubkey_obj(ctx, k));
out:
    cJSON_Delete(j);
}

/* The state member of /health (HA pair only): whether the shared store answers now. It does not
 * change the status: keys without a cumulative cap sign without the store. */
static void add_state_health(const ks_view *ctx, cJSON *root)
{
    char what[256] = "";
    if (ctx->store == NULL || root == NULL)
        return;
    ak_err e = st_ready(ctx->store, what, sizeof what);
    cJSON *o = cJSON_AddObjectToObject(root, "state");
    cJSON_AddStringToObject(o, "backend", "postgres");
    cJSON_AddStringToObject(o, "status", e == AK_OK ? "ok" : "unavailable");
    cJSON_AddStringToObject(o, "detail", what);
}

static void handle_health(const ks_view *ctx, const ks_tls_conn *id, int post, const char *body,
                          size_t len, ks_reply *out)
{
    cJSON *j = NULL;
    if (post) {
        const char *key_id = body_key_id(ctx, &j, body, len, out);
        if (key_id == NULL)
            goto out;
        if (lookup_key(ctx, id, key_id, strlen(key_id)) < 0) {
            ks_api_error(out, 403, E403_CODE, E403_MSG);
            goto out;
        }
    }
    ak_err e = p11_token_health(ctx->tok);
    cJSON *root = e == AK_OK ? cJSON_CreateObject() : error_obj("hsm_unavailable", ak_strerror(e));
    p11_token_stats st;
    p11_token_stats_get(ctx->tok, &st);
    cJSON_AddStringToObject(root, "status", e == AK_OK ? "ok" : "unavailable");
    cJSON_AddNumberToObject(root, "keys", (double)ctx->cfg->n_keys);
    cJSON_AddNumberToObject(root, "sessions_in_use", st.sessions_in_use);
    cJSON_AddNumberToObject(root, "sessions_max", st.max_sessions);
    /* issue 11: the intent kinds /sign accepts (a client learns the capability here) */
    cJSON *kinds = cJSON_AddArrayToObject(root, "intents");
    for (int k = 0; kinds != NULL && k < AK_INTENT_COUNT; k++)
        cJSON_AddItemToArray(kinds, cJSON_CreateString(ak_intent_kind_name((ak_intent_kind)k)));
    add_state_health(ctx, root);
    out->status = e == AK_OK ? 200 : 503;
    set_body(out, root);
out:
    cJSON_Delete(j);
}

static void handle_metrics(const ks_view *ctx, ks_reply *out)
{
    p11_token_stats st;
    ks_metrics_ext ext;
    size_t len = 0;
    char *buf = malloc(KS_METRICS_BUF);
    if (buf == NULL) {
        ks_api_error(out, 500, "internal", "out of memory");
        return;
    }
    p11_token_stats_get(ctx->tok, &st);
    memset(&ext, 0, sizeof ext);
    ext.hsm_sign_ok = st.sign_ok;
    ext.hsm_sign_errors = st.sign_errors;
    ext.hsm_reconnects = st.reconnects;
    ext.hsm_timeouts = st.timeouts;
    ext.sessions_open = st.sessions_open;
    ext.sessions_in_use = st.sessions_in_use;
    ext.sessions_max = st.max_sessions;
    ext.audit_records = ks_audit_records(ctx->audit);
    ext.audit_failures = ks_audit_failures(ctx->audit);
    ext.audit_syncs = ks_audit_syncs(ctx->audit);
    ext.hsm_up = p11_token_health(ctx->tok) == AK_OK;
    ks_tls_expiry tx;
    ks_tls_expiry_read(ctx->cfg, &tx);
    ext.tls_cert_not_after = tx.cert_not_after;
    ext.tls_client_ca_not_after = tx.client_ca_not_after;
    ext.tls_crl_next_update = tx.crl_next_update;
    if (ks_metrics_render(buf, KS_METRICS_BUF, &len, ctx->m, &ext) != AK_OK) {
        free(buf);
        ks_api_error(out, 500, "internal", "metrics buffer too small");
        return;
    }
    out->status = 200;
    out->body = buf;
    out->len = len;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void method_not_allowed(ks_reply *out, const char *allow)
{
    out->allow = allow;
    ks_api_error(out, 405, "method_not_allowed",
                 strcmp(allow, "POST") == 0
                     ? "use POST"
                     : (strcmp(allow, "GET") == 0 ? "use GET" : "use GET or POST"));
}

static void handle(const ks_view *ctx, const ks_tls_conn *id, const char *method, const char *path,
                   const char *query_key_id, const char *body, size_t body_len, ks_reply *out)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    memset(out, 0, sizeof *out);
    if (strcmp(path, "/sign") == 0) {
        out->ep = KS_EP_SIGN;
        if (post)
            handle_sign(ctx, id, body, body_len, out);
        else
            method_not_allowed(out, "POST");
    } else if (strcmp(path, "/pubkey") == 0) {
        out->ep = KS_EP_PUBKEY;
        if (get || post)
            handle_pubkey(ctx, id, post, get ? query_key_id : NULL, body, body_len, out);
        else
            method_not_allowed(out, "GET, POST");
    } else if (strcmp(path, "/health") == 0) {
        out->ep = KS_EP_HEALTH;
        if (get || post)
            handle_health(ctx, id, post, body, body_len, out);
        else
            method_not_allowed(out, "GET, POST");
    } else if (strcmp(path, "/metrics") == 0) {
        out->ep = KS_EP_METRICS;
        if (get)
            handle_metrics(ctx, out);
        else
            method_not_allowed(out, "GET");
    } else {
        out->ep = KS_EP_OTHER;
        ks_api_error(out, 404, "not_found", "unknown path");
    }
    ks_metrics_request(ctx->m, out->ep, out->status);
}

void ks_api_handle(ks_ctx *ctx, const ks_tls_conn *id, const char *method, const char *path,
                   const char *query_key_id, const char *body, size_t body_len, ks_reply *out)
{
    ks_view v = {ctx->cfg,   ctx->keys,     ctx->rate, ctx->window, ctx->tok,
                 ctx->audit, &ctx->metrics, 0,         ctx->store};
    ks_gen *g = ctx->gens != NULL ? ks_gens_acquire(ctx->gens) : NULL;
    ks_tls_conn who;
    if (g != NULL) {
        v.cfg = g->cfg;
        v.keys = g->keys;
        v.rate = g->rate;
        v.window = g->window;
        v.generation = g->number;
        if (id != NULL) {
            who = *id;
            ks_gen_client(g->cfg, who.cn, who.fp, &who.cn_client, &who.fp_client);
            id = &who;
        }
    }
    handle(&v, id, method, path, query_key_id, body, body_len, out);
    if (g != NULL)
        ks_gens_release(ctx->gens, g);
}
