/* cn_policy.c - per-account signing policy (see cn_policy.h). */
#include "cn_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_u256.h"

/* The signing methods a policy can allow, one bit each. */
static const char *const METHODS[] = {"eth_sendTransaction",
                                      "eth_signTransaction",
                                      "personal_sign",
                                      "eth_sign",
                                      "eth_signTypedData_v4",
                                      "anode_signAuthorization",
                                      "opsigner_signBlockPayload"};
#define N_METHODS (sizeof METHODS / sizeof METHODS[0])

struct cn_policy {
    int has_max_value;
    ak_u256 max_value;
    size_t n_to; /* 0: any destination */
    uint8_t to[CN_POLICY_MAX_TO][20];
    int allow_create;
    unsigned methods; /* bit i: METHODS[i] allowed */
    /* EIP-4844 / EIP-7702 (issue 10): parse_4844_7702, cn_policy_blob_fee_ok,
     * cn_policy_authorization_ok */
    int has_max_blob_fee;
    ak_u256 max_blob_fee;
    size_t n_delegates; /* 0: any delegate */
    uint8_t delegates[CN_POLICY_MAX_DELEGATES][20];
    int allow_auth_chain_zero;
};

static ak_err fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ak_err fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return AK_ERR_CONFIG;
}

static int method_bit(const char *m)
{
    if (strcmp(m, "eth_signTypedData") == 0)
        m = "eth_signTypedData_v4";
    if (strcmp(m, "opsigner_signBlockPayloadV2") == 0)
        m = "opsigner_signBlockPayload";
    for (size_t i = 0; i < N_METHODS; i++)
        if (strcmp(m, METHODS[i]) == 0)
            return (int)i;
    return -1;
}

static ak_err parse_value(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    if (s == NULL || (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
                          ? ak_u256_parse_quantity(&p->max_value, s, n)
                          : ak_u256_parse_decimal(&p->max_value, s, n)) != AK_OK)
        return fail(err, cap, "policy.max_value_wei: a decimal or 0x quantity string of wei");
    p->has_max_value = 1;
    return AK_OK;
}

static ak_err parse_to(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const cJSON *a;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > CN_POLICY_MAX_TO)
        return fail(err, cap, "policy.allowed_to: an array of 1..%d addresses", CN_POLICY_MAX_TO);
    cJSON_ArrayForEach(a, v)
    {
        if (!cJSON_IsString(a) ||
            ak_addr_parse(p->to[p->n_to], a->valuestring, strlen(a->valuestring)) != AK_OK)
            return fail(err, cap,
                        "policy.allowed_to[%zu]: not an address (0x + 40 hex, EIP-55 "
                        "checksum if mixed case)",
                        p->n_to);
        p->n_to++;
    }
    return AK_OK;
}

static ak_err parse_methods(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const cJSON *m;
    size_t i = 0;
    if (!cJSON_IsArray(v))
        return fail(err, cap, "policy.allowed_methods: an array of method names");
    p->methods = 0;
    cJSON_ArrayForEach(m, v)
    {
        int bit = cJSON_IsString(m) ? method_bit(m->valuestring) : -1;
        if (bit < 0)
            return fail(err, cap,
                        "policy.allowed_methods[%zu]: one of eth_sendTransaction, "
                        "eth_signTransaction, personal_sign, eth_sign, eth_signTypedData_v4, "
                        "anode_signAuthorization, opsigner_signBlockPayload",
                        i);
        p->methods |= 1u << bit;
        i++;
    }
    return AK_OK;
}

/* max_fee_per_blob_gas, allowed_delegates, allow_chain_id_zero_authorization (issue 10). */
static ak_err parse_4844_7702(cn_policy *p, const cJSON *obj, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "max_fee_per_blob_gas");
    if (v != NULL) {
        const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
        size_t n = s ? strlen(s) : 0;
        if (s == NULL || (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
                              ? ak_u256_parse_quantity(&p->max_blob_fee, s, n)
                              : ak_u256_parse_decimal(&p->max_blob_fee, s, n)) != AK_OK)
            return fail(err, cap,
                        "policy.max_fee_per_blob_gas: a decimal or 0x quantity string of wei");
        p->has_max_blob_fee = 1;
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_delegates");
    if (v != NULL) {
        const cJSON *a;
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
            cJSON_GetArraySize(v) > CN_POLICY_MAX_DELEGATES)
            return fail(err, cap, "policy.allowed_delegates: an array of 1..%d addresses",
                        CN_POLICY_MAX_DELEGATES);
        cJSON_ArrayForEach(a, v)
        {
            if (!cJSON_IsString(a) || ak_addr_parse(p->delegates[p->n_delegates], a->valuestring,
                                                    strlen(a->valuestring)) != AK_OK)
                return fail(err, cap,
                            "policy.allowed_delegates[%zu]: not an address (0x + 40 hex, "
                            "EIP-55 checksum if mixed case)",
                            p->n_delegates);
            p->n_delegates++;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "allow_chain_id_zero_authorization");
    if (v != NULL) {
        if (!cJSON_IsBool(v))
            return fail(err, cap,
                        "policy.allow_chain_id_zero_authorization: must be true or false");
        p->allow_auth_chain_zero = cJSON_IsTrue(v);
    }
    return AK_OK;
}

ak_err cn_policy_parse(cn_policy **out, const cJSON *obj, char *err, size_t err_cap)
{
    static const char *const known[] = {"max_value_wei",
                                        "allowed_to",
                                        "allow_contract_creation",
                                        "allowed_methods",
                                        "comment",
                                        "max_fee_per_blob_gas",
                                        "allowed_delegates",
                                        "allow_chain_id_zero_authorization"};
    const cJSON *it;
    ak_err rc = AK_OK;
    *out = NULL;
    if (obj == NULL)
        return AK_OK;
    if (!cJSON_IsObject(obj))
        return fail(err, err_cap, "policy: must be an object");
    cJSON_ArrayForEach(it, obj)
    {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strcmp(it->string, known[i]) == 0;
        if (!ok)
            return fail(err, err_cap, "policy.%.64s: unknown field", it->string);
    }
    cn_policy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return AK_ERR_NOMEM;
    p->methods = (1u << N_METHODS) - 1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "max_value_wei");
    if (v != NULL && (rc = parse_value(p, v, err, err_cap)) != AK_OK)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_to");
    if (v != NULL && (rc = parse_to(p, v, err, err_cap)) != AK_OK)
        goto out;
    p->allow_create = p->n_to == 0;
    v = cJSON_GetObjectItemCaseSensitive(obj, "allow_contract_creation");
    if (v != NULL) {
        if (!cJSON_IsBool(v)) {
            rc = fail(err, err_cap, "policy.allow_contract_creation: must be true or false");
            goto out;
        }
        p->allow_create = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_methods");
    if (v != NULL && (rc = parse_methods(p, v, err, err_cap)) != AK_OK)
        goto out;
    if ((rc = parse_4844_7702(p, obj, err, err_cap)) != AK_OK)
        goto out;
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

int cn_policy_method_ok(const cn_policy *p, const char *method)
{
    int bit = method_bit(method);
    return p == NULL || (bit >= 0 && (p->methods & (1u << bit)) != 0);
}

int cn_policy_tx_ok(const cn_policy *p, const ak_tx *tx, char *why, size_t why_cap)
{
    if (p == NULL)
        return 1;
    if (p->has_max_value && ak_u256_cmp(&tx->value, &p->max_value) > 0) {
        char v[80], m[80];
        if (ak_u256_format_decimal(v, sizeof v, &tx->value) != AK_OK ||
            ak_u256_format_decimal(m, sizeof m, &p->max_value) != AK_OK)
            v[0] = m[0] = '\0';
        snprintf(why, why_cap, "value %s wei is over the account's max_value_wei %s", v, m);
        return 0;
    }
    if (!tx->has_to) {
        if (!p->allow_create) {
            snprintf(why, why_cap, "contract creation is not allowed for this account");
            return 0;
        }
        return 1;
    }
    if (p->n_to == 0)
        return 1;
    for (size_t i = 0; i < p->n_to; i++)
        if (memcmp(p->to[i], tx->to, 20) == 0)
            return 1;
    char to[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(to, tx->to);
    snprintf(why, why_cap, "destination %s is not in the account's allowed_to", to);
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
    if (ak_u256_is_zero(&auth->chain_id) && (p == NULL || !p->allow_auth_chain_zero)) {
        snprintf(why, why_cap,
                 "an authorization with chainId 0 is valid on every chain; the account's "
                 "policy does not allow_chain_id_zero_authorization");
        return 0;
    }
    if (p == NULL || p->n_delegates == 0)
        return 1;
    for (size_t i = 0; i < p->n_delegates; i++)
        if (memcmp(p->delegates[i], auth->address, 20) == 0)
            return 1;
    char a[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(a, auth->address);
    snprintf(why, why_cap, "delegate %s is not in the account's allowed_delegates", a);
    return 0;
}
