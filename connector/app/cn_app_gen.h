/*
 * cn_app_gen.h - configuration generations of the connector: hot reload (SIGHUP) of accounts,
 * signers, policies, the signing rate limit, auth and the paymaster, built beside the generation
 * in force and swapped atomically (the key server's keyserver/ks_gen does the same).
 *
 * A cn_gen is one complete configuration in force: the parsed file, the accounts (one
 * cn_signer_manager each, with its policy), the paymaster, the rate limit, the auth files and the
 * router built on them. A request takes a reference (cn_gens_acquire) for its whole life and
 * gives it back (cn_gens_release); a generation is freed when its last request has ended and
 * every older generation is gone (each holds a reference on the next, so what a newer one carried
 * over from an older one is freed last).
 *
 * What lives once per process and is shared by every generation (cn_gen_env): the downstream
 * node, the chain id, the state store, the audit log, the nonce table (a sender's fills stay
 * serialised across a reload) and the listener. Restart-only settings - the "http", "downstream",
 * "audit" and "state" sections, "nonce_retries", "allow_insecure_secret_files", and every
 * command-line flag (a reload re-reads --config with the same flags and --profile) - are compared
 * with the generation in force: a difference refuses the reload, naming the setting.
 *
 * Carried into a new generation: an account whose signer objects are unchanged ("signer" or
 * "primary", "backups", "name"; its policy may change) with "signer_manager" unchanged keeps its
 * manager object as it is (no reconnection, no key fetched again; circuits and counters go on).
 * An account with any change is built again (files re-read, key fetched again, so a rotated
 * client certificate takes effect), and each of its signers that is unchanged at the same position
 * (primary, backups[i]) takes the old one's health state. The signing rate limit's buckets are
 * carried when "signing_rate_limit" is unchanged (buckets are per client, not per account). The
 * paymaster object (its daily caps) is carried when its section is unchanged and its account's
 * manager was carried; otherwise a new one starts with empty daily caps.
 *
 * Metrics: anode_connector_config_reload_total{result="ok|error"},
 * anode_connector_config_generation. Thread safety: acquire/release from any thread; build,
 * reload and free from one thread (the signal loop).
 */
#ifndef CN_APP_GEN_H
#define CN_APP_GEN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cn_app_accounts.h"
#include "cn_auth.h"
#include "cn_config.h"
#include "cn_paymaster.h"
#include "cn_rate.h"
#include "cn_rpc.h"

/* Room for this many distinct sender addresses over the process's life (cn_nonce_new_shared). */
#define CN_GEN_NONCE_SENDERS 1024

/* What every generation shares (borrowed; lives as long as the process serves). */
typedef struct {
    const cn_options *o;    /* the flags (re-applied on every reload) */
    cn_transport ds;        /* ds.post NULL: --check-config, no router is built */
    uint64_t chain_id;      /* settled against the node (1 for --check-config without --chain-id) */
    st_store *state;        /* NULL for --check-config */
    struct cn_nonce *nonce; /* cn_nonce_new_shared; NULL for --check-config */
} cn_gen_env;

typedef struct cn_gen {
    uint64_t number; /* 1 at start, +1 per reload that took effect */
    cJSON *doc;      /* the file as read (s borrows from it) */
    cn_settings s;
    cn_app_accounts acc;
    cn_paymaster *pm;
    int own_pm; /* pm is freed with this generation (not carried to a newer one) */
    cn_method_table pm_table;
    const cn_method_table *pm_tables[1];
    cn_rpc *rpc;
    cn_auth *auth; /* NULL once a newer generation's auth is in force */
    cn_rate *rate;
    int own_rate;        /* rate is freed with this generation (not carried to a newer one) */
    unsigned refs;       /* under cn_gens' mutex */
    struct cn_gen *next; /* the newer generation, referenced by this one */
} cn_gen;

typedef struct cn_gens cn_gens;

/* Read o->config_path with o->profile: *doc (caller's, cJSON_Delete). Logs nothing;
 * AK_ERR_CONFIG with err set. */
AK_WUR ak_err cn_gen_load(cJSON **doc, const cn_options *o, char *err, size_t err_cap);

/*
 * Build a generation from doc (copied: the generation keeps its own copy and settings).
 * prev NULL: the first one; otherwise the restart-only settings are compared with prev's and
 * state is carried from it (nothing of prev changes). Errors are logged with their reason (msg
 * gets a short one): AK_ERR_CONFIG for anything the file got wrong.
 */
AK_WUR ak_err cn_gen_build(cn_gen **out, const cJSON *doc, const cn_gen_env *env,
                           const cn_gen *prev, char *msg, size_t msg_cap);
void cn_gen_free(cn_gen *g); /* NULL allowed; only a generation never made current */

/* The first generation becomes current (number 1); env is borrowed. */
AK_WUR ak_err cn_gens_new(cn_gens **out, cn_gen *first, const cn_gen_env *env);
/* Frees the current generation and every older one (no request may be in flight). */
void cn_gens_free(cn_gens *gs);

/* The current generation, with a reference; never NULL. */
cn_gen *cn_gens_acquire(cn_gens *gs);
void cn_gens_release(cn_gens *gs, cn_gen *g);

/* Set by the front once the server runs: puts a new generation's auth in force (returns the
 * previous auth, unused by any request when it returns). */
typedef const cn_auth *(*cn_gen_auth_swap_fn)(void *ctx, const cn_auth *auth);
void cn_gens_set_auth_swap(cn_gens *gs, cn_gen_auth_swap_fn fn, void *ctx);

/* SIGHUP: read, validate, build beside, carry, swap; on any error the generation in force stays.
 * Logged and counted either way. */
AK_WUR ak_err cn_gens_reload(cn_gens *gs);

#endif
