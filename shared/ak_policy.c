/* ak_policy.c - signing policy evaluation (see ak_policy.h). */
#include "ak_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_permit.h"
#include "ak_policy_int.h"

int ak_policy_refuse(ak_policy_verdict *v, const char *rule, const char *fmt, ...)
{
    va_list ap;
    v->rule = rule;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    return 0;
}

void ak_policy_dec(char out[AK_U256_DECIMAL_MAX], const ak_u256 *x)
{
    if (ak_u256_format_decimal(out, AK_U256_DECIMAL_MAX, x) != AK_OK)
        snprintf(out, AK_U256_DECIMAL_MAX, "?");
}

void ak_policy_init(ak_policy *p)
{
    memset(p, 0, sizeof *p);
    p->kinds = AK_INTENT_ALL;
    p->allow_create = 1;
    p->raw_digest = 1;
}

int ak_policy_limited(const ak_policy *p)
{
    return p->has_max_value || p->n_to > 0 || p->n_tokens > 0;
}

int ak_policy_kind_ok(const ak_policy *p, ak_intent_kind kind, ak_policy_verdict *v)
{
    if ((unsigned)kind < AK_INTENT_COUNT && (p->kinds & (1u << kind)) != 0)
        return 1;
    return ak_policy_refuse(v, "kind_not_served", "this key does not serve %s",
                            ak_intent_kind_name(kind) ? ak_intent_kind_name(kind) : "?");
}

static int to_allowed(const ak_policy *p, const uint8_t a[20])
{
    if (p->n_to == 0)
        return 1;
    for (size_t i = 0; i < p->n_to; i++)
        if (memcmp(p->to[i], a, 20) == 0)
            return 1;
    return 0;
}

int ak_policy_tx_ok(const ak_policy *p, const ak_tx *tx, ak_policy_verdict *v)
{
    if (!ak_policy_kind_ok(p, AK_INTENT_ETH_TRANSACTION, v))
        return 0;
    if (p->has_max_value && ak_u256_cmp(&tx->value, &p->max_value) > 0) {
        char a[AK_U256_DECIMAL_MAX], m[AK_U256_DECIMAL_MAX];
        ak_policy_dec(a, &tx->value);
        ak_policy_dec(m, &p->max_value);
        return ak_policy_refuse(v, "value_over_cap",
                                "value %s wei is over the account's max_value_wei %s", a, m);
    }
    if (!tx->has_to) {
        if (!p->allow_create)
            return ak_policy_refuse(v, "contract_creation",
                                    "contract creation is not allowed for this account");
        return 1;
    }
    if (to_allowed(p, tx->to))
        return 1;
    char to[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(to, tx->to);
    return ak_policy_refuse(v, "to_not_allowed",
                            "destination %s is not in the account's allowed_to", to);
}

int ak_policy_message_ok(const ak_policy *p, const uint8_t *msg, size_t len, ak_policy_verdict *v)
{
    (void)msg;
    if (!ak_policy_kind_ok(p, AK_INTENT_EIP191_MESSAGE, v))
        return 0;
    if (len == 32 && ak_policy_limited(p) && !p->allow_hash_like_messages)
        return ak_policy_refuse(
            v, "message_may_be_hash",
            "a 32-byte message could be the hash of something this account's limits "
            "would refuse (allow_hash_like_messages is off)");
    return 1;
}

/* The cap for token: its token_caps entry, else max_value; 0 if none applies. */
static int token_cap(const ak_policy *p, const ak_permit_grant *g, const ak_u256 **cap)
{
    for (size_t i = 0; g->has_token && i < p->n_tokens; i++) {
        if (memcmp(p->token[i], g->token, 20) == 0) {
            *cap = &p->token_cap[i];
            return 1;
        }
    }
    *cap = p->has_max_value ? &p->max_value : NULL;
    return *cap != NULL;
}

static int grant_ok(const ak_policy *p, const ak_permit *pm, const ak_permit_grant *g,
                    ak_policy_verdict *v)
{
    char a[AK_ADDR_STR_SIZE];
    const ak_u256 *cap = NULL;
    if (!to_allowed(p, g->spender)) {
        ak_addr_to_checksum(a, g->spender);
        return ak_policy_refuse(v, "spender_not_allowed",
                                "%s: spender %s is not in the account's allowed_to",
                                ak_permit_kind_name(pm->kind), a);
    }
    if (!g->has_token && p->n_tokens > 0)
        return ak_policy_refuse(
            v, "token_not_known",
            "%s: the domain names no verifyingContract (the token) and the account "
            "has token_caps",
            ak_permit_kind_name(pm->kind));
    if (token_cap(p, g, &cap) && ak_u256_cmp(&g->amount, cap) > 0) {
        char amt[AK_U256_DECIMAL_MAX], c[AK_U256_DECIMAL_MAX];
        ak_policy_dec(amt, &g->amount);
        ak_policy_dec(c, cap);
        if (g->has_token)
            ak_addr_to_checksum(a, g->token);
        else
            snprintf(a, sizeof a, "(no verifyingContract)");
        return ak_policy_refuse(v, "token_amount_over_cap",
                                "%s: amount %s of token %s is over the cap %s",
                                ak_permit_kind_name(pm->kind), amt, a, c);
    }
    return 1;
}

int ak_policy_typed_ok(const ak_policy *p, const cJSON *typed_data, const ak_eip712_result *h,
                       ak_policy_verdict *v)
{
    return ak_policy_typed_ok_ex(p, typed_data, h, 0, v);
}

int ak_policy_typed_ok_ex(const ak_policy *p, const cJSON *typed_data, const ak_eip712_result *h,
                          int domain_listed, ak_policy_verdict *v)
{
    ak_permit pm;
    if (!ak_policy_kind_ok(p, AK_INTENT_EIP712_TYPED_DATA, v))
        return 0;
    if (!h->has_chain_id && !p->allow_typed_data_without_chain_id)
        return ak_policy_refuse(
            v, "typed_data_no_chain_id",
            "the typed data's domain sets no chainId: it would be valid on every chain "
            "(allow_typed_data_without_chain_id is off)");
    if (!ak_policy_limited(p))
        return 1;
    ak_err rc = ak_permit_decode(&pm, typed_data);
    if (rc != AK_OK || pm.kind == AK_PERMIT_NONE) {
        if (p->allow_unjudged_typed_data || (domain_listed && rc == AK_OK))
            return 1;
        if (rc != AK_OK)
            return ak_policy_refuse(
                v, "typed_data_not_judged",
                "a permit structure whose values do not read, or with over %d grants",
                AK_PERMIT_MAX_GRANTS);
        return ak_policy_refuse(
            v, "typed_data_not_judged",
            "the account has value or destination limits and this typed data is not a "
            "permit structure they can judge (allow_unjudged_typed_data is off)");
    }
    for (size_t i = 0; i < pm.n; i++)
        if (!grant_ok(p, &pm, &pm.grants[i], v))
            return 0;
    return 1;
}
