/*
 * test_cn_intent.c - the intent each signing method hands its backend (accounts/cn_intent, issue
 * 11): through the real method functions (the built-in table) for eth_sign, personal_sign,
 * eth_signTypedData(_v4) (object and string), eth_signTransaction of types 0-4,
 * anode_signAuthorization and opsigner_signBlockPayloadV2, and through cn_intent_paymaster for
 * the paymaster's hash, the intent travels as the keyless signer sends it (ak_intent_to_json,
 * printed, parsed again) and the key server's parser (ak_intent_parse) recomputes exactly the
 * digest the method signed. The signature itself is made by the local signer and judged by the
 * method's own result; only the digest agreement is asserted here (ethers/viem judge the
 * signatures end to end: tests/e2e/fullstack/fullstack_intent.mjs).
 * Also the keyless signer's send_intent rules and its reading of the key server's answers
 * (cn_ks_reply).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_test.h"
#include "cn_intent.h"
#include "cn_ks_reply.h"
#include "cn_log.h"
#include "cn_methods.h"
#include "cn_signer_local.h"

#define ADDR  "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23" /* key 0x4c08...: see g_key */
#define TO    "0x00000000000000000000000000000000000000a1"
#define CHAIN 31337

/* ---- the capturing signer: checks the intent against the digest, then signs locally ------ */
static cn_signer *g_inner;
static int g_seen, g_agree;
static ak_intent_kind g_kind;

static ak_err capture_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                           const cn_sign_ctx *ctx)
{
    (void)s;
    char why[AK_INTENT_WHY_MAX] = "";
    ak_intent back;
    memset(&back, 0, sizeof back);
    g_seen++;
    cJSON *j = ctx != NULL && ctx->intent != NULL ? ak_intent_to_json(ctx->intent) : NULL;
    char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON *wire = text != NULL ? cJSON_Parse(text) : NULL;
    if (wire != NULL && ak_intent_parse(&back, wire, why, sizeof why) == AK_OK) {
        g_kind = back.kind;
        g_agree += memcmp(back.digest, digest, 32) == 0;
    } else {
        fprintf(stderr, "  intent did not parse back: %s (%s)\n", why, text ? text : "none");
    }
    ak_intent_clear(&back);
    cJSON_Delete(wire);
    free(text);
    cJSON_Delete(j);
    return g_inner->ops->sign(g_inner, out, digest, ctx);
}

static ak_err capture_health(cn_signer *s, cn_signer_health *out)
{
    (void)s;
    return g_inner->ops->health(g_inner, out);
}

static void capture_destroy(cn_signer *s)
{
    (void)s;
}

static const cn_signer_ops CAPTURE = {"capture", capture_sign, capture_health, capture_destroy};

static cn_method_env g_env;

/* Call method with params (JSON text); it must sign once with an intent of kind whose digest
 * agrees. */
static void expect(const char *method, const char *params, ak_intent_kind kind)
{
    const cn_method_table *t = cn_methods_builtin();
    void *tctx = NULL;
    const cn_method *m = cn_methods_find(&t, 1, method, &tctx);
    cJSON *p = cJSON_Parse(params);
    cn_rpc_err e;
    memset(&e, 0, sizeof e);
    int seen = g_seen, agree = g_agree;
    CHECK(m != NULL && p != NULL);
    if (m == NULL || p == NULL) {
        cJSON_Delete(p);
        return;
    }
    cn_call call = {method, "1", NULL};
    cJSON *res = m->fn(&g_env, &call, p, &e);
    CHECK(res != NULL);
    if (res == NULL)
        fprintf(stderr, "  %s %s -> %s\n", method, params, e.message);
    CHECK_EQ_INT(g_seen, seen + 1);
    CHECK_EQ_INT(g_agree, agree + 1);
    CHECK_EQ_INT((int)g_kind, (int)kind);
    cJSON_Delete(res);
    cJSON_Delete(p);
}

#define TD                                                                                         \
    "{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"chainId\"," \
    "\"type\":\"uint256\"},{\"name\":\"verifyingContract\",\"type\":\"address\"}],\"Mail\":[{"     \
    "\"name\":\"to\",\"type\":\"address\"},{\"name\":\"contents\",\"type\":\"string\"}]},"         \
    "\"primaryType\":\"Mail\",\"domain\":{\"name\":\"Ether Mail\",\"chainId\":31337,"              \
    "\"verifyingContract\":\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"},\"message\":{\"to\":"   \
    "\"" TO "\",\"contents\":\"Hello, Bob!\"}}"

#define TXF                                                                                        \
    "\"from\":\"" ADDR "\",\"to\":\"" TO "\",\"value\":\"0x1\",\"nonce\":\"0x3\",\"gas\":"         \
    "\"0x5208\",\"chainId\":\"0x7a69\""
#define FEES "\"maxFeePerGas\":\"0x3b9aca00\",\"maxPriorityFeePerGas\":\"0x1\""
#define AUTH                                                                                       \
    "{\"address\":\"" TO "\",\"nonce\":\"0x0\",\"chainId\":\"0x7a69\",\"yParity\":\"0x1\","        \
    "\"r\":\"0x1234\",\"s\":\"0x5678\"}"

static void test_methods(void)
{
    expect("personal_sign", "[\"0x68656c6c6f\",\"" ADDR "\"]", AK_INTENT_EIP191_MESSAGE);
    expect("personal_sign", "[\"plain text\",\"" ADDR "\"]", AK_INTENT_EIP191_MESSAGE);
    expect("personal_sign", "[\"0x\",\"" ADDR "\"]", AK_INTENT_EIP191_MESSAGE);
    expect("eth_sign", "[\"" ADDR "\",\"0xdeadbeef\"]", AK_INTENT_EIP191_MESSAGE);
    expect("eth_signTypedData_v4", "[\"" ADDR "\"," TD "]", AK_INTENT_EIP712_TYPED_DATA);
    /* typed data as a JSON string (what most wallets send) */
    cJSON *str = cJSON_CreateString(TD);
    char *quoted = cJSON_PrintUnformatted(str);
    char params[4096];
    snprintf(params, sizeof params, "[\"%s\",%s]", ADDR, quoted);
    expect("eth_signTypedData", params, AK_INTENT_EIP712_TYPED_DATA);
    free(quoted);
    cJSON_Delete(str);
    expect("eth_signTransaction", "[{" TXF ",\"type\":\"0x0\",\"gasPrice\":\"0x3b9aca00\"}]",
           AK_INTENT_ETH_TRANSACTION);
    expect("eth_signTransaction",
           "[{" TXF
           ",\"type\":\"0x1\",\"gasPrice\":\"0x3b9aca00\",\"accessList\":[{\"address\":\"" TO
           "\",\"storageKeys\":[\"0x"
           "0000000000000000000000000000000000000000000000000000000000000001"
           "\"]}]}]",
           AK_INTENT_ETH_TRANSACTION);
    expect("eth_signTransaction", "[{" TXF "," FEES ",\"data\":\"0xa9059cbb00\"}]",
           AK_INTENT_ETH_TRANSACTION);
    expect("eth_signTransaction",
           "[{" TXF "," FEES ",\"maxFeePerBlobGas\":\"0x2\",\"blobVersionedHashes\":[\"0x01"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}]",
           AK_INTENT_ETH_TRANSACTION);
    expect("eth_signTransaction", "[{" TXF "," FEES ",\"authorizationList\":[" AUTH "]}]",
           AK_INTENT_ETH_TRANSACTION);
    expect("anode_signAuthorization",
           "[\"" ADDR "\",{\"address\":\"" TO "\",\"chainId\":\"0x7a69\",\"nonce\":\"0x7\"}]",
           AK_INTENT_EIP7702_AUTHORIZATION);
    expect("opsigner_signBlockPayloadV2",
           "[{\"domain\":\"0x0000000000000000000000000000000000000000000000000000000000000000\","
           "\"chainId\":\"31337\",\"payloadHash\":"
           "\"0x1111111111111111111111111111111111111111111111111111111111111111\"}]",
           AK_INTENT_OP_BLOCK_PAYLOAD);
}

/* The paymaster's digest (as cn_paymaster's sponsor computes it) against the intent. */
static void test_paymaster(void)
{
    static const char uo_json[] =
        "{\"sender\":\"" TO "\",\"nonce\":\"0x1\",\"callData\":\"0xb61d27f6\","
        "\"callGasLimit\":\"0x10000\",\"verificationGasLimit\":\"0x20000\","
        "\"preVerificationGas\":\"0xc350\",\"maxFeePerGas\":\"0x3b9aca00\","
        "\"maxPriorityFeePerGas\":\"0x1\",\"signature\":\"0x\"}";
    uint8_t ep[20], h[32], digest[32];
    char why[AK_INTENT_WHY_MAX] = "";
    ak_userop op;
    ak_intent in, back;
    cJSON *owned = NULL, *uo = cJSON_Parse(uo_json);
    memset(&back, 0, sizeof back);
    CHECK(uo != NULL && ak_userop_from_json(&op, uo, why, sizeof why) == AK_OK);
    /* what sponsor() sets before hashing */
    op.has_paymaster = 1;
    ak_test_unhex(op.paymaster, 20, "00000000000000000000000000000000000000b2");
    ak_u256_from_u64(&op.paymaster_verification_gas_limit, 0x30000);
    ak_u256_from_u64(&op.paymaster_post_op_gas_limit, 0x100);
    ak_test_unhex(ep, 20, "0000000071727De22E5E9d8BAf0edAc6f37da032");
    CHECK_EQ_INT(ak_userop_vp_hash(h, &op, CHAIN, op.paymaster, 2000000000, 1000), AK_OK);
    ak_eip191_hash(digest, h, 32);
    const ak_intent *p = cn_intent_paymaster(&in, &owned, uo, &op, ep, CHAIN, 2000000000, 1000);
    CHECK(p != NULL);
    cJSON *j = p ? ak_intent_to_json(p) : NULL;
    CHECK(j != NULL && ak_intent_parse(&back, j, why, sizeof why) == AK_OK);
    if (why[0] != '\0')
        fprintf(stderr, "  paymaster intent: %s\n", why);
    CHECK_MEM(back.digest, digest, 32);
    CHECK(back.kind == AK_INTENT_ERC4337_PAYMASTER);
    ak_intent_clear(&back);
    cJSON_Delete(j);
    cJSON_Delete(owned);
    ak_userop_clear(&op);
    cJSON_Delete(uo);
}

/* The keyless signer's send_intent rules (cn_ks_intent_text) and what it reads from the key
 * server (cn_ks_reply_intents, cn_ks_reply_body_why). */
static void test_send_rules(void)
{
    uint8_t msg[3] = {1, 2, 3};
    char why[256] = "", *text = NULL;
    ak_intent in;
    cn_sign_ctx ctx = {"personal_sign", NULL, 0, 0, NULL, cn_intent_message(&in, msg, 3), why,
                       sizeof why};
    unsigned all = AK_INTENT_ALL, no191 = AK_INTENT_ALL & ~(1u << AK_INTENT_EIP191_MESSAGE);
    CHECK_EQ_INT(cn_ks_send_parse("auto"), CN_KS_SEND_AUTO);
    CHECK_EQ_INT(cn_ks_send_parse("always"), CN_KS_SEND_ALWAYS);
    CHECK_EQ_INT(cn_ks_send_parse("never"), CN_KS_SEND_NEVER);
    CHECK_EQ_INT(cn_ks_send_parse("Auto"), -1);
    CHECK_EQ_INT(cn_ks_send_parse(NULL), -1);
    /* never: digest only, whatever is advertised */
    CHECK_EQ_INT(cn_ks_intent_text(&text, CN_KS_SEND_NEVER, all, &ctx), AK_OK);
    CHECK(text == NULL);
    /* auto: the intent when its kind is advertised, else digest only */
    CHECK_EQ_INT(cn_ks_intent_text(&text, CN_KS_SEND_AUTO, all, &ctx), AK_OK);
    CHECK(text != NULL &&
          strcmp(text, "{\"kind\":\"eip191_message\",\"message\":\"0x010203\"}") == 0);
    free(text);
    text = NULL;
    CHECK_EQ_INT(cn_ks_intent_text(&text, CN_KS_SEND_AUTO, no191, &ctx), AK_OK);
    CHECK(text == NULL && why[0] == '\0');
    /* always: refused, naming the kind, when not advertised; refused without an intent */
    CHECK_EQ_INT(cn_ks_intent_text(&text, CN_KS_SEND_ALWAYS, no191, &ctx), AK_ERR_FORBIDDEN);
    CHECK(text == NULL && strstr(why, "does not advertise intent kind eip191_message") != NULL);
    ctx.intent = NULL;
    CHECK_EQ_INT(cn_ks_intent_text(&text, CN_KS_SEND_ALWAYS, all, &ctx), AK_ERR_FORBIDDEN);
    CHECK(strstr(why, "personal_sign has no intent") != NULL);
    CHECK_EQ_INT(cn_ks_intent_text(&text, CN_KS_SEND_AUTO, all, &ctx), AK_OK);
    CHECK(text == NULL);
    /* /health: the kinds listed; an older key server lists none; not an object: not learned */
    static const char h[] = "{\"status\":\"ok\",\"intents\":[\"eth_transaction\",\"bogus\",7,"
                            "\"op_block_payload\"]}";
    int ok = 0;
    CHECK_EQ_INT((int)cn_ks_reply_intents(h, sizeof h - 1, &ok),
                 (int)((1u << AK_INTENT_ETH_TRANSACTION) | (1u << AK_INTENT_OP_BLOCK_PAYLOAD)));
    CHECK_EQ_INT(ok, 1);
    CHECK_EQ_INT((int)cn_ks_reply_intents("{\"status\":\"ok\"}", 15, &ok), 0);
    CHECK_EQ_INT(ok, 1);
    CHECK_EQ_INT((int)cn_ks_reply_intents("<html>", 6, &ok), 0);
    CHECK_EQ_INT(ok, 0);
    /* a refusal's reason, printable ASCII only */
    static const char e[] = "{\"error\":{\"code\":\"policy_denied\",\"message\":\"policy rule "
                            "to_not_allowed: x\\n\"}}";
    cn_ks_reply_body_why(why, sizeof why, e, sizeof e - 1);
    CHECK_STR(why, "key server: policy_denied: policy rule to_not_allowed: x?");
}

int main(void)
{
    uint8_t key[32];
    char err[256];
    cn_log_setup(CN_LOG_ERROR, 0);
    ak_test_unhex(key, 32, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
    CHECK_EQ_INT(cn_local_signer_from_key(&g_inner, key, "k", err, sizeof err), AK_OK);
    cn_signer cap = {.ops = &CAPTURE, .name = "capture", .provider = "test"};
    memcpy(cap.pubkey, g_inner->pubkey, 65);
    memcpy(cap.address, g_inner->address, 20);
    cn_account acc = {.signer = &cap, .policy = NULL, .index = 0, .clock = NULL};
    g_env.accounts = &acc;
    g_env.n_accounts = 1;
    g_env.chain_id = CHAIN;
    test_methods();
    test_paymaster();
    test_send_rules();
    cn_signer_free(g_inner);
    return ak_test_report("test_cn_intent");
}
