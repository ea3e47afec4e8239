/*
 * cn_txreq.h - the transaction object of eth_signTransaction / eth_sendTransaction: strict
 * parsing of its JSON members into an ak_tx, and the rules that fill what the client left out
 * from the downstream node (private to the router's modules).
 *
 * Every member is understood or the request is refused (-32602 naming it), at the top level
 * and inside accessList entries and authorizationList tuples; a member JSON null counts as
 * absent. Members (docs/connector.md has the table):
 *   from (required), to (absent/null = contract creation, which needs data; not for types 3/4),
 *   value, gas | gasLimit (must agree), nonce, data | input (must agree), chainId (ours, or 0x0
 *   for an explicitly allowed pre-EIP-155 legacy transaction), type (0x0..0x4),
 *   gasPrice (types 0, 1), maxFeePerGas / maxPriorityFeePerGas (types 2, 3, 4),
 *   accessList [{address, storageKeys}] (types 1..4),
 *   maxFeePerBlobGas, blobVersionedHashes (type 3; 1..CN_TXREQ_MAX_BLOBS hashes of 32 bytes
 *   whose first byte is 0x01), blobs / commitments / proofs (type 3: recognised and refused, a
 *   sidecar is not built here),
 *   authorizationList [{chainId, address, nonce, yParity | v, r, s}] (type 4; 1..
 *   CN_TXREQ_MAX_AUTHS signed tuples, chainId 0 or ours, yParity 0/1 or v 0/1/27/28).
 * Type when absent, as geth's TransactionArgs, ethers and viem on a London chain:
 *   authorizationList -> 4; a blob member -> 3; maxFeePerGas/maxPriorityFeePerGas -> 2;
 *   gasPrice -> 1 with an accessList, else 0; nothing (accessList alone included) -> 2.
 * A member not valid for the resulting type is a contradiction and refused (gasPrice with
 * maxFeePerGas, blob members with type 0x2, authorizationList with type != 0x4, ...).
 *
 * Filling (cn_txreq_fill): gas from eth_estimateGas (with the access list, blob hashes and
 * authorizations); legacy/2930 gasPrice from eth_gasPrice; maxPriorityFeePerGas from
 * eth_maxPriorityFeePerGas (else the highest recent eth_feeHistory reward), maxFeePerGas = 2 *
 * next base fee + priority fee (eth_feeHistory); maxFeePerBlobGas = 2 * eth_blobBaseFee;
 * chainId is ours. Nonces are filled by the caller (per-sender serialisation: cn_methods.c).
 *
 * Bounds: data <= AK_TX_MAX_DATA, access list <= CN_TXREQ_MAX_ACCESS_ENTRIES entries of <=
 * CN_TXREQ_MAX_STORAGE_KEYS keys, RLP <= AK_TX_MAX_ACCESS_LIST; member names echoed in errors
 * are cut at 64 bytes.
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
#define CN_TXREQ_MAX_BLOBS          AK_TX_MAX_BLOB_HASHES
#define CN_TXREQ_MAX_AUTHS          AK_AUTH_MAX_LIST

typedef struct {
    ak_tx tx;
    int type; /* the resolved type, 0..4 */
    uint8_t from[20];
    int has_nonce, has_gas, has_gas_price, has_max_fee, has_max_prio, has_blob_fee;
    ak_auth_signed *auths; /* malloc'd, n_auths of them (type 4), as sent */
    size_t n_auths;
    uint8_t *auth_list;            /* malloc'd RLP, owned (tx.auth_list_rlp points here) */
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

/*
 * 1 if every member of obj is one of names[0..n); else 0 with e = -32602 "unknown member
 * \"x\" in <where>". For the other signing methods' objects too.
 */
int cn_txreq_members_known(const cJSON *obj, const char *const *names, size_t n, const char *where,
                           cn_call_err *e);

#endif
