/*
 * test_userop.c - unit tests of ak_userop: the v0.7 JSON form, the packed words, the
 * VerifyingPaymaster getHash, paymasterData layout, EntryPoint.getUserOpHash, cost.
 *
 * Vectors computed with ethers v6 (tests/tools) by encoding the contracts' definitions
 * independently: getHash = keccak256(AbiCoder.encode([address, uint256, bytes32, bytes32,
 * bytes32, uint256, uint256, bytes32, uint256, address, uint48, uint48], ...)) as written in
 * account-abstraction v0.7.0 samples/VerifyingPaymaster.sol; getUserOpHash =
 * keccak256(encode([bytes32, address, uint256], [keccak256(encode(UserOperationLib.encode
 * fields)), entryPoint, chainid])); the EIP-191 hash with ethers.hashMessage(getBytes(h)). The
 * e2e test (tests/e2e/paymaster) also checks getHash against the deployed contract (eth_call).
 */
#include <cjson/cJSON.h>

#include "ak_eip191.h"
#include "ak_test.h"
#include "ak_userop.h"

#define OP_JSON                                                                                    \
    "{\"sender\":\"0x1111111111111111111111111111111111111111\",\"nonce\":"                        \
    "\"0x50000000000000007\","                                                                     \
    "\"factory\":\"0x2222222222222222222222222222222222222222\",\"factoryData\":\"0xdeadbeef\","   \
    "\"callData\":\"0xb61d27f6000000000000000000000000000000000000000000000000000000000000"        \
    "0001\",\"callGasLimit\":\"0x186a0\",\"verificationGasLimit\":\"0x30d40\","                    \
    "\"preVerificationGas\":\"0xc350\",\"maxFeePerGas\":\"0xb2d05e00\","                           \
    "\"maxPriorityFeePerGas\":\"0x3b9aca00\","                                                     \
    "\"paymaster\":\"0x3333333333333333333333333333333333333333\","                                \
    "\"paymasterVerificationGasLimit\":\"0xea60\",\"paymasterPostOpGasLimit\":\"0x1\"%s}"

static ak_err parse(ak_userop *op, const char *extra, char *why)
{
    char text[2048];
    snprintf(text, sizeof(text), OP_JSON, extra);
    cJSON *j = cJSON_Parse(text);
    if (j == NULL)
        abort();
    ak_err rc = ak_userop_from_json(op, j, why, 64);
    cJSON_Delete(j);
    return rc;
}

static void test_hashes(void)
{
    ak_userop op;
    char why[64] = "";
    uint8_t h[32], want[32], pm[20], ep[20], w[32];
    CHECK_EQ_INT(parse(&op, "", why), AK_OK);
    CHECK(op.present == AK_USEROP_F_GAS_ALL);
    CHECK(op.has_factory && op.has_paymaster && op.call_data_len == 36);
    CHECK_EQ_INT(ak_userop_account_gas_limits(w, &op), AK_OK);
    ak_test_unhex(want, 32, "00000000000000000000000000030d40000000000000000000000000000186a0");
    CHECK_MEM(w, want, 32);
    CHECK_EQ_INT(ak_userop_gas_fees(w, &op), AK_OK);
    ak_test_unhex(want, 32, "0000000000000000000000003b9aca00000000000000000000000000b2d05e00");
    CHECK_MEM(w, want, 32);

    ak_test_unhex(pm, 20, "3333333333333333333333333333333333333333");
    CHECK_EQ_INT(ak_userop_vp_hash(h, &op, 31337, pm, 1700003600, 1699999990), AK_OK);
    ak_test_unhex(want, 32, "8b5952da5953255ab1b9dfa5b5872815958cb04b1af126d7928c3a41a4540559");
    CHECK_MEM(h, want, 32);
    uint8_t d191[32];
    ak_eip191_hash(d191, h, 32);
    ak_test_unhex(want, 32, "3b7d69f0c7c56134f0c53aff91a4fe5a613da2a29c160f1c9a4e8a07cd8f8684");
    CHECK_MEM(d191, want, 32);
    /* Every input of the hash matters: chain, paymaster, window, a gas limit. */
    uint8_t h2[32];
    CHECK_EQ_INT(ak_userop_vp_hash(h2, &op, 1, pm, 1700003600, 1699999990), AK_OK);
    CHECK(memcmp(h, h2, 32) != 0);
    CHECK_EQ_INT(ak_userop_vp_hash(h2, &op, 31337, pm, 1700003601, 1699999990), AK_OK);
    CHECK(memcmp(h, h2, 32) != 0);
    op.paymaster_post_op_gas_limit.w[0] = 2;
    CHECK_EQ_INT(ak_userop_vp_hash(h2, &op, 31337, pm, 1700003600, 1699999990), AK_OK);
    CHECK(memcmp(h, h2, 32) != 0);
    op.paymaster_post_op_gas_limit.w[0] = 1;
    /* uint48 bounds. */
    CHECK_EQ_INT(ak_userop_vp_hash(h2, &op, 31337, pm, AK_USEROP_UINT48_MAX + 1, 0), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_userop_vp_hash(h2, &op, 31337, pm, 0, AK_USEROP_UINT48_MAX + 1), AK_ERR_RANGE);

    /* paymasterData and the full userOpHash with it. */
    uint8_t sig[65], data[AK_USEROP_VP_DATA_LEN], wantd[AK_USEROP_VP_DATA_LEN];
    memset(sig, 0xab, 32);
    memset(sig + 32, 0xcd, 32);
    sig[64] = 0x1b;
    CHECK_EQ_INT(ak_userop_vp_data(data, 1700003600, 1699999990, sig), AK_OK);
    ak_test_unhex(wantd, sizeof(wantd),
                  "000000000000000000000000000000000000000000000000000000006553ff10"
                  "000000000000000000000000000000000000000000000000000000006553f0f6"
                  "abababababababababababababababababababababababababababababababab"
                  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd1b");
    CHECK_MEM(data, wantd, sizeof(wantd));
    uint64_t until = 0, after = 0;
    const uint8_t *s = NULL;
    size_t slen = 0;
    CHECK_EQ_INT(ak_userop_vp_data_parse(&until, &after, &s, &slen, data, sizeof(data)), AK_OK);
    CHECK(until == 1700003600 && after == 1699999990 && slen == 65 && s == data + 64);
    CHECK_EQ_INT(ak_userop_vp_data_parse(&until, &after, &s, &slen, data, 63), AK_ERR_LIMIT);
    data[0] = 1; /* validUntil wider than uint48 */
    CHECK_EQ_INT(ak_userop_vp_data_parse(&until, &after, &s, &slen, data, sizeof(data)),
                 AK_ERR_RANGE);
    data[0] = 0;

    op.paymaster_data = malloc(sizeof(data));
    memcpy(op.paymaster_data, data, sizeof(data));
    op.paymaster_data_len = sizeof(data);
    uint8_t pad[200];
    size_t pad_len = 0;
    CHECK_EQ_INT(ak_userop_paymaster_and_data(pad, sizeof(pad), &pad_len, &op), AK_OK);
    CHECK(pad_len == 52 + 129);
    CHECK_MEM(pad, pm, 20);
    CHECK_EQ_INT(ak_userop_paymaster_and_data(pad, 52 + 128, &pad_len, &op), AK_ERR_BUFFER);
    ak_test_unhex(ep, 20, "0000000071727De22E5E9d8BAf0edAc6f37da032");
    CHECK_EQ_INT(ak_userop_hash(h, &op, ep, 31337), AK_OK);
    ak_test_unhex(want, 32, "42387880f1bb9bdde4ee64cd3b96b79acec246ac884bcd7af68d80ff7e1048ec");
    CHECK_MEM(h, want, 32);
    /* Without factory and paymaster: initCode and paymasterAndData are empty. */
    op.has_factory = 0;
    op.has_paymaster = 0;
    CHECK_EQ_INT(ak_userop_hash(h, &op, ep, 31337), AK_OK);
    ak_test_unhex(want, 32, "2a43993b515dfcf52725cae31d416df0338256ea9e4b44232f0c9bf665542f6a");
    CHECK_MEM(h, want, 32);
    CHECK_EQ_INT(ak_userop_paymaster_and_data(pad, sizeof(pad), &pad_len, &op), AK_ERR_ARG);

    /* cost = maxFeePerGas x (100000 + 200000 + 50000 + 60000 + 1) */
    ak_u256 cost, gas;
    CHECK_EQ_INT(ak_userop_max_cost(&cost, &gas, &op), AK_OK);
    CHECK(gas.w[0] == 410001 && gas.w[1] == 0);
    CHECK(cost.w[0] == 410001ULL * 3000000000ULL && cost.w[1] == 0);
    ak_userop_clear(&op);
    ak_userop_clear(&op); /* idempotent */
    ak_userop_clear(NULL);
}

static void test_json_errors(void)
{
    ak_userop op;
    char why[64];
    static const struct {
        const char *extra;
        ak_err rc;
        const char *field;
    } bad[] = {
        {",\"initCode\":\"0x\"", AK_ERR_JSON, "initCode"}, /* v0.6 form */
        {",\"paymasterAndData\":\"0x\"", AK_ERR_JSON, "paymasterAndData"},
        {",\"bogus\":1", AK_ERR_JSON, "bogus"},
        {",\"signature\":\"0x0\"", AK_ERR_HEX, "signature"},
        {",\"signature\":12", AK_ERR_HEX, "signature"},
        {",\"paymasterData\":\"0xzz\"", AK_ERR_HEX, "paymasterData"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        CHECK_EQ_INT(parse(&op, bad[i].extra, why), bad[i].rc);
        CHECK_STR(why, bad[i].field);
        CHECK(op.call_data == NULL);
    }
    struct {
        const char *json;
        const char *field;
    } bad2[] = {
        {"[]", "userOperation"},
        {"{\"nonce\":\"0x0\",\"callData\":\"0x\"}", "sender"},
        {"{\"sender\":\"0x1111111111111111111111111111111111111111\",\"callData\":\"0x\"}",
         "nonce"},
        {"{\"sender\":\"0x1111111111111111111111111111111111111111\",\"nonce\":\"0x0\"}",
         "callData"},
        {"{\"sender\":\"0x1111111111111111111111111111111111111111\",\"nonce\":\"0x00\","
         "\"callData\":\"0x\"}",
         "nonce"},
        {"{\"sender\":\"0x1111111111111111111111111111111111111111\",\"nonce\":\"0x0\","
         "\"callData\":\"0x\",\"callGasLimit\":\"0x100000000000000000000000000000000\"}",
         "callGasLimit"}, /* 2^128 */
        {"{\"sender\":\"0x1111111111111111111111111111111111111111\",\"nonce\":\"0x0\","
         "\"callData\":\"0x\",\"factoryData\":\"0x01\"}",
         "factoryData"},
        {"{\"sender\":\"0x111111111111111111111111111111111111111\",\"nonce\":\"0x0\","
         "\"callData\":\"0x\"}",
         "sender"},
    };
    for (size_t i = 0; i < sizeof(bad2) / sizeof(bad2[0]); i++) {
        cJSON *j = cJSON_Parse(bad2[i].json);
        why[0] = '\0';
        CHECK(ak_userop_from_json(&op, j, why, sizeof(why)) != AK_OK);
        CHECK_STR(why, bad2[i].field);
        cJSON_Delete(j);
    }
    /* Minimal form: nulls count as absent; no gas given. */
    cJSON *j = cJSON_Parse("{\"sender\":\"0x1111111111111111111111111111111111111111\","
                           "\"nonce\":\"0x0\",\"callData\":\"0x\",\"factory\":null,"
                           "\"paymaster\":null,\"signature\":\"0x\"}");
    CHECK_EQ_INT(ak_userop_from_json(&op, j, why, sizeof(why)), AK_OK);
    CHECK(op.present == 0 && !op.has_factory && !op.has_paymaster && op.call_data_len == 0);
    ak_userop_clear(&op);
    cJSON_Delete(j);
    /* callData over the limit. */
    size_t n = 2 * (AK_USEROP_MAX_CALL_DATA + 1) + 2;
    char *big = malloc(n + 1);
    memset(big, '0', n);
    big[1] = 'x';
    big[n] = '\0';
    j = cJSON_Parse("{\"sender\":\"0x1111111111111111111111111111111111111111\","
                    "\"nonce\":\"0x0\"}");
    cJSON_AddStringToObject(j, "callData", big);
    CHECK_EQ_INT(ak_userop_from_json(&op, j, why, sizeof(why)), AK_ERR_LIMIT);
    cJSON_Delete(j);
    free(big);
}

int main(void)
{
    test_hashes();
    test_json_errors();
    return ak_test_report("test_userop");
}
