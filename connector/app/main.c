/*
 * main.c - anode-connector: wiring only. Options and configuration, what lives once per process
 * (the node and readiness: cn_app_ready; the state store, the nonce table, the audit log), the
 * first configuration generation (accounts, paymaster, auth, rate limit, router: cn_app_gen),
 * the HTTP server; SIGHUP reloads the configuration, SIGINT/SIGTERM drain and stop. Exit status:
 * 0, 2 for a configuration error, 1 otherwise. See docs/connector.md.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include <curl/curl.h>

#include "ak_secmem.h"
#include "cn_app_accounts.h"
#include "cn_app_front.h"
#include "cn_app_gen.h"
#include "cn_app_ready.h"
#include "cn_audit.h"
#include "cn_downstream.h"
#include "cn_log.h"
#include "cn_nonce.h"

/* Exit status for rc: 2 for a configuration error, 1 otherwise. */
static int exit_status(ak_err rc)
{
    return rc == AK_ERR_CONFIG ? 2 : 1;
}

int main(int argc, char **argv)
{
    int status = 1;
    char err[256] = "", profile[64] = "";
    cn_options o;
    cn_settings s;
    cJSON *doc = NULL;
    cn_downstream *ds = NULL;
    st_store *state = NULL;
    cn_nonce *nonce = NULL;
    cn_gen *first = NULL;
    cn_gens *gens = NULL;
    cn_app_front front = {0};
    cn_gen_env env = {.o = &o};
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
    if (rc != AK_OK || (rc = cn_app_front_open(&front, &s)) != AK_OK) {
        status = exit_status(rc);
        goto out;
    }
    if (o.check_config) { /* accounts, auth, rate limit, paymaster; no node, no router */
        /* Without --chain-id, chain 1 stands in for the node's (only chain_ids' default). */
        env.chain_id = o.chain_id ? o.chain_id : 1;
        rc = cn_gen_build(&first, doc, &env, NULL, err, sizeof(err));
        if (rc == AK_OK)
            printf("configuration OK: %zu account(s)\n", first->acc.n);
        status = rc == AK_OK ? 0 : exit_status(rc);
        goto out;
    }
    if (cn_audit_start(&s.audit, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "cannot open the audit log", "reason", err, (char *)NULL);
        goto out;
    }
    if (cn_downstream_new(&ds, o.ds_url, o.ds_timeout_ms, s.ds_max_response) != AK_OK)
        goto out;
    env.ds = cn_downstream_transport(ds);
    if (cn_app_settle_chain_id(&o, &env.ds) != AK_OK)
        goto out;
    env.chain_id = o.chain_id;
    /* The store holds the cumulative caps; it fills nonces only with "postgres" (memory keeps
     * the in-process nonce table, shared by every generation). */
    if (st_open(&state, &s.state, NULL, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    env.state = state;
    if (s.state.backend == ST_POSTGRES)
        cn_app_ready_set_state(state);
    if (cn_nonce_new_shared(&nonce, CN_GEN_NONCE_SENDERS, s.nonce_retries, NULL) != AK_OK)
        goto out;
    env.nonce = nonce;
    rc = cn_gen_build(&first, doc, &env, NULL, err, sizeof(err));
    if (rc != AK_OK || (rc = cn_gens_new(&gens, first, &env)) != AK_OK) {
        status = exit_status(rc);
        goto out;
    }
    first = NULL;
    /* doc and s stay the start-up file's: only their restart-only settings are read from here. */
    if (cn_app_ready_start(&env.ds, gens, o.chain_id, s.ready_refresh_ms) != AK_OK)
        goto out;
    if ((rc = cn_app_front_start(&front, &o, &s, gens)) != AK_OK) {
        status = exit_status(rc);
        goto out;
    }
    cn_app_front_run(&front, gens, &s, &sigs);
    status = 0;
out:
    cn_http_stop(front.http); /* first: no request runs from here on */
    front.http = NULL;
    cn_app_ready_stop();
    cn_audit_stop(); /* after the last request: nothing signs now */
    cn_gens_free(gens);
    cn_gen_free(first);
    cn_nonce_free(nonce);
    st_close(state); /* after the routers and the probe: nothing uses it now */
    cn_downstream_free(ds);
    cn_app_front_close(&front);
    cJSON_Delete(doc);
    curl_global_cleanup();
    return status;
}
