/*
 * ks_policy.h - the key server's signing policy configuration (issue 11): one "policy" object (in
 * keys.<id>.policy, or per client in clients.<id>.policies.<key id>) read by the strict reader
 * both daemons share (shared/ak_policy_cfg.h, with AK_POLICY_CFG_INTENT) into an ak_policy
 * (shared/ak_policy.h evaluates it; the rule names are there).
 *
 * Members (all optional; the connector's account policy uses the same names where they exist):
 *   raw_digest (bool, default true), serves ([intent kinds]), allowed_chain_ids ([chain id]),
 *   max_value_wei, allowed_to ([address]), allow_contract_creation (bool, default: true only
 *   without allowed_to), allowed_selectors ({address: ["0x" + 8 hex, ...]}), allowed_domains
 *   ([{name, chainId, verifyingContract}], each with at least one member), allowed_delegates
 *   ([address]), allow_chain_id_zero_authorization (bool), token_caps ({token: amount}),
 *   allow_unjudged_typed_data, allow_hash_like_messages, allow_typed_data_without_chain_id
 *   (bool), cumulative_cap ({"value_wei": amount, "window_s": 1..31622400, "comment"}), comment
 *   (string).
 * Amounts are decimal or 0x quantity strings; chain ids JSON integers (1..2^53-1) or decimal /
 * 0x strings. Any other member, a wrong type, a repeated entry or a bound exceeded is
 * AK_ERR_CONFIG with msg naming the field ("keys.k1.policy.allowed_to[2]: not an address").
 *
 * Ownership: *out is malloc()ed; free with ks_policy_free() (NULL allowed).
 * Bounds: the AK_POLICY_MAX_* of ak_policy.h.
 */
#ifndef KS_POLICY_H
#define KS_POLICY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_policy.h"
#include "ak_policy_cfg.h"

#define KS_POLICY_MAX_WINDOW_S AK_POLICY_MAX_WINDOW_S /* 366 days */

AK_WUR ak_err ks_policy_parse(ak_policy **out, const cJSON *obj, const char *where, char *msg,
                              size_t msg_cap);
void ks_policy_free(ak_policy *p);

#endif
