/*
 * ks_gen.h - configuration generations of the key server: hot reload (SIGHUP) of keys, clients
 * and their grants, policies, rate limits and the API limits, built beside the one in force and
 * swapped atomically.
 *
 * A ks_gen is one complete configuration in force: the parsed ks_config, one key handle per
 * configured key (found in the HSM), the rate limiter and the cumulative-cap windows. A request
 * takes a reference (ks_gens_acquire) for its whole life and gives it back (ks_gens_release);
 * the generation it saw is freed when the last request that holds it ends.
 *
 * ks_gen_build() validates and builds a new generation completely (nothing in force changes on
 * any error; msg names the setting or key). Settings that only a restart can change (listen
 * address and port, the TLS file paths (the files themselves are re-read), the HSM module, token,
 * PIN source and session pool, the audit log and its anchor, the user, the HTTP threads and
 * connection limits and deadlines, max_body, the "state" store) are compared with the generation in
 * force: a difference refuses the reload, naming the setting. A key whose key_id and URI are
 * unchanged keeps its HSM handle (p11_token keeps every key it found until it closes, at most
 * P11_MAX_KEYS finds in a run: a reload past that is refused); a new or changed one is found in the
 * HSM again, with its self-test signature.
 *
 * ks_gens_swap() makes the new generation current. Cumulative caps: new requests wait while the
 * requests in flight on the old generation finish (at most KS_GEN_QUIESCE_MS), then the running
 * totals of every key present in both with the same window length are copied into the new
 * generation, so that no reservation is lost and a reload never resets a cap (the audit log is
 * replayed only at start). Past the bound the copy is made anyway and the log says so.
 *
 * Thread safety: acquire/release from any thread; build/swap from one thread (the signal loop).
 * Ownership: ks_gens_new() takes the first generation; ks_gens_free() frees the current one (no
 * request may be in flight).
 */
#ifndef KS_GEN_H
#define KS_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ks_config.h"
#include "ks_policy_window.h"
#include "ks_rate.h"
#include "p11_token.h"

#define KS_GEN_QUIESCE_MS 10000

typedef struct ks_gen {
    uint64_t number; /* 1 at start, +1 per reload that took effect */
    ks_config *cfg;
    p11_key **keys; /* cfg->n_keys handles, same order as cfg->keys (owned by the token) */
    ks_rate *rate;
    ks_window *window;
    st_store *store; /* the HA pair's shared store (borrowed, opened once at start), or NULL */
    unsigned refs;   /* under ks_gens' mutex */
} ks_gen;

typedef struct ks_gens ks_gens;

/*
 * Build a generation from cfg (taken over: freed with the generation, also on error). base: the
 * configuration the daemon started with (the restart-only settings are compared with it). prev
 * NULL: the first generation (every key found; the windows rebuilt from the audit log);
 * otherwise unchanged keys reuse prev's handles.
 */
AK_WUR ak_err ks_gen_build(ks_gen **out, ks_config *cfg, p11_token *tok, const ks_config *base,
                           const ks_gen *prev, char *msg, size_t msg_cap);
/* ks_gen_build with the shared store of an HA pair (the "state" section; borrowed, must outlive
 * every generation): capped keys reserve in it and the audit log is not replayed. ks_gen_build
 * passes prev's store (NULL for the first generation). */
AK_WUR ak_err ks_gen_build_st(ks_gen **out, ks_config *cfg, p11_token *tok, const ks_config *base,
                              const ks_gen *prev, st_store *store, char *msg, size_t msg_cap);
void ks_gen_free(ks_gen *g); /* NULL allowed; only a generation never made current */

/* The entries of cfg->clients that a certificate names: by CN (cn "" names none) and by its
 * SHA-256 fingerprint; -1 where none. Fingerprints are compared in constant time. */
void ks_gen_client(const ks_config *cfg, const char *cn, const uint8_t fp[32], long *cn_client,
                   long *fp_client);

AK_WUR ak_err ks_gens_new(ks_gens **out, ks_gen *first);
void ks_gens_free(ks_gens *s);

/* The current generation, with a reference; never NULL. */
ks_gen *ks_gens_acquire(ks_gens *s);
void ks_gens_release(ks_gens *s, ks_gen *g);

/* The current generation without a reference: only for the thread that swaps. */
const ks_gen *ks_gens_current(ks_gens *s);

/* Make next current (its number becomes the old one's + 1). Returns 1 if the requests in flight
 * finished within KS_GEN_QUIESCE_MS, 0 if the cap totals were copied without waiting for them. */
int ks_gens_swap(ks_gens *s, ks_gen *next);

#endif
