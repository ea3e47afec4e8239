/*
 * cn_app_front.h - the daemon's front door: the listener's TLS files, and the HTTP server with
 * its routes (JSON-RPC, /ready, /signers, the paymaster's REST call) on the configuration
 * generations (cn_app_gen: auth, rate limit, accounts), run until SIGINT/SIGTERM, then drained;
 * SIGHUP reloads the configuration (cn_gens_reload).
 *
 * Errors: AK_ERR_CONFIG for a configuration the front door refuses (exit 2), logged here.
 * Ownership: the front owns the TLS PEM buffers (the key is wiped once the server has it) and
 * the server; cn_app_front_close() frees them (safe on a zeroed front).
 */
#ifndef CN_APP_FRONT_H
#define CN_APP_FRONT_H

#include <signal.h>
#include <stddef.h>

#include "cn_app_gen.h"
#include "cn_config.h"
#include "cn_http.h"

typedef struct {
    char *cert, *key; /* the listener's PEM files (secure memory), or NULL: plain HTTP */
    size_t cert_cap, key_cap;
    cn_http *http;
} cn_app_front;

/* The listener's TLS files from the settings (restart-only). */
AK_WUR ak_err cn_app_front_open(cn_app_front *f, const cn_settings *s);
/* Start serving the generations (borrowed until cn_app_front_close); logs the listening line. */
AK_WUR ak_err cn_app_front_start(cn_app_front *f, const cn_options *o, const cn_settings *s,
                                 cn_gens *gens);
/* Serve until SIGINT/SIGTERM (SIGHUP reloads the configuration), then drain (sigs: blocked). */
void cn_app_front_run(cn_app_front *f, cn_gens *gens, const cn_settings *s, const sigset_t *sigs);
void cn_app_front_close(cn_app_front *f);

#endif
