/*
 * ak_policy_cfg.h - the one reader of a "policy" configuration object into an ak_policy
 * (ak_policy.h evaluates it; the rule names are there), used by both daemons: the key server's
 * keys.<id>.policy / clients.<id>.policies.<key id> (ks_policy) and the connector's
 * accounts[].policy (cn_policy). Pure: no I/O.
 *
 * Members (all optional):
 *   serves ([intent kinds]), max_value_wei, allowed_to ([address]), allow_contract_creation
 *   (bool, default: true only without allowed_to), allowed_delegates ([address]),
 *   allow_chain_id_zero_authorization (bool), token_caps ({token: amount}),
 *   allow_unjudged_typed_data, allow_hash_like_messages, allow_typed_data_without_chain_id
 *   (bool), cumulative_cap ({"value_wei": amount, "window_s": 1..AK_POLICY_MAX_WINDOW_S,
 *   "comment"}), comment (string).
 *   With AK_POLICY_CFG_INTENT (the key server, which judges decoded intents): raw_digest (bool,
 *   default true), allowed_chain_ids ([chain id]), allowed_selectors ({address: ["0x" + 8 hex,
 *   ...]}), allowed_domains ([{name, chainId, verifyingContract}], each with at least one member).
 *   With AK_POLICY_CFG_MAX_TX (the connector, which counts transactions in its state store):
 *   cumulative_cap.max_tx (1..10^15), and a cumulative_cap needs window_s and value_wei or max_tx
 *   (without the flag: both value_wei and window_s).
 *   Members named in extra[0..n_extra) are accepted and left to the caller.
 * Amounts are decimal or 0x quantity strings; chain ids JSON integers (1..2^53-1) or decimal /
 * 0x strings. Any other member, a wrong type, a repeated entry (a key, an address, a token) or a
 * bound exceeded is AK_ERR_CONFIG with err naming the field, prefixed by where
 * ("keys.k1.policy.allowed_to[2]: not an address"). Bounds: the AK_POLICY_MAX_* of ak_policy.h.
 */
#ifndef AK_POLICY_CFG_H
#define AK_POLICY_CFG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_policy.h"

#define AK_POLICY_MAX_WINDOW_S 31622400u /* cumulative_cap.window_s: 366 days */

#define AK_POLICY_CFG_INTENT 0x1u /* raw_digest, allowed_chain_ids, _selectors, _domains */
#define AK_POLICY_CFG_MAX_TX 0x2u /* cumulative_cap.max_tx */

/* *p is set to ak_policy_init's default, then filled from obj (which must be an object). On
 * error *p may be partly written. */
AK_WUR ak_err ak_policy_cfg_read(ak_policy *p, const cJSON *obj, const char *where, unsigned flags,
                                 const char *const *extra, size_t n_extra, char *err,
                                 size_t err_cap);

/* A decimal or 0x quantity string (an amount in wei or a token's smallest unit). */
AK_WUR ak_err ak_policy_cfg_amount(ak_u256 *out, const cJSON *v);

#endif
