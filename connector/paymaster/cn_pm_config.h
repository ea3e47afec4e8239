/*
 * cn_pm_config.h - the "paymaster" section of the connector config (docs/paymaster.md), read
 * strictly into a plain value: the verifying signer, the paymaster contract per chain, the
 * entry points, the allowed senders, the gas limits, the validity window and the two daily caps
 * (daily_cap_wei_per_sender, daily_cap_wei_global). Unknown members are refused, naming them;
 * a bad address names the field, the address as written and its EIP-55 form.
 *
 * Ownership: cn_pm_conf_parse borrows the signer it finds in signers (it must outlive the
 * conf) and allocates the allowed-sender list; cn_pm_conf_clear frees it. Limits: 4096 allowed
 * senders, 8 entry points, 16 chain ids.
 */
#ifndef CN_PM_CONFIG_H
#define CN_PM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"
#include "cn_signer.h"

#define CN_PM_MAX_SENDERS      4096
#define CN_PM_MAX_ENTRY_POINTS 8
#define CN_PM_MAX_CHAINS       16

typedef struct {
    cn_signer *signer; /* borrowed: the account named by "account" */
    uint64_t chains[CN_PM_MAX_CHAINS];
    uint8_t pm_addr[CN_PM_MAX_CHAINS][20]; /* the paymaster contract on chains[i] */
    size_t n_chains;
    uint8_t entry_points[CN_PM_MAX_ENTRY_POINTS][20];
    size_t n_entry_points;
    int all_senders;
    uint8_t (*senders)[20]; /* malloc'd; NULL with all_senders */
    size_t n_senders;
    ak_u256 vgl, pogl; /* paymaster gas limits when the operation gives none */
    uint64_t max_gas;  /* 0: no limit */
    int has_sender_cap, has_global_cap;
    ak_u256 sender_cap, global_cap; /* wei per UTC day */
    uint64_t validity_s, skew_s;
    char sponsor[65];
} cn_pm_conf;

/*
 * Read the section. signers: the connector's accounts; chain_id: the default of chain_ids.
 * AK_ERR_CONFIG with "paymaster...: reason" in err; AK_ERR_NOMEM. On failure *c is cleared.
 */
AK_WUR ak_err cn_pm_conf_parse(cn_pm_conf *c, const cJSON *cfg, cn_signer *const *signers,
                               size_t n_signers, uint64_t chain_id, char *err, size_t err_cap);
void cn_pm_conf_clear(cn_pm_conf *c); /* frees the sender list; NULL allowed */

/* An address given as a JSON string (all-lowercase or EIP-55): AK_ERR_ADDRESS / AK_ERR_CHECKSUM. */
AK_WUR ak_err cn_pm_conf_addr(uint8_t out[20], const cJSON *v);

/* The index of chain_id in c->chains, or -1. */
int cn_pm_conf_chain(const cn_pm_conf *c, uint64_t chain_id);
/* 1 if entry_point is one of entry_points. */
int cn_pm_conf_has_entry_point(const cn_pm_conf *c, const uint8_t entry_point[20]);
/* 1 if sender may be sponsored ("*" or listed). */
int cn_pm_conf_allows_sender(const cn_pm_conf *c, const uint8_t sender[20]);

#endif
