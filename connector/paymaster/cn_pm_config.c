/* cn_pm_config.c - the paymaster's config section (see cn_pm_config.h). */
#include "cn_pm_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_cfg.h"

/* An integer a JSON number holds exactly (a double): below 2^53. */
#define JSON_INT_MAX 9007199254740992.0

ak_err cn_pm_conf_addr(uint8_t out[20], const cJSON *v)
{
    if (!cJSON_IsString(v))
        return AK_ERR_ADDRESS;
    return ak_addr_parse(out, v->valuestring, strlen(v->valuestring));
}

/*
 * An address member; on error, err says what is wrong with which value: a bad EIP-55 checksum
 * names the address as written and the checksummed form (addresses are public), so the
 * message never blames another field.
 */
static ak_err addr_member(uint8_t out[20], const cJSON *v, const char *field, char *err, size_t cap)
{
    char good[AK_ADDR_STR_SIZE];
    ak_err rc = cn_pm_conf_addr(out, v);
    if (rc == AK_ERR_CHECKSUM) {
        char low[AK_ADDR_STR_SIZE];
        size_t n = strlen(v->valuestring);
        for (size_t i = 0; i < n && i < sizeof low - 1; i++)
            low[i] = (char)tolower((unsigned char)v->valuestring[i]);
        low[n < sizeof low - 1 ? n : sizeof low - 1] = '\0';
        if (ak_addr_parse(out, low, strlen(low)) == AK_OK)
            ak_addr_to_checksum(good, out);
        else
            snprintf(good, sizeof good, "?");
        snprintf(err, cap, "%s: \"%.42s\" has a wrong EIP-55 checksum (checksummed: %s)", field,
                 v->valuestring, good);
    } else if (rc != AK_OK) {
        snprintf(err, cap, "%s: %s%.42s%s is not a 0x address of 40 hex digits", field,
                 cJSON_IsString(v) ? "\"" : "", cJSON_IsString(v) ? v->valuestring : "a non-string",
                 cJSON_IsString(v) ? "\"" : "");
    }
    return rc == AK_OK ? AK_OK : AK_ERR_CONFIG;
}

/* The members read by the table; the rest (addresses, lists, the caps) are read below. */
typedef struct {
    uint64_t vgl, pogl, validity_s, skew_s, max_gas;
    char sponsor[65];
} pm_cfg;

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("account"),
    AK_CFG_KNOWN("address"),
    AK_CFG_KNOWN("entry_points"),
    AK_CFG_KNOWN("chain_ids"),
    AK_CFG_INT("verification_gas_limit", 0, pm_cfg, vgl, 1, 10000000, 100000),
    AK_CFG_INT("post_op_gas_limit", 0, pm_cfg, pogl, 0, 10000000, 0),
    AK_CFG_INT("validity_seconds", 0, pm_cfg, validity_s, 10, 30 * 86400, 600),
    AK_CFG_INT("valid_after_skew_seconds", 0, pm_cfg, skew_s, 0, 3600, 60),
    AK_CFG_KNOWN("allowed_senders"),
    AK_CFG_INT("max_gas_per_op", 0, pm_cfg, max_gas, 0, 1000000000, 0),
    AK_CFG_KNOWN("daily_cap_wei_per_sender"),
    AK_CFG_KNOWN("daily_cap_wei_global"),
    AK_CFG_STR("sponsor_name", 0, pm_cfg, sponsor, ""),
    AK_CFG_KNOWN("comment"),
};

static ak_err read_account(cn_pm_conf *c, const cJSON *cfg, cn_signer *const *signers,
                           size_t n_signers, char *err, size_t cap)
{
    uint8_t a[20];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "account");
    if (v == NULL)
        return ak_cfg_fail(err, cap,
                           "paymaster: missing required field \"account\" (a configured account)");
    if (addr_member(a, v, "paymaster.account", err, cap) != AK_OK)
        return AK_ERR_CONFIG;
    for (size_t i = 0; i < n_signers && c->signer == NULL; i++)
        if (memcmp(signers[i]->address, a, 20) == 0)
            c->signer = signers[i];
    if (c->signer == NULL)
        return ak_cfg_fail(err, cap, "paymaster.account is not one of the configured accounts");
    return AK_OK;
}

/* "chain_ids" (default: the connector's chain), then "address": one address for every chain,
 * or {"<chain id>": address}. */
static ak_err read_chains(cn_pm_conf *c, const cJSON *cfg, uint64_t chain_id, char *err, size_t cap)
{
    const cJSON *it, *chains = cJSON_GetObjectItemCaseSensitive(cfg, "chain_ids");
    if (chains == NULL) {
        c->chains[0] = chain_id;
        c->n_chains = 1;
    } else {
        if (!cJSON_IsArray(chains) || cJSON_GetArraySize(chains) < 1 ||
            cJSON_GetArraySize(chains) > CN_PM_MAX_CHAINS)
            return ak_cfg_fail(err, cap, "paymaster.chain_ids must be an array of 1..%d chain ids",
                               CN_PM_MAX_CHAINS);
        cJSON_ArrayForEach(it, chains)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > JSON_INT_MAX ||
                it->valuedouble != (double)(uint64_t)it->valuedouble)
                return ak_cfg_fail(err, cap,
                                   "paymaster.chain_ids: each must be a positive integer");
            c->chains[c->n_chains++] = (uint64_t)it->valuedouble;
        }
    }
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(cfg, "address");
    for (size_t i = 0; i < c->n_chains; i++) {
        const cJSON *av = addr;
        if (cJSON_IsObject(addr)) {
            char key[24];
            snprintf(key, sizeof(key), "%llu", (unsigned long long)c->chains[i]);
            av = cJSON_GetObjectItemCaseSensitive(addr, key);
        }
        if (av == NULL)
            return ak_cfg_fail(err, cap,
                               "paymaster.address: no valid paymaster address for chain %llu",
                               (unsigned long long)c->chains[i]);
        if (addr_member(c->pm_addr[i], av, "paymaster.address", err, cap) != AK_OK)
            return AK_ERR_CONFIG;
    }
    return AK_OK;
}

static ak_err read_lists(cn_pm_conf *c, const cJSON *cfg, char *err, size_t cap)
{
    const cJSON *it, *eps = cJSON_GetObjectItemCaseSensitive(cfg, "entry_points");
    if (!cJSON_IsArray(eps) || cJSON_GetArraySize(eps) < 1 ||
        cJSON_GetArraySize(eps) > CN_PM_MAX_ENTRY_POINTS)
        return ak_cfg_fail(err, cap, "paymaster.entry_points must be an array of 1..%d addresses",
                           CN_PM_MAX_ENTRY_POINTS);
    cJSON_ArrayForEach(it, eps)
    {
        if (addr_member(c->entry_points[c->n_entry_points++], it, "paymaster.entry_points", err,
                        cap) != AK_OK)
            return AK_ERR_CONFIG;
    }
    const cJSON *snd = cJSON_GetObjectItemCaseSensitive(cfg, "allowed_senders");
    if (cJSON_IsString(snd) && strcmp(snd->valuestring, "*") == 0) {
        c->all_senders = 1;
        return AK_OK;
    }
    if (!cJSON_IsArray(snd) || cJSON_GetArraySize(snd) > CN_PM_MAX_SENDERS)
        return ak_cfg_fail(
            err, cap, "paymaster.allowed_senders must be \"*\" or an array of up to %d addresses",
            CN_PM_MAX_SENDERS);
    if ((c->senders = calloc((size_t)cJSON_GetArraySize(snd) + 1, 20)) == NULL)
        return AK_ERR_NOMEM;
    cJSON_ArrayForEach(it, snd)
    {
        if (addr_member(c->senders[c->n_senders++], it, "paymaster.allowed_senders", err, cap) !=
            AK_OK)
            return AK_ERR_CONFIG;
    }
    return AK_OK;
}

/* A cap in wei: a decimal string (wei amounts pass 2^53) or a small integer. *has = 0 when the
 * member is absent. */
static ak_err read_wei(ak_u256 *out, int *has, const cJSON *cfg, const char *name, char *err,
                       size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    ak_err rc = AK_ERR_CONFIG;
    *has = 0;
    if (v == NULL)
        return AK_OK;
    if (cJSON_IsString(v)) {
        rc = ak_u256_parse_decimal(out, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= JSON_INT_MAX &&
               v->valuedouble == (double)(uint64_t)v->valuedouble) {
        ak_u256_from_u64(out, (uint64_t)v->valuedouble);
        rc = AK_OK;
    }
    if (rc != AK_OK)
        return ak_cfg_fail(
            err, cap, "paymaster.%s must be a decimal string of wei (or an integer below 2^53)",
            name);
    *has = 1;
    return AK_OK;
}

ak_err cn_pm_conf_parse(cn_pm_conf *c, const cJSON *cfg, cn_signer *const *signers,
                        size_t n_signers, uint64_t chain_id, char *err, size_t err_cap)
{
    pm_cfg t;
    memset(c, 0, sizeof(*c));
    ak_err rc = ak_cfg_read(&t, k_fields, AK_CFG_COUNT(k_fields), cfg, "paymaster", err, err_cap);
    if (rc != AK_OK)
        goto out;
    ak_u256_from_u64(&c->vgl, t.vgl);
    ak_u256_from_u64(&c->pogl, t.pogl);
    c->validity_s = t.validity_s;
    c->skew_s = t.skew_s;
    c->max_gas = t.max_gas;
    memcpy(c->sponsor, t.sponsor, sizeof c->sponsor);
    if ((rc = read_account(c, cfg, signers, n_signers, err, err_cap)) != AK_OK ||
        (rc = read_chains(c, cfg, chain_id, err, err_cap)) != AK_OK ||
        (rc = read_lists(c, cfg, err, err_cap)) != AK_OK ||
        (rc = read_wei(&c->sender_cap, &c->has_sender_cap, cfg, "daily_cap_wei_per_sender", err,
                       err_cap)) != AK_OK ||
        (rc = read_wei(&c->global_cap, &c->has_global_cap, cfg, "daily_cap_wei_global", err,
                       err_cap)) != AK_OK)
        goto out;
out:
    if (rc != AK_OK)
        cn_pm_conf_clear(c);
    return rc;
}

void cn_pm_conf_clear(cn_pm_conf *c)
{
    if (c == NULL)
        return;
    free(c->senders);
    memset(c, 0, sizeof(*c));
}

int cn_pm_conf_chain(const cn_pm_conf *c, uint64_t chain_id)
{
    for (size_t i = 0; i < c->n_chains; i++)
        if (c->chains[i] == chain_id)
            return (int)i;
    return -1;
}

int cn_pm_conf_has_entry_point(const cn_pm_conf *c, const uint8_t entry_point[20])
{
    for (size_t i = 0; i < c->n_entry_points; i++)
        if (memcmp(c->entry_points[i], entry_point, 20) == 0)
            return 1;
    return 0;
}

int cn_pm_conf_allows_sender(const cn_pm_conf *c, const uint8_t sender[20])
{
    for (size_t i = 0; !c->all_senders && i < c->n_senders; i++)
        if (memcmp(c->senders[i], sender, 20) == 0)
            return 1;
    return c->all_senders;
}
