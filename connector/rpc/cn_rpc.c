/* cn_rpc.c - the JSON-RPC 2.0 router: one body, one call or a batch (see cn_rpc.h); a call's id,
 * answer and forwarding are cn_rpc_msg's, a batch's concurrency is cn_rpc_batch's. */
#include "cn_rpc.h"
#include "ak_json.h"

#include <stdlib.h>
#include <string.h>

#include "cn_log.h"
#include "cn_methods.h"
#include "cn_metrics.h"
#include "cn_rate.h"
#include "cn_rpc_batch.h"
#include "cn_rpc_msg.h"
#include "rt_clock.h"

#define MAX_TABLES (1 + CN_RPC_MAX_EXTRA)

struct cn_rpc {
    cn_rpc_config cfg;
    cn_account accounts[CN_RPC_MAX_ACCOUNTS];
    cn_method_env env; /* what every method sees */
    const cn_method_table *tables[MAX_TABLES];
    size_t n_tables;
    cn_rpc_batch *batch; /* batches: the members' worker pool, downstream batches */
    int own_nonce;       /* env.nonce is this router's (not cfg.nonce, borrowed) */
};

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
    if (cn_rpc_batch_new(&r->batch, cfg->batch_threads, &r->cfg.downstream, cfg->clock) != AK_OK) {
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
        cn_rpc_batch_free(r->batch);
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
    cn_rpc_batch_free(r->batch);
    free(r);
}
/*
 * Process one request object. raw: its exact bytes (the whole body, or the batch member's span),
 * or NULL when unknown (then it is re-serialised for forwarding). defer: a request to forward is
 * only recorded in ans (ans->deferred), for the batch to send (cn_rpc_batch).
 */
static ak_err process(cn_rpc *r, cn_rpc_answer *ans, const cJSON *req, const char *raw,
                      size_t raw_len, int defer)
{
    ak_err rc = AK_OK;
    char *member = NULL;
    cn_rpc_err e = {0};
    char rid[CN_RPC_ID_MAX];
    memset(ans, 0, sizeof(*ans));
    if (!cJSON_IsObject(req))
        return cn_rpc_msg_error(ans, NULL, CN_E_INVALID_REQUEST, "invalid request: not an object");
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive(req, "id");
    if (id_item != NULL && !cn_rpc_msg_id_valid(id_item))
        return cn_rpc_msg_error(ans, NULL, CN_E_INVALID_REQUEST,
                                "invalid request: id must be a string, number or null");
    cn_rpc_id idr = cn_rpc_msg_id(id_item, raw, raw_len);
    const cn_rpc_id *id = &idr;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0)
        return cn_rpc_msg_error(ans, id, CN_E_INVALID_REQUEST,
                                "invalid request: jsonrpc must be \"2.0\"");
    if (!cJSON_IsString(method) || method->valuestring[0] == '\0')
        return cn_rpc_msg_error(ans, id, CN_E_INVALID_REQUEST,
                                "invalid request: method must be a non-empty string");
    if (cJSON_IsNull(params))
        params = NULL; /* some clients send "params": null for "no params" */
    if (params != NULL && !cJSON_IsArray(params) && !cJSON_IsObject(params))
        return cn_rpc_msg_error(ans, id, CN_E_INVALID_REQUEST,
                                "invalid request: params must be an array or an object");
    int notification = id_item == NULL;
    cn_metrics_rpc(method->valuestring);
    void *ctx = NULL;
    const cn_method *m = cn_methods_find(r->tables, r->n_tables, method->valuestring, &ctx);
    cJSON *result = NULL;
    const char *call_id = m != NULL ? cn_rpc_msg_call_id(rid, sizeof(rid), &idr) : NULL;
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
            rc = cn_rpc_msg_forward(&r->cfg.downstream, ans, raw, raw_len, id, notification);
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
    if (result != NULL || e.passthrough != NULL) {
        /* the result, or the node's own error object passed through unchanged */
        cJSON *resp = cn_rpc_msg_response(id), **item = result ? &result : &e.passthrough;
        if (resp == NULL) {
            rc = AK_ERR_NOMEM;
            goto out;
        }
        cJSON_AddItemToObject(resp, result ? "result" : "error", *item);
        *item = NULL; /* owned by resp */
        rc = cn_rpc_msg_finish(ans, resp);
    } else {
        rc = cn_rpc_msg_error(ans, id, e.code, e.message);
    }
out:
    cJSON_Delete(result);
    cJSON_Delete(e.passthrough);
    free(member);
    return rc;
}

/* A batch member: calls to forward are recorded for the batch to send together. */
static ak_err process_member(void *r, cn_rpc_answer *ans, const cJSON *req, const char *raw,
                             size_t raw_len)
{
    return process(r, ans, req, raw, raw_len, 1);
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
                    cn_rpc_answer *ans, ak_err *rc)
{
    char msg[160];
    int code = 0;
    unsigned cap =
        r->cfg.max_sign_per_batch ? r->cfg.max_sign_per_batch : (unsigned)r->cfg.max_batch;
    if (cn_rate_admit(r->cfg.rate, client, doc, cap, &code, msg, sizeof(msg)))
        return 1;
    const cJSON *id = cJSON_IsArray(doc) ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "id");
    cn_rpc_id idr = cn_rpc_msg_id(id != NULL && cn_rpc_msg_id_valid(id) ? id : NULL, body, len);
    *rc = cn_rpc_msg_error(ans, cJSON_IsArray(doc) ? NULL : &idr, code, msg);
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
    cn_rpc_answer ans = {0};
    *out = NULL;
    *out_len = 0;
    /* Whole body must be one JSON value: trailing bytes are a parse error. */
    cJSON *doc = body[len] == '\0' && memchr(body, '\0', len) == NULL
                     ? cJSON_ParseWithLengthOpts(body, len + 1, NULL, 1)
                     : NULL;
    if (doc == NULL) {
        rc = cn_rpc_msg_error(&ans, NULL, CN_E_PARSE, "parse error: invalid JSON");
    } else if (ak_json_has_nul(body, len)) {
        /* cJSON cuts strings at \u0000: we could neither sign nor forward what was sent. */
        rc = cn_rpc_msg_error(&ans, NULL, CN_E_PARSE,
                              "parse error: \\u0000 in strings is not accepted");
    } else if (ak_json_has_bad_utf8(body, len)) {
        /* Invalid UTF-8 or a lone surrogate escape: no character nobody meant would be signed. */
        rc = cn_rpc_msg_error(&ans, NULL, CN_E_PARSE,
                              "parse error: invalid UTF-8 or a lone surrogate escape");
    } else if ((rc = ak_json_check_keys(doc)) != AK_OK) {
        /* Duplicate keys: cJSON reads the first, JavaScript the last - refuse the ambiguity. */
        rc = cn_rpc_msg_error(&ans, NULL, CN_E_INVALID_REQUEST, keys_error(doc, rc));
    } else if ((cJSON_IsArray(doc) || cJSON_IsObject(doc)) &&
               !admitted(r, client, doc, body, len, &ans, &rc)) {
        /* refused: ans holds the error */
    } else if (cJSON_IsArray(doc)) {
        size_t n = (size_t)cJSON_GetArraySize(doc);
        if (n == 0)
            rc = cn_rpc_msg_error(&ans, NULL, CN_E_INVALID_REQUEST, "invalid request: empty batch");
        else if (n > r->cfg.max_batch)
            rc = cn_rpc_msg_error(&ans, NULL, CN_E_INVALID_REQUEST,
                                  "invalid request: batch larger than the configured maximum");
        else {
            rc = cn_rpc_batch_run(r->batch, process_member, r, doc, body, len, out, out_len);
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
