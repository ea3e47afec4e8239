/* cn_paymaster.c - ERC-7677 verifying-paymaster service (see cn_paymaster.h). */
#include "cn_paymaster.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_cfg.h"
#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_json.h"
#include "ak_secmem.h"
#include "ak_u256.h"
#include "ak_userop.h"
#include "cn_audit.h"
#include "cn_intent.h"
#include "cn_log.h"

#define MAX_SENDERS      4096
#define MAX_ENTRY_POINTS 8
#define MAX_CHAINS       16
#define CAP_SLOTS        65536 /* power of two */

/*
 * Stub signature (ERC-7677: same length as the real one, no more zero bytes). It is a valid
 * low-s signature - key keccak256("anode-keyless paymaster stub signature") over
 * keccak256("stub 1"), made with ethers v6 - so that ECDSA.recover in the paymaster returns an
 * address (the wrong one: SIG_VALIDATION_FAILED) instead of reverting during gas estimation.
 */
static const char k_stub_sig[] =
    "7f416d112061357e6df7293d6be7ad11d510d6bb675c4c01d0e55ff142dd3580"
    "451dec378f9bc8dbafde9fc25368bfff85f239c2a92ab841f94919557fde0f621c";

typedef struct {
    uint8_t addr[20];
    int used;
    ak_u256 spent;
} cap_slot;

struct cn_paymaster {
    cn_signer *signer;
    uint64_t chains[MAX_CHAINS];
    uint8_t pm_addr[MAX_CHAINS][20]; /* the paymaster contract on chains[i] */
    size_t n_chains;
    uint8_t entry_points[MAX_ENTRY_POINTS][20];
    size_t n_entry_points;
    int all_senders;
    uint8_t (*senders)[20];
    size_t n_senders;
    ak_u256 vgl, pogl; /* paymaster gas limits when the operation gives none */
    uint64_t max_gas;  /* 0: no limit */
    int has_cap;
    ak_u256 cap;
    uint64_t validity_s, skew_s;
    char sponsor[65];
    time_t (*now)(void);
    pthread_mutex_t lock; /* guards day and slots */
    int64_t day;
    cap_slot *slots;
    size_t n_used;
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

/* ---- configuration ---------------------------------------------------------------------- */

/*
 * An address member; on error, err says what is wrong with which value: a bad EIP-55 checksum
 * names the address as written and the checksummed form (addresses are public), so the
 * message never blames another field.
 */
static ak_err cfg_addr(uint8_t out[20], const cJSON *v)
{
    if (!cJSON_IsString(v))
        return AK_ERR_ADDRESS;
    return ak_addr_parse(out, v->valuestring, strlen(v->valuestring));
}

static ak_err cfg_addr_member(uint8_t out[20], const cJSON *v, const char *field, char *err,
                              size_t cap)
{
    char good[AK_ADDR_STR_SIZE];
    ak_err rc = cfg_addr(out, v);
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
    return rc;
}

/* The members read by the table; the rest (addresses, lists, the cap) are read below. */
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
    AK_CFG_STR("sponsor_name", 0, pm_cfg, sponsor, ""),
    AK_CFG_KNOWN("comment"),
};

static ak_err parse_config(cn_paymaster *pm, const cJSON *cfg, cn_signer *const *signers,
                           size_t n_signers, uint64_t chain_id, char *err, size_t cap)
{
    const cJSON *it;
    uint8_t a[20];
    pm_cfg c;
    ak_err rc = ak_cfg_read(&c, k_fields, AK_CFG_COUNT(k_fields), cfg, "paymaster", err, cap);
    if (rc != AK_OK)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(cfg, "account") == NULL) {
        snprintf(err, cap, "paymaster: missing required field \"account\" (a configured account)");
        return AK_ERR_CONFIG;
    }
    ak_u256_from_u64(&pm->vgl, c.vgl);
    ak_u256_from_u64(&pm->pogl, c.pogl);
    pm->validity_s = c.validity_s;
    pm->skew_s = c.skew_s;
    pm->max_gas = c.max_gas;
    memcpy(pm->sponsor, c.sponsor, sizeof pm->sponsor);
    if (cfg_addr_member(a, cJSON_GetObjectItemCaseSensitive(cfg, "account"), "paymaster.account",
                        err, cap) != AK_OK)
        return AK_ERR_CONFIG;
    for (size_t i = 0; i < n_signers && pm->signer == NULL; i++)
        if (memcmp(signers[i]->address, a, 20) == 0)
            pm->signer = signers[i];
    if (pm->signer == NULL) {
        snprintf(err, cap, "paymaster.account is not one of the configured accounts");
        return AK_ERR_CONFIG;
    }

    const cJSON *chains = cJSON_GetObjectItemCaseSensitive(cfg, "chain_ids");
    if (chains == NULL) {
        pm->chains[0] = chain_id;
        pm->n_chains = 1;
    } else {
        if (!cJSON_IsArray(chains) || cJSON_GetArraySize(chains) < 1 ||
            cJSON_GetArraySize(chains) > MAX_CHAINS) {
            snprintf(err, cap, "paymaster.chain_ids must be an array of 1..%d chain ids",
                     MAX_CHAINS);
            return AK_ERR_CONFIG;
        }
        cJSON_ArrayForEach(it, chains)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 1 ||
                it->valuedouble > 9007199254740992.0 ||
                it->valuedouble != (double)(uint64_t)it->valuedouble) {
                snprintf(err, cap, "paymaster.chain_ids: each must be a positive integer");
                return AK_ERR_CONFIG;
            }
            pm->chains[pm->n_chains++] = (uint64_t)it->valuedouble;
        }
    }
    /* "address": one address for every chain, or {"<chain id>": address}. */
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(cfg, "address");
    for (size_t i = 0; i < pm->n_chains; i++) {
        const cJSON *av = addr;
        if (cJSON_IsObject(addr)) {
            char key[24];
            snprintf(key, sizeof(key), "%llu", (unsigned long long)pm->chains[i]);
            av = cJSON_GetObjectItemCaseSensitive(addr, key);
        }
        if (av == NULL) {
            snprintf(err, cap, "paymaster.address: no valid paymaster address for chain %llu",
                     (unsigned long long)pm->chains[i]);
            return AK_ERR_CONFIG;
        }
        if (cfg_addr_member(pm->pm_addr[i], av, "paymaster.address", err, cap) != AK_OK)
            return AK_ERR_CONFIG;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(cfg, "entry_points");
    if (!cJSON_IsArray(eps) || cJSON_GetArraySize(eps) < 1 ||
        cJSON_GetArraySize(eps) > MAX_ENTRY_POINTS) {
        snprintf(err, cap, "paymaster.entry_points must be an array of 1..%d addresses",
                 MAX_ENTRY_POINTS);
        return AK_ERR_CONFIG;
    }
    cJSON_ArrayForEach(it, eps)
    {
        if (cfg_addr_member(pm->entry_points[pm->n_entry_points++], it, "paymaster.entry_points",
                            err, cap) != AK_OK)
            return AK_ERR_CONFIG;
    }
    const cJSON *snd = cJSON_GetObjectItemCaseSensitive(cfg, "allowed_senders");
    if (cJSON_IsString(snd) && strcmp(snd->valuestring, "*") == 0) {
        pm->all_senders = 1;
    } else if (cJSON_IsArray(snd) && cJSON_GetArraySize(snd) <= MAX_SENDERS) {
        pm->senders = calloc((size_t)cJSON_GetArraySize(snd) + 1, 20);
        if (pm->senders == NULL)
            return AK_ERR_NOMEM;
        cJSON_ArrayForEach(it, snd)
        {
            if (cfg_addr_member(pm->senders[pm->n_senders++], it, "paymaster.allowed_senders", err,
                                cap) != AK_OK)
                return AK_ERR_CONFIG;
        }
    } else {
        snprintf(err, cap,
                 "paymaster.allowed_senders must be \"*\" or an array of up to %d "
                 "addresses",
                 MAX_SENDERS);
        return AK_ERR_CONFIG;
    }
    /* The cap in wei: a decimal string (wei amounts pass 2^53) or a small integer. */
    const cJSON *capv = cJSON_GetObjectItemCaseSensitive(cfg, "daily_cap_wei_per_sender");
    if (capv != NULL) {
        rc = AK_ERR_CONFIG;
        if (cJSON_IsString(capv))
            rc = ak_u256_parse_decimal(&pm->cap, capv->valuestring, strlen(capv->valuestring));
        else if (cJSON_IsNumber(capv) && capv->valuedouble >= 0 &&
                 capv->valuedouble <= 9007199254740992.0 &&
                 capv->valuedouble == (double)(uint64_t)capv->valuedouble) {
            ak_u256_from_u64(&pm->cap, (uint64_t)capv->valuedouble);
            rc = AK_OK;
        }
        if (rc != AK_OK) {
            snprintf(err, cap,
                     "paymaster.daily_cap_wei_per_sender must be a decimal string of "
                     "wei (or an integer below 2^53)");
            return AK_ERR_CONFIG;
        }
        pm->has_cap = 1;
    }
    return AK_OK;
}

ak_err cn_pm_new(cn_paymaster **out, const cJSON *cfg, cn_signer *const *signers, size_t n_signers,
                 uint64_t chain_id, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_paymaster *pm = calloc(1, sizeof(*pm));
    if (pm == NULL)
        return AK_ERR_NOMEM;
    pm->now = wall_now;
    pm->day = -1;
    pthread_mutex_init(&pm->lock, NULL);
    rc = parse_config(pm, cfg, signers, n_signers, chain_id, err, err_cap);
    if (rc != AK_OK)
        goto out;
    if (pm->has_cap && (pm->slots = calloc(CAP_SLOTS, sizeof(*pm->slots))) == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
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
    pthread_mutex_destroy(&pm->lock);
    free(pm->senders);
    free(pm->slots);
    free(pm);
}

ak_err cn_pm_bind_policy(const cn_paymaster *pm, cn_signer *const *signers, cn_policy **policies,
                         size_t n_signers, char *err, size_t err_cap)
{
    for (size_t i = 0; i < n_signers; i++) {
        if (signers[i] != pm->signer)
            continue;
        ak_err rc = cn_policy_for_paymaster(&policies[i], err, err_cap);
        if (rc == AK_OK && cn_policy_serves_beyond_paymaster(policies[i])) {
            char a[AK_ADDR_STR_SIZE];
            ak_addr_to_checksum(a, pm->signer->address);
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
}

/* ---- per-sender daily spending ---------------------------------------------------------- */

/* The sender's slot for today (created if create), or NULL when absent / the table is full. */
static cap_slot *cap_slot_for(cn_paymaster *pm, const uint8_t addr[20], int64_t day, int create)
{
    if (day != pm->day) {
        if (pm->n_used > 0) /* calloc'd pages stay untouched (RSS) until first used */
            memset(pm->slots, 0, CAP_SLOTS * sizeof(*pm->slots));
        pm->day = day;
        pm->n_used = 0;
    }
    /* Addresses are hash outputs: their last bytes index the table well enough. */
    size_t i =
        ((size_t)addr[16] << 24 | (size_t)addr[17] << 16 | (size_t)addr[18] << 8 | addr[19]) &
        (CAP_SLOTS - 1);
    for (size_t probe = 0; probe < CAP_SLOTS; probe++, i = (i + 1) & (CAP_SLOTS - 1)) {
        cap_slot *s = &pm->slots[i];
        if (s->used && memcmp(s->addr, addr, 20) == 0)
            return s;
        if (!s->used) {
            if (!create || pm->n_used >= CAP_SLOTS - CAP_SLOTS / 8)
                return NULL;
            s->used = 1;
            memcpy(s->addr, addr, 20);
            pm->n_used++;
            return s;
        }
    }
    return NULL;
}

/*
 * Stub stage (commit 0): refuse when nothing is left or cost does not fit. Final stage
 * (commit 1): refuse when cost does not fit, else add it. Returns 1 when allowed.
 */
static int cap_charge(cn_paymaster *pm, const uint8_t sender[20], time_t now, const ak_u256 *cost,
                      int commit, pm_err *e)
{
    if (!pm->has_cap)
        return 1;
    int ok = 0;
    ak_u256 zero = {{0, 0, 0, 0}}, total;
    pthread_mutex_lock(&pm->lock);
    cap_slot *s = cap_slot_for(pm, sender, (int64_t)(now / 86400), commit);
    const ak_u256 *spent = s ? &s->spent : &zero;
    if (commit && s == NULL) {
        fail(e, CN_PM_E_POLICY, "daily_cap_wei_per_sender",
             "sponsorship refused (rule daily_cap_wei_per_sender): too many senders today");
        goto out;
    }
    if (ak_u256_add(&total, spent, cost) != AK_OK || ak_u256_cmp(&total, &pm->cap) > 0 ||
        (!commit && ak_u256_cmp(spent, &pm->cap) >= 0)) {
        fail(e, CN_PM_E_POLICY, "daily_cap_wei_per_sender",
             "sponsorship refused (rule daily_cap_wei_per_sender): the sender's daily spending "
             "cap would be exceeded");
        goto out;
    }
    if (commit)
        s->spent = total;
    ok = 1;
out:
    pthread_mutex_unlock(&pm->lock);
    return ok;
}

static void cap_refund(cn_paymaster *pm, const uint8_t sender[20], time_t now, const ak_u256 *cost)
{
    if (!pm->has_cap)
        return;
    pthread_mutex_lock(&pm->lock);
    cap_slot *s = cap_slot_for(pm, sender, (int64_t)(now / 86400), 0);
    if (s != NULL && ak_u256_sub(&s->spent, &s->spent, cost) != AK_OK)
        memset(&s->spent, 0, sizeof(s->spent));
    pthread_mutex_unlock(&pm->lock);
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

static int sponsor(cn_paymaster *pm, int final, ak_userop *op, const cJSON *ep_j,
                   const cJSON *chain_j, sponsorship *sp, pm_err *e)
{
    size_t ci = 0, k;
    char a[AK_ADDR_STR_SIZE];
    ak_u256 gas;
    if (cfg_addr(sp->entry_point, ep_j) != AK_OK) {
        fail(e, -32602, NULL, "invalid params: entryPoint must be an address");
        return 0;
    }
    if (chain_j == NULL || cJSON_IsNull(chain_j)) {
        sp->chain_id = pm->chains[0];
    } else if (!parse_chain(&sp->chain_id, chain_j)) {
        fail(e, -32602, NULL, "invalid params: chainId must be a hex quantity");
        return 0;
    }
    for (k = 0; k < pm->n_entry_points; k++)
        if (memcmp(pm->entry_points[k], sp->entry_point, 20) == 0)
            break;
    if (k == pm->n_entry_points) {
        ak_addr_to_checksum(a, sp->entry_point);
        fail(e, CN_PM_E_POLICY, "entry_points",
             "sponsorship refused (rule entry_points): entry point %s is not supported", a);
        return 0;
    }
    while (ci < pm->n_chains && pm->chains[ci] != sp->chain_id)
        ci++;
    if (ci == pm->n_chains) {
        fail(e, CN_PM_E_POLICY, "chain_ids",
             "sponsorship refused (rule chain_ids): chain %llu is not supported",
             (unsigned long long)sp->chain_id);
        return 0;
    }
    for (k = 0; !pm->all_senders && k < pm->n_senders; k++)
        if (memcmp(pm->senders[k], op->sender, 20) == 0)
            break;
    if (!pm->all_senders && k == pm->n_senders) {
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
        op->paymaster_verification_gas_limit = pm->vgl;
    if (ak_u256_is_zero(&op->paymaster_post_op_gas_limit))
        op->paymaster_post_op_gas_limit = pm->pogl;
    op->has_paymaster = 1;
    memcpy(op->paymaster, pm->pm_addr[ci], 20);
    memcpy(sp->paymaster, pm->pm_addr[ci], 20);
    if (ak_userop_max_cost(&sp->cost, &gas, op) != AK_OK) {
        fail(e, -32602, NULL, "invalid params: gas limits or fees out of range");
        return 0;
    }
    uint64_t g = 0;
    if (pm->max_gas != 0 && (!ak_u256_to_u64(&g, &gas) || g > pm->max_gas)) {
        fail(e, CN_PM_E_POLICY, "max_gas_per_op",
             "sponsorship refused (rule max_gas_per_op): the operation's gas limits exceed %llu",
             (unsigned long long)pm->max_gas);
        return 0;
    }
    time_t now = pm->now();
    uint64_t t = now > 0 ? (uint64_t)now : 0;
    sp->until = t + pm->validity_s;
    sp->after = t > pm->skew_s ? t - pm->skew_s : 0;
    if (sp->until > AK_USEROP_UINT48_MAX) {
        fail(e, -32603, NULL, "internal error: the clock is beyond uint48 validUntil");
        return 0;
    }
    if (!cap_charge(pm, op->sender, now, &sp->cost, final, e))
        return 0;
    uint8_t sig[AK_USEROP_VP_SIG_LEN];
    if (!final) {
        size_t n = 0;
        if (ak_hex_decode_bare(sig, sizeof(sig), &n, k_stub_sig, sizeof(k_stub_sig) - 1) != AK_OK ||
            ak_userop_vp_data(sp->data, sp->until, sp->after, sig) != AK_OK) {
            fail(e, -32603, NULL, "internal error");
            return 0;
        }
        return 1;
    }
    uint8_t h[32], digest[32];
    ak_sig s;
    char why[256] = "";
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
                       sizeof why};
    ak_err rc = ak_userop_vp_hash(h, op, sp->chain_id, sp->paymaster, sp->until, sp->after);
    if (rc == AK_OK) {
        ak_eip191_hash(digest, h, 32);
        rc = cn_audit_sign_eth(pm->signer, &s, digest, &ctx); /* signs and audits */
    }
    cJSON_Delete(owned);
    if (rc == AK_OK) {
        ak_sig_to_rsv(sig, &s);
        rc = ak_userop_vp_data(sp->data, sp->until, sp->after, sig);
    }
    if (rc != AK_OK) {
        cap_refund(pm, op->sender, now, &sp->cost);
        fail(e, -32000, NULL, "signer %s failed: %s%s%s", pm->signer->name, ak_strerror(rc),
             why[0] != '\0' ? ": " : "", why);
        return 0;
    }
    return 1;
}

/* Parse, decide, log. *op is filled (caller clears it). */
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

static int add_qty(cJSON *o, const char *name, const ak_u256 *v)
{
    char q[AK_U256_QUANTITY_MAX];
    return ak_u256_format_quantity(q, sizeof(q), v) == AK_OK &&
           cJSON_AddStringToObject(o, name, q) != NULL;
}

/* The fields every answer carries: paymaster, paymasterData and the gas limits. */
static cJSON *base_result(const sponsorship *sp, const ak_userop *op)
{
    char a[AK_ADDR_STR_SIZE];
    cJSON *o = cJSON_CreateObject();
    ak_addr_to_checksum(a, sp->paymaster);
    if (o == NULL || cJSON_AddStringToObject(o, "paymaster", a) == NULL ||
        !add_hex(o, "paymasterData", sp->data, sizeof(sp->data)) ||
        !add_qty(o, "paymasterVerificationGasLimit", &op->paymaster_verification_gas_limit) ||
        !add_qty(o, "paymasterPostOpGasLimit", &op->paymaster_post_op_gas_limit)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int add_sponsor(cJSON *o, const cn_paymaster *pm)
{
    if (pm->sponsor[0] == '\0')
        return 1;
    cJSON *s = cJSON_AddObjectToObject(o, "sponsor");
    return s != NULL && cJSON_AddStringToObject(s, "name", pm->sponsor) != NULL;
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
    *status = e.code == CN_PM_E_POLICY ? 403
              : e.code == -32000       ? 502
              : e.code == -32603       ? 500
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
