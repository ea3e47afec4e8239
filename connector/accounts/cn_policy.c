/* cn_policy.c - per-account signing policy (see cn_policy.h). */
#include "cn_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_cfg.h"
#include "ak_policy_cfg.h"
#include "ak_u256.h"

/* The signing methods (rpc's method table hands them down at start: cn_policy_set_methods); a
 * policy allows them by bit: bit i is g_vocab[i] (an alias has its canonical row's bit). */
static cn_policy_method g_vocab[CN_POLICY_MAX_METHODS];
static size_t g_n_vocab;
static unsigned g_all_bits; /* the methods allowed_methods may name */

struct cn_policy {
    ak_policy ak;         /* read by shared/ak_policy_cfg (delegates, chain-0 authorizations and
                           * cumulative_cap too), evaluated by shared/ak_policy */
    int serves_given;     /* "serves" was in the config (the paymaster default does not apply) */
    unsigned methods;     /* bit i: g_vocab[i] allowed */
    int has_max_blob_fee; /* EIP-4844 (issue 10): cn_policy_blob_fee_ok */
    ak_u256 max_blob_fee;
};

void cn_policy_set_methods(const cn_policy_method *m, size_t n)
{
    g_n_vocab = n < CN_POLICY_MAX_METHODS ? n : CN_POLICY_MAX_METHODS;
    g_all_bits = 0;
    for (size_t i = 0; i < g_n_vocab; i++) {
        g_vocab[i] = m[i];
        if (m[i].listed && m[i].canonical == NULL)
            g_all_bits |= 1u << i;
    }
}

static int vocab_index(const char *m)
{
    for (size_t i = 0; i < g_n_vocab; i++)
        if (strcmp(m, g_vocab[i].name) == 0)
            return (int)i;
    return -1;
}

/* The bit of a method allowed_methods may name (an alias: its canonical method's), else -1. */
static int method_bit(const char *m)
{
    int i = vocab_index(m);
    if (i >= 0 && g_vocab[i].canonical != NULL)
        i = vocab_index(g_vocab[i].canonical);
    return i >= 0 && g_vocab[i].listed ? i : -1;
}

int cn_policy_cumulative_cap(const cn_policy *p, cn_policy_cumulative *out)
{
    if (p == NULL || p->ak.cumulative_window_s == 0)
        return 0;
    out->window_s = p->ak.cumulative_window_s;
    out->has_max_value = p->ak.has_cumulative_cap;
    out->max_value = p->ak.cumulative_cap;
    out->max_tx = p->ak.cumulative_max_tx;
    return 1;
}

static ak_err parse_methods(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const cJSON *m;
    size_t i = 0;
    if (!cJSON_IsArray(v))
        return ak_cfg_fail(err, cap, "policy.allowed_methods: an array of method names");
    if (g_all_bits == 0) /* a program bug, said plainly rather than as "one of" nothing */
        return ak_cfg_fail(err, cap, "policy.allowed_methods: no method table was published");
    p->methods = 0;
    cJSON_ArrayForEach(m, v)
    {
        int bit = cJSON_IsString(m) ? method_bit(m->valuestring) : -1;
        if (bit < 0) {
            char names[512] = "";
            size_t used = 0;
            for (size_t k = 0; k < g_n_vocab && used < sizeof(names); k++)
                if (g_all_bits & (1u << k))
                    used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                             used ? ", " : "", g_vocab[k].name);
            return ak_cfg_fail(err, cap, "policy.allowed_methods[%zu]: one of %s", i, names);
        }
        p->methods |= 1u << bit;
        i++;
    }
    return AK_OK;
}

ak_err cn_policy_parse(cn_policy **out, const cJSON *obj, char *err, size_t err_cap)
{
    /* read here; every other member by shared/ak_policy_cfg */
    static const char *const mine[] = {"allowed_methods", "max_fee_per_blob_gas"};
    ak_err rc = AK_OK;
    *out = NULL;
    if (obj == NULL)
        return AK_OK;
    cn_policy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return AK_ERR_NOMEM;
    p->methods = g_all_bits;
    if ((rc = ak_policy_cfg_read(&p->ak, obj, "policy", AK_POLICY_CFG_MAX_TX, mine, 2, err,
                                 err_cap)) != AK_OK)
        goto out;
    p->serves_given = cJSON_GetObjectItemCaseSensitive(obj, "serves") != NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_methods");
    if (v != NULL && (rc = parse_methods(p, v, err, err_cap)) != AK_OK)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(obj, "max_fee_per_blob_gas");
    if (v != NULL) {
        if (ak_policy_cfg_amount(&p->max_blob_fee, v) != AK_OK) {
            rc = ak_cfg_fail(err, err_cap,
                             "policy.max_fee_per_blob_gas: a decimal or 0x quantity string of wei");
            goto out;
        }
        p->has_max_blob_fee = 1;
    }
    *out = p;
    p = NULL;
out:
    free(p);
    return rc;
}

void cn_policy_free(cn_policy *p)
{
    free(p);
}

int cn_policy_is_signing_method(const char *method)
{
    int i = vocab_index(method);
    return i >= 0 && g_vocab[i].signs;
}

/* The policy in force for p: a NULL policy is ak_policy_init's default. */
static const ak_policy *ak_of(const cn_policy *p)
{
    static const ak_policy dflt = {.kinds = AK_INTENT_ALL, .allow_create = 1};
    return p != NULL ? &p->ak : &dflt;
}

static int refused(const ak_policy_verdict *v, char *why, size_t cap)
{
    snprintf(why, cap, "policy rule %s: %s", v->rule, v->why);
    return 0;
}

int cn_policy_blob_fee_ok(const cn_policy *p, const ak_u256 *max_fee_per_blob_gas, char *why,
                          size_t why_cap)
{
    if (p == NULL || !p->has_max_blob_fee ||
        ak_u256_cmp(max_fee_per_blob_gas, &p->max_blob_fee) <= 0)
        return 1;
    char v[80], m[80];
    if (ak_u256_format_decimal(v, sizeof v, max_fee_per_blob_gas) != AK_OK ||
        ak_u256_format_decimal(m, sizeof m, &p->max_blob_fee) != AK_OK)
        v[0] = m[0] = '\0';
    snprintf(why, why_cap, "maxFeePerBlobGas %s wei is over the account's max_fee_per_blob_gas %s",
             v, m);
    return 0;
}

int cn_policy_authorization_ok(const cn_policy *p, const ak_auth *auth, char *why, size_t why_cap)
{
    if (ak_u256_is_zero(&auth->chain_id) && (p == NULL || !p->ak.allow_auth_chain_zero)) {
        snprintf(why, why_cap,
                 "an authorization with chainId 0 is valid on every chain; the account's "
                 "policy does not allow_chain_id_zero_authorization");
        return 0;
    }
    if (p == NULL || p->ak.n_delegates == 0)
        return 1;
    for (size_t i = 0; i < p->ak.n_delegates; i++)
        if (memcmp(p->ak.delegates[i], auth->address, 20) == 0)
            return 1;
    char a[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(a, auth->address);
    snprintf(why, why_cap, "delegate %s is not in the account's allowed_delegates", a);
    return 0;
}

int cn_policy_method_check(const cn_policy *p, const char *method, char *why, size_t why_cap)
{
    ak_policy_verdict v;
    int bit = method_bit(method);
    if (p == NULL)
        return 1;
    if (bit < 0 || (p->methods & (1u << bit)) == 0) {
        snprintf(why, why_cap, "policy rule method_not_allowed: %s is not in allowed_methods",
                 method);
        return 0;
    }
    if (!ak_policy_kind_ok(&p->ak, g_vocab[bit].kind, &v))
        return refused(&v, why, why_cap);
    return 1;
}

int cn_policy_tx_ok(const cn_policy *p, const ak_tx *tx, char *why, size_t why_cap)
{
    ak_policy_verdict v;
    if (p == NULL || ak_policy_tx_ok(&p->ak, tx, &v))
        return 1;
    snprintf(why, why_cap, "%s (rule %s)", v.why, v.rule);
    return 0;
}

int cn_policy_message_ok(const cn_policy *p, const uint8_t *msg, size_t len, char *why,
                         size_t why_cap)
{
    ak_policy_verdict v;
    if (p == NULL || ak_policy_message_ok(&p->ak, msg, len, &v))
        return 1;
    return refused(&v, why, why_cap);
}

int cn_policy_typed_ok(const cn_policy *p, const cJSON *td, const ak_eip712_result *h, char *why,
                       size_t why_cap)
{
    ak_policy_verdict v;
    cJSON *parsed = NULL;
    int ok = 0;
    if (cJSON_IsString(td)) {
        /* the same text ak_eip712_hash_json accepted: parse it again for the decoder */
        parsed = cJSON_ParseWithLength(td->valuestring, strlen(td->valuestring));
        if (parsed == NULL) {
            snprintf(why, why_cap, "policy rule typed_data_not_judged: unreadable typed data");
            return 0;
        }
        td = parsed;
    }
    ok = ak_policy_typed_ok(ak_of(p), td, h, &v);
    if (!ok)
        refused(&v, why, why_cap);
    cJSON_Delete(parsed);
    return ok;
}

ak_err cn_policy_for_paymaster(cn_policy **p, char *err, size_t err_cap)
{
    if (*p == NULL) {
        *p = calloc(1, sizeof **p);
        if (*p == NULL)
            return AK_ERR_NOMEM;
        ak_policy_init(&(*p)->ak);
        (*p)->methods = g_all_bits;
    }
    if (!(*p)->serves_given) {
        (*p)->ak.kinds = 1u << AK_INTENT_ERC4337_PAYMASTER;
        return AK_OK;
    }
    if (((*p)->ak.kinds & (1u << AK_INTENT_ERC4337_PAYMASTER)) == 0)
        return ak_cfg_fail(err, err_cap,
                           "the paymaster's account has a policy.serves without erc4337_paymaster");
    return AK_OK;
}

int cn_policy_serves_beyond_paymaster(const cn_policy *p)
{
    return p == NULL || (p->ak.kinds & ~(1u << AK_INTENT_ERC4337_PAYMASTER)) != 0;
}
