/*
 * main.c - anode-connector: wiring only. Options and configuration, the accounts and the
 * paymaster (cn_app_accounts), the node and readiness (cn_app_ready), the router, the HTTP
 * server; SIGHUP reloads the auth files, SIGINT/SIGTERM drain and stop. Exit status: 0, 2 for a
 * configuration error, 1 otherwise. See docs/connector.md.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include <curl/curl.h>

#include "ak_secmem.h"
#include "cn_app_accounts.h"
#include "cn_app_front.h"
#include "cn_app_ready.h"
#include "cn_audit.h"
#include "cn_downstream.h"
#include "cn_log.h"

int main(int argc, char **argv)
{
    int status = 1;
    char err[256] = "", profile[64] = "";
    cn_options o;
    cn_settings s;
    cJSON *doc = NULL;
    cn_app_accounts acc = {0};
    cn_downstream *ds = NULL;
    cn_rpc *rpc = NULL;
    cn_paymaster *pm = NULL;
    st_store *state = NULL;
    cn_app_front front = {0};
    sigset_t sigs;

    if (cn_options_parse(&o, argc, argv, err, sizeof(err)) != AK_OK) {
        fprintf(stderr, "anode-connector: %s (see --help)\n", err);
        return 2;
    }
    if (o.help) {
        cn_options_usage(stdout, argv[0]);
        return 0;
    }
    if (o.version) {
        printf("anode-connector %s\n", AK_VERSION);
        return 0;
    }
    cn_log_setup(o.log_level, o.log_json);
    if (ak_disable_core_dumps() != 0)
        cn_log(CN_LOG_WARN, "could not disable core dumps", (char *)NULL);
    /* Signals: handled by sigwait in this thread; every thread started later inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cn_log(CN_LOG_ERROR, "libcurl initialisation failed", (char *)NULL);
        return 1;
    }

    ak_err rc = cn_app_publish_methods();
    if (rc == AK_OK &&
        (cn_config_load(&doc, o.config_path, err, sizeof(err)) != AK_OK ||
         cn_config_select_profile(doc, o.profile, profile, err, sizeof(err)) != AK_OK ||
         cn_config_settings(&s, doc, err, sizeof(err)) != AK_OK)) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        rc = AK_ERR_CONFIG;
    }
    if (rc == AK_OK && o.migrate) { /* the schema only: 0 done, 2 not (the reason logged) */
        char msg[256] = "";
        rc = st_migrate(&s.state, msg, sizeof(msg));
        cn_log(rc == AK_OK ? CN_LOG_INFO : CN_LOG_ERROR,
               rc == AK_OK ? "state store migrated" : "state store migration failed", "detail", msg,
               (char *)NULL);
        status = rc == AK_OK ? 0 : 2;
        goto out;
    }
    if (rc == AK_OK && profile[0] != '\0')
        cn_log(CN_LOG_INFO, "configuration profile", "profile", profile, (char *)NULL);
    if (rc != AK_OK || (rc = cn_app_accounts_build(&acc, &s)) != AK_OK) {
        status = rc == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    if ((rc = cn_app_front_open(&front, &s)) != AK_OK) {
        status = rc == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    const cJSON *pm_cfg = cJSON_GetObjectItemCaseSensitive(doc, "paymaster");
    /* Without --chain-id, chain 1 stands in for the node's (only chain_ids' default). */
    if (o.check_config &&
        (rc = cn_app_paymaster(&pm, pm_cfg, &acc, o.chain_id ? o.chain_id : 1)) != AK_OK) {
        status = rc == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    if (!o.check_config && cn_audit_start(&s.audit, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "cannot open the audit log", "reason", err, (char *)NULL);
        goto out;
    }
    if (o.check_config) {
        printf("configuration OK: %zu account(s)\n", acc.n);
        status = 0;
        goto out;
    }

    if (cn_downstream_new(&ds, o.ds_url, o.ds_timeout_ms, s.ds_max_response) != AK_OK)
        goto out;
    cn_transport t = cn_downstream_transport(ds);
    if (cn_app_settle_chain_id(&o, &t) != AK_OK)
        goto out;
    if ((rc = cn_app_paymaster(&pm, pm_cfg, &acc, o.chain_id)) != AK_OK) {
        status = rc == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    /* The store holds the cumulative caps; it fills nonces only with "postgres" (memory keeps
     * the in-process cn_nonce). */
    if (st_open(&state, &s.state, NULL, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    if (s.state.backend == ST_POSTGRES)
        cn_app_ready_set_state(state);
    if (pm != NULL)
        cn_pm_set_state(pm, state); /* the paymaster's daily caps count on the same store */
    cn_method_table pm_table = cn_pm_methods(pm);
    const cn_method_table *pm_tables[] = {&pm_table};
    cn_rpc_config rcfg = {
        .signers = acc.signers,
        .n_signers = acc.n,
        .policies = (const cn_policy *const *)acc.policies,
        .downstream = t,
        .chain_id = o.chain_id,
        .allow_unprotected_tx = s.allow_unprotected_tx,
        .nonce_retries = s.nonce_retries,
        .max_batch = s.max_batch,
        .batch_threads = s.batch_threads,
        .extra = pm ? pm_tables : NULL,
        .n_extra = pm ? 1 : 0,
        .max_sign_per_batch = s.max_sign_per_batch,
        .rate = front.rate,
        .state = state,
        .state_nonces = s.state.backend == ST_POSTGRES,
    };
    if (cn_rpc_new(&rpc, &rcfg) != AK_OK)
        goto out;
    if (cn_app_ready_start(&t, acc.signers, acc.n, o.chain_id, s.ready_refresh_ms) != AK_OK)
        goto out;
    if ((rc = cn_app_front_start(&front, &o, &s, rpc, &acc, pm)) != AK_OK) {
        status = rc == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    cn_app_front_run(&front, &s, &sigs);
    status = 0;
out:
    cn_http_stop(front.http); /* first: no request runs from here on */
    front.http = NULL;
    cn_app_ready_stop();
    cn_audit_stop(); /* after the last request: nothing signs now */
    cn_rpc_free(rpc);
    st_close(state); /* after the router and the probe: nothing uses it now */
    cn_pm_free(pm);
    cn_downstream_free(ds);
    cn_app_front_close(&front);
    cn_app_accounts_free(&acc);
    cJSON_Delete(doc);
    curl_global_cleanup();
    return status;
}
