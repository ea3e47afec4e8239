/*
 * cn_app_accounts.h - the daemon's accounts built from the configuration: each account's signers
 * behind one cn_signer_manager (primary, backups, circuit breakers), its policy, the duplicate
 * address check, the metric label (a slot per address, kept across reloads), the log line; an
 * unchanged account's manager carried from the previous generation (cn_app_gen); and the
 * paymaster bound to its account. Also the method table published before any of it is read
 * (cn_methods_publish).
 *
 * Errors: AK_ERR_CONFIG for anything the configuration got wrong (the daemon exits 2), another
 * code otherwise (exit 1); logged here with the reason. Ownership: cn_app_accounts_free() frees
 * the policies and the signers it owns (not those carried from an older generation until
 * cn_app_accounts_take moved them here).
 */
#ifndef CN_APP_ACCOUNTS_H
#define CN_APP_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "cn_config.h"
#include "cn_paymaster.h"
#include "cn_rpc.h"

typedef struct {
    cn_signer *signers[CN_RPC_MAX_ACCOUNTS];
    cn_policy *policies[CN_RPC_MAX_ACCOUNTS];
    size_t metric[CN_RPC_MAX_ACCOUNTS];         /* each account's metrics label slot (by address) */
    unsigned char carried[CN_RPC_MAX_ACCOUNTS]; /* signers[i] is an older generation's: not freed
                                                   here until cn_app_accounts_take */
    size_t n;
} cn_app_accounts;

/* The built-in and paymaster method rows to metrics and policies (before the config is read). */
AK_WUR ak_err cn_app_publish_methods(void);

/*
 * prev NULL: every account's signers are built. Otherwise (a reload, prev's settings prev_s), an
 * account whose signer objects ("signer"/"primary", "backups", "name") are unchanged, with
 * signer_manager unchanged, uses prev's manager as it is (carried: no reconnection, its circuits
 * and counters go on); the others are built. Policies are always parsed again.
 */
AK_WUR ak_err cn_app_accounts_build(cn_app_accounts *a, const cn_settings *s,
                                    const cn_app_accounts *prev, const cn_settings *prev_s);
/* Frees the policies and the signers not carried. */
void cn_app_accounts_free(cn_app_accounts *a);
/* a is in force now: the signers it carried from old become a's (old will not free them). */
void cn_app_accounts_take(cn_app_accounts *a, cn_app_accounts *old);

/* Give the accounts' addresses their metrics labels (metric[] was chosen by the build: an
 * address keeps its slot across reloads; a new one takes a free slot, else one of an address no
 * longer configured). One thread at a time (start-up, then the reload's swap). */
void cn_app_accounts_publish(const cn_app_accounts *a);

/* The "paymaster" section (NULL: none, *out NULL) for chain_id, bound to its account's policy. */
AK_WUR ak_err cn_app_paymaster(cn_paymaster **out, const cJSON *section, cn_app_accounts *a,
                               uint64_t chain_id);

#endif
