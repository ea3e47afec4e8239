/* cn_paymaster.c - ERC-7677 verifying-paymaster service (see cn_paymaster.h). */
#include "cn_paymaster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_json.h"
#include "ak_secmem.h"
#include "ak_u256.h"
#include "ak_userop.h"
#include "cn_audit.h"
#include "cn_intent.h"
#include "cn_log.h"
#include "cn_pm_cap.h"
#include "cn_pm_config.h"

/*
 * Stub signature (ERC-7677: same length as the real one, no more zero bytes). It is a valid
 * low-s signature - key keccak256("anode-keyless paymaster stub signature") over
 * keccak256("stub 1"), made with ethers v6 - so that ECDSA.recover in the paymaster returns an
 * address (the wrong one: SIG_VALIDATION_FAILED) instead of reverting during gas estimation.
 */
static const char k_stub_sig[] =
    "7f416d112061357e6df7293d6be7ad11d510d6bb675c4c01d0e55ff142dd3580"
    "451dec378f9bc8dbafde9fc25368bfff85f239c2a92ab841f94919557fde0f621c";

struct cn_paymaster {
    cn_pm_conf conf;
    cn_pm_cap *cap;
    time_t (*now)(void);
};

typedef struct {
    int code; /* 0: none */
    const char *rule;
    char message[256];
} pm_err;

static time_t wall_now(void)
{
    return time(NULL);
}

__attribute__((format(printf, 4, 5))) static void fail(pm_err *e, int code, const char *rule,
                                                       const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    e->rule = rule;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

ak_err cn_pm_new(cn_paymaster **out, const cJSON *cfg, cn_signer *const *signers, size_t n_signers,
                 uint64_t chain_id, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_paymaster *pm = calloc(1, sizeof(*pm));
    *out = NULL;
    if (pm == NULL)
        return AK_ERR_NOMEM;
    pm->now = wall_now;
    if ((rc = cn_pm_conf_parse(&pm->conf, cfg, signers, n_signers, chain_id, err, err_cap)) !=
            AK_OK ||
        (rc = cn_pm_cap_new(&pm->cap, pm->conf.has_sender_cap ? &pm->conf.sender_cap : NULL,
                            pm->conf.has_global_cap ? &pm->conf.global_cap : NULL)) != AK_OK)
        goto out;
    cn_pm_cap_set_clock(pm->cap, pm->now);
    *out = pm;
    pm = NULL;
out:
    cn_pm_free(pm);
    return rc;
}

void cn_pm_free(cn_paymaster *pm)
{
    if (pm == NULL)
        return;
    cn_pm_cap_free(pm->cap);
    cn_pm_conf_clear(&pm->conf);
    free(pm);
}

ak_err cn_pm_bind_policy(const cn_paymaster *pm, cn_signer *const *signers, cn_policy **policies,
                         size_t n_signers, char *err, size_t err_cap)
{
    for (size_t i = 0; i < n_signers; i++) {
        if (signers[i] != pm->conf.signer)
            continue;
        ak_err rc = cn_policy_for_paymaster(&policies[i], err, err_cap);
        if (rc == AK_OK && cn_policy_serves_beyond_paymaster(policies[i])) {
            char a[AK_ADDR_STR_SIZE];
            ak_addr_to_checksum(a, pm->conf.signer->address);
            cn_log(CN_LOG_WARN,
                   "the paymaster's account also signs other intents (policy.serves): a client "
                   "can then obtain signatures the EntryPoint accepts as sponsorships",
                   "account", a, (char *)NULL);
        }
        return rc;
    }
    snprintf(err, err_cap, "paymaster.account is not one of the configured accounts");
    return AK_ERR_CONFIG;
}

void cn_pm_set_clock(cn_paymaster *pm, time_t (*now)(void))
{
    pm->now = now ? now : wall_now;
    cn_pm_cap_set_clock(pm->cap, pm->now);
}

void cn_pm_set_state(cn_paymaster *pm, st_store *st)
{
    cn_pm_cap_set_state(pm->cap, st);
}

/* ---- one sponsorship decision ----------------------------------------------------------- */

typedef struct {
    uint8_t paymaster[20];
    uint64_t until, after, chain_id;
    uint8_t entry_point[20];
    uint8_t data[AK_USEROP_VP_DATA_LEN];
    ak_u256 cost;
    const cJSON *uo; /* the request's user operation (for the intent, cn_intent.h) */
} sponsorship;

static int parse_chain(uint64_t *out, const cJSON *v)
{
    if (cJSON_IsString(v))
        return ak_quantity_parse_u64(out, v->valuestring, strlen(v->valuestring)) == AK_OK &&
               *out != 0;
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 9007199254740992.0 &&
        v->valuedouble == (double)(uint64_t)v->valuedouble) {
        *out = (uint64_t)v->valuedouble;
        return 1;
    }
    return 0;
}

/* A cap refusal or a store failure (cn_pm_cap.h) as the answer's error. */
static void cap_fail(pm_err *e, ak_err rc, const char *rule)
{
    if (rc == AK_ERR_FORBIDDEN && rule != NULL)
        fail(e, CN_PM_E_POLICY, rule,
             "sponsorship refused (rule %s): the %s daily spending cap "
             "would be exceeded",
             rule, strcmp(rule, "daily_cap_wei_global") == 0 ? "paymaster's global" : "sender's");
    else if (rc == AK_ERR_LIMIT)
        fail(e, CN_PM_E_POLICY, "daily_cap_wei_per_sender",
             "sponsorship refused (rule daily_cap_wei_per_sender): too many senders today");
    else if (rc == AK_ERR_UNAVAILABLE)
        fail(e, -32603, NULL, "%s", ST_UNAVAILABLE_MSG);
    else
        fail(e, -32603, NULL, "internal error: paymaster caps: %s", ak_strerror(rc));
}

/* The rules that need no state: entry point, chain, sender, the operation's gas. Fills
 * sp->chain_id, sp->paymaster, sp->cost and the operation's paymaster fields. */
static int check_rules(const cn_paymaster *pm, int final, ak_userop *op, const cJSON *ep_j,
                       const cJSON *chain_j, sponsorship *sp, pm_err *e)
{
    char a[AK_ADDR_STR_SIZE];
    ak_u256 gas;
    int ci;
    if (cn_pm_conf_addr(sp->entry_point, ep_j) != AK_OK) {
        fail(e, -32602, NULL, "invalid params: entryPoint must be an address");
        return 0;
    }
    if (chain_j == NULL || cJSON_IsNull(chain_j)) {
        sp->chain_id = pm->conf.chains[0];
    } else if (!parse_chain(&sp->chain_id, chain_j)) {
        fail(e, -32602, NULL, "invalid params: chainId must be a hex quantity");
        return 0;
    }
    if (!cn_pm_conf_has_entry_point(&pm->conf, sp->entry_point)) {
        ak_addr_to_checksum(a, sp->entry_point);
        fail(e, CN_PM_E_POLICY, "entry_points",
             "sponsorship refused (rule entry_points): entry point %s is not supported", a);
        return 0;
    }
    if ((ci = cn_pm_conf_chain(&pm->conf, sp->chain_id)) < 0) {
        fail(e, CN_PM_E_POLICY, "chain_ids",
             "sponsorship refused (rule chain_ids): chain %llu is not supported",
             (unsigned long long)sp->chain_id);
        return 0;
    }
    if (!cn_pm_conf_allows_sender(&pm->conf, op->sender)) {
        ak_addr_to_checksum(a, op->sender);
        fail(e, CN_PM_E_POLICY, "allowed_senders",
             "sponsorship refused (rule allowed_senders): sender %s is not allowed", a);
        return 0;
    }
    if (final && (op->present & AK_USEROP_F_GAS_ALL) != AK_USEROP_F_GAS_ALL) {
        fail(e, -32602, NULL,
             "invalid params: pm_getPaymasterData needs callGasLimit, verificationGasLimit, "
             "preVerificationGas, maxFeePerGas and maxPriorityFeePerGas");
        return 0;
    }
    /* The operation's own paymaster gas limits when it carries them, else ours. */
    if (ak_u256_is_zero(&op->paymaster_verification_gas_limit))
        op->paymaster_verification_gas_limit = pm->conf.vgl;
    if (ak_u256_is_zero(&op->paymaster_post_op_gas_limit))
        op->paymaster_post_op_gas_limit = pm->conf.pogl;
    op->has_paymaster = 1;
    memcpy(op->paymaster, pm->conf.pm_addr[ci], 20);
    memcpy(sp->paymaster, pm->conf.pm_addr[ci], 20);
    if (ak_userop_max_cost(&sp->cost, &gas, op) != AK_OK) {
        fail(e, -32602, NULL, "invalid params: gas limits or fees out of range");
        return 0;
    }
    uint64_t g = 0;
    if (pm->conf.max_gas != 0 && (!ak_u256_to_u64(&g, &gas) || g > pm->conf.max_gas)) {
        fail(e, CN_PM_E_POLICY, "max_gas_per_op",
             "sponsorship refused (rule max_gas_per_op): the operation's gas limits exceed %llu",
             (unsigned long long)pm->conf.max_gas);
        return 0;
    }
    return 1;
}

/* The final signature over getHash (EIP-191), into sp->data. */
static ak_err sign_final(const cn_paymaster *pm, const ak_userop *op, sponsorship *sp, time_t now,
                         char *why, size_t why_cap)
{
    uint8_t h[32], digest[32], sig[AK_USEROP_VP_SIG_LEN];
    ak_sig s;
    ak_intent in;
    cJSON *owned = NULL;
    cn_sign_ctx ctx = {"pm_getPaymasterData",
                       NULL,
                       sp->chain_id,
                       now,
                       NULL,
                       cn_intent_paymaster(&in, &owned, sp->uo, op, sp->entry_point, sp->chain_id,
                                           sp->until, sp->after),
                       why,
                       why_cap};
    ak_err rc = ak_userop_vp_hash(h, op, sp->chain_id, sp->paymaster, sp->until, sp->after);
    if (rc == AK_OK) {
        ak_eip191_hash(digest, h, 32);
        rc = cn_audit_sign_eth(pm->conf.signer, &s, digest, &ctx); /* signs and audits */
    }
    cJSON_Delete(owned);
    if (rc == AK_OK) {
        ak_sig_to_rsv(sig, &s);
        rc = ak_userop_vp_data(sp->data, sp->until, sp->after, sig);
    }
    return rc;
}

static int sponsor(cn_paymaster *pm, int final, ak_userop *op, const cJSON *ep_j,
                   const cJSON *chain_j, sponsorship *sp, pm_err *e)
{
    const char *rule = NULL;
    st_resv resv;
    ak_err rc;
    if (!check_rules(pm, final, op, ep_j, chain_j, sp, e))
        return 0;
    time_t now = pm->now();
    uint64_t t = now > 0 ? (uint64_t)now : 0;
    sp->until = t + pm->conf.validity_s;
    sp->after = t > pm->conf.skew_s ? t - pm->conf.skew_s : 0;
    if (sp->until > AK_USEROP_UINT48_MAX) {
        fail(e, -32603, NULL, "internal error: the clock is beyond uint48 validUntil");
        return 0;
    }
    if (!final) {
        uint8_t sig[AK_USEROP_VP_SIG_LEN];
        size_t n = 0;
        if ((rc = cn_pm_cap_check(pm->cap, &rule, op->sender, &sp->cost)) != AK_OK) {
            cap_fail(e, rc, rule);
            return 0;
        }
        if (ak_hex_decode_bare(sig, sizeof(sig), &n, k_stub_sig, sizeof(k_stub_sig) - 1) != AK_OK ||
            ak_userop_vp_data(sp->data, sp->until, sp->after, sig) != AK_OK) {
            fail(e, -32603, NULL, "internal error");
            return 0;
        }
        return 1;
    }
    /* Reserved on both caps before signing (every replica counts on the same store). */
    if ((rc = cn_pm_cap_reserve(pm->cap, &resv, &rule, op->sender, &sp->cost)) != AK_OK) {
        cap_fail(e, rc, rule);
        return 0;
    }
    char why[256] = "";
    if ((rc = sign_final(pm, op, sp, now, why, sizeof why)) != AK_OK) {
        cn_pm_cap_release(pm->cap, &resv);
        fail(e, -32000, NULL, "signer %s failed: %s%s%s", pm->conf.signer->name, ak_strerror(rc),
             why[0] != '\0' ? ": " : "", why);
        return 0;
    }
    return 1;
}

static int decide(cn_paymaster *pm, int final, ak_userop *op, const cJSON *uo, const cJSON *ep,
                  const cJSON *chain, sponsorship *sp, pm_err *e)
{
    char why[64] = "", sender[AK_ADDR_STR_SIZE] = "", nonce[AK_U256_QUANTITY_MAX] = "",
         cost[AK_U256_DECIMAL_MAX] = "", until[24] = "";
    int ok = 0;
    ak_err rc = ak_userop_from_json(op, uo, why, sizeof(why));
    if (rc != AK_OK) {
        fail(e, -32602, NULL, "invalid params: userOperation.%s: %s", why, ak_strerror(rc));
    } else {
        sp->uo = uo;
        ok = sponsor(pm, final, op, ep, chain, sp, e);
        ak_addr_to_checksum(sender, op->sender);
        if (ak_u256_format_quantity(nonce, sizeof(nonce), &op->nonce) != AK_OK ||
            ak_u256_format_decimal(cost, sizeof(cost), &sp->cost) != AK_OK)
            nonce[0] = cost[0] = '\0';
        if (ok)
            snprintf(until, sizeof(until), "%llu", (unsigned long long)sp->until);
    }
    cn_log(ok || e->code == CN_PM_E_POLICY ? CN_LOG_INFO : CN_LOG_WARN, "paymaster sponsorship",
           "stage", final ? "final" : "stub", "decision", ok ? "sponsored" : "refused", "rule",
           ok ? "" : (e->rule ? e->rule : "invalid_request"), "reason", ok ? "" : e->message,
           "sender", sender, "nonce", nonce, "max_cost_wei", cost, "valid_until", until,
           (char *)NULL);
    return ok;
}

static int add_hex(cJSON *o, const char *name, const uint8_t *b, size_t n)
{
    char hex[AK_HEX_ENCODED_SIZE(AK_USEROP_PM_DATA_OFFSET + AK_USEROP_VP_DATA_LEN)];
    return ak_hex_encode(hex, sizeof(hex), b, n) == AK_OK &&
           cJSON_AddStringToObject(o, name, hex) != NULL;
}

/* The fields every answer carries: paymaster, paymasterData and the gas limits. */
static cJSON *base_result(const sponsorship *sp, const ak_userop *op)
{
    char a[AK_ADDR_STR_SIZE];
    cJSON *o = cJSON_CreateObject();
    ak_addr_to_checksum(a, sp->paymaster);
    if (o == NULL || cJSON_AddStringToObject(o, "paymaster", a) == NULL ||
        !add_hex(o, "paymasterData", sp->data, sizeof(sp->data)) ||
        ak_json_add_quantity(o, "paymasterVerificationGasLimit",
                             &op->paymaster_verification_gas_limit) != AK_OK ||
        ak_json_add_quantity(o, "paymasterPostOpGasLimit", &op->paymaster_post_op_gas_limit) !=
            AK_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int add_sponsor(cJSON *o, const cn_paymaster *pm)
{
    if (pm->conf.sponsor[0] == '\0')
        return 1;
    cJSON *s = cJSON_AddObjectToObject(o, "sponsor");
    return s != NULL && cJSON_AddStringToObject(s, "name", pm->conf.sponsor) != NULL;
}

/* pm_getPaymasterStubData and pm_getPaymasterData (ERC-7677), rows of the method table. */
static cJSON *pm_rpc(const cn_method_env *env, const cn_call *call, const cJSON *params,
                     cn_rpc_err *err)
{
    cn_paymaster *pm = call->ctx;
    cJSON *res = NULL;
    ak_userop op = {0};
    sponsorship sp = {0};
    pm_err e = {0};
    int final = strcmp(call->method, "pm_getPaymasterData") == 0;
    (void)env;
    int n = cJSON_GetArraySize(params);
    if (!cJSON_IsArray(params) || n < 3 || n > 4) {
        fail(&e, -32602, NULL,
             "invalid params: expected [userOperation, entryPoint, chainId, "
             "context]");
        goto out;
    }
    if (!decide(pm, final, &op, cJSON_GetArrayItem(params, 0), cJSON_GetArrayItem(params, 1),
                cJSON_GetArrayItem(params, 2), &sp, &e))
        goto out;
    res = base_result(&sp, &op);
    if (res != NULL && !final &&
        (!add_sponsor(res, pm) || cJSON_AddFalseToObject(res, "isFinal") == NULL)) {
        cJSON_Delete(res);
        res = NULL;
    }
    if (res == NULL)
        fail(&e, -32603, NULL, "internal error: out of memory");
out:
    if (res == NULL)
        cn_err_set(err, e.code, "%s", e.message);
    ak_userop_clear(&op);
    return res;
}

static const cn_method k_pm_rows[] = {
    {"pm_getPaymasterStubData", NULL, 0, AK_INTENT_ERC4337_PAYMASTER, pm_rpc},
    {"pm_getPaymasterData", NULL, CN_M_SIGNS, AK_INTENT_ERC4337_PAYMASTER, pm_rpc},
};

cn_method_table cn_pm_methods(cn_paymaster *pm)
{
    return (cn_method_table){k_pm_rows, sizeof(k_pm_rows) / sizeof(k_pm_rows[0]), pm};
}

static ak_err rest_answer(char **out, size_t *out_len, cJSON *doc)
{
    *out = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (*out == NULL)
        return AK_ERR_NOMEM;
    *out_len = strlen(*out);
    return AK_OK;
}

ak_err cn_pm_rest_sponsor(void *ctx, const char *body, size_t len, char **out, size_t *out_len,
                          unsigned *status)
{
    cn_paymaster *pm = ctx;
    cJSON *doc = NULL, *res = NULL;
    ak_userop op = {0};
    sponsorship sp = {0};
    pm_err e = {0};
    ak_err rc;
    *out = NULL;
    *out_len = 0;
    /* As the JSON-RPC router: no \u0000 (cJSON cuts strings there) and no duplicate keys,
     * so that what is signed is what the client and any proxy in front of us saw. */
    if (body[len] == '\0' && !ak_json_has_nul(body, len))
        doc = cJSON_ParseWithLengthOpts(body, len + 1, NULL, 1);
    if (!cJSON_IsObject(doc) || ak_json_check_keys(doc) != AK_OK) {
        fail(&e, -32700, NULL, "the body must be one JSON object (no \\u0000, no duplicate keys)");
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, doc)
    {
        if (strcmp(it->string, "userOperation") != 0 && strcmp(it->string, "entryPoint") != 0 &&
            strcmp(it->string, "chainId") != 0 && strcmp(it->string, "context") != 0) {
            fail(&e, -32602, NULL, "unknown member \"%.64s\"", it->string);
            goto out;
        }
    }
    if (!decide(pm, 1, &op, cJSON_GetObjectItemCaseSensitive(doc, "userOperation"),
                cJSON_GetObjectItemCaseSensitive(doc, "entryPoint"),
                cJSON_GetObjectItemCaseSensitive(doc, "chainId"), &sp, &e))
        goto out;
    /* The complete v0.7 paymasterAndData and the resulting userOpHash, for clients that pack. */
    uint8_t pad[AK_USEROP_PM_DATA_OFFSET + AK_USEROP_VP_DATA_LEN], h[32];
    size_t pad_len = 0;
    free(op.paymaster_data);
    op.paymaster_data = malloc(sizeof(sp.data));
    if (op.paymaster_data == NULL) {
        fail(&e, -32603, NULL, "internal error: out of memory");
        goto out;
    }
    memcpy(op.paymaster_data, sp.data, sizeof(sp.data));
    op.paymaster_data_len = sizeof(sp.data);
    res = base_result(&sp, &op);
    if (res == NULL || ak_userop_paymaster_and_data(pad, sizeof(pad), &pad_len, &op) != AK_OK ||
        ak_userop_hash(h, &op, sp.entry_point, sp.chain_id) != AK_OK ||
        !add_hex(res, "paymasterAndData", pad, pad_len) ||
        cJSON_AddNumberToObject(res, "validUntil", (double)sp.until) == NULL ||
        cJSON_AddNumberToObject(res, "validAfter", (double)sp.after) == NULL ||
        !add_hex(res, "userOpHash", h, 32) || !add_sponsor(res, pm)) {
        cJSON_Delete(res);
        res = NULL;
        fail(&e, -32603, NULL, "internal error: out of memory");
    }
out:
    cJSON_Delete(doc);
    ak_userop_clear(&op);
    if (res != NULL) {
        *status = 200;
        return rest_answer(out, out_len, res);
    }
    *status = e.code == CN_PM_E_POLICY                     ? 403
              : e.code == -32000                           ? 502
              : strcmp(e.message, ST_UNAVAILABLE_MSG) == 0 ? 503
              : e.code == -32603                           ? 500
                                                           : 400;
    cJSON *err = cJSON_CreateObject(), *eo = cJSON_AddObjectToObject(err, "error");
    if (eo == NULL || cJSON_AddNumberToObject(eo, "code", e.code) == NULL ||
        cJSON_AddStringToObject(eo, "message", e.message) == NULL ||
        (e.rule != NULL && cJSON_AddStringToObject(eo, "rule", e.rule) == NULL)) {
        cJSON_Delete(err);
        return AK_ERR_NOMEM;
    }
    rc = rest_answer(out, out_len, err);
    return rc;
}
