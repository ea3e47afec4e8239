/*
 * test_cn_strict.c - "sign exactly what was asked" (issue 10): every unknown or contradictory
 * member, at the top level and nested, sent to every signing method of the router (and the
 * paymaster through the router's extension hook) is refused with -32602 naming it, and no
 * signer call is made: the test's signer is the real local signer behind a wrapper that counts
 * the calls. The request shapes that real clients send (ethers v6 JsonRpcSigner.getRpcTransaction,
 * viem formatTransactionRequest, cast/alloy, OP Stack's op-service signer TransactionArgs) are
 * accepted and signed. A scripted node answers the fill calls (no network).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "ak_hex.h"
#include "ak_test.h"
#include "ak_tx.h"
#include "cn_log.h"
#include "cn_paymaster.h"
#include "cn_rpc.h"
#include "cn_signer_local.h"

#define KEY  "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
#define ADDR "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
#define TO   "0x00000000000000000000000000000000000000a1"
#define EP   "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
#define BH   "0x01aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* A signed authorization tuple as ethers sends it (r, s arbitrary: nobody checks them here). */
#define AUTH(extra)                                                                                \
    "{\"address\":\"" TO "\",\"nonce\":\"0x0\",\"chainId\":\"0x7a69\",\"yParity\":\"0x1\","        \
    "\"r\":\"0x1234\",\"s\":\"0x5678\"" extra "}"

/* ---- the counting signer: the local signer, each call counted ---------------------------- */
static atomic_int g_sign_calls;
static cn_signer *g_inner;

static ak_err counting_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                            const cn_sign_ctx *ctx)
{
    (void)s;
    atomic_fetch_add(&g_sign_calls, 1);
    return g_inner->ops->sign(g_inner, out, digest, ctx);
}

static ak_err counting_health(cn_signer *s, cn_signer_health *out)
{
    (void)s;
    return g_inner->ops->health(g_inner, out);
}

static void counting_destroy(cn_signer *s)
{
    (void)s;
}

static const cn_signer_ops COUNTING = {"counting", counting_sign, counting_health,
                                       counting_destroy};

/* ---- a scripted node -------------------------------------------------------------------- */
static atomic_int g_node_calls;
static char *g_last_raw; /* the last eth_sendRawTransaction parameter (malloc'd) */

static ak_err node_post(void *ctx, const char *body, size_t len, long *status, char **resp,
                        size_t *resp_len, char *err, size_t err_cap)
{
    (void)ctx;
    (void)err;
    (void)err_cap;
    cJSON *req = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItem(req, "method");
    const char *method = cJSON_IsString(m) ? m->valuestring : "";
    const char *result = "\"0x1\"";
    atomic_fetch_add(&g_node_calls, 1);
    if (strcmp(method, "eth_getTransactionCount") == 0)
        result = "\"0x5\"";
    else if (strcmp(method, "eth_estimateGas") == 0)
        result = "\"0x5208\"";
    else if (strcmp(method, "eth_gasPrice") == 0)
        result = "\"0x3b9aca00\"";
    else if (strcmp(method, "eth_feeHistory") == 0)
        result = "{\"oldestBlock\":\"0x1\",\"baseFeePerGas\":[\"0x10\",\"0x20\"],"
                 "\"gasUsedRatio\":[0.5],\"reward\":[[\"0x7\"]]}";
    else if (strcmp(method, "eth_sendRawTransaction") == 0) {
        const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "params"), 0);
        free(g_last_raw);
        g_last_raw = cJSON_IsString(p0) ? strdup(p0->valuestring) : NULL;
        result = "\"0x1111111111111111111111111111111111111111111111111111111111111111\"";
    }
    *resp = malloc(512);
    snprintf(*resp, 512, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":%s}", result);
    *resp_len = strlen(*resp);
    *status = 200;
    cJSON_Delete(req);
    return AK_OK;
}

static cn_rpc *g_rpc;

static cJSON *call(const char *body, char **raw_out)
{
    char *out = NULL;
    size_t out_len = 0;
    CHECK_EQ_INT(cn_rpc_handle(g_rpc, body, strlen(body), &out, &out_len), AK_OK);
    cJSON *j = out ? cJSON_ParseWithLength(out, out_len) : NULL;
    if (raw_out)
        *raw_out = out;
    else
        free(out);
    return j;
}

/* method with params must be refused with -32602 whose message names want; no signer call. */
static void refused(const char *method, const char *params, const char *want)
{
    char *body = malloc(strlen(params) + 256), *raw = NULL;
    sprintf(body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
    int before = atomic_load(&g_sign_calls);
    cJSON *r = call(body, &raw);
    const cJSON *err = cJSON_GetObjectItem(r, "error");
    const cJSON *code = cJSON_GetObjectItem(err, "code");
    const cJSON *msg = cJSON_GetObjectItem(err, "message");
    int ok = cJSON_IsNumber(code) && code->valueint == -32602 && cJSON_IsString(msg) &&
             strstr(msg->valuestring, want) != NULL;
    CHECK(ok);
    CHECK_EQ_INT(atomic_load(&g_sign_calls), before);
    if (!ok)
        fprintf(stderr, "  %s %s\n  -> %s (wanted -32602 naming %s)\n", method, params,
                raw ? raw : "(empty)", want);
    free(raw);
    free(body);
    cJSON_Delete(r);
}

/* method with params is answered with a result and exactly `signs` signer calls. */
static void accepted(const char *method, const char *params, int signs)
{
    char *body = malloc(strlen(params) + 256), *raw = NULL;
    sprintf(body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
    int before = atomic_load(&g_sign_calls);
    cJSON *r = call(body, &raw);
    int ok = cJSON_GetObjectItem(r, "result") != NULL;
    CHECK(ok);
    CHECK_EQ_INT(atomic_load(&g_sign_calls) - before, signs);
    if (!ok)
        fprintf(stderr, "  %s %s\n  -> %s\n", method, params, raw ? raw : "(empty)");
    free(raw);
    free(body);
    cJSON_Delete(r);
}

/* One transaction object: `members` spliced after from/to. */
static void tx_refused(const char *members, const char *want)
{
    static const char *const methods[] = {"eth_signTransaction", "eth_sendTransaction"};
    char params[4096];
    snprintf(params, sizeof(params), "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\"%s}]", members);
    for (size_t i = 0; i < 2; i++)
        refused(methods[i], params, want);
}

static void test_transaction_members(void)
{
    /* unknown members, top level */
    tx_refused(",\"bogusField\":\"0x1\"", "\"bogusField\"");
    tx_refused(",\"gasprice\":\"0x1\"", "\"gasprice\"");
    tx_refused(",\"GAS\":\"0x5208\"", "\"GAS\"");
    tx_refused(",\"sidecar\":{}", "\"sidecar\"");
    tx_refused(",\"bogus\":null", "\"bogus\""); /* unknown even when null */
    tx_refused(",\"v\":\"0x1b\"", "\"v\"");
    tx_refused(",\"hash\":\"0x00\"", "\"hash\"");
    /* unknown members, nested */
    tx_refused(",\"accessList\":[{\"address\":\"" TO "\",\"storageKeys\":[],\"extra\":1}]",
               "\"extra\" in accessList[0]");
    tx_refused(",\"accessList\":[{\"address\":\"" TO "\"},{\"address\":\"" TO
               "\",\"storagekeys\":[]}]",
               "\"storagekeys\" in accessList[1]");
    tx_refused(",\"authorizationList\":[" AUTH(",\"foo\":\"0x1\"") "]",
               "\"foo\" in authorizationList[0]");
    tx_refused(",\"authorizationList\":[" AUTH("") "," AUTH(",\"signature\":\"0x00\"") "]",
               "\"signature\" in authorizationList[1]");
    /* contradictions */
    tx_refused(",\"gasPrice\":\"0x1\",\"maxFeePerGas\":\"0x2\"", "gasPrice");
    tx_refused(",\"gasPrice\":\"0x1\",\"maxPriorityFeePerGas\":\"0x2\"", "gasPrice");
    tx_refused(",\"type\":\"0x2\",\"gasPrice\":\"0x1\"", "gasPrice");
    tx_refused(",\"type\":\"0x0\",\"maxFeePerGas\":\"0x1\"", "maxFeePerGas");
    tx_refused(",\"type\":\"0x1\",\"maxPriorityFeePerGas\":\"0x1\"", "maxPriorityFeePerGas");
    tx_refused(",\"type\":\"0x0\",\"accessList\":[]", "accessList");
    tx_refused(",\"type\":\"0x2\",\"blobVersionedHashes\":[\"" BH "\"]", "blobVersionedHashes");
    tx_refused(",\"type\":\"0x2\",\"maxFeePerBlobGas\":\"0x1\"", "maxFeePerBlobGas");
    tx_refused(",\"type\":\"0x3\",\"authorizationList\":[" AUTH("") "]", "authorizationList");
    tx_refused(",\"type\":\"0x2\",\"authorizationList\":[" AUTH("") "]", "authorizationList");
    tx_refused(",\"authorizationList\":[" AUTH("") "],\"blobVersionedHashes\":[\"" BH "\"]",
               "authorizationList");
    tx_refused(",\"authorizationList\":[" AUTH("") "],\"maxFeePerBlobGas\":\"0x1\"",
               "maxFeePerBlobGas");
    tx_refused(",\"gasPrice\":\"0x1\",\"blobVersionedHashes\":[\"" BH "\"]", "gasPrice");
    tx_refused(",\"gas\":\"0x5208\",\"gasLimit\":\"0x5209\"", "gasLimit");
    tx_refused(",\"data\":\"0x01\",\"input\":\"0x02\"", "input");
    tx_refused(",\"maxFeePerGas\":\"0x1\",\"maxPriorityFeePerGas\":\"0x2\"",
               "maxPriorityFeePerGas");
    tx_refused(",\"type\":\"0x5\"", "type");
    tx_refused(",\"chainId\":\"0x1\"", "chainId");
    /* blob members: a sidecar is refused by name, hashes are checked */
    tx_refused(",\"blobVersionedHashes\":[\"" BH "\"],\"blobs\":[\"0x00\"]", "blobs");
    tx_refused(",\"blobVersionedHashes\":[\"" BH "\"],\"commitments\":[]", "commitments");
    tx_refused(",\"proofs\":[]", "proofs");
    tx_refused(",\"blobVersionedHashes\":[]", "blobVersionedHashes");
    tx_refused(",\"blobVersionedHashes\":[\"0x02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaa\"]",
               "blobVersionedHashes[0]");
    tx_refused(",\"blobVersionedHashes\":[\"0x01aa\"]", "blobVersionedHashes[0]");
    tx_refused(",\"maxFeePerBlobGas\":\"0x1\"", "blobVersionedHashes");
    /* authorization tuples: each member checked */
    tx_refused(",\"authorizationList\":[]", "authorizationList");
    tx_refused(",\"authorizationList\":{}", "authorizationList");
    tx_refused(",\"authorizationList\":[" AUTH(",\"v\":\"0x1b\"") "]", "yParity");
    tx_refused(",\"authorizationList\":[{\"address\":\"" TO "\",\"nonce\":\"0x0\",\"chainId\":"
               "\"0x7a69\",\"yParity\":\"0x2\",\"r\":\"0x1\",\"s\":\"0x1\"}]",
               "yParity");
    tx_refused(",\"authorizationList\":[{\"address\":\"" TO "\",\"nonce\":\"0x0\",\"chainId\":"
               "\"0x1\",\"yParity\":\"0x0\",\"r\":\"0x1\",\"s\":\"0x1\"}]",
               "authorizationList[0].chainId");
    tx_refused(",\"authorizationList\":[{\"address\":\"" TO "\",\"chainId\":"
               "\"0x7a69\",\"yParity\":\"0x0\",\"r\":\"0x1\",\"s\":\"0x1\"}]",
               "authorizationList[0].nonce");
    tx_refused(",\"authorizationList\":[{\"address\":\"" TO "\",\"nonce\":\"0x0\",\"chainId\":"
               "\"0x7a69\",\"yParity\":\"0x0\",\"s\":\"0x1\"}]",
               "authorizationList[0].r");
    tx_refused(",\"authorizationList\":[{\"address\":\"0x12\",\"nonce\":\"0x0\",\"chainId\":"
               "\"0x7a69\",\"yParity\":\"0x0\",\"r\":\"0x1\",\"s\":\"0x1\"}]",
               "authorizationList[0].address");
    tx_refused(",\"authorizationList\":[\"0x00\"]", "authorizationList[0]");
    /* types 3 and 4 need a destination */
    refused("eth_signTransaction",
            "[{\"from\":\"" ADDR "\",\"data\":\"0x00\",\"blobVersionedHashes\":[\"" BH "\"]}]",
            "to is required");
    refused("eth_signTransaction",
            "[{\"from\":\"" ADDR "\",\"data\":\"0x00\",\"authorizationList\":[" AUTH("") "]}]",
            "to is required");
    /* more params than the method takes */
    refused("eth_signTransaction", "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\"},{}]", "params[1]");
    refused("eth_sendTransaction", "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\"},\"latest\"]",
            "params[1]");
}

static void test_other_methods(void)
{
    refused("eth_sign", "[\"" ADDR "\",\"0x00\",\"0x00\"]", "params[2]");
    refused("personal_sign", "[\"0x00\",\"" ADDR "\",\"pw\",\"x\"]", "params[3]");
    refused("personal_sign", "[\"0x00\",\"" ADDR "\",5]", "params[2]");
    refused("personal_sign", "[\"0x00\",\"" ADDR "\",{}]", "params[2]");
    refused("personal_sign", "[\"0x00\"]", "expected [data, address(, password)]");
    refused("opsigner_signBlockPayload", "[{},{}]",
            "params[1] of opsigner_signBlockPayload is not understood (expected "
            "[BlockPayloadArgs])");
    refused("opsigner_signBlockPayloadV2", "[]", "expected [BlockPayloadArgsV2]");
    const char *td = "{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},"
                     "{\"name\":\"chainId\",\"type\":\"uint256\"}],"
                     "\"M\":[{\"name\":\"a\",\"type\":\"uint256\"}]},\"primaryType\":\"M\","
                     "\"domain\":{\"name\":\"x\",\"chainId\":31337},\"message\":{\"a\":\"1\"}}";
    char params[2048];
    snprintf(params, sizeof(params), "[\"" ADDR "\",%s,\"extra\"]", td);
    refused("eth_signTypedData_v4", params, "params[2]");
    /* typed data members the types do not declare: top level, domain, message (shared's parser
     * names them; as an object and as a JSON string) */
    static const struct {
        const char *td, *want;
    } tds[] = {
        {"{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"}],"
         "\"M\":[{\"name\":\"a\",\"type\":\"uint256\"}]},\"primaryType\":\"M\","
         "\"domain\":{\"name\":\"x\"},\"message\":{\"a\":\"1\"},\"extra\":1}",
         "extra"},
        {"{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"}],"
         "\"M\":[{\"name\":\"a\",\"type\":\"uint256\"}]},\"primaryType\":\"M\","
         "\"domain\":{\"name\":\"x\",\"salt2\":\"0x00\"},\"message\":{\"a\":\"1\"}}",
         "domain.salt2"},
        {"{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"}],"
         "\"M\":[{\"name\":\"a\",\"type\":\"uint256\"}]},\"primaryType\":\"M\","
         "\"domain\":{\"name\":\"x\"},\"message\":{\"a\":\"1\",\"b\":\"2\"}}",
         "message.b"},
    };
    for (size_t i = 0; i < sizeof tds / sizeof tds[0]; i++) {
        snprintf(params, sizeof(params), "[\"" ADDR "\",%s]", tds[i].td);
        refused("eth_signTypedData_v4", params, tds[i].want);
        cJSON *as_string = cJSON_CreateString(tds[i].td);
        char *quoted = cJSON_PrintUnformatted(as_string);
        snprintf(params, sizeof(params), "[\"" ADDR "\",%s]", quoted);
        refused("eth_signTypedData", params, tds[i].want);
        free(quoted);
        cJSON_Delete(as_string);
    }
    snprintf(params, sizeof(params), "[\"" ADDR "\",%s]", td);
    accepted("eth_signTypedData_v4", params, 1);
    /* a paymaster user operation with an unknown member (ak_userop's strict parser) */
    refused("pm_getPaymasterData",
            "[{\"sender\":\"" TO "\",\"nonce\":\"0x1\",\"callData\":\"0x\",\"callGasLimit\":"
            "\"0x1\",\"verificationGasLimit\":\"0x1\",\"preVerificationGas\":\"0x1\","
            "\"maxFeePerGas\":\"0x1\",\"maxPriorityFeePerGas\":\"0x1\",\"bogusOp\":\"0x1\"},\"" EP
            "\",\"0x7a69\",{}]",
            "bogusOp");
    /* what is understood is signed once */
    accepted("personal_sign", "[\"0x00\",\"" ADDR "\",\"\"]", 1);
    accepted("personal_sign", "[\"0x00\",\"" ADDR "\",null]", 1);
    accepted("eth_sign", "[\"" ADDR "\",\"0x00\"]", 1);
}

/* The shapes real clients send are understood and signed. */
static void test_client_shapes(void)
{
    /* ethers v6 JsonRpcSigner.getRpcTransaction (gasLimit sent as gas, lower-case addresses) */
    accepted("eth_signTransaction",
             "[{\"chainId\":\"0x7a69\",\"gas\":\"0x5208\",\"type\":\"0x2\",\"maxFeePerGas\":"
             "\"0x10\",\"maxPriorityFeePerGas\":\"0x1\",\"nonce\":\"0x0\",\"value\":\"0x1\","
             "\"from\":\"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23\",\"to\":\"" TO
             "\",\"data\":\"0x\",\"accessList\":[]}]",
             1);
    /* viem formatTransactionRequest */
    accepted("eth_sendTransaction",
             "[{\"accessList\":[{\"address\":\"" TO "\",\"storageKeys\":[\"0x00000000000000000000"
             "00000000000000000000000000000000000000000001\"]}],\"data\":\"0x\",\"from\":\"" ADDR
             "\",\"gas\":\"0x5208\",\"maxFeePerGas\":\"0x10\",\"maxPriorityFeePerGas\":\"0x1\","
             "\"nonce\":\"0x5\",\"to\":\"" TO "\",\"type\":\"0x2\",\"value\":\"0x0\"}]",
             1);
    /* cast / alloy: input, gasLimit-free, legacy gasPrice */
    accepted("eth_signTransaction",
             "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gasPrice\":\"0x1\",\"input\":\"0xab\","
             "\"nonce\":\"0x0\",\"chainId\":\"0x7a69\"}]",
             1);
    /* some send gasLimit */
    accepted(
        "eth_signTransaction",
        "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gasLimit\":\"0x5208\",\"nonce\":\"0x0\"}]", 1);
    /* OP Stack op-service signer TransactionArgs (Go nil pointers as JSON null) */
    accepted("eth_signTransaction",
             "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"gas\":\"0x5208\",\"gasPrice\":null,"
             "\"maxFeePerGas\":\"0x10\",\"maxPriorityFeePerGas\":\"0x1\",\"value\":\"0x0\","
             "\"nonce\":\"0x0\",\"data\":null,\"input\":\"0x\",\"accessList\":[],"
             "\"chainId\":\"0x7a69\"}]",
             1);
}

/* anode_signAuthorization: result = the tuple ethers' Wallet(KEY).authorize computes (RFC 6979
 * on both sides); nonce filling with executor; strict members; the guard rails. */
static const char *member_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void auth_signed(const char *req, const char *nonce, const char *chain, const char *r,
                        const char *s, const char *y)
{
    char body[1024], *raw = NULL;
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"anode_signAuthorization\",\"params\":"
             "[\"" ADDR "\",%s]}",
             req);
    int before = atomic_load(&g_sign_calls);
    cJSON *resp = call(body, &raw);
    const cJSON *res = cJSON_GetObjectItem(resp, "result");
    int ok = cJSON_IsObject(res) && strcmp(member_str(res, "nonce"), nonce) == 0 &&
             strcmp(member_str(res, "chainId"), chain) == 0 &&
             strcmp(member_str(res, "r"), r) == 0 && strcmp(member_str(res, "s"), s) == 0 &&
             strcmp(member_str(res, "yParity"), y) == 0 &&
             strcasecmp(member_str(res, "address"), TO) == 0 && cJSON_GetArraySize(res) == 6;
    CHECK(ok);
    CHECK_EQ_INT(atomic_load(&g_sign_calls) - before, 1);
    if (!ok)
        fprintf(stderr, "  %s -> %s\n", req, raw ? raw : "(empty)");
    free(raw);
    cJSON_Delete(resp);
}

/* A policy refusal: -32003 naming want, no signer call. */
static void auth_policy_refused(const char *req, const char *want)
{
    char body[1024], *raw = NULL;
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"anode_signAuthorization\",\"params\":"
             "[\"" ADDR "\",%s]}",
             req);
    int before = atomic_load(&g_sign_calls);
    cJSON *resp = call(body, &raw);
    const cJSON *err = cJSON_GetObjectItem(resp, "error");
    const cJSON *msg = cJSON_GetObjectItem(err, "message");
    int ok = cJSON_GetObjectItem(err, "code") != NULL &&
             cJSON_GetObjectItem(err, "code")->valueint == -32003 && cJSON_IsString(msg) &&
             strstr(msg->valuestring, want) != NULL;
    CHECK(ok);
    CHECK_EQ_INT(atomic_load(&g_sign_calls), before);
    if (!ok)
        fprintf(stderr, "  %s -> %s\n", req, raw ? raw : "(empty)");
    free(raw);
    cJSON_Delete(resp);
}

#define R5 "0x5f5af47ac91a06784788c0012a551524abfe36936dba1a21b8b60e86ac143f2f"
#define S5 "0x131f922c1a849bc86062f5e9b162d98770220260712a0391e24c6f73bd0c93cc"
#define R6 "0x751f06b0f2b23925c78f185b2452f288cdf0ad7d0e79b11d54ad0e9f3702bfbb"
#define S6 "0x279b79fe4eb01ecb966f6e484d3b231755a7922dc5357643dc2506b9e11dc766"
#define R0 "0x3dedf0db82086870845e2da3682d29a716f0231397bbdc7f931b16c8292db179"
#define S0 "0x30357aad80dc2bebd0f2daaf26acfb0471b5d0cf979134c4736a06bf9cd81cd4"

static void test_authorizations(cn_signer *counting)
{
    /* no policy: signed as ethers does; the node's pending nonce is 5 */
    auth_signed("{\"address\":\"" TO "\",\"nonce\":\"0x5\",\"chainId\":\"0x7a69\"}", "0x5",
                "0x7a69", R5, S5, "0x1");
    auth_signed("{\"address\":\"" TO "\"}", "0x5", "0x7a69", R5, S5, "0x1");
    auth_signed("{\"address\":\"" TO "\",\"executor\":\"self\"}", "0x6", "0x7a69", R6, S6, "0x1");
    auth_signed("{\"address\":\"" TO "\",\"executor\":\"" ADDR "\"}", "0x6", "0x7a69", R6, S6,
                "0x1");
    auth_signed("{\"address\":\"" TO "\",\"executor\":\"" EP "\"}", "0x5", "0x7a69", R5, S5, "0x1");
    /* chain 0 refused without a policy that allows it (guard rail on by default) */
    auth_policy_refused("{\"address\":\"" TO "\",\"chainId\":\"0x0\",\"nonce\":\"0x5\"}",
                        "chainId 0");
    /* strict request */
    refused("anode_signAuthorization", "[\"" ADDR "\",{\"address\":\"" TO "\",\"bogus\":1}]",
            "\"bogus\"");
    refused("anode_signAuthorization", "[\"" ADDR "\",{\"contractAddress\":\"" TO "\"}]",
            "\"contractAddress\"");
    refused("anode_signAuthorization", "[\"" ADDR "\",{\"address\":\"" TO "\"},{}]", "params[2]");
    refused("anode_signAuthorization",
            "[\"" ADDR "\",{\"address\":\"" TO "\",\"nonce\":\"0x1\",\"executor\":\"self\"}]",
            "executor");
    refused("anode_signAuthorization", "[\"" ADDR "\",{\"address\":\"" TO "\",\"executor\":1}]",
            "executor");
    refused("anode_signAuthorization",
            "[\"" ADDR "\",{\"address\":\"" TO "\",\"chainId\":\"0x1\"}]", "chainId");
    refused("anode_signAuthorization", "[\"" ADDR "\",{\"address\":\"" TO "\",\"nonce\":\"5\"}]",
            "nonce");
    refused("anode_signAuthorization", "[\"" ADDR "\",{\"nonce\":\"0x5\"}]", "address");
    refused("anode_signAuthorization", "[\"" ADDR "\",\"" TO "\"]", "params[1]");

    /* a policy: chain 0 allowed, one delegate */
    char err[256] = "";
    cn_policy *pol = NULL;
    cJSON *pc = cJSON_Parse("{\"allow_chain_id_zero_authorization\":true,"
                            "\"allowed_delegates\":[\"" TO "\"],\"max_fee_per_blob_gas\":\"1\"}");
    CHECK_EQ_INT(cn_policy_parse(&pol, pc, err, sizeof(err)), AK_OK);
    cJSON_Delete(pc);
    const cn_policy *pols[1] = {pol};
    cn_rpc *saved = g_rpc, *r2 = NULL;
    cn_rpc_config cfg = {.signers = &counting,
                         .n_signers = 1,
                         .policies = pols,
                         .downstream = {node_post, NULL},
                         .chain_id = 31337,
                         .max_batch = 8,
                         .batch_threads = 2};
    CHECK_EQ_INT(cn_rpc_new(&r2, &cfg), AK_OK);
    g_rpc = r2;
    auth_signed("{\"address\":\"" TO "\",\"chainId\":\"0x0\",\"nonce\":\"0x5\"}", "0x5", "0x0", R0,
                S0, "0x0");
    auth_policy_refused("{\"address\":\"" EP "\",\"nonce\":\"0x5\"}", "allowed_delegates");
    /* max_fee_per_blob_gas: the client's fee and the filled one (2 x eth_blobBaseFee 0x1) */
    static const char *const blob_txs[] = {
        "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x0\",\"gas\":\"0x5208\","
        "\"maxFeePerBlobGas\":\"0x2\",\"blobVersionedHashes\":[\"" BH "\"]}]",
        "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x0\",\"gas\":\"0x5208\","
        "\"blobVersionedHashes\":[\"" BH "\"]}]"};
    for (size_t i = 0; i < 2; i++) {
        char body[1024], *raw = NULL;
        snprintf(body, sizeof(body),
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":%s}",
                 blob_txs[i]);
        int before = atomic_load(&g_sign_calls);
        cJSON *resp = call(body, &raw);
        const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "error"), "message");
        CHECK(cJSON_IsString(m) && strstr(m->valuestring, "max_fee_per_blob_gas 1") != NULL);
        CHECK_EQ_INT(atomic_load(&g_sign_calls), before);
        free(raw);
        cJSON_Delete(resp);
    }
    accepted("eth_signTransaction",
             "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x0\",\"gas\":\"0x5208\","
             "\"maxFeePerBlobGas\":\"0x1\",\"blobVersionedHashes\":[\"" BH "\"]}]",
             1);
    g_rpc = saved;
    cn_rpc_free(r2);
    cn_policy_free(pol);

    /* allowed_methods without anode_signAuthorization: -32003, nothing signed */
    pc = cJSON_Parse("{\"allowed_methods\":[\"eth_signTransaction\"]}");
    CHECK_EQ_INT(cn_policy_parse(&pol, pc, err, sizeof(err)), AK_OK);
    cJSON_Delete(pc);
    pols[0] = pol;
    CHECK_EQ_INT(cn_rpc_new(&r2, &cfg), AK_OK);
    g_rpc = r2;
    auth_policy_refused("{\"address\":\"" TO "\",\"nonce\":\"0x5\"}",
                        "method_not_allowed: anode_signAuthorization");
    g_rpc = saved;
    cn_rpc_free(r2);
    cn_policy_free(pol);

    /* policy configuration errors name the field */
    static const char *const bad[] = {"{\"allowed_delegates\":[]}", "{\"allowed_delegates\":[1]}",
                                      "{\"allow_chain_id_zero_authorization\":1}",
                                      "{\"max_fee_per_blob_gas\":7}"};
    static const char *const want[] = {"policy.allowed_delegates", "policy.allowed_delegates[0]",
                                       "policy.allow_chain_id_zero_authorization",
                                       "policy.max_fee_per_blob_gas"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        err[0] = '\0';
        CHECK_EQ_INT(cn_policy_parse(&pol, j, err, sizeof(err)), AK_ERR_CONFIG);
        CHECK(strstr(err, want[i]) != NULL);
        cJSON_Delete(j);
    }
}

/* Types 3 and 4 signed as ethers v6 Wallet(KEY).signTransaction signs them (RFC 6979 both). */
static void kat(const char *params, const char *want)
{
    char body[2048], *raw = NULL;
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[%s]}",
             params);
    cJSON *r = call(body, &raw);
    const cJSON *res = cJSON_GetObjectItem(r, "result");
    int ok = cJSON_IsString(res) && strcmp(res->valuestring, want) == 0;
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  %s\n  -> %s\n  want %s\n", params, raw ? raw : "(empty)", want);
    free(raw);
    cJSON_Delete(r);
}

static void test_typed_kats(void)
{
    kat("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x0\",\"gas\":\"0x5208\","
        "\"maxFeePerGas\":\"0x10\",\"maxPriorityFeePerGas\":\"0x1\",\"maxFeePerBlobGas\":\"0x2\","
        "\"blobVersionedHashes\":[\"" BH "\"]}",
        "0x03f887827a698001108252089400000000000000000000000000000000000000a18080c002e1a001aaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa80a0526a953d9f92bb1afee1189ebcf5"
        "5e7098522f22a0d9f7ff4fbd9baa29290a2ea03627c0281c77035ccaf304af34c6f9f18e39ec8b485168f13c"
        "1f5b379eb27872");
    kat("{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x0\",\"gas\":\"0x186a0\","
        "\"maxFeePerGas\":\"0x10\",\"maxPriorityFeePerGas\":\"0x1\",\"authorizationList\":[{"
        "\"address\":\"" TO "\",\"nonce\":\"0x5\",\"chainId\":\"0x7a69\",\"yParity\":\"0x1\","
        "\"r\":\"0x5f5af47ac91a06784788c0012a551524abfe36936dba1a21b8b60e86ac143f2f\","
        "\"s\":\"0x131f922c1a849bc86062f5e9b162d98770220260712a0391e24c6f73bd0c93cc\"}]}",
        "0x04f8c5827a69800110830186a09400000000000000000000000000000000000000a18080c0f85ef85c827a"
        "699400000000000000000000000000000000000000a10501a05f5af47ac91a06784788c0012a551524abfe36"
        "936dba1a21b8b60e86ac143f2fa0131f922c1a849bc86062f5e9b162d98770220260712a0391e24c6f73bd0c"
        "93cc01a0aed54134c2a2c83ae98cc0d293a685ab0c10df7115d186ade8a306fd4a60ee59a0672e8f71daa07a"
        "6b4cf0f05fccb45a450f4c97dd5239e5a0cdca660c86771de8");
}

/* eth_sendTransaction with a blob sidecar: checked against the hashes, sent in the network form;
 * eth_signTransaction refuses a sidecar by name. The zero blob's commitment and proof are the
 * point at infinity (0xc0 || 47 zero bytes); its versioned hash computed with Python's hashlib. */
#define ZEROS47                                                                                    \
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" \
    "00"
#define C0  "0xc0" ZEROS47
#define VH0 "0x010657f37554c781402a22917dee2f75def7ab966d7b770905398eba3c444014"

static char *sidecar_tx(const char *extra)
{
    size_t cap = 2 * 131072 + 4096;
    char *blob = malloc(2 * 131072 + 3), *p = malloc(cap);
    blob[0] = '0';
    blob[1] = 'x';
    memset(blob + 2, '0', 2 * 131072);
    blob[2 + 2 * 131072] = '\0';
    snprintf(p, cap,
             "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"nonce\":\"0x5\",\"gas\":\"0x5208\","
             "\"blobs\":[\"%s\"],\"commitments\":[\"" C0 "\"]%s}]",
             blob, extra);
    free(blob);
    return p;
}

static void test_sidecar(void)
{
    char *p = sidecar_tx(",\"proofs\":[\"" C0 "\"],\"blobVersionedHashes\":[\"" BH "\"]");
    refused("eth_sendTransaction", p, "blobVersionedHashes[0] is not the versioned hash");
    free(p);
    p = sidecar_tx(",\"proofs\":[\"" C0 "\",\"" C0 "\"]");
    refused("eth_sendTransaction", p, "proofs has 2 items");
    free(p);
    p = sidecar_tx("");
    refused("eth_sendTransaction", p, "missing: proofs");
    free(p);
    p = sidecar_tx(",\"proofs\":[\"" C0 "\"]");
    refused("eth_signTransaction", p, "blobs: a blob sidecar is only taken by eth_sendTransaction");
    refused("eth_sendTransaction",
            "[{\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"blobVersionedHashes\":[\"" BH "\"]}]",
            "blobs, commitments and proofs are missing");
    /* hashes derived from the commitments, or given and equal: signed once, sent wrapped */
    accepted("eth_sendTransaction", p, 1);
    CHECK(g_last_raw != NULL && strncmp(g_last_raw, "0x03", 4) == 0 &&
          strlen(g_last_raw) > 2 * 131072);
    free(p);
    p = sidecar_tx(",\"proofs\":[\"" C0 "\"],\"blobVersionedHashes\":[\"" VH0 "\"]");
    accepted("eth_sendTransaction", p, 1);
    free(p);
}

int main(void)
{
    uint8_t key[32];
    char err[256];
    cn_log_setup(CN_LOG_ERROR, 1);
    cn_method_table pm_rows = cn_pm_methods(NULL);
    const cn_method_table *tables[] = {cn_methods_builtin(), &pm_rows};
    CHECK_EQ_INT(cn_methods_publish(tables, 2), AK_OK);
    ak_test_unhex(key, 32, KEY);
    CHECK_EQ_INT(cn_local_signer_from_key(&g_inner, key, "inner", err, sizeof(err)), AK_OK);
    cn_signer *counting = calloc(1, sizeof(*counting));
    *counting = *g_inner;
    counting->ops = &COUNTING;
    counting->impl = NULL;
    snprintf(counting->name, sizeof(counting->name), "counting");

    cJSON *pmcfg = cJSON_Parse("{\"account\":\"" ADDR "\",\"address\":"
                               "\"0x3333333333333333333333333333333333333333\","
                               "\"entry_points\":[\"" EP "\"],\"allowed_senders\":\"*\"}");
    cn_paymaster *pm = NULL;
    CHECK_EQ_INT(cn_pm_new(&pm, pmcfg, &counting, 1, 31337, err, sizeof(err)), AK_OK);
    if (pm == NULL)
        fprintf(stderr, "paymaster: %s\n", err);
    cJSON_Delete(pmcfg);
    cn_method_table pm_table = cn_pm_methods(pm);
    const cn_method_table *extra[] = {&pm_table};
    cn_rpc_config cfg = {.signers = &counting,
                         .n_signers = 1,
                         .downstream = {node_post, NULL},
                         .chain_id = 31337,
                         .nonce_retries = 0,
                         .max_batch = 8,
                         .batch_threads = 2,
                         .extra = extra,
                         .n_extra = 1};
    CHECK_EQ_INT(cn_rpc_new(&g_rpc, &cfg), AK_OK);

    test_transaction_members();
    test_other_methods();
    test_client_shapes();
    test_authorizations(counting);
    test_typed_kats();
    test_sidecar();

    cn_rpc_free(g_rpc);
    cn_pm_free(pm);
    cn_signer_free(counting);
    cn_signer_free(g_inner);
    free(g_last_raw);
    return ak_test_report("test_cn_strict");
}
