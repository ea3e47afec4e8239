/* cn_app_front.c - the listener's TLS files, the HTTP server and the signal loop (see
 * cn_app_front.h). */
#include "cn_app_front.h"

#include <stdio.h>
#include <string.h>

#include "ak_secmem.h"
#include "cn_app_ready.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_rcfg.h"
#include "cn_secfile.h"
#include "rt_listen.h"

/* cn_gen_auth_swap_fn on the server. */
static const cn_auth *swap_auth(void *ctx, const cn_auth *auth)
{
    return cn_http_swap_auth(ctx, auth);
}

ak_err cn_app_front_open(cn_app_front *f, const cn_settings *s)
{
    char err[256] = "";
    size_t cert_len = 0, key_len = 0;
    if (s->tls_key_file != NULL &&
        cn_secret_file_check(s->tls_key_file, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "invalid configuration", "reason", err, (char *)NULL);
        return AK_ERR_CONFIG;
    }
    if (s->tls_cert_file != NULL) {
        if (cn_rcfg_read_secure(&f->cert, &f->cert_cap, &cert_len, s->tls_cert_file, 256 * 1024) !=
                AK_OK ||
            cn_rcfg_read_secure(&f->key, &f->key_cap, &key_len, s->tls_key_file, 64 * 1024) !=
                AK_OK) {
            cn_log(CN_LOG_ERROR, "cannot read the listener's TLS certificate or key", "cert",
                   s->tls_cert_file, "key", s->tls_key_file, (char *)NULL);
            return AK_ERR_IO;
        }
        (void)cn_metrics_cert_register("listener", "http.tls", s->tls_cert_file);
    }
    return AK_OK;
}

ak_err cn_app_front_start(cn_app_front *f, const cn_options *o, const cn_settings *s, cn_gens *gens)
{
    char err[256] = "";
    int listen_fd = -1;
    cn_gen *g = cn_gens_acquire(gens); /* the first one: its auth starts the server */
    const cn_auth *auth = g->auth;
    cn_gens_release(gens, g);
    if (rt_listen_inherited(&listen_fd, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "socket activation", "reason", err, (char *)NULL);
        return AK_ERR_CONFIG;
    }
    cn_http_config hc = {
        .server = {.host = o->http_host,
                   .port = o->http_port,
                   .listen_fd = listen_fd,
                   .max_body = s->max_body,
                   .max_request_memory = s->max_request_memory,
                   .memory_budget = s->memory_budget,
                   .header_timeout_s = s->header_timeout_s,
                   .max_connections = s->max_connections,
                   .per_ip_limit = s->per_ip_limit,
                   .idle_timeout_s = s->idle_timeout_s,
                   .tls_cert_pem = f->cert,
                   .tls_key_pem = f->key,
                   .auth = auth},
        .gens = gens,
        .ready = cn_app_ready_check,
        .ready_ctx = NULL,
    };
    if (cn_http_start(&f->http, &hc, err, sizeof(err)) != AK_OK) {
        cn_log(CN_LOG_ERROR, "cannot start the HTTP server", "reason", err, (char *)NULL);
        return AK_ERR_INTERNAL;
    }
    cn_gens_set_auth_swap(gens, swap_auth, f->http);
    if (f->key != NULL) {
        ak_secure_free(f->key, f->key_cap);
        f->key = NULL;
    }
    char port[8], chain[24];
    snprintf(port, sizeof(port), "%u", cn_http_port(f->http));
    snprintf(chain, sizeof(chain), "%llu", (unsigned long long)o->chain_id);
    char ds_origin[256];
    cn_app_url_origin(ds_origin, sizeof(ds_origin), o->ds_url);
    cn_log(CN_LOG_INFO, "anode-connector listening", "host",
           listen_fd >= 0 ? "socket-activated" : o->http_host, "port", port, "tls",
           f->cert ? "on" : "off", "downstream", ds_origin, "chain_id", chain, "auth",
           cn_auth_enabled(auth) ? "on" : "off", "version", AK_VERSION, (char *)NULL);

    return AK_OK;
}

void cn_app_front_run(cn_app_front *f, cn_gens *gens, const cn_settings *s, const sigset_t *sigs)
{
    int sig = 0;
    while (sigwait(sigs, &sig) == 0 && sig == SIGHUP) {
        ak_err rc = cn_gens_reload(gens); /* logged and counted there; the old one stays */
        (void)rc;
    }
    char drain_s[16];
    snprintf(drain_s, sizeof(drain_s), "%u", s->drain_timeout_s);
    cn_log(CN_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
           "drain_timeout_s", drain_s, (char *)NULL);
    (void)cn_http_drain(f->http, s->drain_timeout_s * 1000u);
}

void cn_app_front_close(cn_app_front *f)
{
    cn_http_stop(f->http);
    if (f->cert != NULL)
        ak_secure_free(f->cert, f->cert_cap);
    if (f->key != NULL)
        ak_secure_free(f->key, f->key_cap);
    memset(f, 0, sizeof(*f));
}
