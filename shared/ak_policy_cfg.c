/* ak_policy_cfg.c - the one reader of a "policy" configuration object (see ak_policy_cfg.h). */
#include "ak_policy_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_cfg.h"
#include "ak_hex.h"
#include "ak_json.h"

#define MAX_SAFE_INT 9007199254740991.0

ak_err ak_policy_cfg_amount(ak_u256 *out, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    if (s == NULL || n == 0)
        return AK_ERR_CONFIG;
    return n > 2 && s[0] == '0' && s[1] == 'x' ? ak_u256_parse_quantity(out, s, n)
                                               : ak_u256_parse_decimal(out, s, n);
}
/* A chain id: a JSON integer 1..2^53-1 or a decimal / 0x string, not zero. */
static ak_err chain_id(ak_u256 *out, const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d < 1 || d > MAX_SAFE_INT || d != (double)(uint64_t)d)
            return AK_ERR_CONFIG;
        ak_u256_from_u64(out, (uint64_t)d);
        return AK_OK;
    }
    if (ak_policy_cfg_amount(out, v) != AK_OK || ak_u256_is_zero(out))
        return AK_ERR_CONFIG;
    return AK_OK;
}

static int is_bool_or_absent(const cJSON *v)
{
    return v == NULL || cJSON_IsBool(v);
}

/* An array of 1..max addresses into dst; *n counts them. */
static ak_err addr_list(uint8_t (*dst)[20], size_t *n, size_t max, const cJSON *v,
                        const char *where, const char *name, char *msg, size_t cap)
{
    const cJSON *a;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || (size_t)cJSON_GetArraySize(v) > max)
        return ak_cfg_fail(msg, cap, "%s.%s: an array of 1..%zu addresses", where, name, max);
    cJSON_ArrayForEach(a, v)
    {
        if (!cJSON_IsString(a) ||
            ak_addr_parse(dst[*n], a->valuestring, strlen(a->valuestring)) != AK_OK)
            return ak_cfg_fail(
                msg, cap, "%s.%s[%zu]: not an address (0x + 40 hex, EIP-55 checksum if mixed case)",
                where, name, *n);
        for (size_t j = 0; j < *n; j++)
            if (memcmp(dst[j], dst[*n], 20) == 0)
                return ak_cfg_fail(msg, cap, "%s.%s[%zu]: given twice", where, name, *n);
        (*n)++;
    }
    return AK_OK;
}

static ak_err parse_serves(ak_policy *p, const cJSON *v, const char *where, char *msg, size_t cap)
{
    const cJSON *m;
    size_t i = 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
        return ak_cfg_fail(msg, cap, "%s.serves: a non-empty array of intent kinds", where);
    p->kinds = 0;
    cJSON_ArrayForEach(m, v)
    {
        int k = cJSON_IsString(m) ? ak_intent_kind_parse(m->valuestring) : -1;
        if (k < 0)
            return ak_cfg_fail(msg, cap,
                               "%s.serves[%zu]: one of eth_transaction, eip191_message, "
                               "eip712_typed_data, erc4337_paymaster, eip7702_authorization, "
                               "op_block_payload",
                               where, i);
        p->kinds |= 1u << k;
        i++;
    }
    return AK_OK;
}

static ak_err parse_chains(ak_policy *p, const cJSON *v, const char *where, char *msg, size_t cap)
{
    const cJSON *c;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
        cJSON_GetArraySize(v) > AK_POLICY_MAX_CHAINS)
        return ak_cfg_fail(msg, cap, "%s.allowed_chain_ids: an array of 1..%d chain ids", where,
                           AK_POLICY_MAX_CHAINS);
    cJSON_ArrayForEach(c, v)
    {
        if (chain_id(&p->chains[p->n_chains], c) != AK_OK)
            return ak_cfg_fail(
                msg, cap, "%s.allowed_chain_ids[%zu]: a non-zero integer (or decimal / 0x string)",
                where, p->n_chains);
        p->n_chains++;
    }
    return AK_OK;
}

static ak_err parse_selectors(ak_policy *p, const cJSON *v, const char *where, char *msg,
                              size_t cap)
{
    const cJSON *t, *s;
    uint8_t to[20];
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) < 1)
        return ak_cfg_fail(msg, cap,
                           "%s.allowed_selectors: an object {destination: [selector, ...]}", where);
    cJSON_ArrayForEach(t, v)
    {
        size_t first = p->n_selectors;
        if (ak_addr_parse(to, t->string, strlen(t->string)) != AK_OK)
            return ak_cfg_fail(msg, cap, "%s.allowed_selectors.%.64s: not an address", where,
                               t->string);
        for (size_t j = 0; j < first; j++)
            if (memcmp(p->selector_to[j], to, 20) == 0)
                return ak_cfg_fail(msg, cap, "%s.allowed_selectors.%.64s: destination given twice",
                                   where, t->string);
        if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) < 1)
            return ak_cfg_fail(msg, cap,
                               "%s.allowed_selectors.%.64s: a non-empty array of selectors", where,
                               t->string);
        cJSON_ArrayForEach(s, t)
        {
            size_t i = p->n_selectors;
            if (i == AK_POLICY_MAX_SELECTORS)
                return ak_cfg_fail(msg, cap, "%s.allowed_selectors: more than %d selectors in all",
                                   where, AK_POLICY_MAX_SELECTORS);
            if (!cJSON_IsString(s) || strlen(s->valuestring) != 10 ||
                ak_hex_decode_exact(p->selector[i], 4, s->valuestring, 10) != AK_OK)
                return ak_cfg_fail(msg, cap,
                                   "%s.allowed_selectors.%.64s[%zu]: \"0x\" + 8 hex digits", where,
                                   t->string, i - first);
            memcpy(p->selector_to[i], to, 20);
            p->n_selectors++;
        }
    }
    return AK_OK;
}

static ak_err parse_domain(ak_policy_domain *d, const cJSON *o, const char *where, size_t i,
                           char *msg, size_t cap)
{
    const cJSON *m;
    if (!cJSON_IsObject(o) || cJSON_GetArraySize(o) < 1)
        return ak_cfg_fail(msg, cap,
                           "%s.allowed_domains[%zu]: an object with name, chainId or "
                           "verifyingContract",
                           where, i);
    cJSON_ArrayForEach(m, o)
    {
        if (strcmp(m->string, "name") == 0) {
            if (!cJSON_IsString(m) || strlen(m->valuestring) > AK_POLICY_MAX_NAME)
                return ak_cfg_fail(msg, cap,
                                   "%s.allowed_domains[%zu].name: a string of at most %d bytes",
                                   where, i, AK_POLICY_MAX_NAME);
            snprintf(d->name, sizeof d->name, "%s", m->valuestring);
            d->has_name = 1;
        } else if (strcmp(m->string, "chainId") == 0) {
            if (chain_id(&d->chain_id, m) != AK_OK)
                return ak_cfg_fail(msg, cap, "%s.allowed_domains[%zu].chainId: a non-zero chain id",
                                   where, i);
            d->has_chain_id = 1;
        } else if (strcmp(m->string, "verifyingContract") == 0) {
            if (!cJSON_IsString(m) || ak_addr_parse(d->verifying_contract, m->valuestring,
                                                    strlen(m->valuestring)) != AK_OK)
                return ak_cfg_fail(msg, cap,
                                   "%s.allowed_domains[%zu].verifyingContract: not an address",
                                   where, i);
            d->has_verifying_contract = 1;
        } else {
            return ak_cfg_fail(msg, cap, "%s.allowed_domains[%zu].%.64s: unknown field", where, i,
                               m->string);
        }
    }
    return AK_OK;
}

static ak_err parse_token_caps(ak_policy *p, const cJSON *v, const char *where, char *msg,
                               size_t cap)
{
    const cJSON *t;
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) < 1 ||
        cJSON_GetArraySize(v) > AK_POLICY_MAX_TOKENS)
        return ak_cfg_fail(msg, cap, "%s.token_caps: an object of 1..%d {token address: amount}",
                           where, AK_POLICY_MAX_TOKENS);
    cJSON_ArrayForEach(t, v)
    {
        size_t i = p->n_tokens;
        if (ak_addr_parse(p->token[i], t->string, strlen(t->string)) != AK_OK)
            return ak_cfg_fail(msg, cap, "%s.token_caps.%.64s: not an address", where, t->string);
        for (size_t j = 0; j < i; j++)
            if (memcmp(p->token[j], p->token[i], 20) == 0)
                return ak_cfg_fail(msg, cap, "%s.token_caps.%.64s: token given twice", where,
                                   t->string);
        if (ak_policy_cfg_amount(&p->token_cap[i], t) != AK_OK)
            return ak_cfg_fail(msg, cap,
                               "%s.token_caps.%.64s: a decimal or 0x quantity string (the token's "
                               "smallest unit)",
                               where, t->string);
        p->n_tokens++;
    }
    return AK_OK;
}

/* "cumulative_cap": {"value_wei", "window_s"} (+ "max_tx" with AK_POLICY_CFG_MAX_TX). */
static ak_err parse_cumulative(ak_policy *p, const cJSON *v, const char *where, unsigned flags,
                               char *msg, size_t cap)
{
    const cJSON *m;
    int has_val = 0, max_tx = (flags & AK_POLICY_CFG_MAX_TX) != 0;
    if (!cJSON_IsObject(v))
        return ak_cfg_fail(msg, cap,
                           "%s.cumulative_cap: {\"value_wei\": amount, %s\"window_s\": N}", where,
                           max_tx ? "\"max_tx\": N, " : "");
    cJSON_ArrayForEach(m, v)
    {
        double d = cJSON_IsNumber(m) ? m->valuedouble : 0;
        if (strcmp(m->string, "value_wei") == 0) {
            if (ak_policy_cfg_amount(&p->cumulative_cap, m) != AK_OK)
                return ak_cfg_fail(
                    msg, cap, "%s.cumulative_cap.value_wei: a decimal or 0x quantity string of wei",
                    where);
            has_val = 1;
        } else if (strcmp(m->string, "window_s") == 0) {
            if (d < 1 || d > AK_POLICY_MAX_WINDOW_S || d != (double)(uint64_t)d)
                return ak_cfg_fail(msg, cap, "%s.cumulative_cap.window_s: an integer 1..%u", where,
                                   AK_POLICY_MAX_WINDOW_S);
            p->cumulative_window_s = (uint64_t)d;
        } else if (max_tx && strcmp(m->string, "max_tx") == 0) {
            if (d < 1 || d > 1e15 || d != (double)(uint64_t)d)
                return ak_cfg_fail(msg, cap, "%s.cumulative_cap.max_tx: an integer 1..10^15",
                                   where);
            p->cumulative_max_tx = (uint64_t)d;
        } else if (strcmp(m->string, "comment") != 0) {
            return ak_cfg_fail(msg, cap, "%s.cumulative_cap.%.64s: unknown field", where,
                               m->string);
        } else if (!cJSON_IsString(m)) {
            return ak_cfg_fail(msg, cap, "%s.cumulative_cap.comment: must be a string", where);
        }
    }
    if (max_tx && (p->cumulative_window_s == 0 || (!has_val && p->cumulative_max_tx == 0)))
        return ak_cfg_fail(msg, cap, "%s.cumulative_cap: needs window_s and value_wei or max_tx",
                           where);
    if (!max_tx && (!has_val || p->cumulative_window_s == 0))
        return ak_cfg_fail(msg, cap, "%s.cumulative_cap: needs both value_wei and window_s", where);
    p->has_cumulative_cap = has_val;
    return AK_OK;
}

/* The members; flags: the AK_POLICY_CFG_* a member needs (0: always read). */
static const struct {
    const char *name;
    unsigned flags;
} KNOWN[] = {{"raw_digest", AK_POLICY_CFG_INTENT},
             {"serves", 0},
             {"allowed_chain_ids", AK_POLICY_CFG_INTENT},
             {"max_value_wei", 0},
             {"allowed_to", 0},
             {"allow_contract_creation", 0},
             {"allowed_selectors", AK_POLICY_CFG_INTENT},
             {"allowed_domains", AK_POLICY_CFG_INTENT},
             {"allowed_delegates", 0},
             {"allow_chain_id_zero_authorization", 0},
             {"token_caps", 0},
             {"allow_unjudged_typed_data", 0},
             {"allow_hash_like_messages", 0},
             {"allow_typed_data_without_chain_id", 0},
             {"cumulative_cap", 0},
             {"comment", 0}};

/* 1 if member m is read here under flags, or named in extra. */
static int known(const char *m, unsigned flags, const char *const *extra, size_t n_extra)
{
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strcmp(m, KNOWN[i].name) == 0 && (KNOWN[i].flags & ~flags) == 0)
            return 1;
    for (size_t i = 0; i < n_extra; i++)
        if (strcmp(m, extra[i]) == 0)
            return 1;
    return 0;
}

static ak_err parse_bools(ak_policy *p, const cJSON *obj, const char *where, char *msg, size_t cap)
{
    static const char *const names[] = {"raw_digest", "allow_chain_id_zero_authorization",
                                        "allow_unjudged_typed_data", "allow_hash_like_messages",
                                        "allow_typed_data_without_chain_id"};
    int *const dst[] = {&p->raw_digest, &p->allow_auth_chain_zero, &p->allow_unjudged_typed_data,
                        &p->allow_hash_like_messages, &p->allow_typed_data_without_chain_id};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
        if (!is_bool_or_absent(v))
            return ak_cfg_fail(msg, cap, "%s.%s: must be true or false", where, names[i]);
        if (v != NULL)
            *dst[i] = cJSON_IsTrue(v);
    }
    return AK_OK;
}

/* Every member but the booleans and "comment" (the unknown ones were refused before). */
static ak_err parse_members(ak_policy *p, const cJSON *obj, const char *where, unsigned flags,
                            char *msg, size_t cap)
{
    ak_err e = AK_OK;
    const cJSON *v, *d;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "serves")) != NULL &&
        (e = parse_serves(p, v, where, msg, cap)) != AK_OK)
        return e;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_chain_ids")) != NULL &&
        (e = parse_chains(p, v, where, msg, cap)) != AK_OK)
        return e;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "max_value_wei")) != NULL) {
        if (ak_policy_cfg_amount(&p->max_value, v) != AK_OK)
            return ak_cfg_fail(msg, cap, "%s.max_value_wei: a decimal or 0x quantity string of wei",
                               where);
        p->has_max_value = 1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_to")) != NULL &&
        (e = addr_list(p->to, &p->n_to, AK_POLICY_MAX_TO, v, where, "allowed_to", msg, cap)) !=
            AK_OK)
        return e;
    p->allow_create = p->n_to == 0;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "allow_contract_creation")) != NULL) {
        if (!cJSON_IsBool(v))
            return ak_cfg_fail(msg, cap, "%s.allow_contract_creation: must be true or false",
                               where);
        p->allow_create = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_selectors")) != NULL &&
        (e = parse_selectors(p, v, where, msg, cap)) != AK_OK)
        return e;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_domains")) != NULL) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
            cJSON_GetArraySize(v) > AK_POLICY_MAX_DOMAINS)
            return ak_cfg_fail(msg, cap, "%s.allowed_domains: an array of 1..%d domains", where,
                               AK_POLICY_MAX_DOMAINS);
        cJSON_ArrayForEach(d, v)
        {
            if ((e = parse_domain(&p->domains[p->n_domains], d, where, p->n_domains, msg, cap)) !=
                AK_OK)
                return e;
            p->n_domains++;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "allowed_delegates")) != NULL &&
        (e = addr_list(p->delegates, &p->n_delegates, AK_POLICY_MAX_DELEGATES, v, where,
                       "allowed_delegates", msg, cap)) != AK_OK)
        return e;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "token_caps")) != NULL &&
        (e = parse_token_caps(p, v, where, msg, cap)) != AK_OK)
        return e;
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "cumulative_cap")) != NULL &&
        (e = parse_cumulative(p, v, where, flags, msg, cap)) != AK_OK)
        return e;
    v = cJSON_GetObjectItemCaseSensitive(obj, "comment");
    if (v != NULL && !cJSON_IsString(v))
        return ak_cfg_fail(msg, cap, "%s.comment: must be a string", where);
    return AK_OK;
}

ak_err ak_policy_cfg_read(ak_policy *p, const cJSON *obj, const char *where, unsigned flags,
                          const char *const *extra, size_t n_extra, char *err, size_t err_cap)
{
    const cJSON *it;
    ak_err e = AK_OK;
    ak_policy_init(p);
    if (!cJSON_IsObject(obj))
        return ak_cfg_fail(err, err_cap, "%s: must be an object", where);
    if (ak_json_check_keys(obj) != AK_OK)
        return ak_cfg_fail(err, err_cap, "%s: a key is given twice", where);
    cJSON_ArrayForEach(it, obj)
    {
        if (!known(it->string, flags, extra, n_extra))
            return ak_cfg_fail(err, err_cap, "%s.%.64s: unknown field", where, it->string);
    }
    if ((e = parse_members(p, obj, where, flags, err, err_cap)) != AK_OK)
        return e;
    return parse_bools(p, obj, where, err, err_cap);
}
