/*
 * test_cn_rpc.c - unit tests of the connector's JSON-RPC router (cn_rpc + cn_methods + cn_txreq)
 * against a scripted fake node behind the cn_transport seam, with a local signer.
 *
 * Known answers (signatures, signed raw transactions) were computed with ethers v6
 * (tests/tools: Wallet(KEY).signMessage / signTransaction / signTypedData); everything else is
 * checked by recovering the signer with shared/ (ak_sig_recover_address, ak_tx_decode_signed).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ak_hex.h"
#include "ak_json.h"
#include "ak_test.h"
#include "ak_tx.h"
#include "cn_log.h"
#include "cn_rpc.h"
#include "cn_signer_local.h"

#define KEY  "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
#define ADDR "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
#define TO   "0x00000000000000000000000000000000000000a1"

/* ---- the fake node ------------------------------------------------------------------------- */
typedef struct {
    pthread_mutex_t lock;
    int mode;           /* 0 normal, 1 network error, 2 HTTP 502 non-JSON, 3 timeout */
    uint64_t pending;   /* transaction count */
    int steal_nonces;   /* this many sends: someone else takes the nonce first */
    int estimate_error; /* eth_estimateGas answers a revert */
    int no_prio;        /* eth_maxPriorityFeePerGas unsupported */
    int sends, calls;
    int posts, batch_posts; /* HTTP requests; those that carried a JSON-RPC batch */
    int no_batch;           /* answer a batch with one error object, as nodes without batches do */
    int reverse_batch;      /* answer a batch's members in reverse order (allowed by the spec) */
    int batch_limit;        /* > 0: a longer batch gets geth's answer, [one -32600 error] */
    char last_body[4096];
    uint64_t nonces[256];
    size_t n_nonces;
} fake_node;

static char *reply_for(fake_node *f, const char *body, size_t len)
{
    char *out = malloc(8192);
    cJSON *req = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItem(req, "method");
    char *id = cJSON_PrintUnformatted(cJSON_GetObjectItem(req, "id"));
    const char *method = cJSON_IsString(m) ? m->valuestring : "";
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "params"), 0);
    char result[512] = "";
    pthread_mutex_lock(&f->lock);
    f->calls++;
    if (strcmp(method, "eth_getTransactionCount") == 0) {
        snprintf(result, sizeof(result), "\"result\":\"0x%llx\"", (unsigned long long)f->pending);
    } else if (strcmp(method, "eth_estimateGas") == 0) {
        snprintf(result, sizeof(result), "%s",
                 f->estimate_error ? "\"error\":{\"code\":3,\"message\":\"execution reverted\","
                                     "\"data\":\"0x08c379a0\"}"
                                   : "\"result\":\"0x5208\"");
    } else if (strcmp(method, "eth_gasPrice") == 0) {
        snprintf(result, sizeof(result), "\"result\":\"0x3b9aca00\"");
    } else if (strcmp(method, "eth_maxPriorityFeePerGas") == 0) {
        snprintf(result, sizeof(result), "%s",
                 f->no_prio ? "\"error\":{\"code\":-32601,\"message\":\"method not found\"}"
                            : "\"result\":\"0x1\"");
    } else if (strcmp(method, "eth_feeHistory") == 0) {
        snprintf(result, sizeof(result),
                 "\"result\":{\"oldestBlock\":\"0x1\",\"baseFeePerGas\":[\"0x10\",\"0x20\"],"
                 "\"gasUsedRatio\":[0.5],\"reward\":[[\"0x7\"]]}");
    } else if (strcmp(method, "eth_sendRawTransaction") == 0) {
        uint8_t raw[2048];
        size_t rl = 0;
        ak_tx tx;
        ak_sig sig;
        f->sends++;
        if (f->steal_nonces > 0) {
            f->steal_nonces--;
            f->pending++;
        }
        if (!cJSON_IsString(p0) ||
            ak_hex_decode(raw, sizeof(raw), &rl, p0->valuestring, strlen(p0->valuestring)) !=
                AK_OK ||
            ak_tx_decode_signed(&tx, &sig, raw, rl) != AK_OK) {
            snprintf(result, sizeof(result),
                     "\"error\":{\"code\":-32602,\"message\":\"bad raw transaction\"}");
        } else if (tx.nonce < f->pending) {
            snprintf(result, sizeof(result),
                     "\"error\":{\"code\":-32003,\"message\":\"nonce too low\"}");
        } else if (tx.nonce > f->pending) {
            snprintf(result, sizeof(result),
                     "\"error\":{\"code\":-32003,\"message\":\"nonce gap\"}");
        } else {
            uint8_t h[32];
            char hs[80];
            ak_tx_hash(h, raw, rl);
            if (ak_hex_encode(hs, sizeof(hs), h, 32) != AK_OK)
                hs[0] = 0;
            if (f->n_nonces < 256)
                f->nonces[f->n_nonces++] = tx.nonce;
            f->pending++;
            snprintf(result, sizeof(result), "\"result\":\"%s\"", hs);
        }
    } else if (strcmp(method, "eth_chainId") == 0) {
        snprintf(result, sizeof(result), "\"result\":\"0x7a69\"");
    } else {
        snprintf(result, sizeof(result), "\"result\":\"forwarded:%s\"", method);
    }
    if (len < sizeof(f->last_body)) {
        memcpy(f->last_body, body, len);
        f->last_body[len] = 0;
    }
    pthread_mutex_unlock(&f->lock);
    snprintf(out, 8192, "{\"jsonrpc\":\"2.0\",\"id\":%s,%s}\n", id ? id : "null", result);
    free(id);
    cJSON_Delete(req);
    return out;
}

static ak_err fake_post(void *ctx, const char *body, size_t len, long *status, char **resp,
                        size_t *resp_len, char *err, size_t err_cap)
{
    fake_node *f = ctx;
    if (f->mode == 1 || f->mode == 3) {
        snprintf(err, err_cap, "downstream unreachable: fake");
        return f->mode == 1 ? AK_ERR_NETWORK : AK_ERR_TIMEOUT;
    }
    if (f->mode == 2) {
        *status = 502;
        *resp = strdup("<html>bad gateway</html>");
        *resp_len = strlen(*resp);
        return AK_OK;
    }
    *status = 200;
    pthread_mutex_lock(&f->lock);
    f->posts++;
    pthread_mutex_unlock(&f->lock);
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        *resp = reply_for(f, body, len);
        *resp_len = strlen(*resp);
        return AK_OK;
    }
    /* A batch, answered as a node does: one response per member with an id, none for
     * notifications (an empty body if there is nothing to answer). */
    pthread_mutex_lock(&f->lock);
    f->batch_posts++;
    pthread_mutex_unlock(&f->lock);
    char *out = malloc(1 << 16);
    size_t used = 0;
    if (f->batch_limit > 0 && cJSON_GetArraySize(doc) > f->batch_limit) {
        char *first = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "id"));
        used = (size_t)snprintf(out, 1 << 16,
                                "[{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32600,"
                                "\"message\":\"batch too large\"}}]",
                                first ? first : "null");
        free(first);
    } else if (f->no_batch) {
        used = (size_t)snprintf(out, 1 << 16,
                                "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
                                "{\"code\":-32600,\"message\":\"no batches\"}}");
    } else {
        int n = cJSON_GetArraySize(doc);
        out[used++] = '[';
        for (int i = 0; i < n; i++) {
            const cJSON *m = cJSON_GetArrayItem(doc, f->reverse_batch ? n - 1 - i : i);
            if (!cJSON_HasObjectItem(m, "id"))
                continue;
            char *text = cJSON_PrintUnformatted(m);
            char *one = reply_for(f, text, strlen(text));
            size_t l = strlen(one);
            while (l > 0 && one[l - 1] == '\n')
                l--;
            if (used > 1)
                out[used++] = ',';
            memcpy(out + used, one, l);
            used += l;
            free(one);
            free(text);
        }
        out[used++] = ']';
        if (used == 2)
            used = 0;
    }
    out[used] = '\0';
    cJSON_Delete(doc);
    *resp = out;
    *resp_len = used;
    return AK_OK;
}

/* ---- helpers --------------------------------------------------------------------------------- */
static fake_node g_node;
static cn_rpc *g_rpc;

/* Make a router from cfg, with the test signer, the fake node and chain 31337 filled in, the
 * one call() uses; returns the previous one, for restore_router(). */
static cn_rpc *use_router(cn_signer **signer, cn_rpc_config cfg)
{
    cn_rpc *r2 = NULL, *saved = g_rpc;
    cfg.signers = signer;
    cfg.n_signers = 1;
    cfg.downstream = (cn_transport){fake_post, &g_node};
    cfg.chain_id = 31337;
    CHECK_EQ_INT(cn_rpc_new(&r2, &cfg), AK_OK);
    g_rpc = r2;
    return saved;
}

static void restore_router(cn_rpc *saved)
{
    cn_rpc_free(g_rpc);
    g_rpc = saved;
}

/* Handle body, return the parsed response (NULL for an empty body). */
static cJSON *call(const char *body, char **raw_out)
{
    char *out = NULL;
    size_t out_len = 0;
    char *copy = strdup(body);
    ak_err rc = cn_rpc_handle(g_rpc, copy, strlen(copy), &out, &out_len);
    free(copy);
    CHECK_EQ_INT(rc, AK_OK);
    cJSON *j = out ? cJSON_ParseWithLength(out, out_len) : NULL;
    if (raw_out)
        *raw_out = out;
    else
        free(out);
    return j;
}

static int err_code(const cJSON *resp)
{
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "error"), "code");
    return cJSON_IsNumber(c) ? c->valueint : 0;
}

static const char *result_str(const cJSON *resp)
{
    const cJSON *r = cJSON_GetObjectItem(resp, "result");
    return cJSON_IsString(r) ? r->valuestring : "";
}

/* Expect a single error response with code and the raw id text. */
static void expect_error(const char *body, int code, const char *id_text)
{
    char *raw = NULL;
    cJSON *r = call(body, &raw);
    CHECK_EQ_INT(err_code(r), code);
    char *id = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "id"));
    CHECK(id != NULL && strcmp(id, id_text) == 0);
    if (err_code(r) != code || id == NULL || strcmp(id, id_text) != 0)
        fprintf(stderr, "  body %s -> %s\n", body, raw ? raw : "(empty)");
    free(id);
    free(raw);
    cJSON_Delete(r);
}

static const char *tx_result(const char *params, cJSON **keep)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[%s]}",
             params);
    *keep = call(body, NULL);
    if (err_code(*keep) != 0)
        fprintf(stderr, "  %s -> error %s\n", params,
                cJSON_GetObjectItem(cJSON_GetObjectItem(*keep, "error"), "message")->valuestring);
    return result_str(*keep);
}

/* Decode a raw transaction result and check its sender. */
static int decode_raw(const char *hex, ak_tx *tx, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    ak_sig sig;
    uint8_t from[20], want[20];
    if (ak_hex_decode(buf, cap, &len, hex, strlen(hex)) != AK_OK ||
        ak_tx_decode_signed(tx, &sig, buf, len) != AK_OK ||
        ak_tx_recover_sender(from, tx, &sig) != AK_OK)
        return 0;
    ak_test_unhex(want, 20, ADDR + 2);
    return memcmp(from, want, 20) == 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */
/* A batch past AK_JSON_MAX_MEMBERS gets a message naming the limit (issue #17 item 7). */
static void test_batch_limit_message(void)
{
    size_t n = AK_JSON_MAX_MEMBERS + 1, o = 0;
    char *body = malloc(2 * n + 2), *raw = NULL;
    cJSON *r;
    const cJSON *msg;
    CHECK(body != NULL);
    if (body == NULL)
        return;
    body[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        body[o++] = '1';
        body[o++] = i + 1 < n ? ',' : ']';
    }
    body[o] = '\0';
    r = call(body, &raw);
    msg = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "message");
    CHECK_EQ_INT(err_code(r), -32600);
    CHECK(cJSON_IsString(msg) && strstr(msg->valuestring, "at most 4096 requests") != NULL);
    if (!cJSON_IsString(msg) || strstr(msg->valuestring, "4096") == NULL)
        fprintf(stderr, "  batch of %zu -> %s\n", n, raw ? raw : "(empty)");
    free(raw);
    free(body);
    cJSON_Delete(r);
}

static void test_spec_errors(void)
{
    expect_error("{", -32700, "null");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"} x", -32700, "null");
    expect_error("", -32700, "null");
    expect_error("[]", -32600, "null");
    /* \u0000 would cut the string in cJSON: the message signed would not be the one sent. */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":"
                 "[\"0x68\\u0000\",\"0x0000000000000000000000000000000000000001\"]}",
                 -32700, "null");
    /* Invalid UTF-8 (raw bytes, overlong, encoded surrogate) and lone surrogate escapes: the
     * bytes signed would be no text the client meant (issue #17 item 6). */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":"
                 "[\"a\xff\",\"0x0000000000000000000000000000000000000001\"]}",
                 -32700, "null");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":"
                 "[\"\xc0\xaf\",\"0x0000000000000000000000000000000000000001\"]}",
                 -32700, "null");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":"
                 "[\"\xed\xa0\x80\",\"0x0000000000000000000000000000000000000001\"]}",
                 -32700, "null");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":"
                 "[\"\\uD800\",\"0x0000000000000000000000000000000000000001\"]}",
                 -32700, "null");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":"
                 "[\"\\uDC00\\uD800\",\"0x0000000000000000000000000000000000000001\"]}",
                 -32700, "null");
    /* Duplicate keys: the first would be signed, a JavaScript proxy would see the last. */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":"
                 "[{\"to\":\"0x0000000000000000000000000000000000000001\","
                 "\"to\":\"0x0000000000000000000000000000000000000002\"}]}",
                 -32600, "null");
    expect_error("1", -32600, "null");
    expect_error("\"x\"", -32600, "null");
    expect_error("{\"foo\":\"boo\"}", -32600, "null");
    expect_error("{\"id\":5,\"method\":\"eth_accounts\"}", -32600, "5");
    expect_error("{\"jsonrpc\":\"1.0\",\"id\":\"a\",\"method\":\"eth_accounts\"}", -32600, "\"a\"");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":1}", -32600, "1");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", -32600, "1");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sign\",\"params\":\"x\"}", -32600,
                 "1");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sign\",\"params\":null}", -32602,
                 "1");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"eth_accounts\"}", -32600,
                 "null");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"eth_accounts\"}", -32600, "null");
    /* invalid params */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sign\",\"params\":[]}", -32602,
                 "2");
    expect_error(
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sign\",\"params\":[\"0x12\",\"0x00\"]}",
        -32602, "2");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sign\",\"params\":[\"" ADDR
                 "\",\"zz\"]}",
                 -32602, "2");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sign\",\"params\":[\"" ADDR
                 "\",\"0x123\"]}",
                 -32602, "2");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sign\",\"params\":[\"" ADDR
                 "\",7]}",
                 -32602, "2");
    /* EIP-55: wrong checksum refused */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sign\",\"params\":["
                 "\"0x2C7536E3605D9C16a7a3D7b1898e529396a65c23\",\"0x00\"]}",
                 -32602, "2");
    /* an address that is not ours: -32000 */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"personal_sign\",\"params\":[\"0x00\","
                 "\"0x0000000000000000000000000000000000000001\"]}",
                 -32000, "3");
    expect_error(
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_signTypedData_v4\",\"params\":[\"" ADDR
        "\",\"{}\"]}",
        -32602, "3");
    expect_error(
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_signTypedData_v4\",\"params\":[\"" ADDR
        "\",5]}",
        -32602, "3");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_signTransaction\",\"params\":[]}",
                 -32602, "3");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_sendTransaction\",\"params\":[1]}",
                 -32602, "3");
}

static void test_ids(void)
{
    static const char *const ids[] = {
        "1", "0", "-5", "1.5", "\"abc\"", "\"\"", "null", "9007199254740991", "\"\\u00e9\\\"x\""};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char body[256], *raw = NULL;
        snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"eth_accounts\"}",
                 ids[i]);
        cJSON *r = call(body, &raw);
        cJSON *want = cJSON_Parse(ids[i]);
        CHECK(cJSON_Compare(cJSON_GetObjectItem(r, "id"), want, 1));
        CHECK(strcmp(result_str(r), "") == 0); /* result is an array */
        free(raw);
        cJSON_Delete(want);
        cJSON_Delete(r);
    }
    /* Forwarded single call: exact request bytes out, exact response bytes back. */
    char *raw = NULL;
    const char *big = "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,"
                      "\"method\":\"eth_blockNumber\",\"params\":[]}";
    cJSON *r = call(big, &raw);
    CHECK_STR(g_node.last_body, big);
    free(raw);
    cJSON_Delete(r);
    /* Numeric ids answered here keep their exact text (not cJSON's double printing). */
    static const char *const exact[] = {
        "123456789012345678901234567890", "1.0", "1e2", "-0", "12345678901234567890",
        "0.1000000000000000055511"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        char body[256], want[64];
        snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\" : %s ,\"method\":\"eth_sign\"}",
                 exact[i]);
        snprintf(want, sizeof(want), "\"id\":%s,", exact[i]);
        r = call(body, &raw);
        CHECK(raw != NULL && strstr(raw, want) != NULL);
        CHECK_EQ_INT(err_code(r), -32602);
        free(raw);
        cJSON_Delete(r);
    }
    /* Batch members: exact ids, and forwarded members are sent as their exact bytes. */
    r = call("[ {\"jsonrpc\":\"2.0\",\"id\":1e2,\"method\":\"eth_accounts\"} ,\n"
             "{ \"id\" :  7.50, \"jsonrpc\":\"2.0\", \"method\" : \"eth_blockNumber\" } ]",
             &raw);
    CHECK(raw != NULL && strncmp(raw, "[{\"jsonrpc\":\"2.0\",\"id\":1e2,", 25) == 0);
    CHECK_STR(g_node.last_body,
              "{ \"id\" :  7.50, \"jsonrpc\":\"2.0\", \"method\" : \"eth_blockNumber\" }");
    free(raw);
    cJSON_Delete(r);
    /* An escaped duplicate key ("\u0069d" is "id") is refused like any duplicate key. */
    expect_error("{\"jsonrpc\":\"2.0\",\"\\u0069d\":5,\"id\":6,\"method\":\"eth_accounts\"}",
                 -32600, "null");
    /* A NUL byte inside the body is a parse error, not the end of the request. */
    char *out = NULL;
    size_t out_len = 0;
    static const char nul_body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"}\0x";
    CHECK_EQ_INT(cn_rpc_handle(g_rpc, nul_body, sizeof(nul_body) - 1, &out, &out_len), AK_OK);
    CHECK(out != NULL && strstr(out, "-32700") != NULL);
    free(out);
    r = call("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"eth_getBalance\",\"params\":[\"" TO
             "\",\"latest\"]}",
             &raw);
    CHECK_STR(raw, "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"result\":\"forwarded:eth_getBalance\"}");
    free(raw);
    cJSON_Delete(r);
}

static void test_notifications_and_batches(void)
{
    char *raw = NULL;
    int calls = g_node.calls;
    cJSON *r = call("{\"jsonrpc\":\"2.0\",\"method\":\"eth_blockNumber\"}", &raw);
    CHECK(r == NULL && raw == NULL);
    CHECK_EQ_INT(g_node.calls, calls + 1); /* executed, not answered */
    r = call("{\"jsonrpc\":\"2.0\",\"method\":\"eth_accounts\"}", &raw);
    CHECK(r == NULL && raw == NULL);
    r = call("[{\"jsonrpc\":\"2.0\",\"method\":\"eth_accounts\"},{\"jsonrpc\":\"2.0\",\"method\":"
             "\"eth_chainId\"}]",
             &raw);
    CHECK(r == NULL && raw == NULL);

    r = call("[1,2,3]", NULL);
    CHECK(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(err_code(cJSON_GetArrayItem(r, i)), -32600);
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(r, i), "id")));
    }
    cJSON_Delete(r);

    /* Mixed batch (JSON-RPC 2.0 spec section 7 example, adapted). */
    r = call("[{\"jsonrpc\":\"2.0\",\"method\":\"eth_accounts\",\"id\":\"1\"},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"notify_hello\",\"params\":[7]},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"eth_sign\",\"params\":[\"" ADDR
             "\",\"0xdeadbeef\"],\"id\":2},"
             "{\"foo\":\"boo\"},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"foo.get\",\"params\":{\"name\":\"myself\"},\"id\":"
             "\"5\"},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"eth_sign\",\"params\":[],\"id\":null},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\",\"id\":9}]",
             &raw);
    CHECK(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 6);
    const char *want_ids[] = {"\"1\"", "2", "null", "\"5\"", "null", "9"};
    const int want_err[] = {0, 0, -32600, 0, -32602, 0};
    for (int i = 0; i < 6 && cJSON_GetArraySize(r) == 6; i++) {
        const cJSON *m = cJSON_GetArrayItem(r, i);
        char *id = cJSON_PrintUnformatted(cJSON_GetObjectItem(m, "id"));
        CHECK_STR(id, want_ids[i]);
        CHECK_EQ_INT(err_code(m), want_err[i]);
        free(id);
    }
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 1)),
              "0x27c9251b613f25a4d52f5375c0be39ea8b8f5bb46a29034620f613d71520ac24034d84dcd3e6251af8"
              "2cff1bda9c38141a238abaa1830bd8ca064474b60c641f1c");
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 3)), "forwarded:foo.get");
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 5)), "0x7a69");
    free(raw);
    cJSON_Delete(r);

    /* Batch over the configured maximum (8 in this test). */
    char body[1024] = "[";
    for (int i = 0; i < 9; i++)
        strcat(body, i ? ",{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"}"
                       : "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"}");
    strcat(body, "]");
    expect_error(body, -32600, "null");
}

/* td with its CHAIN placeholder replaced by chain. */
static void make_td(char *out, size_t cap, const char *td, const char *chain)
{
    const char *p = strstr(td, "CHAIN");
    snprintf(out, cap, "%.*s%s%s", (int)(p - td), td, chain, p + 5);
}

static void test_signing_kats(void)
{
    cJSON *r;
    /* ethers Wallet(KEY).signMessage("hello") */
    const char *hello = "0xa5d58782075bdf09490159d634d1aae66a8f6777c7247d2f233e9511cfd7c64c34f288cd"
                        "bcea5370e4863fdbe9f4d86654c2ba1d86589e9ebb64494c649008591b";
    r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":[\"0x68656c6c6f"
             "\",\"" ADDR "\"]}",
             NULL);
    CHECK_STR(result_str(r), hello);
    cJSON_Delete(r);
    /* text that is not 0x hex is signed as its UTF-8 bytes; a third (password) param is ignored */
    r = call(
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":[\"hello\",\"" ADDR
        "\",\"pw\"]}",
        NULL);
    CHECK_STR(result_str(r), hello);
    cJSON_Delete(r);
    /* lowercase address accepted */
    r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sign\",\"params\":["
             "\"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23\",\"0xdeadbeef\"]}",
             NULL);
    CHECK_STR(result_str(r), "0x27c9251b613f25a4d52f5375c0be39ea8b8f5bb46a29034620f613d71520ac2403"
                             "4d84dcd3e6251af82cff1bda9c38141a238abaa1830bd8ca064474b60c641f1c");
    cJSON_Delete(r);

    /* ethers signTypedData (EIP-712 Mail example, chainId 31337), as string and as object */
    const char *td =
        "{\"types\":{\"Person\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"wallet\","
        "\"type\":\"address\"}],\"Mail\":[{\"name\":\"from\",\"type\":\"Person\"},{\"name\":\"to\","
        "\"type\":\"Person\"},{\"name\":\"contents\",\"type\":\"string\"}],\"EIP712Domain\":[{"
        "\"name\":\"name\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"string\"},{"
        "\"name\":\"chainId\",\"type\":\"uint256\"},{\"name\":\"verifyingContract\",\"type\":"
        "\"address\"}]},\"domain\":{\"name\":\"Ether "
        "Mail\",\"version\":\"1\",\"chainId\":\"CHAIN\","
        "\"verifyingContract\":\"0xcccccccccccccccccccccccccccccccccccccccc\"},\"primaryType\":"
        "\"Mail\",\"message\":{\"from\":{\"name\":\"Cow\",\"wallet\":"
        "\"0xcd2a3d9f938e13cd947ec05abc7fe734df8dd826\"},\"to\":{\"name\":\"Bob\",\"wallet\":"
        "\"0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"},\"contents\":\"Hello, Bob!\"}}";
    const char *typed_sig =
        "0x86798f1984bbdac511fd8d53858ff197b1e759b72c4ca4e7f34cee6848dc840706249f"
        "56f50408acda3b63cd46def305bee64265934661d52889909cbf3a23cf1c";
    char tdj[2048], body[4096];
    make_td(tdj, sizeof(tdj), td, "0x7a69");
    cJSON *s = cJSON_CreateString(tdj);
    char *quoted = cJSON_PrintUnformatted(s);
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTypedData_v4\",\"params\":[\"" ADDR
             "\",%s]}",
             quoted);
    r = call(body, NULL);
    CHECK_STR(result_str(r), typed_sig);
    cJSON_Delete(r);
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTypedData\",\"params\":[\"" ADDR
             "\",%s]}",
             tdj);
    r = call(body, NULL);
    CHECK_STR(result_str(r), typed_sig);
    cJSON_Delete(r);
    /* another chain's domain is refused */
    make_td(tdj, sizeof(tdj), td, "0x1");
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTypedData_v4\",\"params\":[\"" ADDR
             "\",%s]}",
             tdj);
    expect_error(body, -32602, "1");
    free(quoted);
    cJSON_Delete(s);
}

static void test_transactions(void)
{
    cJSON *r;
    ak_tx tx;
    uint8_t buf[4096];
    /* Fully specified: ethers Wallet(KEY).signTransaction known answers. */
    CHECK_STR(tx_result("{\"from\":\"" ADDR "\",\"type\":\"0x0\",\"chainId\":\"0x7a69\",\"nonce\":"
                        "\"0x5\",\"gasPrice\":\"0x3b9aca00\",\"gas\":\"0x5208\",\"to\":\"" TO
                        "\",\"value\":\"0x1\"}",
                        &r),
              "0xf86505843b9aca008252089400000000000000000000000000000000000000a1018082f4f6a0a58a6d"
              "be68a5e8add72afc1a1bf86f50ba08974817907709897e06b900ca0402a01307c8bbc77e8ce99556a7a7"
              "cf481b1af2af0f271f07bec2896c53bd5222dcb7");
    cJSON_Delete(r);
    CHECK_STR(tx_result("{\"from\":\"" ADDR "\",\"type\":\"0x1\",\"nonce\":\"0x5\",\"gasPrice\":"
                        "\"0x3b9aca00\",\"gasLimit\":\"0x7530\",\"to\":\"" TO
                        "\",\"value\":\"0x1\",\"input\":\"0x1234\",\"accessList\":[{\"address\":"
                        "\"" TO "\",\"storageKeys\":[\"0x00000000000000000000000000000000000000000"
                        "00000000000000000000000\"]}]}",
                        &r),
              "0x01f8a2827a6905843b9aca008275309400000000000000000000000000000000000000a101821234f8"
              "38f79400000000000000000000000000000000000000a1e1a00000000000000000000000000000000000"
              "00000000000000000000000000000080a024fbaa0ea065ac9f47eea3f01e0312470affd84da2db78da3a"
              "38463eb17b1172a038cb531093046b8de48c44b577408b1bd1483b9ca2131864d7abf490b3257233");
    cJSON_Delete(r);
    const char *k1559 = "0x02f864827a690501418252089400000000000000000000000000000000000000a10180c0"
                        "01a080650dc60b8ccdb11d6969b506e131f04fa88942d645c09222339a76db808ca3a03a71"
                        "9b9b995c4997f4f901015f3d4ff4cb9e78389b7b3df889987452f0121388";
    CHECK_STR(tx_result("{\"from\":\"" ADDR "\",\"nonce\":\"0x5\",\"maxPriorityFeePerGas\":\"0x1\","
                        "\"maxFeePerGas\":\"0x41\",\"gas\":\"0x5208\",\"gasLimit\":\"0x5208\","
                        "\"to\":\"" TO "\",\"value\":\"0x1\",\"data\":\"0x\",\"input\":\"0x\"}",
                        &r),
              k1559);
    cJSON_Delete(r);
    /* Filled from the node: nonce 5 (pending), gas 0x5208, fees 0x1 / 2*0x20+0x1 -> same tx. */
    g_node.pending = 5;
    CHECK_STR(tx_result("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":\"0x1\"}", &r), k1559);
    cJSON_Delete(r);
    /* Node without eth_maxPriorityFeePerGas: highest recent reward (0x7) */
    g_node.no_prio = 1;
    const char *hex = tx_result("{\"from\":\"" ADDR "\",\"to\":\"" TO "\"}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK_EQ_INT(tx.max_priority_fee_per_gas.w[0], 7);
    CHECK_EQ_INT(tx.max_fee_per_gas.w[0], 0x47);
    cJSON_Delete(r);
    g_node.no_prio = 0;
    /* maxFeePerGas given, priority capped at it */
    hex = tx_result("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"maxFeePerGas\":\"0x0\"}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK_EQ_INT(tx.max_priority_fee_per_gas.w[0], 0);
    cJSON_Delete(r);
    /* legacy inferred from gasPrice; gasPrice filled for explicit type 0 and 1 */
    hex = tx_result("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gasPrice\":\"0x2\"}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK_EQ_INT(tx.type, AK_TX_LEGACY);
    CHECK_EQ_INT(tx.chain_id, 31337);
    cJSON_Delete(r);
    hex = tx_result(
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gasPrice\":\"0x2\",\"accessList\":[]}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK_EQ_INT(tx.type, AK_TX_EIP2930);
    cJSON_Delete(r);
    hex = tx_result("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"type\":\"0x1\"}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK_EQ_INT(tx.type, AK_TX_EIP2930);
    CHECK_EQ_INT(tx.gas_price.w[0], 1000000000);
    CHECK_EQ_INT(tx.gas_limit, 21000);
    CHECK_EQ_INT(tx.nonce, 5);
    cJSON_Delete(r);
    /* contract creation */
    hex = tx_result("{\"from\":\"" ADDR "\",\"data\":\"0x6000\"}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK(!tx.has_to && tx.data_len == 2);
    cJSON_Delete(r);

    /* Refusals */
    static const char *const bad[] = {
        "{\"to\":\"" TO "\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"0x12\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gasPrice\":\"0x1\",\"maxFeePerGas\":\"0x1\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"type\":\"0x0\",\"maxFeePerGas\":\"0x1\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"type\":\"0x2\",\"gasPrice\":\"0x1\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"type\":\"0x0\",\"accessList\":[]}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"type\":\"0x3\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gas\":\"0x1\",\"gasLimit\":\"0x2\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"data\":\"0x01\",\"input\":\"0x02\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"chainId\":\"0x1\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"chainId\":\"0x0\",\"gasPrice\":\"0x1\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":\"0x01\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":1}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x10000000000000000\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"maxFeePerGas\":\"0x1\","
        "\"maxPriorityFeePerGas\":\"0x2\"}",
        "{\"from\":\"" ADDR "\"}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"accessList\":[{\"address\":\"0x1\"}]}",
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"accessList\":[{\"address\":\"" TO
        "\",\"storageKeys\":[\"0x01\"]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[1024];
        snprintf(
            body, sizeof(body),
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[%s]}",
            bad[i]);
        expect_error(body, -32602, "1");
    }
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[{"
                 "\"from\":\"0x0000000000000000000000000000000000000001\",\"to\":\"" TO "\"}]}",
                 -32000, "1");
    /* revert from eth_estimateGas passes through unchanged */
    g_node.estimate_error = 1;
    char *raw = NULL;
    r = call("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}",
             &raw);
    CHECK_STR(raw, "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":3,\"message\":\"execution "
                   "reverted\",\"data\":\"0x08c379a0\"}}");
    free(raw);
    cJSON_Delete(r);
    g_node.estimate_error = 0;
}

static void test_unprotected_allowed(cn_signer *signer)
{
    cn_rpc *saved = use_router(
        &signer, (cn_rpc_config){.allow_unprotected_tx = 1, .max_batch = 8, .batch_threads = 4});
    cJSON *r;
    ak_tx tx;
    uint8_t buf[1024];
    const char *hex = tx_result(
        "{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"chainId\":\"0x0\",\"gasPrice\":\"0x1\"}", &r);
    CHECK(decode_raw(hex, &tx, buf, sizeof(buf)));
    CHECK(tx.pre155 == 1);
    cJSON_Delete(r);
    /* typed transactions can never be unprotected */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[{"
                 "\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"chainId\":\"0x0\"}]}",
                 -32602, "1");
    /* retries 0: a stolen nonce is reported, not retried */
    g_node.steal_nonces = 1;
    r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}",
             NULL);
    CHECK_EQ_INT(err_code(r), -32003);
    cJSON_Delete(r);
    restore_router(saved);
}

static void *sender(void *arg)
{
    (void)arg;
    cJSON *r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
                    "\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":\"0x1\"}]}",
                    NULL);
    CHECK(strlen(result_str(r)) == 66);
    cJSON_Delete(r);
    return NULL;
}

static void test_send_and_nonces(void)
{
    /* send returns the node's hash */
    g_node.pending = 0;
    g_node.n_nonces = 0;
    cJSON *r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
                    "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}",
                    NULL);
    CHECK(strlen(result_str(r)) == 66);
    cJSON_Delete(r);
    CHECK_EQ_INT(g_node.pending, 1);
    /* "nonce too low" twice: retried with fresh nonces (3 retries configured) */
    g_node.steal_nonces = 2;
    int sends = g_node.sends;
    r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}",
             NULL);
    CHECK(strlen(result_str(r)) == 66);
    CHECK_EQ_INT(g_node.sends - sends, 3);
    CHECK_EQ_INT(g_node.nonces[g_node.n_nonces - 1], 3);
    cJSON_Delete(r);
    /* bounded: always refused -> the node's error after 1 + 3 attempts */
    g_node.steal_nonces = 100;
    sends = g_node.sends;
    r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}",
             NULL);
    CHECK_EQ_INT(err_code(r), -32003);
    CHECK_EQ_INT(g_node.sends - sends, 4);
    cJSON_Delete(r);
    g_node.steal_nonces = 0;
    /* an explicit nonce is sent once, never replaced */
    sends = g_node.sends;
    r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x0\"}]}",
             NULL);
    CHECK_EQ_INT(err_code(r), -32003);
    CHECK_EQ_INT(g_node.sends - sends, 1);
    cJSON_Delete(r);

    /* 32 concurrent sends: distinct consecutive nonces (the node refuses gaps and reuse) */
    uint64_t start = g_node.pending;
    size_t first = g_node.n_nonces;
    pthread_t th[32];
    for (int i = 0; i < 32; i++)
        pthread_create(&th[i], NULL, sender, NULL);
    for (int i = 0; i < 32; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(g_node.pending, start + 32);
    CHECK_EQ_INT(g_node.n_nonces - first, 32);
    for (size_t i = first; i < g_node.n_nonces; i++)
        CHECK_EQ_INT(g_node.nonces[i], start + (i - first));

    /* a batch of sends is processed concurrently and still gets distinct nonces */
    r = call("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]},"
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]},"
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_sendTransaction\",\"params\":[{"
             "\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}]",
             NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(r), 3);
    for (int i = 0; i < 3; i++)
        CHECK(strlen(result_str(cJSON_GetArrayItem(r, i))) == 66);
    CHECK_EQ_INT(g_node.pending, start + 35);
    cJSON_Delete(r);
}

static void test_downstream_failures(void)
{
    const char *fwd = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"eth_blockNumber\"}";
    const char *send =
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"eth_sendTransaction\",\"params\":"
        "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\"}]}";
    g_node.mode = 1;
    expect_error(fwd, -32002, "8");
    expect_error(send, -32002, "8");
    g_node.mode = 3;
    expect_error(fwd, -32002, "8");
    g_node.mode = 2;
    expect_error(fwd, -32001, "8");
    expect_error(send, -32001, "8");
    /* signing without the node still works */
    cJSON *r =
        call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\",\"params\":[\"0x68656"
             "c6c6f\",\"" ADDR "\"]}",
             NULL);
    CHECK_EQ_INT(err_code(r), 0);
    cJSON_Delete(r);
    g_node.mode = 0;
}

/* A batch's forwarded members go to the node as ONE batch request, answers matched by id (the
 * fake node may answer in reverse order); duplicate ids, a node without batches, chunks. */
static void test_batch_forwarding(cn_signer *signer)
{
    cn_rpc *saved = use_router(&signer, (cn_rpc_config){.max_batch = 300, .batch_threads = 4});
    g_node.mode = 0;
    g_node.reverse_batch = 1;

    /* forwarded x4 (string and number ids, one notification) around a local method */
    int posts = g_node.posts, batches = g_node.batch_posts;
    cJSON *r = call("[{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"foo.a\"},"
                    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"foo.b\"},"
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"},"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"foo.note\"},"
                    "{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"method\":\"foo.c\"}]",
                    NULL);
    CHECK_EQ_INT(g_node.posts - posts, 1);
    CHECK_EQ_INT(g_node.batch_posts - batches, 1);
    CHECK(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4);
    if (cJSON_GetArraySize(r) == 4) {
        CHECK_STR(result_str(cJSON_GetArrayItem(r, 0)), "forwarded:foo.a");
        CHECK_STR(result_str(cJSON_GetArrayItem(r, 1)), "forwarded:foo.b");
        CHECK(cJSON_IsArray(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 2), "result")));
        CHECK_STR(result_str(cJSON_GetArrayItem(r, 3)), "forwarded:foo.c");
        CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 3), "id")));
    }
    cJSON_Delete(r);

    /* the same id twice: no matching by id possible, so one by one (and still in order) */
    posts = g_node.posts;
    batches = g_node.batch_posts;
    r = call("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"foo.x\"},"
             "{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"foo.y\"},"
             "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"foo.z\"}]",
             NULL);
    CHECK_EQ_INT(g_node.posts - posts, 3);
    CHECK_EQ_INT(g_node.batch_posts - batches, 0);
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 0)), "forwarded:foo.x");
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 1)), "forwarded:foo.y");
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 2)), "forwarded:foo.z");
    cJSON_Delete(r);

    /* only notifications: one batch request, no answer */
    posts = g_node.posts;
    char *raw = NULL;
    r = call(
        "[{\"jsonrpc\":\"2.0\",\"method\":\"foo.n1\"},{\"jsonrpc\":\"2.0\",\"method\":\"foo.n2\"}]",
        &raw);
    CHECK(r == NULL && raw == NULL);
    CHECK_EQ_INT(g_node.posts - posts, 1);
    free(raw);

    /* 150 forwarded members: downstream batches of 20 (CN_FWD_CHUNK), answers in order */
    char *body = malloc(150 * 64 + 2);
    size_t used = 0;
    body[used++] = '[';
    for (int i = 0; i < 150; i++)
        used += (size_t)sprintf(body + used, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"m%d\"}",
                                i ? "," : "", i, i);
    body[used++] = ']';
    body[used] = '\0';
    posts = g_node.posts;
    r = call(body, NULL);
    CHECK_EQ_INT(g_node.posts - posts, 8);
    CHECK_EQ_INT(cJSON_GetArraySize(r), 150);
    int in_order = 1;
    for (int i = 0; i < 150 && cJSON_GetArraySize(r) == 150; i++) {
        char want[32];
        snprintf(want, sizeof(want), "forwarded:m%d", i);
        const cJSON *m = cJSON_GetArrayItem(r, i);
        in_order &= strcmp(result_str(m), want) == 0 &&
                    cJSON_GetObjectItem(m, "id")->valuedouble == (double)i;
    }
    CHECK(in_order);
    cJSON_Delete(r);

    /* the node unreachable: every forwarded member -32002, the local one answered */
    g_node.mode = 1;
    r = call("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"foo.a\"},"
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_accounts\"},"
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"foo.b\"}]",
             NULL);
    CHECK_EQ_INT(err_code(cJSON_GetArrayItem(r, 0)), -32002);
    CHECK_EQ_INT(err_code(cJSON_GetArrayItem(r, 1)), 0);
    CHECK_EQ_INT(err_code(cJSON_GetArrayItem(r, 2)), -32002);
    cJSON_Delete(r);
    g_node.mode = 0;

    /* geth over its batch limit answers [one -32600 error]: nothing ran, so that batch goes one
     * by one and later batches are halved until they pass */
    g_node.batch_limit = 5;
    used = 0;
    body[used++] = '[';
    for (int i = 0; i < 12; i++)
        used += (size_t)sprintf(body + used, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"q%d\"}",
                                i ? "," : "", i, i);
    body[used++] = ']';
    body[used] = '\0';
    const int want_posts[3] = {1 + 12, 2 + 12, 4}; /* 12 refused; 2 x 6 refused; 4 x 3 */
    for (int round = 0; round < 3; round++) {
        posts = g_node.posts;
        r = call(body, NULL);
        CHECK_EQ_INT(g_node.posts - posts, want_posts[round]);
        CHECK_EQ_INT(cJSON_GetArraySize(r), 12);
        CHECK_STR(result_str(cJSON_GetArrayItem(r, 11)), "forwarded:q11");
        CHECK_EQ_INT(err_code(cJSON_GetArrayItem(r, 0)), 0);
        cJSON_Delete(r);
    }
    g_node.batch_limit = 0;

    /* a node that refuses batches (one error object): that batch is sent again one by one,
     * and later batches go one by one from the start */
    g_node.no_batch = 1;
    posts = g_node.posts;
    batches = g_node.batch_posts;
    const char *three = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"foo.a\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"foo.b\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"foo.c\"}]";
    r = call(three, NULL);
    CHECK_EQ_INT(g_node.batch_posts - batches, 1);
    CHECK_EQ_INT(g_node.posts - posts, 4);
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 2)), "forwarded:foo.c");
    cJSON_Delete(r);
    r = call(three, NULL);
    CHECK_EQ_INT(g_node.batch_posts - batches, 1);
    CHECK_EQ_INT(g_node.posts - posts, 7);
    CHECK_STR(result_str(cJSON_GetArrayItem(r, 0)), "forwarded:foo.a");
    cJSON_Delete(r);
    g_node.no_batch = 0;
    g_node.reverse_batch = 0;
    free(body);
    restore_router(saved);
}

/* An account policy: value cap, destination allow-list, no contract creation, some methods. */
static void test_policy(cn_signer *signer)
{
    char err[256] = "";
    cn_policy *pol = NULL;
    cJSON *pc = cJSON_Parse("{\"max_value_wei\":\"1000\",\"allowed_to\":[\"" TO "\"],"
                            "\"allowed_methods\":[\"eth_signTransaction\","
                            "\"eth_sendTransaction\",\"eth_signTypedData\"]}");
    CHECK_EQ_INT(cn_policy_parse(&pol, pc, err, sizeof(err)), AK_OK);
    cJSON_Delete(pc);
    const cn_policy *pols[1] = {pol};
    cn_rpc *saved =
        use_router(&signer, (cn_rpc_config){.policies = pols, .max_batch = 8, .batch_threads = 2});
    g_node.mode = 0;
    cJSON *keep = NULL;
    /* within the policy: signed */
    const char *raw = tx_result("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":\"0x3e8\","
                                "\"nonce\":\"0x0\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\"}",
                                &keep);
    CHECK(raw != NULL && strncmp(raw, "0x", 2) == 0);
    cJSON_Delete(keep);
    /* value over the cap, another destination, contract creation: -32003, nothing signed */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[{"
                 "\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":\"0x3e9\"}]}",
                 -32003, "1");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_sendTransaction\",\"params\":[{"
                 "\"from\":\"" ADDR "\",\"to\":\"0x00000000000000000000000000000000000000b2\"}]}",
                 -32003, "2");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_signTransaction\",\"params\":[{"
                 "\"from\":\"" ADDR "\",\"data\":\"0x6000\"}]}",
                 -32003, "3");
    /* a method the policy does not list */
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"personal_sign\",\"params\":"
                 "[\"0x6869\",\"" ADDR "\"]}",
                 -32003, "4");
    expect_error("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"eth_sign\",\"params\":"
                 "[\"" ADDR "\",\"0x6869\"]}",
                 -32003, "5");
    restore_router(saved);
    cn_policy_free(pol);

    /* configuration errors name the field */
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"max_value\":1}", "policy.max_value: unknown field"},
        {"{\"max_value_wei\":\"12x\"}", "policy.max_value_wei"},
        {"{\"max_value_wei\":5}", "policy.max_value_wei"},
        {"{\"allowed_to\":[\"0x12\"]}", "policy.allowed_to[0]"},
        {"{\"allowed_to\":[]}", "policy.allowed_to"},
        /* the key server's reader (shared/ak_policy_cfg): a repeat is refused, and its
         * intent-only members are not silently accepted by an account */
        {"{\"allowed_to\":[\"0x3535353535353535353535353535353535353535\","
         "\"0x3535353535353535353535353535353535353535\"]}",
         "policy.allowed_to[1]: given twice"},
        {"{\"allowed_chain_ids\":[1]}", "policy.allowed_chain_ids: unknown field"},
        {"{\"comment\":1}", "policy.comment: must be a string"},
        {"{\"allowed_methods\":[\"eth_call\"]}", "policy.allowed_methods[0]"},
        {"{\"allow_contract_creation\":1}", "policy.allow_contract_creation"},
        {"[]", "policy: must be an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *j = cJSON_Parse(bad[i].json);
        err[0] = '\0';
        CHECK_EQ_INT(cn_policy_parse(&pol, j, err, sizeof(err)), AK_ERR_CONFIG);
        CHECK(strstr(err, bad[i].want) != NULL);
        if (strstr(err, bad[i].want) == NULL)
            fprintf(stderr, "  %s -> %s\n", bad[i].json, err);
        CHECK(pol == NULL);
        cJSON_Delete(j);
    }
}

int main(void)
{
    uint8_t key[32];
    char err[128];
    cn_signer *signer = NULL;
    pthread_mutex_init(&g_node.lock, NULL);
    cn_log_setup(CN_LOG_ERROR, 1); /* keep the test output readable */
    const cn_method_table *tables[] = {cn_methods_builtin()};
    CHECK_EQ_INT(cn_methods_publish(tables, 1), AK_OK);
    ak_test_unhex(key, 32, KEY);
    CHECK_EQ_INT(cn_local_signer_from_key(&signer, key, "test", err, sizeof(err)), AK_OK);
    cn_rpc_config cfg = {.signers = &signer,
                         .n_signers = 1,
                         .downstream = {fake_post, &g_node},
                         .chain_id = 31337,
                         .allow_unprotected_tx = 0,
                         .nonce_retries = 3,
                         .max_batch = 8,
                         .batch_threads = 4};
    CHECK_EQ_INT(cn_rpc_new(&g_rpc, &cfg), AK_OK);
    /* config refusals */
    cn_rpc *bad = NULL;
    cfg.chain_id = 0;
    CHECK_EQ_INT(cn_rpc_new(&bad, &cfg), AK_ERR_ARG);
    cfg.chain_id = 31337;
    cfg.n_signers = 0;
    CHECK_EQ_INT(cn_rpc_new(&bad, &cfg), AK_ERR_ARG);

    test_spec_errors();
    test_batch_limit_message();
    test_ids();
    test_notifications_and_batches();
    test_signing_kats();
    test_transactions();
    test_unprotected_allowed(signer);
    test_send_and_nonces();
    test_downstream_failures();
    test_batch_forwarding(signer);
    test_policy(signer);

    cn_rpc_free(g_rpc);
    cn_signer_free(signer);
    return ak_test_report("test_cn_rpc");
}
