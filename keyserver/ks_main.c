/*
 * ks_main.c - anode-keyserver: signs 32-byte digests with secp256k1 keys held in a PKCS#11
 * token, for clients authenticated by TLS client certificates, with a fail-closed audit trail.
 *
 * Start-up order: block signals (every thread inherits the mask), disable core dumps, load and
 * check the configuration (exit 2 on any problem, naming the field), load TLS credentials, read
 * the PIN into locked memory (a pin_env variable is wiped and unset at once), open the token,
 * open the HA pair's shared store when a "state" section is configured (st_store.h; the database
 * may still be down), build the first configuration generation (every key found once,
 * cumulative caps rebuilt from the audit log unless the store counts them: ks_gen.h), open the
 * audit log, listen (on the socket systemd passed, when socket-activated: rt_listen), then drop to
 * the configured user. The main thread then waits for SIGHUP (the whole configuration again, as a
 * new generation swapped in, or refused with the reason logged: reload()) and SIGTERM/SIGINT,
 * drains (stops accepting, answers every request in flight, at most
 * --drain-timeout seconds, default 30: ks_http_drain) and shuts down in reverse order, logging
 * the audit chain's last seq and hash so that it can be anchored elsewhere.
 * The PIN: our buffer is wiped as soon as the token is open, but p11_token keeps its own copy
 * in locked (mlock, no core dump) memory for the whole run, to log in again after an HSM fault
 * (re-open after CKR_USER_NOT_LOGGED_IN, a token re-inserted...); it is wiped at
 * p11_token_close(). Recovery without a restart is worth that copy (docs/keyserver.md).
 * Exit codes: 0 clean stop / config OK, 1 runtime failure (HSM, network), 2 bad configuration.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_secmem.h"
#include "ks_api.h"
#include "ks_audit.h"
#include "ks_config.h"
#include "ks_gen.h"
#include "ks_http.h"
#include "ks_tls.h"
#include "p11_token.h"
#include "p11_uri.h"
#include "rt_listen.h"

#define PROG               "anode-keyserver"
#define KS_DRAIN_DEFAULT_S 30

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " --config FILE [--check-config] [--drain-timeout SECONDS]\n"
               "       " PROG " --config FILE --migrate\n"
               "       " PROG " --help | --version\n"
               "Signs 32-byte digests with HSM keys for clients authenticated by mutual TLS.\n"
               "The PIN comes from pkcs11.pin_file or pkcs11.pin_env in the configuration,\n"
               "never from the command line. SIGHUP re-reads the whole configuration (keys,\n"
               "clients, policies, limits) and the TLS files, or keeps the one in force;\n"
               "SIGTERM stops after answering the requests in flight (at most\n"
               "--drain-timeout seconds, 0..3600, default 30). Socket activation (LISTEN_FDS)\n"
               "is used when systemd passes a socket. --migrate creates or migrates the\n"
               "schema of the \"state\" store (HA pair) and exits. See docs/keyserver.md.\n");
}

/* --drain-timeout: 0..3600 seconds, digits only. */
static AK_WUR ak_err parse_drain(unsigned *out, const char *s)
{
    unsigned v = 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 4)
            return AK_ERR_CONFIG;
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (n == 0 || v > 3600)
        return AK_ERR_CONFIG;
    *out = v;
    return AK_OK;
}

static AK_WUR ak_err drop_privileges(const char *user, char *msg, size_t cap)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(msg, cap, "user: no such user \"%s\"", user);
        return AK_ERR_CONFIG;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(msg, cap, "user: cannot switch to \"%s\": %s", user, strerror(errno));
        return AK_ERR_CONFIG;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        snprintf(msg, cap, "user: privileges could be regained after dropping them");
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

/* Open the token with the PIN from the configured source; our copy of the PIN is wiped before
 * return (the token keeps its own, see the header comment). */
static AK_WUR ak_err open_token(p11_token **tok, const ks_config *cfg, char *msg, size_t cap)
{
    char *pin = NULL;
    size_t pin_len = 0;
    ak_err err = ks_config_read_pin(cfg, &pin, &pin_len, msg, cap);
    if (err != AK_OK)
        goto out;
    p11_token_config tc;
    memset(&tc, 0, sizeof tc);
    tc.module_path = cfg->module;
    tc.token_label = cfg->token_label;
    tc.pin = pin;
    tc.pin_len = pin_len;
    tc.max_sessions = cfg->max_sessions;
    tc.op_timeout_ms = cfg->op_timeout_ms;
    err = p11_token_open(tok, &tc, msg, cap);
    ak_wipe(&tc, sizeof tc);
out:
    ak_secure_free(pin, KS_PIN_BUF);
    return err;
}

/* --migrate: create or migrate the "state" store's schema (the connector's --migrate does the
 * same on the same database) and exit: 0 done, 1 database unreachable or refused, 2 no state. */
static int migrate(const ks_config *cfg, const char *path)
{
    char msg[KS_MSG_MAX] = "";
    if (!cfg->has_state) {
        fprintf(stderr, PROG ": --migrate: config %s has no \"state\" section\n", path);
        return 2;
    }
    ak_err e = st_migrate(&cfg->state, msg, sizeof msg);
    if (e != AK_OK) {
        fprintf(stderr, PROG ": --migrate: %s\n", msg[0] ? msg : ak_strerror(e));
        return 1;
    }
    printf(PROG ": state: %s\n", msg);
    return 0;
}

/* Open the HA pair's shared store once (restart-only). The database need not be up: capped keys
 * are then refused (state_unavailable) until it answers; the log says so now. */
static AK_WUR ak_err open_store(st_store **st, const ks_config *cfg, char *msg, size_t cap)
{
    char what[256] = "";
    ak_err e = st_open(st, &cfg->state, NULL, msg, cap);
    if (e != AK_OK)
        return e;
    if (st_ready(*st, what, sizeof what) == AK_OK)
        fprintf(stderr, PROG ": state: %s: cumulative caps counted in the shared store\n", what);
    else
        fprintf(stderr,
                PROG ": warning: state: %s: capped keys are refused (state_unavailable) until it "
                     "answers\n",
                what);
    return AK_OK;
}

/* SIGHUP: the whole configuration again (ks_gen.h), then the TLS files; either both take effect
 * or nothing changes. Logged and counted either way. */
static void reload(ks_ctx *ctx, ks_tls_creds *creds, const ks_config *base, const char *path)
{
    char msg[KS_MSG_MAX] = "";
    ks_config *next_cfg = NULL;
    ks_gen *next = NULL;
    const char *what = "config";
    ak_err e = ks_config_load(&next_cfg, path, msg, sizeof msg);
    if (e == AK_OK)
        e = ks_gen_build(&next, next_cfg, ctx->tok, base, ks_gens_current(ctx->gens), msg,
                         sizeof msg);
    if (e == AK_OK && (e = ks_tls_creds_reload(creds, base, msg, sizeof msg)) != AK_OK)
        what = "tls";
    if (e != AK_OK) {
        ks_gen_free(next);
        atomic_fetch_add(&ctx->metrics.config_reloads_failed, 1);
        if (strcmp(what, "tls") == 0)
            fprintf(stderr,
                    PROG ": SIGHUP: TLS files not reloaded, the previous ones stay in force: %s\n",
                    msg);
        fprintf(stderr,
                PROG ": SIGHUP: configuration %s refused, generation %llu stays in force: %s\n",
                path, (unsigned long long)ks_gens_current(ctx->gens)->number, msg);
        return;
    }
    fprintf(stderr, PROG ": SIGHUP: TLS certificate, key, client CA and CRL reloaded\n");
    size_t n_keys = next->cfg->n_keys, n_clients = next->cfg->n_clients;
    int quiet = ks_gens_swap(ctx->gens, next);
    uint64_t number = ks_gens_current(ctx->gens)->number;
    atomic_store(&ctx->metrics.config_generation, number);
    atomic_fetch_add(&ctx->metrics.config_reloads_ok, 1);
    fprintf(stderr,
            PROG ": SIGHUP: configuration %s reloaded: generation %llu (%zu keys, %zu clients)%s\n",
            path, (unsigned long long)number, n_keys, n_clients,
            quiet ? "" : "; requests still in flight after 10 s: cap totals copied without them");
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int check_only = 0, migrate_only = 0, rc = 2, sig = 0, listen_fd = -1;
    unsigned drain_s = KS_DRAIN_DEFAULT_S;
    char msg[KS_MSG_MAX] = "";
    ks_config *cfg = NULL;
    ks_tls_creds *creds = NULL;
    ks_http *http = NULL;
    ks_ctx ctx;
    sigset_t set;
    memset(&ctx, 0, sizeof ctx);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "--migrate") == 0) {
            migrate_only = 1;
        } else if (strcmp(argv[i], "--drain-timeout") == 0 && i + 1 < argc) {
            if (parse_drain(&drain_s, argv[++i]) != AK_OK) {
                fprintf(stderr, PROG ": --drain-timeout: an integer number of seconds, 0..3600\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf(PROG " " AK_VERSION "\n");
            return 0;
        } else {
            fprintf(stderr, PROG ": unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL) {
        usage(stderr);
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ak_disable_core_dumps() != 0)
        fprintf(stderr, PROG ": warning: could not disable core dumps\n");

    if (ks_config_load(&cfg, config_path, msg, sizeof msg) != AK_OK ||
        ks_tls_creds_load(&creds, cfg, msg, sizeof msg) != AK_OK) {
        fprintf(stderr, PROG ": config %s: %s\n", config_path, msg);
        goto out;
    }
    ctx.cfg = cfg;
    if (migrate_only) {
        rc = migrate(cfg, config_path);
        goto out;
    }
    if (check_only) {
        char *pin = NULL;
        size_t pin_len = 0;
        if (ks_config_read_pin(cfg, &pin, &pin_len, msg, sizeof msg) != AK_OK) {
            fprintf(stderr, PROG ": config %s: %s\n", config_path, msg);
            goto out;
        }
        ak_secure_free(pin, KS_PIN_BUF);
        printf(PROG ": config %s OK (%zu keys, %zu clients)\n", config_path, cfg->n_keys,
               cfg->n_clients);
        rc = 0;
        goto out;
    }
    rc = 1;
    ak_err e = open_token(&ctx.tok, cfg, msg, sizeof msg);
    if (e != AK_OK) {
        fprintf(stderr, PROG ": token \"%s\": %s\n", cfg->token_label,
                msg[0] ? msg : ak_strerror(e));
        rc = e == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    /* Without bounded calls the HSM call runs on the HTTP worker (no thread hand-over); a hung
     * call is then bounded only by the HSM's own timeouts. */
    p11_token_set_inline(ctx.tok, !cfg->bounded_calls);
    if (cfg->has_state && (e = open_store(&ctx.store, cfg, msg, sizeof msg)) != AK_OK) {
        fprintf(stderr, PROG ": state: %s\n", msg[0] ? msg : ak_strerror(e));
        rc = e == AK_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    /* the first generation: the same file again, compared with cfg (restart-only settings) */
    ks_config *gcfg = NULL;
    ks_gen *g1 = NULL;
    if ((e = ks_config_load(&gcfg, config_path, msg, sizeof msg)) != AK_OK ||
        (e = ks_gen_build_st(&g1, gcfg, ctx.tok, cfg, NULL, ctx.store, msg, sizeof msg)) != AK_OK ||
        (e = ks_gens_new(&ctx.gens, g1)) != AK_OK) {
        ks_gen_free(g1);
        fprintf(stderr, PROG ": %s\n", msg[0] ? msg : ak_strerror(e));
        rc = e == AK_ERR_NOMEM || e == AK_ERR_AUDIT ? 1 : 2;
        goto out;
    }
    atomic_store(&ctx.metrics.config_generation, 1);
    if (ks_audit_open_anchored(&ctx.audit, cfg->audit_file,
                               cfg->audit_fsync == KS_FSYNC_ALWAYS ? 0 : cfg->audit_interval_ms,
                               cfg->audit_anchor_file, cfg->audit_anchor_ms, msg,
                               sizeof msg) != AK_OK) {
        fprintf(stderr, PROG ": %s\n", msg);
        goto out;
    }
    if (rt_listen_inherited(&listen_fd, msg, sizeof msg) != AK_OK) {
        fprintf(stderr, PROG ": socket activation: %s\n", msg);
        rc = 2;
        goto out;
    }
    if (ks_http_start_on(&http, &ctx, creds, listen_fd, msg, sizeof msg) != AK_OK) {
        fprintf(stderr, PROG ": %s\n", msg);
        goto out;
    }
    if (cfg->user[0] != '\0' && drop_privileges(cfg->user, msg, sizeof msg) != AK_OK) {
        fprintf(stderr, PROG ": %s\n", msg);
        rc = 2;
        goto out;
    }
    if (cfg->threads > 0) {
        snprintf(msg, sizeof msg, "a pool of %u threads", cfg->threads);
        fprintf(stderr,
                PROG ": warning: limits.threads %u: a request waiting on the HSM holds "
                     "every connection of its worker thread (up to "
                     "pkcs11.op_timeout_ms); the default, 0, does not (docs/keyserver.md)\n",
                cfg->threads);
    } else
        snprintf(msg, sizeof msg, "a thread per connection");
    fprintf(stderr, PROG ": listening on %s port %u (%zu keys, %zu clients, %s)\n",
            listen_fd >= 0 ? "socket-activated" : cfg->listen_address, ks_http_port(http),
            cfg->n_keys, cfg->n_clients, msg);
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        /* SIGHUP: the whole configuration again, keys, clients, policies, limits, TLS */
        reload(&ctx, creds, cfg, config_path);
    }
    fprintf(stderr, PROG ": signal %d, stopping: draining (at most %u s)\n", sig, drain_s);
    size_t left = ks_http_drain(http, drain_s * 1000u);
    if (left == 0)
        fprintf(stderr, PROG ": drained: every request in flight was answered\n");
    else
        fprintf(stderr, PROG ": drain timeout: %zu request(s) still in flight are cut off\n", left);
    rc = 0;
out:
    ks_http_stop(http);
    if (ctx.audit != NULL) {
        uint64_t seq = 0;
        uint8_t last[32];
        char hex[65];
        ks_audit_last(ctx.audit, &seq, last);
        ks_audit_hex32(hex, last);
        fprintf(stderr, PROG ": audit log %s ends at seq %llu, sha256 %s\n", cfg->audit_file,
                (unsigned long long)seq, hex);
    }
    ks_audit_close(ctx.audit);
    ks_gens_free(ctx.gens);
    st_close(ctx.store);      /* after every generation that borrowed it */
    p11_token_close(ctx.tok); /* keys belong to the token */
    ks_tls_creds_free(creds);
    ks_config_free(cfg);
    return rc;
}
