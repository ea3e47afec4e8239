/*
 * fuzz_cn_rpc.c - libFuzzer target for the connector's JSON-RPC router: any HTTP body through
 * cn_rpc_handle (parsing, batches, ids, parameter validation of every local method, transaction
 * parsing and filling) with a local signer and a fake node that answers "0x1" to every single
 * request. The node's answer to a forwarded batch is fuzzed too: an input that starts with 0x01
 * is "\x01<node's batch answer>\x00<HTTP body>" (matching responses to members by id, cutting
 * the answer into elements); any other input is the HTTP body and batches get "[]".
 * Built with -DAK_FUZZ=ON (registered in connector/CMakeLists.txt); corpus in
 * tests/fuzz/corpus/cn_rpc/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_hex.h"
#include "cn_log.h"
#include "cn_rpc.h"
#include "cn_signer_local.h"

static const char *g_batch_answer = "[]"; /* the node's answer to a batch (this input's) */

static ak_err fake_post(void *ctx, const char *body, size_t len, long *status, char **resp,
                        size_t *resp_len, char *err, size_t err_cap)
{
    (void)ctx;
    (void)body;
    (void)len;
    (void)err;
    (void)err_cap;
    static const char answer[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\"}";
    const char *a = len > 0 && body[0] == '[' ? g_batch_answer : answer;
    *status = 200;
    *resp = strdup(a);
    if (*resp == NULL)
        return AK_ERR_NOMEM;
    *resp_len = strlen(a);
    return AK_OK;
}

static cn_rpc *g_rpc;
static cn_signer *g_signer;

static void setup(void)
{
    uint8_t key[32];
    size_t n = 0;
    char err[64];
    cn_log_setup(CN_LOG_ERROR + 1, 1); /* silent */
    const cn_method_table *tables[] = {cn_methods_builtin()};
    if (cn_methods_publish(tables, 1) != AK_OK)
        abort();
    if (ak_hex_decode_bare(key, 32, &n,
                           "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                           64) != AK_OK ||
        cn_local_signer_from_key(&g_signer, key, "fuzz", err, sizeof(err)) != AK_OK)
        abort();
    cn_rpc_config cfg = {.signers = &g_signer,
                         .n_signers = 1,
                         .downstream = {fake_post, NULL},
                         .chain_id = 31337,
                         .nonce_retries = 1,
                         .max_batch = 64,
                         .batch_threads = 1};
    if (cn_rpc_new(&g_rpc, &cfg) != AK_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_rpc == NULL)
        setup();
    char *answer = NULL;
    if (size > 0 && data[0] == 0x01) {
        const uint8_t *sep = memchr(data + 1, 0, size - 1);
        if (sep == NULL)
            return 0;
        size_t alen = (size_t)(sep - data - 1);
        if ((answer = malloc(alen + 1)) == NULL)
            return 0;
        memcpy(answer, data + 1, alen);
        answer[alen] = '\0';
        g_batch_answer = answer;
        size -= alen + 2;
        data = sep + 1;
    }
    char *body = malloc(size + 1);
    if (body == NULL) {
        free(answer);
        return 0;
    }
    memcpy(body, data, size);
    body[size] = '\0';
    char *out = NULL;
    size_t out_len = 0;
    if (cn_rpc_handle(g_rpc, body, size, &out, &out_len) == AK_OK && out != NULL &&
        strlen(out) != out_len)
        abort(); /* responses are NUL-free JSON text */
    free(out);
    free(body);
    g_batch_answer = "[]";
    free(answer);
    return 0;
}
