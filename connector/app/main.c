/*
 * cn_main.c - anode-connector: start-up (options, config, signers, downstream, chain id check),
 * the HTTP server, and an orderly stop on SIGINT/SIGTERM. See docs/connector.md.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_secmem.h"
#include "cn_auth.h"
#include "cn_config.h"
#include "cn_secfile.h"
#include "cn_downstream.h"
#include "cn_http.h"
#include "cn_log.h"
#include "cn_audit.h"
#include "cn_metrics.h"
#include "cn_paymaster.h"
#include "cn_rate.h"
#include "cn_rcfg.h"
#include "cn_rpc.h"
#include "cn_signer_factory.h"
#include "cn_signer_manager.h"
#include "rt_listen.h"

typedef struct {
    cn_transport ds;
    cn_signer **signers;
    size_t n;
    uint64_t chain_id;      /* the chain this connector signs for */
    atomic_int wrong_chain; /* the last probe saw the node on another chain (logged once) */
} ready_ctx;

/*
 * /ready answers from this cache (issue 18: an unauthenticated probe must not make the connector
 * call the key server or the node). One background thread refreshes it every refresh_ms, so the
 * calls /ready causes are bounded by time, whatever the number of probes.
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running, stop;
    unsigned refresh_ms;
    ready_ctx *ctx;
    int ok;
    char detail[256];
} g_ready = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/*
 * scheme://host[:port] of a URL, for logs: node providers put API keys in the path or in
 * user:password@, and neither may reach a log line.
 */
static void url_origin(char *out, size_t cap, const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t auth_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', auth_len);
    if (at != NULL) {
        auth_len -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(out, cap, "%.*s%.*s", (int)(host == url ? 0 : strcspn(url, ":") + 3), url,
             (int)auth_len, host);
}

static ak_err downstream_chain_id(const cn_transport *t, uint64_t *out, char *why, size_t cap)
{
    cn_ds_reply rep;
    ak_err rc = cn_ds_call(t, &rep, "eth_chainId", NULL);
    if (rc == AK_OK) {
        if (!cJSON_IsString(rep.result) ||
            ak_quantity_parse_u64(out, rep.result->valuestring, strlen(rep.result->valuestring)) !=
                AK_OK ||
            *out == 0) {
            snprintf(why, cap, "malformed eth_chainId answer");
            rc = AK_ERR_UPSTREAM;
        }
    } else {
        snprintf(why, cap, "%s", rep.msg);
    }
    cn_ds_reply_free(&rep);
    return rc;
}

static int ready_probe(void *ctx, char *detail, size_t cap)
{
    ready_ctx *r = ctx;
    uint64_t id = 0;
    char why[192] = "";
    if (downstream_chain_id(&r->ds, &id, why, sizeof(why)) != AK_OK) {
        snprintf(detail, cap, "downstream not reachable");
        return 0;
    }
    /* The node may have been unreachable at start-up (--chain-id taken unchecked) or been
     * replaced since: a node on another chain makes this connector not ready. */
    if (id != r->chain_id) {
        snprintf(detail, cap, "downstream is on chain %llu, this connector signs for chain %llu",
                 (unsigned long long)id, (unsigned long long)r->chain_id);
        if (atomic_exchange(&r->wrong_chain, 1) == 0)
            cn_log(CN_LOG_ERROR, "the downstream node is on another chain: not ready", "detail",
                   detail, (char *)NULL);
        return 0;
    }
    if (atomic_exchange(&r->wrong_chain, 0) == 1)
        cn_log(CN_LOG_INFO, "the downstream node is on the connector's chain again", (char *)NULL);
    for (size_t i = 0; i < r->n; i++) {
        cn_signer_health h;
        if (r->signers[i]->ops->health(r->signers[i], &h) != AK_OK || !h.can_sign) {
            snprintf(detail, cap, "signer %zu (%s) cannot sign", i, r->signers[i]->provider);
            return 0;
        }
    }
    snprintf(detail, cap, "downstream and %zu signer(s) ok", r->n);
    return 1;
}

/* One probe, its result stored for ready_check. */
static void ready_refresh(void)
{
    char detail[256] = "";
    int ok = ready_probe(g_ready.ctx, detail, sizeof(detail));
    pthread_mutex_lock(&g_ready.lock);
    g_ready.ok = ok;
    memcpy(g_ready.detail, detail, sizeof(detail));
    pthread_mutex_unlock(&g_ready.lock);
}

static void *ready_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_ready.lock);
    while (!g_ready.stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += g_ready.refresh_ms / 1000u;
        until.tv_nsec += (long)(g_ready.refresh_ms % 1000u) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!g_ready.stop && pthread_cond_timedwait(&g_ready.wake, &g_ready.lock, &until) == 0)
            ;
        if (g_ready.stop)
            break;
        pthread_mutex_unlock(&g_ready.lock);
        ready_refresh();
        pthread_mutex_lock(&g_ready.lock);
    }
    pthread_mutex_unlock(&g_ready.lock);
    return NULL;
}

/* The /ready callback: the cached state, no I/O. */
static int ready_check(void *ctx, char *detail, size_t cap)
{
    (void)ctx;
    pthread_mutex_lock(&g_ready.lock);
    int ok = g_ready.ok;
    snprintf(detail, cap, "%s", g_ready.detail);
    pthread_mutex_unlock(&g_ready.lock);
    return ok;
}

/* First probe now (so /ready is right from the start), then the refresher thread. */
static ak_err ready_start(ready_ctx *ctx, unsigned refresh_ms)
{
    g_ready.ctx = ctx;
    g_ready.refresh_ms = refresh_ms;
    ready_refresh();
    if (pthread_create(&g_ready.thread, NULL, ready_loop, NULL) != 0)
        return AK_ERR_INTERNAL;
    g_ready.running = 1;
    return AK_OK;
}

static void ready_stop(void)
{
    if (!g_ready.running)
        return;
    pthread_mutex_lock(&g_ready.lock);
    g_ready.stop = 1;
    pthread_cond_signal(&g_ready.wake);
    pthread_mutex_unlock(&g_ready.lock);
    pthread_join(g_ready.thread, NULL);
    g_ready.running = 0;
}

static ak_err settle_chain_id(cn_options *o, const cn_transport *t)
{
    char why[192] = "";
    uint64_t id = 0;
    /* Without --chain-id the node is the only source: wait for it a little. */
    int attempts = o->chain_id ? 1 : 40;
    ak_err rc = AK_ERR_NETWORK;
    for (int i = 0; i < attempts; i++) {
        rc = downstream_chain_id(t, &id, why, sizeof(why));
        if (rc == AK_OK || (rc != AK_ERR_NETWORK && rc != AK_ERR_TIMEOUT))
            break;
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char a[24], b[24];
    snprintf(a, sizeof(a), "%llu", (unsigned long long)o->chain_id);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)id);
    if (rc != AK_OK) {
        if (o->chain_id == 0) {
            cn_log(CN_LOG_ERROR, "cannot learn the chain id from the downstream node", "reason",
                   why, (char *)NULL);
            return AK_ERR_CONFIG;
        }
        cn_log(CN_LOG_WARN, "downstream unreachable at start-up; using --chain-id unchecked",
               "chain_id", a, "reason", why, (char *)NULL);
        return AK_OK;
    }
    if (o->chain_id != 0 && o->chain_id != id) {
        cn_log(CN_LOG_ERROR, "--chain-id does not match the downstream node", "chain_id", a,
               "downstream_chain_id", b, (char *)NULL);
        return AK_ERR_CHAIN_ID;
    }
    o->chain_id = id;
    return AK_OK;
}

/* SIGHUP: read the auth files again (bearer tokens, Cloudflare Access JWKS) and put them in
 * force; on any error the ones in force stay. The rest of the configuration needs a restart. */
static void reload_auth(cn_http *http, cn_auth **auth, const cJSON *cfg)
{
    char err[256] = "";
    cn_auth *fresh = NULL;
    if (cn_auth_new(&fresh, cfg, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "SIGHUP: auth files not reloaded, the previous ones stay in force",
               "reason", err, (char *)NULL);
        return;
    }
    (void)cn_http_swap_auth(http, fresh); /* returns *auth, which no request uses any more */
    cn_auth_free(*auth);
    *auth = fresh;
    cn_log(CN_LOG_INFO, "SIGHUP: auth files reloaded", "auth",
           cn_auth_enabled(fresh) ? "on" : "off", (char *)NULL);
}

int main(int argc, char **argv)
{
    int status = 1;
    char err[256] = "";
    cn_options o;
    cn_settings s;
    cJSON *doc = NULL;
    cn_signer *signers[CN_RPC_MAX_ACCOUNTS] = {0};
    cn_policy *policies[CN_RPC_MAX_ACCOUNTS] = {0};
    size_t n_signers = 0;
    cn_downstream *ds = NULL;
    cn_auth *auth = NULL;
    cn_rate *rate = NULL;
    cn_rpc *rpc = NULL;
    cn_paymaster *pm = NULL;
    cn_http *http = NULL;
    char *cert = NULL, *key = NULL;
    size_t cert_cap = 0, key_cap = 0, cert_len = 0, key_len = 0;
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

    /* The method table's names, before any policy is read (allowed_methods) or metric counted. */
    cn_method_table pm_rows = cn_pm_methods(NULL);
    const cn_method_table *tables[] = {cn_methods_builtin(), &pm_rows};
    if (cn_methods_publish(tables, 2) != AK_OK)
        return 1;
    char profile[64] = "";
    if (cn_config_load(&doc, o.config_path, err, sizeof(err)) != AK_OK ||
        cn_config_select_profile(doc, o.profile, profile, err, sizeof(err)) != AK_OK ||
        cn_config_settings(&s, doc, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    if (profile[0] != '\0')
        cn_log(CN_LOG_INFO, "configuration profile", "profile", profile, (char *)NULL);
    cn_manager_opts mopts = {s.failure_threshold, s.health_interval_ms};
    const cJSON *acc;
    cJSON_ArrayForEach(acc, s.accounts)
    {
        char idx[16];
        snprintf(idx, sizeof(idx), "%zu", n_signers);
        /* Every account is a manager: primary, backups, circuit breakers, per-signer metrics. */
        ak_err src = cn_signer_manager_new(&signers[n_signers], acc, &mopts, err, sizeof(err));
        if (src != AK_OK) {
            cn_log(CN_LOG_ERROR, "cannot create signer", "account", idx, "reason", err,
                   (char *)NULL);
            if (src == AK_ERR_CONFIG)
                status = 2;
            goto out;
        }
        char addr[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(addr, signers[n_signers]->address);
        for (size_t j = 0; j < n_signers; j++) {
            if (memcmp(signers[j]->address, signers[n_signers]->address, 20) == 0) {
                cn_log(CN_LOG_ERROR, "two accounts have the same address", "address", addr,
                       (char *)NULL);
                status = 2;
                n_signers++;
                goto out;
            }
        }
        if (cn_policy_parse(&policies[n_signers], cJSON_GetObjectItemCaseSensitive(acc, "policy"),
                            err, sizeof(err)) != AK_OK) {
            cn_log(CN_LOG_ERROR, "invalid account policy", "account", idx, "reason", err,
                   (char *)NULL);
            status = 2;
            n_signers++;
            goto out;
        }
        cn_metrics_set_account(n_signers, addr);
        cn_log(CN_LOG_INFO, "account", "address", addr, "signer", signers[n_signers]->ops->type,
               "name", signers[n_signers]->name, "provider", signers[n_signers]->provider,
               "security_level", cn_security_level_name(signers[n_signers]->level), (char *)NULL);
        n_signers++;
    }
    if (cn_auth_new(&auth, s.auth, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid auth configuration", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    if (cn_rate_new(&rate, s.signing_rate_limit, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    if (s.tls_key_file != NULL && cn_secret_file_check(s.tls_key_file, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    if (s.tls_cert_file != NULL) {
        if (cn_rcfg_read_secure(&cert, &cert_cap, &cert_len, s.tls_cert_file, 256 * 1024) !=
                AK_OK ||
            cn_rcfg_read_secure(&key, &key_cap, &key_len, s.tls_key_file, 64 * 1024) != AK_OK) {
            cn_log(CN_LOG_ERROR, "cannot read the listener's TLS certificate or key", "cert",
                   s.tls_cert_file, "key", s.tls_key_file, (char *)NULL);
            goto out;
        }
        (void)cn_metrics_cert_register("listener", "http.tls", s.tls_cert_file);
    }
    const cJSON *pm_cfg = cJSON_GetObjectItemCaseSensitive(doc, "paymaster");
    if (o.check_config && pm_cfg != NULL) {
        /* Without --chain-id, chain 1 stands in for the node's (only chain_ids' default). */
        if (cn_pm_new(&pm, pm_cfg, signers, n_signers, o.chain_id ? o.chain_id : 1, err,
                      sizeof(err)) != AK_OK ||
            cn_pm_bind_policy(pm, signers, policies, n_signers, err, sizeof(err)) != AK_OK) {
            cn_log(CN_LOG_ERROR, "invalid paymaster configuration", "reason", err, (char *)NULL);
            goto out;
        }
        cn_pm_free(pm);
        pm = NULL;
    }
    if (!o.check_config && cn_audit_start(&s.audit, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "cannot open the audit log", "reason", err, (char *)NULL);
        goto out;
    }
    if (o.check_config) {
        printf("configuration OK: %zu account(s)\n", n_signers);
        status = 0;
        goto out;
    }

    if (cn_downstream_new(&ds, o.ds_url, o.ds_timeout_ms, s.ds_max_response) != AK_OK)
        goto out;
    cn_transport t = cn_downstream_transport(ds);
    if (settle_chain_id(&o, &t) != AK_OK)
        goto out;
    if (pm_cfg != NULL &&
        (cn_pm_new(&pm, pm_cfg, signers, n_signers, o.chain_id, err, sizeof(err)) != AK_OK ||
         cn_pm_bind_policy(pm, signers, policies, n_signers, err, sizeof(err)) != AK_OK)) {
        cn_log(CN_LOG_ERROR, "invalid paymaster configuration", "reason", err, (char *)NULL);
        goto out;
    }
    cn_method_table pm_table = cn_pm_methods(pm);
    const cn_method_table *pm_tables[] = {&pm_table};
    cn_rpc_config rc = {
        .signers = signers,
        .n_signers = n_signers,
        .policies = (const cn_policy *const *)policies,
        .downstream = t,
        .chain_id = o.chain_id,
        .allow_unprotected_tx = s.allow_unprotected_tx,
        .nonce_retries = s.nonce_retries,
        .max_batch = s.max_batch,
        .batch_threads = s.batch_threads,
        .extra = pm ? pm_tables : NULL,
        .n_extra = pm ? 1 : 0,
        .max_sign_per_batch = s.max_sign_per_batch,
        .rate = rate,
    };
    if (cn_rpc_new(&rpc, &rc) != AK_OK)
        goto out;
    ready_ctx rctx = {.ds = t, .signers = signers, .n = n_signers, .chain_id = o.chain_id};
    if (ready_start(&rctx, s.ready_refresh_ms) != AK_OK)
        goto out;
    int listen_fd = -1;
    if (rt_listen_inherited(&listen_fd, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "socket activation", "reason", err, (char *)NULL);
        status = 2;
        goto out;
    }
    cn_http_config hc = {
        .host = o.http_host,
        .port = o.http_port,
        .listen_fd = listen_fd,
        .max_body = s.max_body,
        .max_request_memory = s.max_request_memory,
        .memory_budget = s.memory_budget,
        .header_timeout_s = s.header_timeout_s,
        .threads = s.http_threads,
        .max_connections = s.max_connections,
        .per_ip_limit = s.per_ip_limit,
        .idle_timeout_s = s.idle_timeout_s,
        .tls_cert_pem = cert,
        .tls_key_pem = key,
        .rpc = rpc,
        .auth = auth,
        .ready = ready_check,
        .ready_ctx = &rctx,
        .signers = signers,
        .n_signers = n_signers,
        .post_route = pm ? "/api/v1/paymaster/sponsor" : NULL,
        .post_route_fn = cn_pm_rest_sponsor,
        .post_route_ctx = pm,
    };
    if (cn_http_start(&http, &hc, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "cannot start the HTTP server", "reason", err, (char *)NULL);
        goto out;
    }
    if (key != NULL) {
        ak_secure_free(key, key_cap);
        key = NULL;
    }
    char port[8], chain[24];
    snprintf(port, sizeof(port), "%u", cn_http_port(http));
    snprintf(chain, sizeof(chain), "%llu", (unsigned long long)o.chain_id);
    char ds_origin[256];
    url_origin(ds_origin, sizeof(ds_origin), o.ds_url);
    cn_log(CN_LOG_INFO, "anode-connector listening", "host",
           listen_fd >= 0 ? "socket-activated" : o.http_host, "port", port, "tls",
           cert ? "on" : "off", "downstream", ds_origin, "chain_id", chain, "auth",
           cn_auth_enabled(auth) ? "on" : "off", "version", AK_VERSION, (char *)NULL);

    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
        reload_auth(http, &auth, s.auth);
    char drain_s[16];
    snprintf(drain_s, sizeof(drain_s), "%u", s.drain_timeout_s);
    cn_log(CN_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
           "drain_timeout_s", drain_s, (char *)NULL);
    (void)cn_http_drain(http, s.drain_timeout_s * 1000u);
    status = 0;
out:
    cn_http_stop(http);
    ready_stop();
    cn_audit_stop(); /* after the last request: nothing signs now */
    cn_rpc_free(rpc);
    cn_pm_free(pm);
    cn_downstream_free(ds);
    cn_auth_free(auth);
    cn_rate_free(rate);
    for (size_t i = 0; i < n_signers; i++) {
        cn_signer_free(signers[i]);
        cn_policy_free(policies[i]);
    }
    if (cert != NULL)
        ak_secure_free(cert, cert_cap);
    if (key != NULL)
        ak_secure_free(key, key_cap);
    cJSON_Delete(doc);
    curl_global_cleanup();
    return status;
}
