/*
 * cn_paymaster.h - the connector's ERC-4337 verifying-paymaster signing service (issue 6): the
 * ERC-7677 JSON-RPC methods pm_getPaymasterStubData and pm_getPaymasterData, and the REST call
 * POST /api/v1/paymaster/sponsor, for the eth-infinitism v0.7.0 VerifyingPaymaster (layout and
 * hash: shared/ak_userop.h; docs/paymaster.md).
 *
 * The paymaster's verifyingSigner is one of the connector's accounts ("account" in the
 * "paymaster" config section): its signer backend (keyless/HSM, local, ...) signs the EIP-191
 * hash of VerifyingPaymaster.getHash through cn_signer_sign_eth(), giving r || s || v (65
 * bytes, v = 27/28, low s).
 *
 * Policy (checked at the stub stage too, each refusal a JSON-RPC error CN_PM_E_POLICY whose
 * message names the rule): entry_points, chain_ids, allowed_senders, max_gas_per_op (sum of the
 * five gas limits), daily_cap_wei_per_sender and daily_cap_wei_global (maxFeePerGas x that sum,
 * per UTC day, per sender and for all senders together; cn_pm_cap.h). The final stage reserves
 * the cost on the state store before signing (one atomic call for both caps: replicas sharing a
 * PostgreSQL never pass a cap by one wei) and releases it if signing fails; an operation counts
 * when it is signed, also if it is never submitted. Store unavailable: -32603
 * ST_UNAVAILABLE_MSG, nothing signed. The validity window is validUntil = now +
 * validity_seconds, validAfter = now - skew. Every decision is logged (stage, decision, rule,
 * sender, nonce, cost). The config section is read by cn_pm_config.h.
 *
 * Ownership: cn_pm_new() borrows the signers (they must outlive the paymaster) and copies what
 * it needs from the config; without cn_pm_set_state its caps count in a memory store of its
 * own (this process only). Thread-safe: all entry points may run on many threads at once.
 * Limits: 4096 allowed senders, 8 entry points, 16 chain ids; the memory store's max_entries.
 */
#ifndef CN_PAYMASTER_H
#define CN_PAYMASTER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_methods.h"
#include "cn_policy.h"
#include "cn_signer.h"
#include "st_store.h"

/* JSON-RPC error code of a sponsorship refused by the policy (the rule is in the message). */
#define CN_PM_E_POLICY CN_E_PM_POLICY

typedef struct cn_paymaster cn_paymaster;

/*
 * Build the service from the config file's "paymaster" object. signers: the connector's
 * accounts (the one named by "account" signs); chain_id: the connector's chain (the default
 * for chain_ids). AK_ERR_CONFIG with a reason in err on a bad section.
 */
AK_WUR ak_err cn_pm_new(cn_paymaster **out, const cJSON *cfg, cn_signer *const *signers,
                        size_t n_signers, uint64_t chain_id, char *err, size_t err_cap);
void cn_pm_free(cn_paymaster *pm); /* NULL allowed */

/*
 * A key has one purpose (issue 18): give the paymaster's account (policies[i] for the signer
 * pm signs with; policies parallel to signers) the paymaster policy of cn_policy_for_paymaster:
 * pm_* only unless its policy's "serves" says otherwise (then a warning is logged).
 * AK_ERR_CONFIG with err set when its "serves" leaves out erc4337_paymaster.
 */
AK_WUR ak_err cn_pm_bind_policy(const cn_paymaster *pm, cn_signer *const *signers,
                                cn_policy **policies, size_t n_signers, char *err, size_t err_cap);

/* Replace time(NULL) (tests; also the UTC day of the paymaster's own memory store). */
void cn_pm_set_clock(cn_paymaster *pm, time_t (*now)(void));

/* Count the daily caps on st (the connector's store, memory or postgres; borrowed: it must
 * outlive pm; NULL: the paymaster's own memory store). Call before serving requests. */
void cn_pm_set_state(cn_paymaster *pm, st_store *st);

/*
 * JSON-RPC: the method table of pm_getPaymasterStubData and pm_getPaymasterData (the router's
 * cn_rpc_config.extra; pm NULL: the rows alone, for cn_methods_publish). A refusal is a
 * cn_rpc_err: CN_PM_E_POLICY naming the rule, -32602, -32603 or -32000.
 */
cn_method_table cn_pm_methods(cn_paymaster *pm);

/*
 * REST POST /api/v1/paymaster/sponsor: body {"userOperation": {...}, "entryPoint": "0x..",
 * "chainId": "0x.." (optional), "context": ... (optional)} -> 200 with the sponsored fields,
 * 400 invalid request, 403 refused by the policy, 502 signer failure, 503 state store
 * unavailable. *out is a malloc'd JSON
 * body (caller frees). Only AK_ERR_NOMEM fails.
 */
AK_WUR ak_err cn_pm_rest_sponsor(void *ctx, const char *body, size_t len, char **out,
                                 size_t *out_len, unsigned *status);

#endif
