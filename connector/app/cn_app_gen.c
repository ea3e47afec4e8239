/* cn_app_gen.c - configuration generations and the SIGHUP reload (see cn_app_gen.h). */
#include "cn_app_gen.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_cfg.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_nonce.h"
#include "cn_secfile.h"
#include "cn_signer_manager.h"

struct cn_gens {
    pthread_mutex_t mu;
    cn_gen *cur;
    const cn_gen_env *env;
    cn_gen_auth_swap_fn swap;
    void *swap_ctx;
};

/* Top-level members only a restart changes (cn_app_gen.h says why each is shared). */
static const char *const k_restart_only[] = {
    "http", "downstream", "audit", "state", "nonce_retries", "allow_insecure_secret_files"};

ak_err cn_gen_load(cJSON **doc, const cn_options *o, char *err, size_t err_cap)
{
    *doc = NULL;
    if (cn_config_load(doc, o->config_path, err, err_cap) != AK_OK ||
        cn_config_select_profile(*doc, o->profile, NULL, err, err_cap) != AK_OK) {
        cJSON_Delete(*doc);
        *doc = NULL;
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

/* Accounts built again: the health state of their unchanged signers (same address, same signer
 * object at the same position). */
static void carry_signers(cn_gen *g, const cn_gen *prev)
{
    for (size_t i = 0; i < g->acc.n; i++) {
        if (g->acc.carried[i])
            continue; /* the very same manager: its state is its own */
        const cJSON *acc = cJSON_GetArrayItem(g->s.accounts, (int)i);
        for (size_t j = 0; j < prev->acc.n; j++) {
            if (memcmp(prev->acc.signers[j]->address, g->acc.signers[i]->address, 20) != 0)
                continue;
            const cJSON *a[CN_MGR_MAX_BACKUPS + 1], *b[CN_MGR_MAX_BACKUPS + 1];
            size_t na = 0, nb = 0;
            char e[64];
            if (cn_signer_manager_members(acc, "", a, &na, e, sizeof e) != AK_OK ||
                cn_signer_manager_members(cJSON_GetArrayItem(prev->s.accounts, (int)j), "", b, &nb,
                                          e, sizeof e) != AK_OK)
                break;
            for (size_t k = 0; k < na && k < nb; k++) {
                if (cJSON_Compare(a[k], b[k], 1) &&
                    cn_signer_manager_carry(g->acc.signers[i], k, prev->acc.signers[j], k) != AK_OK)
                    cn_log(CN_LOG_WARN, "a signer's health state was not carried over", "signer",
                           g->acc.signers[i]->name, (char *)NULL);
            }
            break;
        }
    }
}

/* prev's paymaster if its section is unchanged and its account's manager was carried (its daily
 * caps go on), else a new one (or none). */
static ak_err gen_paymaster(cn_gen *g, const cn_gen_env *env, const cn_gen *prev)
{
    char err[256] = "";
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(g->doc, "paymaster");
    if (prev != NULL && prev->pm != NULL && sec != NULL &&
        cJSON_Compare(sec, cJSON_GetObjectItemCaseSensitive(prev->doc, "paymaster"), 1) &&
        cn_pm_bind_policy(prev->pm, g->acc.signers, g->acc.policies, g->acc.n, err, sizeof(err)) ==
            AK_OK) {
        g->pm = prev->pm; /* owned by this one once it is in force */
        return AK_OK;
    }
    ak_err rc = cn_app_paymaster(&g->pm, sec, &g->acc, env->chain_id);
    g->own_pm = g->pm != NULL;
    if (g->pm != NULL)
        cn_pm_set_state(g->pm, env->state); /* the daily caps count on the one store */
    return rc;
}

/* The router on this generation's accounts, paymaster and rate limit. */
static ak_err build_router(cn_gen *g, const cn_gen_env *env)
{
    uint8_t addrs[CN_RPC_MAX_ACCOUNTS][20];
    for (size_t i = 0; i < g->acc.n; i++)
        memcpy(addrs[i], g->acc.signers[i]->address, 20);
    ak_err rc = cn_nonce_add(env->nonce, (const uint8_t(*)[20])addrs, g->acc.n);
    if (rc != AK_OK) {
        cn_log(CN_LOG_ERROR,
               "the nonce table is full (too many distinct accounts since start): "
               "restart the connector",
               (char *)NULL);
        return AK_ERR_CONFIG;
    }
    g->pm_table = cn_pm_methods(g->pm);
    g->pm_tables[0] = &g->pm_table;
    cn_rpc_config rcfg = {
        .signers = g->acc.signers,
        .n_signers = g->acc.n,
        .policies = (const cn_policy *const *)g->acc.policies,
        .downstream = env->ds,
        .chain_id = env->chain_id,
        .allow_unprotected_tx = g->s.allow_unprotected_tx,
        .nonce_retries = g->s.nonce_retries,
        .max_batch = g->s.max_batch,
        .batch_threads = g->s.batch_threads,
        .extra = g->pm ? g->pm_tables : NULL,
        .n_extra = g->pm ? 1 : 0,
        .max_sign_per_batch = g->s.max_sign_per_batch,
        .rate = g->rate,
        .state = env->state,
        .state_nonces = g->s.state.backend == ST_POSTGRES,
        .nonce = env->nonce,
        .metric_index = g->acc.metric,
    };
    return cn_rpc_new(&g->rpc, &rcfg);
}

ak_err cn_gen_build(cn_gen **out, const cJSON *doc, const cn_gen_env *env, const cn_gen *prev,
                    char *msg, size_t msg_cap)
{
    char err[256] = "";
    ak_err rc = AK_ERR_NOMEM;
    const char *what = NULL;
    *out = NULL;
    cn_gen *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->doc = cJSON_Duplicate(doc, 1)) == NULL) {
        free(g);
        snprintf(msg, msg_cap, "out of memory");
        return rc;
    }
    if (cn_config_settings(&g->s, g->doc, err, sizeof(err)) != AK_OK) {
        snprintf(msg, msg_cap, "%s", err);
        rc = AK_ERR_CONFIG;
        goto fail;
    }
    if (prev != NULL && (what = cn_config_first_change(prev->doc, g->doc, k_restart_only,
                                                       AK_CFG_COUNT(k_restart_only))) != NULL) {
        snprintf(msg, msg_cap, "\"%s\" changed: only a restart applies it", what);
        rc = AK_ERR_CONFIG;
        goto fail;
    }
    if ((rc = cn_app_accounts_build(&g->acc, &g->s, prev ? &prev->acc : NULL,
                                    prev ? &prev->s : NULL)) != AK_OK) {
        snprintf(msg, msg_cap, "an account was refused (see the log line before)");
        goto fail;
    }
    if (cn_auth_new(&g->auth, g->s.auth, err, sizeof(err)) != AK_OK) {
        snprintf(msg, msg_cap, "invalid auth configuration: %s", err);
        rc = AK_ERR_CONFIG;
        goto fail;
    }
    if (prev != NULL && cJSON_Compare(prev->s.signing_rate_limit, g->s.signing_rate_limit, 1)) {
        g->rate = prev->rate; /* carried: owned by this one once it is in force */
    } else {
        if (cn_rate_new(&g->rate, g->s.signing_rate_limit, err, sizeof(err)) != AK_OK) {
            snprintf(msg, msg_cap, "invalid signing_rate_limit: %s", err);
            rc = AK_ERR_CONFIG;
            goto fail;
        }
        g->own_rate = 1;
    }
    if ((rc = gen_paymaster(g, env, prev)) != AK_OK) {
        snprintf(msg, msg_cap, "invalid paymaster configuration (see the log line before)");
        goto fail;
    }
    if (env->ds.post != NULL && (rc = build_router(g, env)) != AK_OK) {
        snprintf(msg, msg_cap, "the router could not be built: %s", ak_strerror(rc));
        goto fail;
    }
    if (prev != NULL)
        carry_signers(g, prev);
    *out = g;
    return AK_OK;
fail:
    if (prev == NULL) /* a reload logs its own line with msg */
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", msg, (char *)NULL);
    cn_gen_free(g);
    return rc == AK_OK ? AK_ERR_CONFIG : rc;
}

void cn_gen_free(cn_gen *g)
{
    if (g == NULL)
        return;
    cn_rpc_free(g->rpc);
    if (g->own_pm)
        cn_pm_free(g->pm);
    if (g->own_rate)
        cn_rate_free(g->rate);
    cn_auth_free(g->auth);
    cn_app_accounts_free(&g->acc);
    cJSON_Delete(g->doc);
    free(g);
}

ak_err cn_gens_new(cn_gens **out, cn_gen *first, const cn_gen_env *env)
{
    cn_gens *gs = calloc(1, sizeof(*gs));
    *out = NULL;
    if (gs == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&gs->mu, NULL);
    first->number = 1;
    first->refs = 1; /* the "current" reference */
    gs->cur = first;
    gs->env = env;
    cn_app_accounts_publish(&first->acc);
    cn_metrics_config_generation(1);
    *out = gs;
    return AK_OK;
}

cn_gen *cn_gens_acquire(cn_gens *gs)
{
    pthread_mutex_lock(&gs->mu);
    cn_gen *g = gs->cur;
    g->refs++;
    pthread_mutex_unlock(&gs->mu);
    return g;
}

/* Drop one reference; frees g and then, in turn, the newer ones it alone still held. */
static void unref(cn_gens *gs, cn_gen *g)
{
    while (g != NULL) {
        pthread_mutex_lock(&gs->mu);
        int last = --g->refs == 0;
        pthread_mutex_unlock(&gs->mu);
        if (!last)
            return;
        cn_gen *next = g->next;
        char num[24];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)g->number);
        cn_log(CN_LOG_DEBUG, "configuration generation freed", "generation", num, (char *)NULL);
        cn_gen_free(g);
        g = next;
    }
}

void cn_gens_release(cn_gens *gs, cn_gen *g)
{
    unref(gs, g);
}

void cn_gens_set_auth_swap(cn_gens *gs, cn_gen_auth_swap_fn fn, void *ctx)
{
    gs->swap = fn;
    gs->swap_ctx = ctx;
}

void cn_gens_free(cn_gens *gs)
{
    if (gs == NULL)
        return;
    unref(gs, gs->cur);
    pthread_mutex_destroy(&gs->mu);
    free(gs);
}

/* next becomes current: ownership of what it carried, its auth in force, labels, the swap; logged
 * and counted. */
static void commit(cn_gens *gs, cn_gen *next)
{
    char num[24], n_acc[16];
    cn_gen *old = gs->cur;
    cn_app_accounts_take(&next->acc, &old->acc);
    if (next->rate == old->rate) {
        next->own_rate = old->own_rate;
        old->own_rate = 0;
    }
    if (next->pm != NULL && next->pm == old->pm) {
        next->own_pm = old->own_pm;
        old->own_pm = 0;
    }
    if (gs->swap != NULL) {
        (void)gs->swap(gs->swap_ctx, next->auth); /* returns old->auth, unused from here on */
        cn_auth_free(old->auth);
        old->auth = NULL;
    }
    cn_app_accounts_publish(&next->acc);
    pthread_mutex_lock(&gs->mu);
    next->number = old->number + 1;
    next->refs = 2; /* "current", and the old generation's hold on its successor */
    old->next = next;
    gs->cur = next;
    pthread_mutex_unlock(&gs->mu);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)next->number);
    snprintf(n_acc, sizeof(n_acc), "%zu", next->acc.n);
    cn_log(CN_LOG_INFO, "SIGHUP: configuration reloaded", "generation", num, "accounts", n_acc,
           "paymaster", next->pm ? "on" : "off", "auth", cn_auth_enabled(next->auth) ? "on" : "off",
           (char *)NULL);
    cn_metrics_config_reload(1);
    cn_metrics_config_generation(next->number);
    unref(gs, old); /* the "current" reference; freed now, or by its last request */
}

ak_err cn_gens_reload(cn_gens *gs)
{
    char err[256] = "", num[24];
    cJSON *doc = NULL;
    cn_gen *next = NULL;
    const cn_gen *cur = gs->cur; /* only this thread changes it */
    ak_err rc = cn_gen_load(&doc, gs->env->o, err, sizeof(err));
    if (rc == AK_OK)
        rc = cn_gen_build(&next, doc, gs->env, cur, err, sizeof(err));
    cJSON_Delete(doc);
    if (rc != AK_OK) {
        /* cn_config_settings set the process-wide secret-file rule from the refused file */
        cn_secret_files_allow_insecure(cur->s.allow_insecure_secret_files);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)cur->number);
        cn_log(CN_LOG_ERROR, "SIGHUP: configuration not reloaded, the one in force stays",
               "generation", num, "reason", err, (char *)NULL);
        cn_metrics_config_reload(0);
        return rc;
    }
    commit(gs, next);
    return AK_OK;
}
