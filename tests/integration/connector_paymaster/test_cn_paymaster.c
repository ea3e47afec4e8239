/*
 * test_cn_paymaster.c - cn_paymaster with a local signer (key 0x46..46, the EIP-155 example key;
 * its address 0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F computed with ethers v6) and an
 * injected clock: the stub and final answers, the window, each policy rule's refusal, the daily
 * cap across a UTC day boundary, the REST statuses, and config refusals; the global daily cap,
 * the caps on a store shared by two paymaster objects (one count, as replicas or config
 * generations), the reservation released when the signer fails, and a store that does not
 * answer (a postgres store with no server: -32603, REST 503). That the hash is the
 * contract's own getHash is shown by the e2e test (tests/e2e/paymaster) against the deployed
 * VerifyingPaymaster; here the final signature is checked to recover to the signer over
 * ak_userop_vp_hash.
 */
#include <cjson/cJSON.h>

#include "ak_addr.h"
#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_sig.h"
#include "ak_test.h"
#include "ak_userop.h"
#include "cn_log.h"
#include "cn_paymaster.h"
#include "cn_signer_local.h"
#include "st_store.h"

#define SIGNER  "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F"
#define PM      "0x3333333333333333333333333333333333333333"
#define EP      "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
#define SENDER  "0x1111111111111111111111111111111111111111"
#define SENDER2 "0x2222222222222222222222222222222222222222"
/* 2 gwei x (100000 + 200000 + 50000 + 100000 + 0) = 0.0009 ETH per operation */
#define OP(sender, extra)                                                                          \
    "{\"sender\":\"" sender "\",\"nonce\":\"0x1\",\"callData\":\"0xb61d27f6\","                    \
    "\"callGasLimit\":\"0x186a0\",\"verificationGasLimit\":\"0x30d40\",\"preVerificationGas\":"    \
    "\"0xc350\",\"maxFeePerGas\":\"0x77359400\",\"maxPriorityFeePerGas\":\"0x3b9aca00\"" extra "}"

static time_t g_now = 1700000000;
static time_t fake_clock(void)
{
    return g_now;
}

static cn_signer *g_signer;

static cn_paymaster *make(const char *cfg_text, char *err)
{
    cJSON *cfg = cJSON_Parse(cfg_text);
    cn_paymaster *pm = NULL;
    if (cfg == NULL)
        abort();
    if (cn_pm_new(&pm, cfg, &g_signer, 1, 31337, err, 256) != AK_OK)
        pm = NULL;
    cJSON_Delete(cfg);
    if (pm != NULL)
        cn_pm_set_clock(pm, fake_clock);
    return pm;
}

/* The paymaster's rows as the router calls them: handled 0 when method is not one of them. */
static cJSON *cn_pm_rpc(cn_paymaster *pm, const char *method, const cJSON *params, int *code,
                        char *msg, size_t msg_cap, int *handled)
{
    cn_method_table t = cn_pm_methods(pm);
    const cn_method_table *tables[] = {&t};
    void *ctx = NULL;
    const cn_method *m = cn_methods_find(tables, 1, method, &ctx);
    cn_call c = {method, NULL, ctx};
    cn_rpc_err e = {0};
    *handled = m != NULL;
    cJSON *r = m != NULL ? m->fn(NULL, &c, params, &e) : NULL;
    if (r == NULL && m != NULL) {
        *code = e.code;
        snprintf(msg, msg_cap, "%s", e.message);
    }
    cn_err_clear(&e);
    return r;
}

/* Call method with [op, ep, chain]; returns the result (caller frees) or NULL with code/msg. */
static cJSON *call(cn_paymaster *pm, const char *method, const char *op, const char *ep,
                   const char *chain, int *code, char *msg)
{
    char text[4096];
    snprintf(text, sizeof(text), "[%s,\"%s\",\"%s\",{}]", op, ep, chain);
    cJSON *params = cJSON_Parse(text);
    int handled = 0;
    *code = 0;
    msg[0] = '\0';
    cJSON *r = cn_pm_rpc(pm, method, params, code, msg, 256, &handled);
    CHECK(handled == 1);
    cJSON_Delete(params);
    return r;
}

static int refused(cn_paymaster *pm, const char *method, const char *op, const char *ep,
                   const char *chain, const char *rule)
{
    int code;
    char msg[256], want[96];
    cJSON *r = call(pm, method, op, ep, chain, &code, msg);
    snprintf(want, sizeof(want), "(rule %s)", rule);
    int ok = r == NULL && code == CN_PM_E_POLICY && strstr(msg, want) != NULL;
    if (!ok)
        fprintf(stderr, "expected refusal by %s, got code %d: %s\n", rule, code, msg);
    cJSON_Delete(r);
    return ok;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : "";
}

static void test_flow(void)
{
    char err[256] = "", msg[256];
    int code;
    cn_paymaster *pm = make("{\"account\":\"" SIGNER "\",\"address\":\"" PM "\","
                            "\"entry_points\":[\"" EP "\"],\"allowed_senders\":[\"" SENDER
                            "\",\"" SENDER2 "\"],\"max_gas_per_op\":1000000,"
                            "\"daily_cap_wei_per_sender\":\"2000000000000000\","
                            "\"sponsor_name\":\"T\"}",
                            err);
    CHECK(pm != NULL);
    if (pm == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    /* Stub: layout, window, gas limits from the config, no signing. */
    cJSON *r = call(pm, "pm_getPaymasterStubData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r != NULL);
    CHECK_STR(str(r, "paymaster"), PM);
    CHECK_STR(str(r, "paymasterVerificationGasLimit"), "0x186a0");
    CHECK_STR(str(r, "paymasterPostOpGasLimit"), "0x0");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "isFinal")));
    CHECK_STR(str(cJSON_GetObjectItemCaseSensitive(r, "sponsor"), "name"), "T");
    uint8_t data[AK_USEROP_VP_DATA_LEN];
    uint64_t until = 0, after = 0;
    const uint8_t *sig;
    size_t sig_len;
    CHECK_EQ_INT(ak_hex_decode_exact(data, sizeof(data), str(r, "paymasterData"),
                                     strlen(str(r, "paymasterData"))),
                 AK_OK);
    CHECK_EQ_INT(ak_userop_vp_data_parse(&until, &after, &sig, &sig_len, data, sizeof(data)),
                 AK_OK);
    CHECK(until == (uint64_t)g_now + 600 && after == (uint64_t)g_now - 60 && sig_len == 65);
    for (size_t i = 0; i < 65; i++)
        CHECK(sig[i] != 0);
    cJSON_Delete(r);

    /* Final: the signature recovers to the signer over getHash (EIP-191). */
    r = call(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r != NULL && cJSON_GetObjectItemCaseSensitive(r, "isFinal") == NULL);
    CHECK_EQ_INT(ak_hex_decode_exact(data, sizeof(data), str(r, "paymasterData"),
                                     strlen(str(r, "paymasterData"))),
                 AK_OK);
    cJSON_Delete(r);
    CHECK_EQ_INT(ak_userop_vp_data_parse(&until, &after, &sig, &sig_len, data, sizeof(data)),
                 AK_OK);
    cJSON *opj = cJSON_Parse(OP(SENDER, ""));
    ak_userop op;
    uint8_t h[32], d[32], pm_addr[20], got[20], want[20];
    ak_sig s;
    CHECK_EQ_INT(ak_userop_from_json(&op, opj, NULL, 0), AK_OK);
    ak_u256_from_u64(&op.paymaster_verification_gas_limit, 100000);
    CHECK_EQ_INT(ak_addr_parse(pm_addr, PM, 42), AK_OK);
    CHECK_EQ_INT(ak_userop_vp_hash(h, &op, 31337, pm_addr, until, after), AK_OK);
    ak_eip191_hash(d, h, 32);
    CHECK_EQ_INT(ak_sig_from_rsv(&s, sig), AK_OK);
    CHECK_EQ_INT(ak_sig_recover_address(got, &s, d), AK_OK);
    CHECK_EQ_INT(ak_addr_parse(want, SIGNER, 42), AK_OK);
    CHECK_MEM(got, want, 20);
    ak_userop_clear(&op);
    cJSON_Delete(opj);

    /* The operation's own paymaster gas limits are used (and returned) when present. */
    r = call(pm, "pm_getPaymasterStubData",
             OP(SENDER, ",\"paymasterVerificationGasLimit\":\"0x1234\""), EP, "0x7a69", &code, msg);
    CHECK_STR(str(r, "paymasterVerificationGasLimit"), "0x1234");
    cJSON_Delete(r);

    /* Each rule, at both stages. */
    const char *methods[] = {"pm_getPaymasterStubData", "pm_getPaymasterData"};
    for (int m = 0; m < 2; m++) {
        CHECK(refused(pm, methods[m], OP("0x4444444444444444444444444444444444444444", ""), EP,
                      "0x7a69", "allowed_senders"));
        CHECK(refused(pm, methods[m], OP(SENDER, ""), PM, "0x7a69", "entry_points"));
        CHECK(refused(pm, methods[m], OP(SENDER, ""), EP, "0x1", "chain_ids"));
        CHECK(refused(pm, methods[m], OP(SENDER, ",\"paymasterPostOpGasLimit\":\"0x927c1\""), EP,
                      "0x7a69", "max_gas_per_op")); /* 450000 + 600001 > 1000000 */
    }
    /* Invalid params are -32602, not a policy refusal. */
    cJSON *bad =
        call(pm, "pm_getPaymasterData", "{\"sender\":\"" SENDER "\"}", EP, "0x7a69", &code, msg);
    CHECK(bad == NULL && code == -32602 && strstr(msg, "nonce") != NULL);
    bad = call(pm, "pm_getPaymasterData",
               "{\"sender\":\"" SENDER "\",\"nonce\":\"0x1\",\"callData\":\"0x\"}", EP, "0x7a69",
               &code, msg);
    CHECK(bad == NULL && code == -32602); /* final stage needs the gas fields */
    bad = call(pm, "pm_getPaymasterStubData", OP(SENDER, ""), EP, "7a69", &code, msg);
    CHECK(bad == NULL && code == -32602);
    int handled = 1;
    CHECK(cn_pm_rpc(pm, "eth_sign", NULL, &code, msg, sizeof(msg), &handled) == NULL &&
          handled == 0);
    cJSON *p2 = cJSON_Parse("[{}]");
    CHECK(cn_pm_rpc(pm, "pm_getPaymasterData", p2, &code, msg, sizeof(msg), &handled) == NULL &&
          code == -32602);
    cJSON_Delete(p2);

    /* Daily cap 0.002 ETH: SENDER spent 0.0009 above; one more fits, the third does not. */
    r = call(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r != NULL);
    cJSON_Delete(r);
    CHECK(refused(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69",
                  "daily_cap_wei_per_sender"));
    CHECK(refused(pm, "pm_getPaymasterStubData", OP(SENDER, ""), EP, "0x7a69",
                  "daily_cap_wei_per_sender"));
    /* Another sender has its own budget. */
    r = call(pm, "pm_getPaymasterData", OP(SENDER2, ""), EP, "0x7a69", &code, msg);
    CHECK(r != NULL);
    cJSON_Delete(r);
    /* Next UTC day: the budget is back. */
    g_now += 86400;
    r = call(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r != NULL);
    cJSON_Delete(r);

    /* REST statuses. */
    char *out = NULL;
    size_t out_len = 0;
    unsigned status = 0;
    const char *b1 = "{\"userOperation\":" OP(SENDER2, "") ",\"entryPoint\":\"" EP "\"}";
    CHECK_EQ_INT(cn_pm_rest_sponsor(pm, b1, strlen(b1), &out, &out_len, &status), AK_OK);
    CHECK(status == 200 && strstr(out, "\"userOpHash\":\"0x") != NULL &&
          strstr(out, "\"paymasterAndData\":\"0x3333") != NULL);
    free(out);
    const char *b2 = "{\"userOperation\":" OP("0x4444444444444444444444444444444444444444",
                                              "") ",\"entryPoint\":\"" EP "\"}";
    CHECK_EQ_INT(cn_pm_rest_sponsor(pm, b2, strlen(b2), &out, &out_len, &status), AK_OK);
    CHECK(status == 403 && strstr(out, "\"rule\":\"allowed_senders\"") != NULL);
    free(out);
    /* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): the first is EP spliced in */
    const char *b3[] = {"{\"userOperation\":{},\"entryPoint\":\"" EP "\"}", "[]", "{", "{\"x\":1}",
                        "{\"entryPoint\":1,\"entryPoint\":2}"};
    for (size_t i = 0; i < sizeof(b3) / sizeof(b3[0]); i++) {
        CHECK_EQ_INT(cn_pm_rest_sponsor(pm, b3[i], strlen(b3[i]), &out, &out_len, &status), AK_OK);
        CHECK(status == 400);
        free(out);
    }
    /* A clock near the epoch: validAfter clamps to 0. Past uint48: refused, not wrapped. */
    g_now = 10;
    r = call(pm, "pm_getPaymasterStubData", OP(SENDER2, ""), EP, "0x7a69", &code, msg);
    CHECK(r != NULL);
    CHECK_EQ_INT(ak_hex_decode_exact(data, sizeof(data), str(r, "paymasterData"),
                                     strlen(str(r, "paymasterData"))),
                 AK_OK);
    CHECK_EQ_INT(ak_userop_vp_data_parse(&until, &after, &sig, &sig_len, data, sizeof(data)),
                 AK_OK);
    CHECK(until == 610 && after == 0);
    cJSON_Delete(r);
    g_now = (time_t)AK_USEROP_UINT48_MAX;
    r = call(pm, "pm_getPaymasterStubData", OP(SENDER2, ""), EP, "0x7a69", &code, msg);
    CHECK(r == NULL && code == -32603);
    g_now = 1700000000;
    cn_pm_free(pm);
    cn_pm_free(NULL);
}

/* ---- the caps on the state store ---------------------------------------------------------- */

static int g_fail; /* the failing signer fails while set */

static ak_err failing_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                           const cn_sign_ctx *ctx)
{
    (void)s;
    if (g_fail)
        return AK_ERR_UNAVAILABLE;
    return g_signer->ops->sign(g_signer, out, digest, ctx);
}

static ak_err failing_health(cn_signer *s, cn_signer_health *out)
{
    (void)s;
    return g_signer->ops->health(g_signer, out);
}

static void failing_destroy(cn_signer *s)
{
    (void)s;
}

static const cn_signer_ops FAILING = {"failing", failing_sign, failing_health, failing_destroy};

static int64_t store_wall_ns(void *ctx)
{
    (void)ctx;
    return (int64_t)g_now * 1000000000;
}

static int64_t store_mono_ns(void *ctx)
{
    (void)ctx;
    return rt_clock_system()->mono_ns(rt_clock_system()->ctx);
}

static int sponsored(cn_paymaster *pm, const char *method, const char *op)
{
    int code;
    char msg[256];
    cJSON *r = call(pm, method, op, EP, "0x7a69", &code, msg);
    int ok = r != NULL;
    if (!ok)
        fprintf(stderr, "expected a sponsorship, got code %d: %s\n", code, msg);
    cJSON_Delete(r);
    return ok;
}

/* 0.0009 ETH per operation: 2 per sender, 3 for everyone together. */
#define CAPS_CFG                                                                                   \
    "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP "\"],"            \
    "\"allowed_senders\":\"*\",\"daily_cap_wei_per_sender\":\"1800000000000000\","                 \
    "\"daily_cap_wei_global\":\"2700000000000000\"}"
#define SENDER3 "0x4444444444444444444444444444444444444444"

static void test_caps(void)
{
    char err[256] = "";
    g_now = 1700000000;
    cn_paymaster *pm = make(CAPS_CFG, err);
    CHECK(pm != NULL);
    /* Two for SENDER, the third refused by its own cap; one for SENDER2, then the global cap. */
    CHECK(sponsored(pm, "pm_getPaymasterData", OP(SENDER, "")));
    CHECK(sponsored(pm, "pm_getPaymasterData", OP(SENDER, "")));
    CHECK(refused(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69",
                  "daily_cap_wei_per_sender"));
    CHECK(sponsored(pm, "pm_getPaymasterStubData", OP(SENDER2, "")));
    CHECK(sponsored(pm, "pm_getPaymasterData", OP(SENDER2, "")));
    CHECK(
        refused(pm, "pm_getPaymasterData", OP(SENDER2, ""), EP, "0x7a69", "daily_cap_wei_global"));
    CHECK(refused(pm, "pm_getPaymasterStubData", OP(SENDER3, ""), EP, "0x7a69",
                  "daily_cap_wei_global"));
    /* A refusal over REST is 403 naming the rule. */
    char *out = NULL;
    size_t out_len = 0;
    unsigned status = 0;
    const char *b = "{\"userOperation\":" OP(SENDER3, "") ",\"entryPoint\":\"" EP "\"}";
    CHECK_EQ_INT(cn_pm_rest_sponsor(pm, b, strlen(b), &out, &out_len, &status), AK_OK);
    CHECK(status == 403 && strstr(out, "\"rule\":\"daily_cap_wei_global\"") != NULL);
    free(out);
    /* The next UTC day: both caps are back. */
    g_now += 86400;
    CHECK(sponsored(pm, "pm_getPaymasterData", OP(SENDER3, "")));
    cn_pm_free(pm);

    /* Two paymaster objects on one store (replicas, or the generations of a reloaded config)
     * count together. */
    st_cfg scfg;
    st_store *st = NULL;
    rt_clock clock = {store_mono_ns, store_wall_ns, NULL};
    CHECK_EQ_INT(st_cfg_parse(&scfg, NULL, err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(st_open(&st, &scfg, &clock, err, sizeof(err)), AK_OK);
    cn_paymaster *p1 = make(CAPS_CFG, err), *p2 = make(CAPS_CFG, err);
    CHECK(p1 != NULL && p2 != NULL);
    cn_pm_set_state(p1, st);
    cn_pm_set_state(p2, st);
    CHECK(sponsored(p1, "pm_getPaymasterData", OP(SENDER, "")));
    CHECK(sponsored(p2, "pm_getPaymasterData", OP(SENDER, "")));
    CHECK(refused(p1, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69",
                  "daily_cap_wei_per_sender"));
    CHECK(refused(p2, "pm_getPaymasterStubData", OP(SENDER, ""), EP, "0x7a69",
                  "daily_cap_wei_per_sender"));
    cn_pm_free(p1);
    cn_pm_free(p2);
    st_close(st);

    /* The signer fails after the reservation: -32000, and the reservation is given back. */
    cn_signer failing = *g_signer, *fs = &failing;
    failing.ops = &FAILING;
    cJSON *cfg = cJSON_Parse("{\"account\":\"" SIGNER "\",\"address\":\"" PM
                             "\",\"entry_points\":[\"" EP "\"],\"allowed_senders\":\"*\","
                             "\"daily_cap_wei_per_sender\":\"900000000000000\"}");
    CHECK_EQ_INT(cn_pm_new(&pm, cfg, &fs, 1, 31337, err, sizeof(err)), AK_OK);
    cJSON_Delete(cfg);
    cn_pm_set_clock(pm, fake_clock);
    int code;
    char msg[256];
    g_fail = 1;
    cJSON *r = call(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r == NULL && code == -32000);
    g_fail = 0;
    CHECK(sponsored(pm, "pm_getPaymasterData", OP(SENDER, ""))); /* the cap is whole again */
    CHECK(refused(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69",
                  "daily_cap_wei_per_sender"));
    cn_pm_free(pm);

    /* A store that does not answer (postgres, no server on that socket): -32603 with the
     * store's stable message, REST 503, nothing signed; a paymaster without caps never asks. */
    cJSON *pgj = cJSON_Parse("{\"backend\":\"postgres\",\"url\":\"postgresql://anode@/anode?"
                             "host=/nonexistent-anode-test\",\"statement_timeout_ms\":200}");
    CHECK_EQ_INT(st_cfg_parse(&scfg, pgj, err, sizeof(err)), AK_OK);
    cJSON_Delete(pgj);
    CHECK_EQ_INT(st_open(&st, &scfg, NULL, err, sizeof(err)), AK_OK);
    pm = make(CAPS_CFG, err);
    CHECK(pm != NULL);
    cn_pm_set_state(pm, st);
    r = call(pm, "pm_getPaymasterData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r == NULL && code == -32603);
    CHECK_STR(msg, ST_UNAVAILABLE_MSG);
    r = call(pm, "pm_getPaymasterStubData", OP(SENDER, ""), EP, "0x7a69", &code, msg);
    CHECK(r == NULL && code == -32603);
    const char *b1 = "{\"userOperation\":" OP(SENDER, "") ",\"entryPoint\":\"" EP "\"}";
    CHECK_EQ_INT(cn_pm_rest_sponsor(pm, b1, strlen(b1), &out, &out_len, &status), AK_OK);
    CHECK(status == 503 && strstr(out, ST_UNAVAILABLE_MSG) != NULL);
    free(out);
    cn_pm_free(pm);
    pm = make("{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
              "\"],\"allowed_senders\":\"*\"}",
              err);
    CHECK(pm != NULL);
    cn_pm_set_state(pm, st);
    CHECK(sponsored(pm, "pm_getPaymasterData", OP(SENDER, "")));
    cn_pm_free(pm);
    st_close(st);
}

static void test_config(void)
{
    char err[256];
    static const char *const bad[] = {
        "[]",
        "{\"address\":\"" PM "\",\"entry_points\":[\"" EP "\"],\"allowed_senders\":\"*\"}",
        "{\"account\":\"" PM "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\"}",
        "{\"account\":\"" SIGNER "\",\"entry_points\":[\"" EP "\"],\"allowed_senders\":\"*\"}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"allowed_senders\":\"*\"}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP "\"]}",
        "{\"account\":\"" SIGNER "\",\"address\":{\"1\":\"" PM "\"},\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\"}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\",\"validity_seconds\":5}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\",\"daily_cap_wei_per_sender\":\"01\"}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\",\"chain_ids\":[]}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\",\"daily_cap_wei_global\":\"-1\"}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\",\"daily_cap_wei_global\":1.5}",
        "{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
        "\"],\"allowed_senders\":\"*\",\"typo\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cn_paymaster *pm = make(bad[i], err);
        CHECK(pm == NULL && strncmp(err, "paymaster", 9) == 0);
        cn_pm_free(pm);
    }
    /* A bad EIP-55 checksum is named as such, with the address (checksummed form from
     * ethers' getAddress), not blamed on the chain id (issue 12). */
    err[0] = '\0';
    CHECK(make("{\"account\":\"" SIGNER
               "\",\"address\":\"0x9d3b8df2e7DC8fB1A2b4C6d8E0F1A3B5c7d9e1f3\","
               "\"entry_points\":[\"" EP "\"],\"allowed_senders\":\"*\"}",
               err) == NULL);
    CHECK(strstr(err, "paymaster.address: \"0x9d3b8df2e7DC8fB1A2b4C6d8E0F1A3B5c7d9e1f3\" has a "
                      "wrong EIP-55 checksum (checksummed: "
                      "0x9d3B8df2e7DC8fB1A2b4C6d8E0F1A3B5c7d9e1f3)") != NULL);
    CHECK(strstr(err, "chain") == NULL);
    err[0] = '\0';
    CHECK(make("{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
               "\"],\"allowed_senders\":\"*\",\"typo\":1}",
               err) == NULL);
    CHECK_STR(err, "paymaster: unknown field \"typo\"");
    err[0] = '\0';
    CHECK(make("{\"account\":\"" SIGNER "\",\"address\":\"" PM "\",\"entry_points\":[\"" EP
               "\"],\"allowed_senders\":\"*\",\"daily_cap_wei_global\":\"1e18\"}",
               err) == NULL);
    CHECK(strstr(err, "paymaster.daily_cap_wei_global must be a decimal string of wei") != NULL);
    /* Per-chain addresses. */
    cn_paymaster *pm = make("{\"account\":\"" SIGNER "\",\"address\":{\"31337\":\"" PM
                            "\",\"1\":\"" SENDER "\"},\"chain_ids\":[31337,1],"
                            "\"entry_points\":[\"" EP "\"],\"allowed_senders\":\"*\"}",
                            err);
    CHECK(pm != NULL);
    int code;
    char msg[256];
    cJSON *r = call(pm, "pm_getPaymasterStubData", OP(SENDER, ""), EP, "0x1", &code, msg);
    CHECK_STR(str(r, "paymaster"), SENDER);
    cJSON_Delete(r);
    cn_pm_free(pm);
}

int main(void)
{
    uint8_t key[32];
    char err[256];
    cn_log_setup(CN_LOG_ERROR, 0);
    memset(key, 0x46, sizeof(key));
    if (cn_local_signer_from_key(&g_signer, key, "test", err, sizeof(err)) != AK_OK) {
        fprintf(stderr, "signer: %s\n", err);
        return 1;
    }
    test_flow();
    test_config();
    test_caps();
    cn_signer_free(g_signer);
    return ak_test_report("test_cn_paymaster");
}
