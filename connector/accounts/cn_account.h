/*
 * cn_account.h - an address the connector signs for, as the methods see it: its signers (one
 * cn_signer_manager: primary, backups, circuit breakers), its policy, and its position in the
 * connector's list (the metrics label). cn_account_sign_eth() is how every JSON-RPC method signs
 * as an account: the audit record (cn_audit), the signature metrics and the failure log line
 * around the one DER/raw -> (r, s, v) conversion (cn_signer_sign_eth -> cn_raw_sig_to_eth).
 *
 * Ownership: an account borrows its signer and policy (app/ builds and frees them). Read-only
 * once built: any number of threads may sign with it at once.
 */
#ifndef CN_ACCOUNT_H
#define CN_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ak_sig.h"
#include "cn_policy.h"
#include "cn_signer.h"
#include "rt_clock.h"

typedef struct {
    cn_signer *signer;       /* the account's signers behind one; its address is the account */
    const cn_policy *policy; /* NULL: the default policy */
    size_t index;            /* position in the connector's list (metrics label) */
    const rt_clock *clock;   /* for the signature latency; NULL: the system clock */
} cn_account;

/* The account of list[0..n) whose address is addr, or NULL. */
const cn_account *cn_accounts_find(const cn_account *list, size_t n, const uint8_t addr[20]);

/*
 * Sign digest as a: audited, counted, and on failure logged with the backend's error. ctx names
 * the method, the request id (may be NULL: the audit makes one), the chain and the transaction.
 */
AK_WUR ak_err cn_account_sign_eth(const cn_account *a, ak_sig *out, const uint8_t digest[32],
                                  const cn_sign_ctx *ctx);

#endif
