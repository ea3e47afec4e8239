/*
 * test_intent.c - shared/ak_intent (intent parser, digests, encoder, strict unsigned transaction
 * decoder) and shared/ak_policy over intents (issue 11).
 *
 * Vectors: printed by `cd tests/tools && node ../unit/intent_vectors.js`, which computes each
 * digest with ethers v6 (Transaction.unsignedHash, hashMessage, TypedDataEncoder.hash,
 * hashAuthorization, the VerifyingPaymaster getHash with AbiCoder, keccak256 for the OP block).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_hex.h"
#include "ak_intent.h"
#include "ak_policy.h"
#include "ak_test.h"

typedef struct {
    const char *name;
    const char *json;
    const char *digest;
} vector;

static const vector VECTORS[] = {
    {"tx_legacy_155",
     "{\"kind\":\"eth_transaction\",\"payload\":"
     "\"0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008001808"
     "0\"}",
     "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"},
    {"tx_legacy_pre155", "{\"kind\":\"eth_transaction\",\"payload\":\"0xca800182cf088080826000\"}",
     "ef49478fed85cec0448daca885a42c86adbd89dcf2092af1b428e2b3b6643146"},
    {"tx_type1",
     "{\"kind\":\"eth_transaction\",\"payload\":"
     "\"0x01f89c05010382753094353535353535353535353535353535353535353507b844a9059cbb000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "00000000000000000000f838f7941111111111111111111111111111111111111111e1a0000000000000000000000"
     "0000000000000000000000000000000000000000002\"}",
     "8f0cb1b26ef6279abd0da86760902f64bb4910afb355c550208dcc727e406b58"},
    {"tx_type2",
     "{\"kind\":\"eth_transaction\",\"payload\":"
     "\"0x02ed827a6980843b9aca00847735940082520894353535353535353535353535353535353535353584075bcd1"
     "580c0\"}",
     "ea0e1241c6a1f1f4f5ed53f645ed0abb45315eed78897b78d1880bd9b8fe5ae3"},
    {"tx_type3",
     "{\"kind\":\"eth_transaction\",\"payload\":"
     "\"0x03f842010201028252089435353535353535353535353535353535353535358080c005e1a001aaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     "1c3f86220f0042bc0630479fb016798e9eda26ddcbac505453c7e53e52aacfa9"},
    {"tx_type4",
     "{\"kind\":\"eth_transaction\",\"payload\":"
     "\"0x04f87d0103010282ea609435353535353535353535353535353535353535358080c0f85cf85a0194111111111"
     "11111111111111111111111111111118001a0eeabf1b7b75c4fb626bb455968ca74b5711b71fec7434c018bc7dcf3"
     "f0049f19a021d6be9d56d8f71fadf4f9ac43ec8cbf9895fdaebd80dd813cf4ddbf598cc492\"}",
     "cc9d89d72c6f38db4df517c3e25a1359c76729fb9d5b3845257a2f30e0ac8d11"},
    {"eip191", "{\"kind\":\"eip191_message\",\"message\":\"0x48656c6c6f2c20776f726c6421\"}",
     "b453bd4e271eed985cbab8231da609c4ce0a9cf1f763b6c1594e76315510e0f1"},
    {"eip712",
     "{\"kind\":\"eip712_typed_data\",\"typed_data\":{\"types\":{\"EIP712Domain\":[{\"name\":"
     "\"name\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"string\"},{\"name\":"
     "\"chainId\",\"type\":\"uint256\"},{\"name\":\"verifyingContract\",\"type\":\"address\"}],"
     "\"Person\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"wallet\",\"type\":"
     "\"address\"}],\"Mail\":[{\"name\":\"from\",\"type\":\"Person\"},{\"name\":\"to\",\"type\":"
     "\"Person\"},{\"name\":\"contents\",\"type\":\"string\"}]},\"primaryType\":\"Mail\","
     "\"domain\":{\"name\":\"Ether "
     "Mail\",\"version\":\"1\",\"chainId\":1,\"verifyingContract\":"
     "\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"},\"message\":{\"from\":{\"name\":\"Cow\","
     "\"wallet\":\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\"},\"to\":{\"name\":\"Bob\","
     "\"wallet\":\"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB\"},\"contents\":\"Hello, Bob!\"}}}",
     "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"},
    {"paymaster",
     "{\"kind\":\"erc4337_paymaster\",\"user_operation\":{\"sender\":"
     "\"0x3535353535353535353535353535353535353535\",\"nonce\":\"0x5\",\"callData\":\"0xb61d27f6\","
     "\"callGasLimit\":\"0x186a0\",\"verificationGasLimit\":\"0x30d40\",\"preVerificationGas\":"
     "\"0xc350\",\"maxFeePerGas\":\"0x77359400\",\"maxPriorityFeePerGas\":\"0x3b9aca00\","
     "\"paymasterVerificationGasLimit\":\"0x249f0\",\"paymasterPostOpGasLimit\":\"0x0\","
     "\"paymaster\":\"0x2222222222222222222222222222222222222222\"},\"entry_point\":"
     "\"0x0000000071727De22E5E9d8BAf0edAc6f37da032\",\"paymaster\":"
     "\"0x2222222222222222222222222222222222222222\",\"chain_id\":\"0xaa36a7\",\"valid_until\":"
     "\"0x70dbd880\",\"valid_after\":\"0x0\"}",
     "5fdb19cf2da1e79bcabece97145fee497443bbe1d1b0ae01a2241454e22df345"},
    {"auth",
     "{\"kind\":\"eip7702_authorization\",\"chain_id\":\"0x1\",\"address\":"
     "\"0x1111111111111111111111111111111111111111\",\"nonce\":\"0x7\"}",
     "f7023e9c81d79f3c747a51e9d06c8ab5ec7e859ab37e224225021be69c850d67"},
    {"auth_any_chain",
     "{\"kind\":\"eip7702_authorization\",\"chain_id\":\"0x0\",\"address\":"
     "\"0x1111111111111111111111111111111111111111\",\"nonce\":\"0x0\"}",
     "bce043d2be6b6a6257ca659ae30d27657722aeedb466b2256c750e0de08654ba"},
    {"op_block",
     "{\"kind\":\"op_block_payload\",\"domain\":"
     "\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"chain_id\":\"0xa\","
     "\"payload_hash\":\"0x56570de287d73cd1cb6092bb8fdee6173974955fdef345ae579ee9f475ea7432\"}",
     "800042503b19880da0a71bba9a4d4ce198e6ecb5ab1b8f504ac767248a8510f0"},
};
#define N_VECTORS (sizeof VECTORS / sizeof VECTORS[0])

static const vector *find(const char *name)
{
    for (size_t i = 0; i < N_VECTORS; i++)
        if (strcmp(VECTORS[i].name, name) == 0)
            return &VECTORS[i];
    abort();
}

/* Parse json text into *in (the tree in *root); the error code. */
static ak_err parse_text(ak_intent *in, cJSON **root, const char *json, char *why, size_t cap)
{
    *root = cJSON_Parse(json);
    if (*root == NULL) {
        memset(in, 0, sizeof *in);
        return AK_ERR_JSON;
    }
    return ak_intent_parse(in, *root, why, cap);
}

static void test_vectors(void)
{
    for (size_t i = 0; i < N_VECTORS; i++) {
        ak_intent in, again;
        cJSON *root = NULL, *enc = NULL;
        char why[AK_INTENT_WHY_MAX];
        uint8_t want[32];
        ak_test_unhex(want, 32, VECTORS[i].digest);
        ak_err e = parse_text(&in, &root, VECTORS[i].json, why, sizeof why);
        if (e != AK_OK)
            fprintf(stderr, "%s: %s\n", VECTORS[i].name, why);
        CHECK_EQ_INT(e, AK_OK);
        CHECK_MEM(in.digest, want, 32);
        /* encoder round trip: the same digest (and for transactions the same payload) */
        enc = ak_intent_to_json(&in);
        CHECK(enc != NULL);
        CHECK_EQ_INT(ak_intent_parse(&again, enc, why, sizeof why), AK_OK);
        CHECK_MEM(again.digest, want, 32);
        CHECK_EQ_INT(again.kind, in.kind);
        if (e == AK_OK && in.kind == AK_INTENT_ETH_TRANSACTION && in.payload != NULL &&
            again.payload != NULL) {
            CHECK(again.payload_len == in.payload_len);
            CHECK_MEM(again.payload, in.payload, in.payload_len);
        }
        ak_intent_clear(&again);
        ak_intent_clear(&in);
        ak_intent_clear(&in); /* twice: safe */
        cJSON_Delete(enc);
        cJSON_Delete(root);
    }
    /* decoded fields */
    ak_intent in;
    cJSON *root;
    char why[AK_INTENT_WHY_MAX];
    CHECK_EQ_INT(parse_text(&in, &root, find("tx_legacy_pre155")->json, why, sizeof why), AK_OK);
    CHECK(in.tx.pre155 && !in.has_chain_id && !in.tx.has_to);
    ak_intent_clear(&in);
    cJSON_Delete(root);
    CHECK_EQ_INT(parse_text(&in, &root, find("tx_type2")->json, why, sizeof why), AK_OK);
    CHECK(in.tx.type == AK_TX_EIP1559 && in.tx.chain_id == 31337 && in.has_chain_id);
    CHECK(in.tx.value.w[0] == 123456789u && in.tx.has_to);
    ak_intent_clear(&in);
    cJSON_Delete(root);
}

/* The vector's JSON with the member `name` set to the JSON text `value` (NULL: removed). */
static ak_err parse_edited(const char *vname, const char *name, const char *value, char *why,
                           size_t cap)
{
    ak_intent in;
    cJSON *root = cJSON_Parse(find(vname)->json);
    cJSON_DeleteItemFromObjectCaseSensitive(root, name);
    if (value != NULL)
        cJSON_AddItemToObject(root, name, cJSON_Parse(value));
    ak_err e = ak_intent_parse(&in, root, why, cap);
    ak_intent_clear(&in);
    cJSON_Delete(root);
    return e;
}

static void test_refusals(void)
{
    char why[AK_INTENT_WHY_MAX];
    /* members */
    CHECK(parse_edited("tx_type2", "extra", "1", why, sizeof why) == AK_ERR_JSON);
    CHECK(strstr(why, "intent.extra: unknown member") != NULL);
    CHECK(parse_edited("tx_type2", "payload", NULL, why, sizeof why) == AK_ERR_JSON);
    CHECK(strstr(why, "intent.payload: missing") != NULL);
    CHECK(parse_edited("tx_type2", "kind", "\"eth_transactions\"", why, sizeof why) == AK_ERR_JSON);
    CHECK(strstr(why, "unknown kind") != NULL);
    CHECK(parse_edited("tx_type2", "kind", NULL, why, sizeof why) == AK_ERR_JSON);
    /* a member of another kind */
    CHECK(parse_edited("auth", "message", "\"0x00\"", why, sizeof why) == AK_ERR_JSON);
    CHECK(strstr(why, "intent.message: unknown member for eip7702_authorization") != NULL);
    /* payloads: trailing byte, non-canonical integer, signed transaction, bad type, empty */
    CHECK(
        parse_edited("tx_type2", "payload",
                     "\"0x02ed827a6980843b9aca00847735940082520894353535353535353535353535353535353"
                     "535353584075bcd1580c000\"",
                     why, sizeof why) != AK_OK);
    /* nonce 0x00 encoded as the single byte 00 instead of 80 (list length kept) */
    CHECK(
        parse_edited("tx_type2", "payload",
                     "\"0x02ed827a6900843b9aca00847735940082520894353535353535353535353535353535353"
                     "535353584075bcd1580c0\"",
                     why, sizeof why) != AK_OK);
    /* a signed type-2 transaction (12 fields) is not a signing payload */
    CHECK(
        parse_edited("tx_type2", "payload",
                     "\"0x02f0827a6980843b9aca00847735940082520894353535353535353535353535353535353"
                     "535353584075bcd1580c0010101\"",
                     why, sizeof why) == AK_ERR_TX);
    CHECK(strstr(why, "intent.payload") != NULL);
    CHECK(parse_edited("tx_type2", "payload", "\"0x05c0\"", why, sizeof why) == AK_ERR_TX_TYPE);
    CHECK(parse_edited("tx_type2", "payload", "\"0x\"", why, sizeof why) != AK_OK);
    CHECK(parse_edited("tx_type2", "payload", "\"0x0\"", why, sizeof why) != AK_OK);
    CHECK(parse_edited("tx_type2", "payload", "7", why, sizeof why) == AK_ERR_JSON);
    /* legacy with EIP-155 tail [chainId, 0, 1]: not a signing payload */
    CHECK(
        parse_edited("tx_legacy_155", "payload",
                     "\"0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6"
                     "b3a764000080018001\"",
                     why, sizeof why) == AK_ERR_TX);
    /* legacy with chain id 0 in the EIP-155 form */
    CHECK(
        parse_edited("tx_legacy_155", "payload",
                     "\"0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6"
                     "b3a764000080808080\"",
                     why, sizeof why) == AK_ERR_CHAIN_ID);
    /* messages, quantities, addresses */
    CHECK(parse_edited("eip191", "message", "\"0x123\"", why, sizeof why) == AK_ERR_HEX);
    CHECK(parse_edited("eip191", "message", "\"0x\"", why, sizeof why) == AK_OK);
    CHECK(parse_edited("auth", "nonce", "\"0x07\"", why, sizeof why) == AK_ERR_QUANTITY);
    CHECK(parse_edited("auth", "nonce", "7", why, sizeof why) == AK_ERR_JSON);
    CHECK(parse_edited("auth", "address", "\"0x1111\"", why, sizeof why) == AK_ERR_ADDRESS);
    CHECK(strstr(why, "intent.address") != NULL);
    CHECK(parse_edited("op_block", "chain_id", "\"0x0\"", why, sizeof why) == AK_ERR_CHAIN_ID);
    CHECK(parse_edited("op_block", "domain", "\"0x00\"", why, sizeof why) == AK_ERR_HEX);
    CHECK(parse_edited("paymaster", "chain_id", "\"0x0\"", why, sizeof why) == AK_ERR_CHAIN_ID);
    CHECK(parse_edited("paymaster", "valid_until", "\"0x1000000000000\"", why, sizeof why) ==
          AK_ERR_RANGE);
    /* the user operation's own paymaster contradicts intent.paymaster */
    CHECK(parse_edited("paymaster", "paymaster", "\"0x3333333333333333333333333333333333333333\"",
                       why, sizeof why) == AK_ERR_JSON);
    CHECK(strstr(why, "differs") != NULL);
    CHECK(parse_edited("eip712", "typed_data", "{\"types\":{}}", why, sizeof why) == AK_ERR_EIP712);
    CHECK(strstr(why, "intent.typed_data") != NULL);
    CHECK(parse_edited("eip712", "typed_data", "[]", why, sizeof why) == AK_ERR_JSON);
    /* not an object */
    ak_intent in;
    cJSON *arr = cJSON_CreateArray();
    CHECK(ak_intent_parse(&in, arr, why, sizeof why) == AK_ERR_JSON);
    cJSON_Delete(arr);
}

/* The rule ak_policy_intent_ok gives for vector vname under p ("" when allowed). */
static const char *judge(const ak_policy *p, const char *vname)
{
    static char rule[64];
    ak_intent in;
    cJSON *root;
    char why[AK_INTENT_WHY_MAX];
    ak_policy_verdict v = {0};
    if (parse_text(&in, &root, find(vname)->json, why, sizeof why) != AK_OK)
        abort();
    int ok = ak_policy_intent_ok(p, &in, &v);
    snprintf(rule, sizeof rule, "%s", ok ? "" : v.rule);
    ak_intent_clear(&in);
    cJSON_Delete(root);
    return rule;
}

static void test_policy(void)
{
    ak_policy p;
    ak_policy_verdict v;
    uint8_t a35[20], d11[20];
    memset(a35, 0x35, 20);
    memset(d11, 0x11, 20);
    ak_policy_init(&p);
    CHECK(p.raw_digest && ak_policy_raw_ok(&p, &v));
    for (size_t i = 0; i < N_VECTORS; i++) {
        /* the default serves everything except a chain-0 authorization */
        const char *r = judge(&p, VECTORS[i].name);
        CHECK_STR(r,
                  strcmp(VECTORS[i].name, "auth_any_chain") == 0 ? "authorization_any_chain" : "");
    }
    p.raw_digest = 0;
    CHECK(!ak_policy_raw_ok(&p, &v));
    CHECK_STR(v.rule, "raw_digest_not_allowed");
    /* kinds */
    p.kinds = 1u << AK_INTENT_ETH_TRANSACTION;
    CHECK_STR(judge(&p, "eip191"), "kind_not_served");
    CHECK_STR(judge(&p, "tx_type2"), "");
    /* chains */
    p.kinds = AK_INTENT_ALL;
    p.n_chains = 1;
    ak_u256_from_u64(&p.chains[0], 1);
    CHECK_STR(judge(&p, "tx_type2"), "chain_not_allowed");
    CHECK_STR(judge(&p, "tx_legacy_pre155"), "chain_not_allowed");
    CHECK_STR(judge(&p, "tx_legacy_155"), "");
    CHECK_STR(judge(&p, "op_block"), "chain_not_allowed");
    CHECK_STR(judge(&p, "paymaster"), "chain_not_allowed");
    CHECK_STR(judge(&p, "eip191"), ""); /* no chain to judge */
    CHECK_STR(judge(&p, "eip712"), "");
    /* chain-0 authorization: refused unless allowed; allowed, it passes the chain list */
    CHECK_STR(judge(&p, "auth_any_chain"), "authorization_any_chain");
    p.allow_auth_chain_zero = 1;
    CHECK_STR(judge(&p, "auth_any_chain"), "");
    p.n_chains = 0;
    /* value cap, destinations */
    p.has_max_value = 1;
    ak_u256_from_u64(&p.max_value, 123456788);
    CHECK_STR(judge(&p, "tx_type2"), "value_over_cap");
    ak_u256_from_u64(&p.max_value, 123456789);
    CHECK_STR(judge(&p, "tx_type2"), "");
    p.n_to = 1;
    memcpy(p.to[0], d11, 20);
    p.allow_create = 0;
    CHECK_STR(judge(&p, "tx_type2"), "to_not_allowed");
    CHECK_STR(judge(&p, "tx_legacy_pre155"), "contract_creation");
    memcpy(p.to[0], a35, 20);
    CHECK_STR(judge(&p, "tx_type2"), "");
    /* selectors: type1 calls 0x35.. with a9059cbb */
    p.n_selectors = 1;
    memcpy(p.selector_to[0], a35, 20);
    memcpy(p.selector[0], "\x09\x5e\xa7\xb3", 4);
    CHECK_STR(judge(&p, "tx_type1"), "selector_not_allowed");
    CHECK_STR(judge(&p, "tx_type2"), ""); /* no data: a plain transfer */
    memcpy(p.selector[0], "\xa9\x05\x9c\xbb", 4);
    CHECK_STR(judge(&p, "tx_type1"), "");
    memcpy(p.selector_to[0], d11, 20); /* no entry for 0x35..: any call data */
    CHECK_STR(judge(&p, "tx_type1"), "");
    ak_policy_init(&p);
    /* domains */
    p.n_domains = 1;
    p.domains[0].has_name = 1;
    snprintf(p.domains[0].name, sizeof p.domains[0].name, "Ether Mail");
    CHECK_STR(judge(&p, "eip712"), "");
    p.domains[0].has_chain_id = 1;
    ak_u256_from_u64(&p.domains[0].chain_id, 10);
    CHECK_STR(judge(&p, "eip712"), "domain_not_allowed");
    ak_u256_from_u64(&p.domains[0].chain_id, 1);
    p.domains[0].has_verifying_contract = 1;
    memset(p.domains[0].verifying_contract, 0xcc, 20);
    CHECK_STR(judge(&p, "eip712"), "");
    snprintf(p.domains[0].name, sizeof p.domains[0].name, "Ether Mail2");
    CHECK_STR(judge(&p, "eip712"), "domain_not_allowed");
    ak_policy_init(&p);
    /* delegates */
    p.n_delegates = 1;
    memcpy(p.delegates[0], a35, 20);
    CHECK_STR(judge(&p, "auth"), "delegate_not_allowed");
    memcpy(p.delegates[0], d11, 20);
    CHECK_STR(judge(&p, "auth"), "");
    ak_policy_init(&p);
    /* cumulative */
    ak_u256 used, val;
    ak_u256_from_u64(&used, 60);
    ak_u256_from_u64(&val, 40);
    CHECK(ak_policy_cumulative_ok(&p, &used, &val, &v)); /* no cap */
    p.has_cumulative_cap = 1;
    ak_u256_from_u64(&p.cumulative_cap, 100);
    CHECK(ak_policy_cumulative_ok(&p, &used, &val, &v));
    ak_u256_from_u64(&val, 41);
    CHECK(!ak_policy_cumulative_ok(&p, &used, &val, &v));
    CHECK_STR(v.rule, "cumulative_over_cap");
    memset(&used, 0xff, sizeof used); /* overflow: refused, not wrapped */
    CHECK(!ak_policy_cumulative_ok(&p, &used, &val, &v));
}

int main(void)
{
    test_vectors();
    test_refusals();
    test_policy();
    return ak_test_report("test_intent");
}
