/*
 * cn_txreq.h - the transaction object of eth_signTransaction / eth_sendTransaction: strict
 * parsing of its JSON fields into an ak_tx, and the rules that fill what the client left out
 * from the downstream node (private to the router's modules).
 *
 * Accepted fields: from (required), to (absent/null = contract creation, which needs data),
 * value, gas | gasLimit (must agree if both), gasPrice, maxFeePerGas, maxPriorityFeePerGas,
 * nonce, data | input (must agree if both), chainId, type ("0x0" legacy, "0x1" EIP-2930, "0x2"
 * EIP-1559), accessList ([{address, storageKeys}]). Quantities are strict 0x QUANTITY strings.
 * Type inference when absent: a 1559 fee field -> 2; gasPrice -> 1 with an access list, else 0;
 * nothing -> 2. gasPrice together with a 1559 fee field, 1559 fees on type 0/1, or an access list
 * on type 0 are refused.
 * Filling: gas from eth_estimateGas; legacy/2930 gasPrice from eth_gasPrice; 1559
 * maxPriorityFeePerGas from eth_maxPriorityFeePerGas (else the highest recent eth_feeHistory
 * reward), maxFeePerGas = 2 * next base fee + priority fee (eth_feeHistory); chainId is ours.
 * Nonces are filled by the caller (per-sender serialisation lives in cn_methods.c).
 *
 * Bounds: data <= AK_TX_MAX_DATA, access list <= CN_TXREQ_MAX_ACCESS_ENTRIES entries of <=
 * CN_TXREQ_MAX_STORAGE_KEYS keys, RLP <= AK_TX_MAX_ACCESS_LIST.
 */
#ifndef CN_TXREQ_H
#define CN_TXREQ_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_tx.h"
#include "cn_rpc_impl.h"

#define CN_TXREQ_MAX_ACCESS_ENTRIES 256
#define CN_TXREQ_MAX_STORAGE_KEYS   256

typedef struct {
    ak_tx tx;
    uint8_t from[20];
    int has_nonce, has_gas, has_gas_price, has_max_fee, has_max_prio;
    uint8_t *data;                 /* malloc'd, owned (tx.data points here) */
    uint8_t *access_list;          /* malloc'd RLP, owned (tx.access_list_rlp points here) */
    const cJSON *access_list_json; /* borrowed from the request, for eth_estimateGas */
} cn_txreq;

/* Parse obj; on failure e gets -32602 (or -32603 for allocation). Free with cn_txreq_free. */
AK_WUR ak_err cn_txreq_parse(cn_txreq *t, const cJSON *obj, uint64_t chain_id,
                             int allow_unprotected, cn_call_err *e);

/* Fill gas and fees from the node (not the nonce). */
AK_WUR ak_err cn_txreq_fill(cn_txreq *t, const cn_transport *ds, cn_call_err *e);

void cn_txreq_free(cn_txreq *t); /* safe on a zeroed or partly parsed request */

#endif
