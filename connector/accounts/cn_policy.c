/* cn_policy.c - per-account signing policy (see cn_policy.h). */
#include "cn_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_json.h"
#include "ak_u256.h"

/* The signing methods (rpc's method table hands them down at start: cn_policy_set_methods); a
 * policy allows them by bit: bit i is g_vocab[i] (an alias has its canonical row's bit). */
static cn_policy_method g_vocab[CN_POLICY_MAX_METHODS];
static size_t g_n_vocab;
static unsigned g_all_bits; /* the methods allowed_methods may name */

struct cn_policy {
    ak_policy ak;     /* limits, kinds served, allow_* flags: evaluated by shared/ak_policy */
    int serves_given; /* "serves" was in the config (the paymaster default does not apply) */
    unsigned methods; /* bit i: g_vocab[i] allowed */
    /* EIP-4844 / EIP-7702 (issue 10): parse_4844_7702, cn_policy_blob_fee_ok,
     * cn_policy_authorization_ok */
    int has_max_blob_fee;
    ak_u256 max_blob_fee;
    size_t n_delegates; /* 0: any delegate */
    uint8_t delegates[CN_POLICY_MAX_DELEGATES][20];
    int allow_auth_chain_zero;
    /* "cumulative_cap" (issue 13): reserved in the state store before signing (rpc/). */
    int has_cumulative;
    cn_policy_cumulative cumulative;
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

/* A decimal or 0x quantity string. */
static ak_err parse_amount(ak_u256 *out, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    if (s == NULL)
        return AK_ERR_CONFIG;
    return n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? ak_u256_parse_quantity(out, s, n)
                                                                : ak_u256_parse_decimal(out, s, n);
}

static ak_err parse_value(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    if (parse_amount(&p->ak.max_value, v) != AK_OK)
        return fail(err, cap, "policy.max_value_wei: a decimal or 0x quantity string of wei");
    p->ak.has_max_value = 1;
    return AK_OK;
}

/* "cumulative_cap": {"value_wei": amount, "max_tx": N, "window_s": N}, one of the caps at least. */
static ak_err parse_cumulative(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    cn_policy_cumulative *c = &p->cumulative;
    const cJSON *m;
    if (!cJSON_IsObject(v))
        return fail(err, cap,
                    "policy.cumulative_cap: {\"value_wei\": amount, \"max_tx\": N, "
                    "\"window_s\": N}");
    cJSON_ArrayForEach(m, v)
    {
        double d = cJSON_IsNumber(m) ? m->valuedouble : -1;
        if (strcmp(m->string, "value_wei") == 0) {
            if (parse_amount(&c->max_value, m) != AK_OK)
                return fail(err, cap,
                            "policy.cumulative_cap.value_wei: a decimal or 0x quantity "
                            "string of wei");
            c->has_max_value = 1;
        } else if (strcmp(m->string, "window_s") == 0) {
            if (d < 1 || d > CN_POLICY_WINDOW_MAX || d != (double)(uint64_t)d)
                return fail(err, cap, "policy.cumulative_cap.window_s: an integer 1..%u",
                            CN_POLICY_WINDOW_MAX);
            c->window_s = (uint64_t)d;
        } else if (strcmp(m->string, "max_tx") == 0) {
            if (d < 1 || d > 1e15 || d != (double)(uint64_t)d)
                return fail(err, cap, "policy.cumulative_cap.max_tx: an integer 1..10^15");
            c->max_tx = (uint64_t)d;
        } else if (strcmp(m->string, "comment") != 0) {
            return fail(err, cap, "policy.cumulative_cap.%.64s: unknown field", m->string);
        }
    }
    if (c->window_s == 0 || (!c->has_max_value && c->max_tx == 0))
        return fail(err, cap, "policy.cumulative_cap: needs window_s and value_wei or max_tx");
    p->has_cumulative = 1;
    return AK_OK;
}

int cn_policy_cumulative_cap(const cn_policy *p, cn_policy_cumulative *out)
{
    if (p == NULL || !p->has_cumulative)
        return 0;
    *out = p->cumulative;
    return 1;
}

/* policy.<name>: an array of 1..max addresses into dst[0..*n). */
static ak_err parse_addrs(uint8_t (*dst)[20], size_t *n, size_t max, const char *name,
                          const cJSON *v, char *err, size_t cap)
{
    const cJSON *a;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || (size_t)cJSON_GetArraySize(v) > max)
        return fail(err, cap, "policy.%s: an array of 1..%zu addresses", name, max);
    cJSON_ArrayForEach(a, v)
    {
        if (!cJSON_IsString(a) ||
            ak_addr_parse(dst[*n], a->valuestring, strlen(a->valuestring)) != AK_OK)
            return fail(err, cap,
                        "policy.%s[%zu]: not an address (0x + 40 hex, EIP-55 checksum if mixed "
                        "case)",
                        name, *n);
        (*n)++;
    }
    return AK_OK;
}

static ak_err parse_methods(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const cJSON *m;
    size_t i = 0;
    if (!cJSON_IsArray(v))
        return fail(err, cap, "policy.allowed_methods: an array of method names");
    if (g_all_bits == 0) /* a program bug, said plainly rather than as "one of" nothing */
        return fail(err, cap, "policy.allowed_methods: no method table was published");
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
            return fail(err, cap, "policy.allowed_methods[%zu]: one of %s", i, names);
        }
        p->methods |= 1u << bit;
        i++;
    }
    return AK_OK;
}

/* max_fee_per_blob_gas, allowed_delegates (issue 10). */
static ak_err parse_4844_7702(cn_policy *p, const cJSON *obj, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "max_fee_per_blob_gas");
    if (v != NULL) {
        if (parse_amount(&p->max_blob_fee, v) != AK_OK)
            return fail(err, cap,
                        "policy.max_fee_per_blob_gas: a decimal or 0x quantity string of wei");
        p->has_max_blob_fee = 1;
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_delegates");
    return v == NULL ? AK_OK
                     : parse_addrs(p->delegates, &p->n_delegates, CN_POLICY_MAX_DELEGATES,
                                   "allowed_delegates", v, err, cap);
}

/* "serves": [intent kind, ...] (ak_policy.h names). */
static ak_err parse_serves(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const cJSON *m;
    size_t i = 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
        return fail(err, cap, "policy.serves: a non-empty array of intent kinds");
    p->ak.kinds = 0;
    cJSON_ArrayForEach(m, v)
    {
        int k = cJSON_IsString(m) ? ak_intent_kind_parse(m->valuestring) : -1;
        if (k < 0)
            return fail(err, cap,
                        "policy.serves[%zu]: one of eth_transaction, eip191_message, "
                        "eip712_typed_data, erc4337_paymaster, eip7702_authorization, "
                        "op_block_payload",
                        i);
        p->ak.kinds |= 1u << k;
        i++;
    }
    p->serves_given = 1;
    return AK_OK;
}

/* "token_caps": {"0xToken": "amount in the token's smallest unit", ...} */
static ak_err parse_token_caps(cn_policy *p, const cJSON *v, char *err, size_t cap)
{
    const cJSON *t;
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) < 1 ||
        cJSON_GetArraySize(v) > AK_POLICY_MAX_TOKENS)
        return fail(err, cap, "policy.token_caps: an object of 1..%d {token address: amount}",
                    AK_POLICY_MAX_TOKENS);
    cJSON_ArrayForEach(t, v)
    {
        size_t i = p->ak.n_tokens;
        if (ak_addr_parse(p->ak.token[i], t->string, strlen(t->string)) != AK_OK)
            return fail(err, cap, "policy.token_caps.%.64s: not an address", t->string);
        for (size_t j = 0; j < i; j++)
            if (memcmp(p->ak.token[j], p->ak.token[i], 20) == 0)
                return fail(err, cap, "policy.token_caps.%.64s: token given twice", t->string);
        if (parse_amount(&p->ak.token_cap[i], t) != AK_OK)
            return fail(err, cap,
                        "policy.token_caps.%.64s: a decimal or 0x quantity string (the token's "
                        "smallest unit)",
                        t->string);
        p->ak.n_tokens++;
    }
    return AK_OK;
}

/* The allow_* booleans (allow_contract_creation's default was set from allowed_to). */
static ak_err parse_flags(cn_policy *p, const cJSON *obj, char *err, size_t cap)
{
    static const char *const names[] = {"allow_unjudged_typed_data", "allow_hash_like_messages",
                                        "allow_typed_data_without_chain_id",
                                        "allow_contract_creation",
                                        "allow_chain_id_zero_authorization"};
    int *const dst[] = {&p->ak.allow_unjudged_typed_data, &p->ak.allow_hash_like_messages,
                        &p->ak.allow_typed_data_without_chain_id, &p->ak.allow_create,
                        &p->allow_auth_chain_zero};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
        if (v == NULL)
            continue;
        if (!cJSON_IsBool(v))
            return fail(err, cap, "policy.%s: must be true or false", names[i]);
        *dst[i] = cJSON_IsTrue(v);
    }
    return AK_OK;
}

ak_err cn_policy_parse(cn_policy **out, const cJSON *obj, char *err, size_t err_cap)
{
    static const char *const known[] = {"max_value_wei",
                                        "allowed_to",
                                        "allow_contract_creation",
                                        "allowed_methods",
                                        "serves",
                                        "token_caps",
                                        "allow_unjudged_typed_data",
                                        "allow_hash_like_messages",
                                        "allow_typed_data_without_chain_id",
                                        "max_fee_per_blob_gas",
                                        "allowed_delegates",
                                        "allow_chain_id_zero_authorization",
                                        "cumulative_cap",
                                        "comment"};
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
    if (ak_json_check_keys(obj) != AK_OK)
        return fail(err, err_cap, "policy: a key is given twice");
    cn_policy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return AK_ERR_NOMEM;
    ak_policy_init(&p->ak);
    p->methods = g_all_bits;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "max_value_wei");
    if (v != NULL && (rc = parse_value(p, v, err, err_cap)) != AK_OK)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_to");
    if (v != NULL && (rc = parse_addrs(p->ak.to, &p->ak.n_to, CN_POLICY_MAX_TO, "allowed_to", v,
                                       err, err_cap)) != AK_OK)
        goto out;
    p->ak.allow_create = p->ak.n_to == 0;
    v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_methods");
    if (v != NULL && (rc = parse_methods(p, v, err, err_cap)) != AK_OK)
        goto out;
    if ((rc = parse_4844_7702(p, obj, err, err_cap)) != AK_OK)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(obj, "serves");
    if (v != NULL && (rc = parse_serves(p, v, err, err_cap)) != AK_OK)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(obj, "token_caps");
    if (v != NULL && (rc = parse_token_caps(p, v, err, err_cap)) != AK_OK)
        goto out;
    if ((rc = parse_flags(p, obj, err, err_cap)) != AK_OK)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(obj, "cumulative_cap");
    if (v != NULL && (rc = parse_cumulative(p, v, err, err_cap)) != AK_OK)
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
        return fail(err, err_cap,
                    "the paymaster's account has a policy.serves without erc4337_paymaster");
    return AK_OK;
}

int cn_policy_serves_beyond_paymaster(const cn_policy *p)
{
    return p == NULL || (p->ak.kinds & ~(1u << AK_INTENT_ERC4337_PAYMASTER)) != 0;
}
