/* ak_policy_intent.c - the signing policy over a decoded intent (issue 11; see ak_policy.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_policy.h"
#include "ak_policy_int.h"

int ak_policy_raw_ok(const ak_policy *p, ak_policy_verdict *v)
{
    if (p->raw_digest)
        return 1;
    return ak_policy_refuse(v, "raw_digest_not_allowed",
                            "this key signs intents only (raw_digest is off): send an intent");
}

static int chain_ok(const ak_policy *p, const ak_intent *in, ak_policy_verdict *v)
{
    char c[AK_U256_DECIMAL_MAX];
    if (p->n_chains == 0 || in->kind == AK_INTENT_EIP191_MESSAGE)
        return 1;
    if (!in->has_chain_id)
        return ak_policy_refuse(
            v, "chain_not_allowed",
            "the %s names no chain (pre-EIP-155) and the key has allowed_chain_ids",
            ak_intent_kind_name(in->kind));
    /* an allowed chain-0 authorization is valid on every chain by choice */
    if (in->kind == AK_INTENT_EIP7702_AUTHORIZATION && ak_u256_is_zero(&in->chain_id))
        return 1;
    for (size_t i = 0; i < p->n_chains; i++)
        if (ak_u256_cmp(&p->chains[i], &in->chain_id) == 0)
            return 1;
    ak_policy_dec(c, &in->chain_id);
    return ak_policy_refuse(v, "chain_not_allowed",
                            "chain id %s is not in the key's allowed_chain_ids", c);
}

static int selector_ok(const ak_policy *p, const ak_tx *tx, ak_policy_verdict *v)
{
    int listed = 0;
    char a[AK_ADDR_STR_SIZE];
    if (!tx->has_to || p->n_selectors == 0 || tx->data_len == 0)
        return 1;
    for (size_t i = 0; i < p->n_selectors; i++) {
        if (memcmp(p->selector_to[i], tx->to, 20) != 0)
            continue;
        listed = 1;
        if (tx->data_len >= 4 && memcmp(p->selector[i], tx->data, 4) == 0)
            return 1;
    }
    if (!listed)
        return 1;
    ak_addr_to_checksum(a, tx->to);
    if (tx->data_len < 4)
        return ak_policy_refuse(v, "selector_not_allowed",
                                "call data to %s is shorter than a selector", a);
    return ak_policy_refuse(
        v, "selector_not_allowed",
        "selector 0x%02x%02x%02x%02x is not in the key's allowed_selectors for %s", tx->data[0],
        tx->data[1], tx->data[2], tx->data[3], a);
}

/* The domain's "name" as it was hashed (a string member), or NULL. */
static const char *domain_name(const cJSON *td)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(td, "domain");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, "name");
    return cJSON_IsString(n) ? n->valuestring : NULL;
}

static int domain_ok(const ak_policy *p, const ak_intent *in, ak_policy_verdict *v)
{
    const char *name = domain_name(in->typed_data);
    const ak_eip712_result *h = &in->td;
    if (p->n_domains == 0)
        return 1;
    for (size_t i = 0; i < p->n_domains; i++) {
        const ak_policy_domain *d = &p->domains[i];
        if (d->has_name && (name == NULL || strcmp(name, d->name) != 0))
            continue;
        if (d->has_chain_id && (!h->has_chain_id || ak_u256_cmp(&h->chain_id, &d->chain_id) != 0))
            continue;
        if (d->has_verifying_contract &&
            (!h->has_verifying_contract ||
             memcmp(h->verifying_contract, d->verifying_contract, 20) != 0))
            continue;
        return 1;
    }
    char vc[AK_ADDR_STR_SIZE] = "none";
    if (h->has_verifying_contract)
        ak_addr_to_checksum(vc, h->verifying_contract);
    return ak_policy_refuse(
        v, "domain_not_allowed",
        "the typed data's domain (name \"%.48s\", verifyingContract %s) is not in the "
        "key's allowed_domains",
        name != NULL ? name : "", vc);
}

static int auth_ok(const ak_policy *p, const ak_auth *auth, ak_policy_verdict *v)
{
    char a[AK_ADDR_STR_SIZE];
    if (ak_u256_is_zero(&auth->chain_id) && !p->allow_auth_chain_zero)
        return ak_policy_refuse(v, "authorization_any_chain",
                                "an authorization with chainId 0 is valid on every chain "
                                "(allow_chain_id_zero_authorization is off)");
    for (size_t i = 0; i < p->n_delegates; i++)
        if (memcmp(p->delegates[i], auth->address, 20) == 0)
            return 1;
    if (p->n_delegates == 0)
        return 1;
    ak_addr_to_checksum(a, auth->address);
    return ak_policy_refuse(v, "delegate_not_allowed",
                            "delegate %s is not in the key's allowed_delegates", a);
}

int ak_policy_intent_ok(const ak_policy *p, const ak_intent *in, ak_policy_verdict *v)
{
    if (!ak_policy_kind_ok(p, in->kind, v) || !chain_ok(p, in, v))
        return 0;
    switch (in->kind) {
    case AK_INTENT_ETH_TRANSACTION:
        return ak_policy_tx_ok(p, &in->tx, v) && selector_ok(p, &in->tx, v);
    case AK_INTENT_EIP191_MESSAGE:
        return ak_policy_message_ok(p, in->message, in->message_len, v);
    case AK_INTENT_EIP712_TYPED_DATA:
        /* an operator-listed domain is judged; a permit in it is still judged by its grants */
        return domain_ok(p, in, v) &&
               ak_policy_typed_ok_ex(p, in->typed_data, &in->td, p->n_domains > 0, v);
    case AK_INTENT_ERC4337_PAYMASTER:
        return 1;
    case AK_INTENT_EIP7702_AUTHORIZATION:
        return auth_ok(p, &in->auth, v);
    case AK_INTENT_OP_BLOCK_PAYLOAD:
        if (ak_opsig_domain_is_blocks_v1(in->blk.domain))
            return 1;
        return ak_policy_refuse(
            v, "op_domain_not_blocks_v1",
            "the block payload's domain is not the all-zero SigningDomainBlocksV1");
    default:
        return ak_policy_refuse(v, "kind_not_served", "unknown intent kind");
    }
}

void ak_policy_intent_value(ak_u256 *out, const ak_intent *in)
{
    if (in->kind == AK_INTENT_ETH_TRANSACTION)
        *out = in->tx.value;
    else
        ak_u256_from_u64(out, 0);
}

int ak_policy_cumulative_ok(const ak_policy *p, const ak_u256 *used, const ak_u256 *value,
                            ak_policy_verdict *v)
{
    ak_u256 sum;
    char u[AK_U256_DECIMAL_MAX], x[AK_U256_DECIMAL_MAX], c[AK_U256_DECIMAL_MAX];
    if (!p->has_cumulative_cap)
        return 1;
    if (ak_u256_add(&sum, used, value) == AK_OK && ak_u256_cmp(&sum, &p->cumulative_cap) <= 0)
        return 1;
    ak_policy_dec(u, used);
    ak_policy_dec(x, value);
    ak_policy_dec(c, &p->cumulative_cap);
    return ak_policy_refuse(
        v, "cumulative_over_cap",
        "value %s wei on top of %s wei signed in the last %llu s is over the key's "
        "cumulative_cap %s wei",
        x, u, (unsigned long long)p->cumulative_window_s, c);
}
