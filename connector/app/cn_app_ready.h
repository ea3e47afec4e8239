/*
 * cn_app_ready.h - the node at start-up and the readiness probe behind GET /ready.
 *
 * Start-up: the node's eth_chainId must match --chain-id; without --chain-id it is the only
 * source (waited for up to 10 s). Readiness (issue 18: an unauthenticated probe must not make
 * the connector call the key server or the node): /ready answers from a cache that one
 * background thread refreshes every refresh_ms - the node reachable and on our chain, every
 * account able to sign. One probe per process (process-wide state).
 */
#ifndef CN_APP_READY_H
#define CN_APP_READY_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "cn_app_gen.h"
#include "cn_config.h"
#include "cn_downstream.h"
#include "cn_signer.h"
#include "st_store.h"

/* o->chain_id settled against the node: AK_ERR_CONFIG (no chain id at all), AK_ERR_CHAIN_ID
 * (mismatch); a node unreachable with --chain-id given is only a warning. Logged here. */
AK_WUR ak_err cn_app_settle_chain_id(cn_options *o, const cn_transport *t);

/* First probe now (so /ready is right from the start), then the refresher thread. The
 * transport is copied; gens is borrowed until cn_app_ready_stop (each probe asks the accounts of
 * the generation in force). */
AK_WUR ak_err cn_app_ready_start(const cn_transport *ds, cn_gens *gens, uint64_t chain_id,
                                 unsigned refresh_ms);
/* The /ready callback (cn_ready_fn): the cached state, no I/O; ctx unused. */
int cn_app_ready_check(void *ctx, char *detail, size_t cap);
void cn_app_ready_stop(void); /* safe when not started */
/* Before cn_app_ready_start: the probe also asks the state store (a round trip) and names it
 * when it does not answer. st is borrowed until cn_app_ready_stop; NULL: not checked. */
void cn_app_ready_set_state(st_store *st);

/* scheme://host[:port] of a URL, for logs: node providers put API keys in the path or in
 * user:password@, and neither may reach a log line. */
void cn_app_url_origin(char *out, size_t cap, const char *url);

#endif
