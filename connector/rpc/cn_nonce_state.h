/*
 * cn_nonce_state.h - the nonce (and spend reservation) of a transaction whose sender left the
 * nonce out, taken from the shared state store (store, issue 13) when the connector
 * runs with "state": {"backend": "postgres"}: one reservation per attempt (st_tx_reserve_begin /
 * st_reserve_end), atomic across every replica on the database, so no lock is held here while
 * signing or sending.
 *
 * The same contract as cn_nonce_run (cn_nonce.h): pending, allocate, try; on a nonce the node
 * refuses as used, again (up to retries more times). What is released when an attempt fails:
 *   - nothing was sent (the signer failed) or the node refused the transaction: the nonce
 *     (st_nonce_release) and the spend reservation;
 *   - the node refused the nonce as used: only the spend reservation (the nonce is spent);
 *   - the node did not answer (-32001/-32002: it may have taken it): nothing - a nonce never
 *     sent leaves a gap the store re-uses after its trust window; the reservation stays counted.
 * eth_signTransaction (nothing sent): the nonce is given back, as the in-process store does
 * (it records only sent nonces); the spend reservation stays (a signed transaction can be sent).
 * The store unavailable: -32603 ST_UNAVAILABLE_MSG, nothing signed. A window limit
 * refused: -32003 naming the rule (st_deny_rule).
 */
#ifndef CN_NONCE_STATE_H
#define CN_NONCE_STATE_H

#include <stdint.h>

#include "ak_u256.h"
#include "cn_nonce.h"
#include "st_store.h"

/* A step of the caller's (cn_m_tx.c: fill gas and fees from the node; the signing). */
typedef ak_err (*cn_spend_fn)(void *ctx, cn_rpc_err *e);

/*
 * prep (NULL: none) runs once, on the first attempt, while the store's statement is in flight
 * (st_tx_reserve_begin .. st_reserve_end): the database's round trip and commit overlap prep's
 * node calls. prep failed: its error is the answer and what the reservation took (nonce and
 * spend) is given back, even though nothing was signed; the reservation failed: its error, and
 * prep's work is discarded. Nothing is signed before the reservation's result is read and OK.
 */
AK_WUR ak_err cn_nonce_run_state(st_store *st, uint64_t chain_id, const uint8_t addr[20],
                                 const ak_u256 *value, const st_spend_limit *lim, unsigned retries,
                                 cn_spend_fn prep, cn_nonce_pending_fn pending,
                                 cn_nonce_try_fn attempt, void *ctx, cn_rpc_err *e);

/*
 * The spend reservation alone, around fn (a client's own nonce, or the in-process nonces of the
 * memory backend): reserve value (and one transaction) against lim while prep runs (as above),
 * run fn, release the reservation when fn failed with nothing taken by the node (the same rule
 * as above). lim NULL: prep, then fn.
 */
AK_WUR ak_err cn_spend_run(st_store *st, const uint8_t addr[20], const ak_u256 *value,
                           const st_spend_limit *lim, cn_spend_fn prep, cn_spend_fn fn, void *ctx,
                           cn_rpc_err *e);

#endif
