/* cn_app_accounts.c - the accounts and the paymaster from the configuration (see
 * cn_app_accounts.h). */
#include "cn_app_accounts.h"

#include <stdio.h>
#include <string.h>

#include "ak_addr.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_signer_manager.h"

ak_err cn_app_publish_methods(void)
{
    static cn_method_table pm;
    pm = cn_pm_methods(NULL);
    const cn_method_table *tables[] = {cn_methods_builtin(), &pm};
    return cn_methods_publish(tables, 2);
}

/* One account: its manager (carried, or built), not the address of another, its policy. */
static ak_err add_account(cn_app_accounts *a, const cJSON *acc, const cn_manager_opts *mopts,
                          cn_signer *carried)
{
    char err[256] = "", idx[16], addr[AK_ADDR_STR_SIZE];
    cn_signer *s = carried;
    ak_err rc = AK_OK;
    snprintf(idx, sizeof(idx), "%zu", a->n);
    /* Every account is a manager: primary, backups, circuit breakers, per-signer metrics. */
    if (s == NULL && (rc = cn_signer_manager_new(&s, acc, mopts, err, sizeof(err))) != AK_OK) {
        cn_log(CN_LOG_ERROR, "cannot create signer", "account", idx, "reason", err, (char *)NULL);
        return rc;
    }
    a->carried[a->n] = carried != NULL;
    a->signers[a->n++] = s;
    ak_addr_to_checksum(addr, s->address);
    for (size_t j = 0; j + 1 < a->n; j++) {
        if (memcmp(a->signers[j]->address, s->address, 20) == 0) {
            cn_log(CN_LOG_ERROR, "two accounts have the same address", "address", addr,
                   (char *)NULL);
            return AK_ERR_CONFIG;
        }
    }
    rc = cn_policy_parse(&a->policies[a->n - 1], cJSON_GetObjectItemCaseSensitive(acc, "policy"),
                         err, sizeof(err));
    if (rc != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid account policy", "account", idx, "reason", err, (char *)NULL);
        return rc;
    }
    cn_log(CN_LOG_INFO, carried ? "account (signers unchanged, kept)" : "account", "address", addr,
           "signer", s->ops->type, "name", s->name, "provider", s->provider, "security_level",
           cn_security_level_name(s->level), (char *)NULL);
    return AK_OK;
}

/* The members that name an account's signers (policy and comment aside). */
static const char *const k_signer_members[] = {"name", "signer", "primary", "backups"};

/* prev's manager for account object acc, if its signers are unchanged (see the header). */
static cn_signer *carry_of(const cJSON *acc, const cn_settings *s, const cn_app_accounts *prev,
                           const cn_settings *prev_s)
{
    if (prev == NULL || s->failure_threshold != prev_s->failure_threshold ||
        s->health_interval_ms != prev_s->health_interval_ms)
        return NULL;
    size_t j = 0;
    const cJSON *old;
    cJSON_ArrayForEach(old, prev_s->accounts)
    {
        if (j < prev->n && cn_config_first_change(acc, old, k_signer_members, 4) == NULL)
            return prev->signers[j];
        j++;
    }
    return NULL;
}

/* The metrics label slots: which address each holds (start-up and reload thread only). */
static uint8_t g_slot_addr[CN_METRICS_MAX_ACCOUNTS][20];
static int g_slot_used[CN_METRICS_MAX_ACCOUNTS];

static int slot_of(const uint8_t addr[20])
{
    for (int k = 0; k < CN_METRICS_MAX_ACCOUNTS; k++)
        if (g_slot_used[k] && memcmp(g_slot_addr[k], addr, 20) == 0)
            return k;
    return -1;
}

/* Known addresses keep their slot; the others take a free one, else one no account here holds. */
static void choose_slots(cn_app_accounts *a)
{
    int taken[CN_METRICS_MAX_ACCOUNTS] = {0}, has[CN_RPC_MAX_ACCOUNTS] = {0};
    for (size_t i = 0; i < a->n; i++) {
        int k = slot_of(a->signers[i]->address);
        if (k >= 0) {
            a->metric[i] = (size_t)k;
            taken[k] = has[i] = 1;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0, k = 0; i < a->n; i++) {
            while (!has[i] && k < CN_METRICS_MAX_ACCOUNTS &&
                   (taken[k] || (!pass && g_slot_used[k])))
                k++;
            if (!has[i] && k < CN_METRICS_MAX_ACCOUNTS) {
                a->metric[i] = k;
                taken[k] = has[i] = 1;
            }
        }
    }
}

void cn_app_accounts_publish(const cn_app_accounts *a)
{
    char addr[AK_ADDR_STR_SIZE];
    for (size_t i = 0; i < a->n; i++) {
        size_t k = a->metric[i];
        if (g_slot_used[k] && memcmp(g_slot_addr[k], a->signers[i]->address, 20) == 0)
            continue;
        memcpy(g_slot_addr[k], a->signers[i]->address, 20);
        g_slot_used[k] = 1;
        ak_addr_to_checksum(addr, a->signers[i]->address);
        cn_metrics_set_account(k, addr);
    }
}

ak_err cn_app_accounts_build(cn_app_accounts *a, const cn_settings *s, const cn_app_accounts *prev,
                             const cn_settings *prev_s)
{
    cn_manager_opts mopts = {.failure_threshold = s->failure_threshold,
                             .health_interval_ms = s->health_interval_ms};
    const cJSON *acc;
    memset(a, 0, sizeof(*a));
    cJSON_ArrayForEach(acc, s->accounts)
    {
        if (a->n == CN_RPC_MAX_ACCOUNTS)
            return AK_ERR_CONFIG; /* cn_config_accounts allows no more */
        ak_err rc = add_account(a, acc, &mopts, carry_of(acc, s, prev, prev_s));
        if (rc != AK_OK)
            return rc;
    }
    choose_slots(a);
    return AK_OK;
}

void cn_app_accounts_free(cn_app_accounts *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (!a->carried[i])
            cn_signer_free(a->signers[i]);
        cn_policy_free(a->policies[i]);
    }
    a->n = 0;
}

void cn_app_accounts_take(cn_app_accounts *a, cn_app_accounts *old)
{
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; a->carried[i] && j < old->n; j++) {
            if (old->signers[j] == a->signers[i]) {
                old->carried[j] = 1;
                a->carried[i] = 0;
            }
        }
    }
}

ak_err cn_app_paymaster(cn_paymaster **out, const cJSON *section, cn_app_accounts *a,
                        uint64_t chain_id)
{
    char err[256] = "";
    ak_err rc = AK_OK;
    *out = NULL;
    if (section == NULL)
        return AK_OK;
    if ((rc = cn_pm_new(out, section, a->signers, a->n, chain_id, err, sizeof(err))) != AK_OK ||
        (rc = cn_pm_bind_policy(*out, a->signers, a->policies, a->n, err, sizeof(err))) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid paymaster configuration", "reason", err, (char *)NULL);
        cn_pm_free(*out);
        *out = NULL;
    }
    return rc;
}
