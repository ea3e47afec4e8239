/*
 * cn_app_front.h - the daemon's front door: client authentication (reloaded on SIGHUP), the
 * per-client signing rate limit, the listener's TLS files, and the HTTP server with its routes
 * (JSON-RPC, /ready, /signers, the paymaster's REST call), run until SIGINT/SIGTERM, then
 * drained.
 *
 * Errors: AK_ERR_CONFIG for a configuration the front door refuses (exit 2), logged here.
 * Ownership: the front owns auth, rate, the TLS PEM buffers (the key is wiped once the server
 * has it) and the server; cn_app_front_close() frees them (safe on a zeroed front).
 */
#ifndef CN_APP_FRONT_H
#define CN_APP_FRONT_H

#include <signal.h>
#include <stddef.h>

#include "cn_app_accounts.h"
#include "cn_auth.h"
#include "cn_config.h"
#include "cn_http.h"
#include "cn_rate.h"

typedef struct {
    cn_auth *auth;
    cn_rate *rate;
    char *cert, *key; /* the listener's PEM files (secure memory), or NULL: plain HTTP */
    size_t cert_cap, key_cap;
    cn_http *http;
} cn_app_front;

/* Authentication, rate limit and TLS files from the settings. */
AK_WUR ak_err cn_app_front_open(cn_app_front *f, const cn_settings *s);
/* Start serving rpc (and pm's REST call, pm may be NULL); logs the listening line. */
AK_WUR ak_err cn_app_front_start(cn_app_front *f, const cn_options *o, const cn_settings *s,
                                 cn_rpc *rpc, const cn_app_accounts *acc, cn_paymaster *pm);
/* Serve until SIGINT/SIGTERM (SIGHUP reloads the auth files), then drain (sigs: blocked). */
void cn_app_front_run(cn_app_front *f, const cn_settings *s, const sigset_t *sigs);
void cn_app_front_close(cn_app_front *f);

#endif
