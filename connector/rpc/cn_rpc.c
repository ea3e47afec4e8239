/* cn_rpc.c - JSON-RPC 2.0 parsing, batches, responses and forwarding (see cn_rpc.h). */
#include "cn_rpc.h"
#include "ak_json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cn_audit.h"
#include "cn_log.h"
#include "cn_methods.h"
#include "cn_metrics.h"
#include "cn_rate.h"
#include "rt_clock.h"
#include "rt_pool.h"

#define MAX_TABLES (1 + CN_RPC_MAX_EXTRA)

struct cn_rpc {
    cn_rpc_config cfg;
    cn_account accounts[CN_RPC_MAX_ACCOUNTS];
    cn_method_env env; /* what every method sees */
    const cn_method_table *tables[MAX_TABLES];
    size_t n_tables;
    atomic_uint fwd_cut;        /* 0, or the smaller downstream batch size after a refusal */
    _Atomic int64_t fwd_cut_ms; /* ... since when (monotonic ms) */
    struct rt_pool *pool;       /* batch members' helpers: batch_threads workers (run_workers) */
    int own_nonce;              /* env.nonce is this router's (not cfg.nonce, borrowed) */
};

/* Batch helper jobs queued at once in the router's pool (a batch queues < batch_threads). */
#define CN_RPC_POOL_QUEUE 1024

ak_err cn_rpc_new(cn_rpc **out, const cn_rpc_config *cfg)
{
    uint8_t addrs[CN_RPC_MAX_ACCOUNTS][20];
    *out = NULL;
    if (cfg->n_signers == 0 || cfg->n_signers > CN_RPC_MAX_ACCOUNTS || cfg->chain_id == 0 ||
        cfg->downstream.post == NULL || cfg->max_batch == 0 || cfg->batch_threads == 0 ||
        cfg->n_extra > CN_RPC_MAX_EXTRA)
        return AK_ERR_ARG;
    cn_rpc *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return AK_ERR_NOMEM;
    r->cfg = *cfg;
    if (rt_pool_new(&r->pool, cfg->batch_threads, CN_RPC_POOL_QUEUE) != AK_OK) {
        free(r);
        return AK_ERR_NOMEM;
    }
    for (size_t i = 0; i < cfg->n_signers; i++) {
        r->accounts[i] = (cn_account){cfg->signers[i], cfg->policies ? cfg->policies[i] : NULL,
                                      cfg->metric_index ? cfg->metric_index[i] : i, cfg->clock};
        memcpy(addrs[i], cfg->signers[i]->address, 20);
    }
    r->cfg.signers = NULL; /* accounts[] is the reference from here on */
    /* The paymaster's rows, then the built-in ones: the first row of a name wins. */
    for (size_t i = 0; i < cfg->n_extra; i++)
        r->tables[r->n_tables++] = cfg->extra[i];
    r->tables[r->n_tables++] = cn_methods_builtin();
    r->env = (cn_method_env){.accounts = r->accounts,
                             .n_accounts = cfg->n_signers,
                             .ds = &r->cfg.downstream,
                             .chain_id = cfg->chain_id,
                             .allow_unprotected_tx = cfg->allow_unprotected_tx,
                             .state = cfg->state,
                             .state_nonces = cfg->state_nonces,
                             .nonce_retries = cfg->nonce_retries};
    r->env.nonce = cfg->nonce;
    r->own_nonce = cfg->nonce == NULL;
    ak_err rc = r->own_nonce ? cn_nonce_new(&r->env.nonce, (const uint8_t(*)[20])addrs,
                                            cfg->n_signers, cfg->nonce_retries, cfg->clock)
                             : AK_OK;
    if (rc != AK_OK) {
        rt_pool_free(r->pool);
        free(r);
        return rc;
    }
    *out = r;
    return AK_OK;
}

void cn_rpc_free(cn_rpc *r)
{
    if (r == NULL)
        return;
    if (r->own_nonce)
        cn_nonce_free(r->env.nonce);
    rt_pool_free(r->pool);
    free(r);
}

/* A request's id, and its exact text (see the raw JSON scanning below). */
typedef struct {
    const cJSON *id; /* the parsed id (NULL: none) */
    const char *raw; /* its exact text when it is a number and was found, else NULL */
    size_t len;
} idref;

/* One member's answer: text (malloc'd) or nothing for a notification. A batch member to be
 * forwarded is first only recorded (deferred): run_batch sends those to the node together. */
typedef struct {
    char *text;
    size_t len;
    int deferred; /* forward raw/raw_len, not done yet */
    int notification;
    const char *raw; /* the member's exact bytes (or raw_owned) */
    size_t raw_len;
    char *raw_owned; /* re-serialised member text when its bytes were unknown */
    idref id;
} answer;

/* Serialise a response object built here. */
static ak_err finish(answer *ans, cJSON *resp)
{
    ans->text = cJSON_PrintUnformatted(resp);
    cJSON_Delete(resp);
    if (ans->text == NULL)
        return AK_ERR_NOMEM;
    ans->len = strlen(ans->text);
    return AK_OK;
}

/*
 * Raw JSON text scanning, to echo numeric ids byte for byte and forward batch members as their
 * exact bytes (cJSON keeps numbers as doubles). Only used on text cJSON has already accepted as
 * valid JSON; every index is still bounds-checked.
 */
static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i < n ? i + 1 : n;
}

/* End of the value starting at s[i] (after whitespace). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    size_t depth = 0;
    i = skip_ws(s, i, n);
    if (i < n && s[i] == '"')
        return skip_string(s, i, n);
    if (i < n && s[i] != '{' && s[i] != '[') {
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
               s[i] != '\n' && s[i] != '\r')
            i++;
        return i;
    }
    while (i < n) {
        if (s[i] == '"') {
            i = skip_string(s, i, n);
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* The text of the first member named exactly "id" of the object s[0..n), or NULL. */
static const char *object_id_text(const char *s, size_t n, size_t *len)
{
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return NULL;
    for (i++;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return NULL;
        size_t k = i;
        i = skip_string(s, i, n);
        int is_id = i - k == 4 && memcmp(s + k, "\"id\"", 4) == 0;
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ':')
            return NULL;
        size_t v = skip_ws(s, i + 1, n);
        i = skip_value(s, v, n);
        if (is_id) {
            *len = i - v;
            return s + v;
        }
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ',')
            return NULL;
        i++;
    }
}

/* idref for req's id; its raw text is used only if it parses to the very same number. */
static idref make_idref(const cJSON *id, const char *raw, size_t raw_len)
{
    idref r = {id, NULL, 0};
    size_t len = 0;
    const char *t = cJSON_IsNumber(id) && raw ? object_id_text(raw, raw_len, &len) : NULL;
    if (t != NULL && len > 0 && len < 128) {
        cJSON *check = cJSON_ParseWithLength(t, len);
        if (check != NULL && cJSON_Compare(check, id, 1)) {
            r.raw = t;
            r.len = len;
        }
        cJSON_Delete(check);
    }
    return r;
}

/* Spans of the members of the array s[0..n); 0 if they cannot be matched one to one. */
static int batch_spans(const char *s, size_t n, const char **p, size_t *len, size_t count)
{
    size_t i = skip_ws(s, 0, n), k = 0;
    if (i >= n || s[i] != '[')
        return 0;
    for (i++; k < count; k++) {
        size_t v = skip_ws(s, i, n);
        i = skip_value(s, v, n);
        p[k] = s + v;
        len[k] = i - v;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',')
            i++;
        else
            break;
    }
    return k + 1 == count && i < n && s[i] == ']';
}

static cJSON *new_response(const idref *id)
{
    cJSON *resp = cJSON_CreateObject();
    cJSON *idc = NULL;
    if (id == NULL || id->id == NULL) {
        idc = cJSON_CreateNull();
    } else if (id->raw != NULL) {
        char text[128];
        memcpy(text, id->raw, id->len);
        text[id->len] = '\0';
        idc = cJSON_CreateRaw(text);
    } else {
        idc = cJSON_Duplicate(id->id, 1);
    }
    if (resp == NULL || idc == NULL || !cJSON_AddStringToObject(resp, "jsonrpc", "2.0")) {
        cJSON_Delete(resp);
        cJSON_Delete(idc);
        return NULL;
    }
    cJSON_AddItemToObject(resp, "id", idc);
    return resp;
}

static ak_err error_answer(answer *ans, const idref *id, int code, const char *message)
{
    cJSON *resp = new_response(id);
    cJSON *err = cJSON_CreateObject();
    if (resp == NULL || err == NULL || !cJSON_AddNumberToObject(err, "code", code) ||
        !cJSON_AddStringToObject(err, "message", message)) {
        cJSON_Delete(resp);
        cJSON_Delete(err);
        return AK_ERR_NOMEM;
    }
    cJSON_AddItemToObject(resp, "error", err);
    cn_metrics_rpc_error(code);
    return finish(ans, resp);
}

/* Valid id: string, number or null. */
static int id_valid(const cJSON *id)
{
    return cJSON_IsString(id) || cJSON_IsNumber(id) || cJSON_IsNull(id);
}

/*
 * Forward one request. raw/raw_len: the exact bytes to send. The node's answer is returned
 * byte for byte when it is a JSON object; otherwise -32001 / -32002.
 */
static ak_err forward(cn_rpc *r, answer *ans, const char *raw, size_t raw_len, const idref *id,
                      int notification)
{
    char *resp = NULL, err[192] = "";
    size_t resp_len = 0;
    long status = 0;
    ak_err rc = r->cfg.downstream.post(r->cfg.downstream.ctx, raw, raw_len, &status, &resp,
                                       &resp_len, err, sizeof(err));
    if (notification) {
        free(resp);
        return rc == AK_ERR_NOMEM ? rc : AK_OK;
    }
    if (rc == AK_ERR_NETWORK || rc == AK_ERR_TIMEOUT)
        return error_answer(ans, id, CN_E_NETWORK, err);
    if (rc == AK_ERR_NOMEM)
        return rc;
    if (rc != AK_OK)
        return error_answer(ans, id, CN_E_DOWNSTREAM, err[0] ? err : "downstream error");
    cJSON *parsed = cJSON_ParseWithLength(resp, resp_len);
    int ok = cJSON_IsObject(parsed) &&
             (cJSON_HasObjectItem(parsed, "result") || cJSON_HasObjectItem(parsed, "error"));
    cJSON_Delete(parsed);
    if (!ok) {
        free(resp);
        char m[96];
        snprintf(m, sizeof(m), "downstream answered HTTP %ld without a JSON-RPC response", status);
        return error_answer(ans, id, CN_E_DOWNSTREAM, m);
    }
    /* Trim the node's trailing newline so batch members join cleanly. */
    while (resp_len > 0 &&
           (resp[resp_len - 1] == '\n' || resp[resp_len - 1] == '\r' || resp[resp_len - 1] == ' '))
        resp[--resp_len] = '\0';
    ans->text = resp;
    ans->len = resp_len;
    return AK_OK;
}

/*
 * The call's id as text for the audit record ("rpc_id") and the logs: a string or number id of
 * up to CN_RPC_ID_MAX - 1 characters of [A-Za-z0-9._:-]; NULL otherwise.
 */
static const char *rpc_id(char *buf, size_t cap, const idref *id)
{
    const char *t = cJSON_GetStringValue(id->id);
    size_t n = t ? strlen(t) : 0;
    if (id->raw != NULL) {
        t = id->raw;
        n = id->len;
    }
    if (t == NULL || n == 0 || n >= cap)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == '_' || t[i] == ':' ||
              t[i] == '-'))
            return NULL;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return buf;
}

/*
 * Process one request object. raw: its exact bytes (the whole body, or the batch member's span),
 * or NULL when unknown (then it is re-serialised for forwarding). defer: a request to forward is
 * only recorded in ans (ans->deferred), for run_batch to send.
 */
static ak_err process(cn_rpc *r, answer *ans, const cJSON *req, const char *raw, size_t raw_len,
                      int defer)
{
    ak_err rc = AK_OK;
    char *member = NULL;
    cn_rpc_err e = {0};
    char rid[CN_RPC_ID_MAX];
    memset(ans, 0, sizeof(*ans));
    if (!cJSON_IsObject(req))
        return error_answer(ans, NULL, CN_E_INVALID_REQUEST, "invalid request: not an object");
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive(req, "id");
    if (id_item != NULL && !id_valid(id_item))
        return error_answer(ans, NULL, CN_E_INVALID_REQUEST,
                            "invalid request: id must be a string, number or null");
    idref idr = make_idref(id_item, raw, raw_len);
    const idref *id = &idr;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0)
        return error_answer(ans, id, CN_E_INVALID_REQUEST,
                            "invalid request: jsonrpc must be \"2.0\"");
    if (!cJSON_IsString(method) || method->valuestring[0] == '\0')
        return error_answer(ans, id, CN_E_INVALID_REQUEST,
                            "invalid request: method must be a non-empty string");
    if (cJSON_IsNull(params))
        params = NULL; /* some clients send "params": null for "no params" */
    if (params != NULL && !cJSON_IsArray(params) && !cJSON_IsObject(params))
        return error_answer(ans, id, CN_E_INVALID_REQUEST,
                            "invalid request: params must be an array or an object");
    int notification = id_item == NULL;
    cn_metrics_rpc(method->valuestring);
    void *ctx = NULL;
    const cn_method *m = cn_methods_find(r->tables, r->n_tables, method->valuestring, &ctx);
    cJSON *result = NULL;
    const char *call_id = m != NULL ? rpc_id(rid, sizeof(rid), &idr) : NULL;
    if (m != NULL) {
        cn_call call = {method->valuestring, call_id, ctx};
        result = m->fn(&r->env, &call, params, &e);
    }
    if (m == NULL) {
        if (raw == NULL) {
            member = cJSON_PrintUnformatted(req);
            if (member == NULL)
                return AK_ERR_NOMEM;
            raw = member;
            raw_len = strlen(member);
        }
        if (defer) {
            ans->deferred = 1;
            ans->notification = notification;
            ans->raw = raw;
            ans->raw_len = raw_len;
            ans->raw_owned = member;
            ans->id = idr;
            member = NULL;
        } else {
            rc = forward(r, ans, raw, raw_len, id, notification);
        }
        goto out;
    }
    if (result == NULL && e.code == 0 && e.passthrough == NULL)
        cn_err_set(&e, CN_E_INTERNAL, "internal error");
    if (cn_log_enabled(CN_LOG_DEBUG) || (e.code != 0 && e.code != CN_E_PARAMS))
        cn_log(e.code || e.passthrough ? CN_LOG_INFO : CN_LOG_DEBUG, "rpc", "method",
               method->valuestring, "rpc_id", call_id ? call_id : "", "result",
               e.code || e.passthrough ? "error" : "ok", "error",
               e.code ? e.message : (e.passthrough ? "passed through from downstream" : ""),
               (char *)NULL);
    if (notification)
        goto out;
    if (result != NULL) {
        cJSON *resp = new_response(id);
        if (resp == NULL) {
            rc = AK_ERR_NOMEM;
            goto out;
        }
        cJSON_AddItemToObject(resp, "result", result);
        result = NULL;
        rc = finish(ans, resp);
    } else if (e.passthrough != NULL) {
        cJSON *resp = new_response(id);
        if (resp == NULL) {
            rc = AK_ERR_NOMEM;
            goto out;
        }
        cJSON_AddItemToObject(resp, "error", e.passthrough);
        e.passthrough = NULL;
        rc = finish(ans, resp);
    } else {
        rc = error_answer(ans, id, e.code, e.message);
    }
out:
    cJSON_Delete(result);
    cJSON_Delete(e.passthrough);
    free(member);
    return rc;
}

/* Members forwarded together in one downstream batch request, at most (a node runs a batch's
 * calls one after another within one request timeout: small chunks, sent concurrently). */
#define CN_FWD_CHUNK 20
/* After a node refused a batch as too large, smaller chunks for this long. */
#define CN_FWD_CUT_MS (10 * 60 * 1000)

typedef enum { JOB_PROCESS, JOB_CHUNKS, JOB_SINGLES } job_kind;

typedef struct {
    cn_rpc *r;
    const cJSON **members;
    const char **raw; /* exact text of each member, NULL if unknown */
    size_t *raw_len;
    answer *answers;
    size_t n;
    job_kind kind;
    size_t count;       /* work items of this kind: members, or chunks */
    size_t *fwd;        /* JOB_CHUNKS: the deferred members, in order ... */
    size_t n_fwd, size; /* ... how many, and per chunk */
    _Atomic size_t next;
    _Atomic int nomem;
    const char *client; /* the request's client identity for the audit (cn_audit_client) */
} batch_job;

static ak_err forward_chunk(cn_rpc *r, answer *answers, const size_t *idx, size_t k);

static void batch_worker(void *arg)
{
    batch_job *j = arg;
    cn_audit_set_client(j->client);
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->count)
            break;
        answer *a = &j->answers[i];
        ak_err rc = AK_OK;
        if (j->kind == JOB_PROCESS) {
            rc = process(j->r, a, j->members[i], j->raw[i], j->raw_len[i], 1);
        } else if (j->kind == JOB_CHUNKS) {
            size_t from = i * j->size, k = j->n_fwd - from < j->size ? j->n_fwd - from : j->size;
            if (k > 1)
                rc = forward_chunk(j->r, j->answers, j->fwd + from, k);
        } else if (a->deferred) {
            a->deferred = 0;
            rc = forward(j->r, a, a->raw, a->raw_len, &a->id, a->notification);
        }
        if (rc != AK_OK)
            atomic_store(&j->nomem, 1);
    }
}

/*
 * Run j->count work items of j->kind on up to cfg.batch_threads threads: this one, plus idle
 * workers of the router's persistent pool (rt_pool). Every helper takes items from the same
 * counter, so this thread finishes the work alone when the pool is busy (other batches, or a
 * frozen backend); rt_pool_wait runs here whatever no worker has taken.
 */
static void run_workers(batch_job *j, job_kind kind, size_t count)
{
    size_t want = count < j->r->cfg.batch_threads ? count : j->r->cfg.batch_threads;
    rt_pool_group g;
    rt_pool_group_init(&g, j->r->pool);
    j->kind = kind;
    j->count = count;
    atomic_store(&j->next, 0);
    for (size_t t = 1; t < want; t++)
        if (rt_pool_submit(&g, batch_worker, j) != AK_OK)
            break; /* queue full: fewer helpers */
    batch_worker(j);
    (void)rt_pool_wait(&g);
}

static int64_t mono_ms(const cn_rpc *r)
{
    return rt_clock_mono_ms(r->cfg.clock != NULL ? r->cfg.clock : rt_clock_system());
}

/* Members per downstream batch now: CN_FWD_CHUNK, or less for a while after a refusal. */
static size_t chunk_size(cn_rpc *r)
{
    unsigned cut = atomic_load(&r->fwd_cut);
    if (cut == 0 || mono_ms(r) - atomic_load(&r->fwd_cut_ms) > CN_FWD_CUT_MS)
        return CN_FWD_CHUNK;
    return cut;
}

/* The node refused a batch of k as a whole (nothing of it ran): smaller batches for a while
 * (1 = none); the caller forwards this chunk's members one by one. */
static void refused_chunk(cn_rpc *r, size_t k, const char *why)
{
    unsigned want = k / 2 > 1 ? (unsigned)(k / 2) : 1;
    unsigned cut = atomic_load(&r->fwd_cut);
    atomic_store(&r->fwd_cut_ms, mono_ms(r));
    if (cut != 0 && cut <= want)
        return;
    atomic_store(&r->fwd_cut, want);
    char n[24], m[24];
    snprintf(n, sizeof(n), "%zu", k);
    snprintf(m, sizeof(m), "%u", want);
    cn_log(CN_LOG_WARN, "the downstream node refused a batch: smaller batches for 10 minutes",
           "members", n, "from_now_at_most", m, "reason", why, (char *)NULL);
}

/* Settle every member of the chunk that is still deferred with the same error answer. */
static ak_err fail_chunk(answer *answers, const size_t *idx, size_t k, int code, const char *msg)
{
    for (size_t q = 0; q < k; q++) {
        answer *a = &answers[idx[q]];
        if (!a->deferred)
            continue;
        a->deferred = 0;
        if (!a->notification && error_answer(a, &a->id, code, msg) != AK_OK)
            return AK_ERR_NOMEM;
    }
    return AK_OK;
}

/* Give each answered member its response from the node's batch answer (an array): matched by id,
 * each element's exact bytes. Members left without one get -32001 (the batch was delivered: a
 * request is never sent twice). */
static ak_err match_chunk(answer *answers, const size_t *idx, size_t k, const cJSON *arr,
                          const char *resp, size_t resp_len)
{
    size_t m = (size_t)cJSON_GetArraySize(arr);
    const char **sp = m ? calloc(m, sizeof(*sp)) : NULL; /* NOLINT(bugprone-sizeof-expression) */
    size_t *sl = m ? calloc(m, sizeof(*sl)) : NULL;
    ak_err rc = AK_ERR_NOMEM;
    if (m > 0 && (sp == NULL || sl == NULL))
        goto out;
    if (m > 0 && !batch_spans(resp, resp_len, sp, sl, m))
        m = 0; /* cannot cut it into elements: nothing matches */
    size_t e = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, arr)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(el, "id");
        if (e >= m || id == NULL ||
            !(cJSON_HasObjectItem(el, "result") || cJSON_HasObjectItem(el, "error"))) {
            e++;
            continue;
        }
        for (size_t q = 0; q < k; q++) {
            answer *a = &answers[idx[q]];
            if (a->deferred && !a->notification && cJSON_Compare(a->id.id, id, 1)) {
                a->text = malloc(sl[e] + 1);
                if (a->text == NULL)
                    goto out;
                memcpy(a->text, sp[e], sl[e]);
                a->text[sl[e]] = '\0';
                a->len = sl[e];
                a->deferred = 0;
                break;
            }
        }
        e++;
    }
    rc = fail_chunk(answers, idx, k, CN_E_DOWNSTREAM,
                    "the downstream node's batch answer has no response for this request");
out:
    free(sp);
    free(sl);
    return rc;
}

/* The node refused the whole batch, so none of it ran: one error object (JSON-RPC 2.0 section
 * 6: invalid request, method not found - no batch support -, parse error), or, as geth does for
 * a batch over its limit, an array of one -32600 error while more than one answer was due. */
static int batch_refused(const cJSON *resp, size_t answers_due)
{
    const cJSON *one = resp;
    if (cJSON_IsArray(resp)) {
        if (cJSON_GetArraySize(resp) != 1 || answers_due < 2)
            return 0;
        one = cJSON_GetArrayItem(resp, 0);
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(one, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (!cJSON_IsNumber(code) || cJSON_HasObjectItem(one, "result"))
        return 0;
    double c = code->valuedouble;
    return c == CN_E_INVALID_REQUEST ||
           (!cJSON_IsArray(resp) && (c == CN_E_METHOD || c == CN_E_PARSE));
}

/*
 * Forward the chunk's members to the node as one JSON-RPC batch. Leaves them deferred (to be
 * forwarded one by one) when that cannot be done safely: an answered member without an id or
 * with the id of another (responses are matched by id), or a node that refused the batch as a
 * whole (see batch_refused; later batches are smaller for a while).
 */
static ak_err forward_chunk(cn_rpc *r, answer *answers, const size_t *idx, size_t k)
{
    size_t total = 2, due = 0;
    for (size_t q = 0; q < k; q++) {
        const answer *a = &answers[idx[q]];
        total += a->raw_len + 1;
        if (a->notification)
            continue;
        due++;
        if (a->id.id == NULL || cJSON_IsNull(a->id.id))
            return AK_OK;
        for (size_t p = 0; p < q; p++)
            if (!answers[idx[p]].notification && cJSON_Compare(answers[idx[p]].id.id, a->id.id, 1))
                return AK_OK;
    }
    char *body = malloc(total + 1), *resp = NULL, err[192] = "";
    size_t used = 0, resp_len = 0;
    long status = 0;
    if (body == NULL)
        return AK_ERR_NOMEM;
    body[used++] = '[';
    for (size_t q = 0; q < k; q++) {
        if (q > 0)
            body[used++] = ',';
        memcpy(body + used, answers[idx[q]].raw, answers[idx[q]].raw_len);
        used += answers[idx[q]].raw_len;
    }
    body[used++] = ']';
    body[used] = '\0';
    ak_err rc = r->cfg.downstream.post(r->cfg.downstream.ctx, body, used, &status, &resp, &resp_len,
                                       err, sizeof(err));
    free(body);
    if (rc == AK_ERR_NOMEM)
        return rc;
    if (rc != AK_OK) {
        free(resp);
        return fail_chunk(answers, idx, k,
                          rc == AK_ERR_NETWORK || rc == AK_ERR_TIMEOUT ? CN_E_NETWORK
                                                                       : CN_E_DOWNSTREAM,
                          err[0] ? err : "downstream error");
    }
    cJSON *arr = resp_len > 0 ? cJSON_ParseWithLength(resp, resp_len) : NULL;
    if (batch_refused(arr, due)) {
        refused_chunk(r, k, "the node answered the batch with one error");
        rc = AK_OK; /* the members stay deferred: one by one */
    } else if (cJSON_IsArray(arr)) {
        rc = match_chunk(answers, idx, k, arr, resp, resp_len);
    } else {
        /* Nothing (only notifications are answered with nothing), or not an array: the
         * batch may have run, so it is not sent again. */
        rc = fail_chunk(answers, idx, k, CN_E_DOWNSTREAM,
                        arr == NULL ? "downstream answered a batch without a JSON-RPC response"
                                    : "downstream answered a batch with something other than "
                                      "an array");
    }
    cJSON_Delete(arr);
    free(resp);
    return rc;
}

/* The deferred members: in downstream batches (chunk_size() each, the chunks concurrently),
 * then one by one whatever could not go that way. */
static ak_err forward_deferred(batch_job *j)
{
    size_t left = 0;
    for (size_t i = 0; i < j->n; i++)
        left += j->answers[i].deferred ? 1 : 0;
    size_t size = chunk_size(j->r);
    if (left > 1 && size > 1) {
        j->fwd = calloc(left, sizeof(*j->fwd));
        if (j->fwd == NULL)
            return AK_ERR_NOMEM;
        for (size_t i = 0; i < j->n; i++)
            if (j->answers[i].deferred)
                j->fwd[j->n_fwd++] = i;
        j->size = size;
        run_workers(j, JOB_CHUNKS, (j->n_fwd + size - 1) / size);
        free(j->fwd);
        j->fwd = NULL;
        if (atomic_load(&j->nomem))
            return AK_ERR_NOMEM;
        left = 0;
        for (size_t i = 0; i < j->n; i++)
            left += j->answers[i].deferred ? 1 : 0;
    }
    if (left > 0)
        run_workers(j, JOB_SINGLES, j->n);
    return atomic_load(&j->nomem) ? AK_ERR_NOMEM : AK_OK;
}

static ak_err run_batch(cn_rpc *r, const cJSON *arr, const char *body, size_t len, char **out,
                        size_t *out_len)
{
    ak_err rc = AK_ERR_NOMEM;
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0, total = 2;
    batch_job j = {.r = r, .n = n, .client = cn_audit_client()};
    /* An array of pointers: sizeof a pointer is what is meant. */
    j.members = calloc(n, sizeof(*j.members)); /* NOLINT(bugprone-sizeof-expression) */
    j.answers = calloc(n, sizeof(*j.answers));
    j.raw = calloc(n, sizeof(*j.raw));
    j.raw_len = calloc(n, sizeof(*j.raw_len));
    char *buf = NULL;
    if (j.members == NULL || j.answers == NULL || j.raw == NULL || j.raw_len == NULL)
        goto out;
    const cJSON *m;
    cJSON_ArrayForEach(m, arr) j.members[i++] = m;
    if (!batch_spans(body, len, j.raw, j.raw_len, n))
        memset(j.raw, 0, n * sizeof(*j.raw));

    run_workers(&j, JOB_PROCESS, n);
    if (atomic_load(&j.nomem) || forward_deferred(&j) != AK_OK)
        goto out;

    size_t count = 0;
    for (i = 0; i < n; i++) {
        if (j.answers[i].text != NULL) {
            total += j.answers[i].len + 1;
            count++;
        }
    }
    rc = AK_OK;
    if (count == 0) {
        *out = NULL;
        *out_len = 0;
        goto out;
    }
    buf = malloc(total + 1);
    if (buf == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    size_t used = 0;
    buf[used++] = '[';
    for (i = 0; i < n; i++) {
        if (j.answers[i].text == NULL)
            continue;
        if (used > 1)
            buf[used++] = ',';
        memcpy(buf + used, j.answers[i].text, j.answers[i].len);
        used += j.answers[i].len;
    }
    buf[used++] = ']';
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
out:
    for (i = 0; j.answers && i < n; i++) {
        free(j.answers[i].text);
        free(j.answers[i].raw_owned);
    }
    free(j.answers);
    free(j.members);
    free(j.raw);
    free(j.raw_len);
    return rc;
}

/* The message for an ak_json_check_keys refusal: name the limit that was passed. */
static const char *keys_error(const cJSON *doc, ak_err err)
{
    _Static_assert(AK_JSON_MAX_MEMBERS == 4096 && AK_JSON_MAX_DEPTH == 1000, "messages below");
    if (err == AK_ERR_JSON)
        return "invalid request: duplicate object keys";
    if (cJSON_IsArray(doc) && cJSON_GetArraySize(doc) > AK_JSON_MAX_MEMBERS)
        return "invalid request: a batch may hold at most 4096 requests";
    return "invalid request: more than 4096 members in one object or array, or nesting deeper "
           "than 1000";
}

/* Issue 18: the per-batch bound on signing calls and the per-client rate limit (cn_rate).
 * 1 = go on; 0 = refused, ans holds the error (or rc is set). */
static int admitted(cn_rpc *r, const char *client, const cJSON *doc, const char *body, size_t len,
                    answer *ans, ak_err *rc)
{
    char msg[160];
    int code = 0;
    unsigned cap =
        r->cfg.max_sign_per_batch ? r->cfg.max_sign_per_batch : (unsigned)r->cfg.max_batch;
    if (cn_rate_admit(r->cfg.rate, client, doc, cap, &code, msg, sizeof(msg)))
        return 1;
    const cJSON *id = cJSON_IsArray(doc) ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "id");
    idref idr = make_idref(id != NULL && id_valid(id) ? id : NULL, body, len);
    *rc = error_answer(ans, cJSON_IsArray(doc) ? NULL : &idr, code, msg);
    return 0;
}

ak_err cn_rpc_handle(cn_rpc *r, const char *body, size_t len, char **out, size_t *out_len)
{
    return cn_rpc_handle_as(r, NULL, body, len, out, out_len);
}

ak_err cn_rpc_handle_as(cn_rpc *r, const char *client, const char *body, size_t len, char **out,
                        size_t *out_len)
{
    ak_err rc;
    answer ans = {0};
    *out = NULL;
    *out_len = 0;
    /* Whole body must be one JSON value: trailing bytes are a parse error. */
    cJSON *doc = body[len] == '\0' && memchr(body, '\0', len) == NULL
                     ? cJSON_ParseWithLengthOpts(body, len + 1, NULL, 1)
                     : NULL;
    if (doc == NULL) {
        rc = error_answer(&ans, NULL, CN_E_PARSE, "parse error: invalid JSON");
    } else if (ak_json_has_nul(body, len)) {
        /* cJSON cuts strings at \u0000: we could neither sign nor forward what was sent. */
        rc =
            error_answer(&ans, NULL, CN_E_PARSE, "parse error: \\u0000 in strings is not accepted");
    } else if (ak_json_has_bad_utf8(body, len)) {
        /* Invalid UTF-8 or a lone surrogate escape: no character nobody meant would be signed. */
        rc = error_answer(&ans, NULL, CN_E_PARSE,
                          "parse error: invalid UTF-8 or a lone surrogate escape");
    } else if ((rc = ak_json_check_keys(doc)) != AK_OK) {
        /* Duplicate keys: cJSON reads the first, JavaScript the last - refuse the ambiguity. */
        rc = error_answer(&ans, NULL, CN_E_INVALID_REQUEST, keys_error(doc, rc));
    } else if ((cJSON_IsArray(doc) || cJSON_IsObject(doc)) &&
               !admitted(r, client, doc, body, len, &ans, &rc)) {
        /* refused: ans holds the error */
    } else if (cJSON_IsArray(doc)) {
        size_t n = (size_t)cJSON_GetArraySize(doc);
        if (n == 0)
            rc = error_answer(&ans, NULL, CN_E_INVALID_REQUEST, "invalid request: empty batch");
        else if (n > r->cfg.max_batch)
            rc = error_answer(&ans, NULL, CN_E_INVALID_REQUEST,
                              "invalid request: batch larger than the configured maximum");
        else {
            rc = run_batch(r, doc, body, len, out, out_len);
            cJSON_Delete(doc);
            return rc;
        }
    } else {
        rc = process(r, &ans, doc, body, len, 0);
    }
    cJSON_Delete(doc);
    if (rc == AK_OK) {
        *out = ans.text;
        *out_len = ans.len;
    } else {
        free(ans.text);
    }
    return rc;
}
