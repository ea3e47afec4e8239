/*
 * cn_txreq.h - the transaction object of eth_signTransaction / eth_sendTransaction: strict
 * parsing of its JSON members into an ak_tx, and the rules that fill what the client left out
 * from the downstream node (private to rpc/).
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
 *   whose first byte is 0x01), blobs / commitments / proofs (type 3, the sidecar: only with
 *   CN_TXREQ_SIDECAR, i.e. eth_sendTransaction; all three together, one proof per blob
 *   (EIP-4844) or AK_BLOB_CELLS_PER_BLOB per blob (EIP-7594); blobVersionedHashes, if sent,
 *   must be the commitments' versioned hashes, else they are computed from them),
 *   authorizationList [{chainId, address, nonce, yParity | v, r, s}] (type 4; 1..
 *   CN_TXREQ_MAX_AUTHS signed tuples, chainId 0 or ours, yParity 0/1 or v 0/1/27/28).
 * Type when absent, as geth's TransactionArgs, ethers and viem on a London chain:
 *   authorizationList -> 4; a blob member -> 3; maxFeePerGas/maxPriorityFeePerGas -> 2;
 *   gasPrice -> 1 with an accessList, else 0; nothing (accessList alone included) -> 2.
 * A member not valid for the resulting type is a contradiction and refused (gasPrice with
 * maxFeePerGas, blob members with type 0x2, authorizationList with type != 0x4, ...).
 *
 * Filling (cn_txreq_fill_gas, then cn_txreq_fill_fees): gas from eth_estimateGas (with the access
 * list, blob hashes and authorizations); legacy/2930 gasPrice from eth_gasPrice;
 * maxPriorityFeePerGas from eth_maxPriorityFeePerGas (else the highest recent eth_feeHistory
 * reward), maxFeePerGas = 2 * next base fee + priority fee (eth_feeHistory); maxFeePerBlobGas = 2 *
 * eth_blobBaseFee; chainId is ours. Nonces are filled by the caller (per-sender serialisation:
 * cn_methods.c).
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

#include "ak_blob.h"
#include "ak_tx.h"
#include "cn_rpc_err.h"

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
    int has_sidecar;               /* type 3 sent with its sidecar (CN_TXREQ_SIDECAR) */
    uint8_t *blobs;                /* malloc'd: n_blobs * AK_BLOB_SIZE */
    uint8_t *commitments, *proofs; /* malloc'd: n_blobs resp. n_proofs * 48 bytes */
    size_t n_blobs, n_proofs;
    ak_blob_wrapper wrapper;
    uint8_t *data;                 /* malloc'd, owned (tx.data points here) */
    uint8_t *access_list;          /* malloc'd RLP, owned (tx.access_list_rlp points here) */
    const cJSON *access_list_json; /* borrowed from the request, for eth_estimateGas */
} cn_txreq;

/* Parse obj; on failure e gets -32602 (or -32603 for allocation). Free with cn_txreq_free.
 * A sidecar (blobs, commitments, proofs) is refused unless flags has CN_TXREQ_SIDECAR. */
#define CN_TXREQ_SIDECAR 1u /* flag: accept a blob sidecar (the request will be sent) */
AK_WUR ak_err cn_txreq_parse(cn_txreq *t, const cJSON *obj, uint64_t chain_id,
                             int allow_unprotected, unsigned flags, cn_rpc_err *e);

/* The authorizationList of obj into t (cn_txreq_auth.c; called by the parser). */
AK_WUR ak_err cn_txreq_get_auths(cn_txreq *t, const cJSON *obj, uint64_t chain_id, cn_rpc_err *e);

/* A signed authorization as JSON {chainId, address (EIP-55), nonce, yParity, r, s}, as
 * authorizationList takes it (anode_signAuthorization's result, eth_estimateGas' call). New tree
 * (cJSON_Delete), NULL when out of memory. */
cJSON *cn_txreq_auth_json(const ak_auth *auth, const ak_sig *sig);

/* The parser's member readers: a member (NULL if absent or JSON null); a 0x quantity into out
 * (*present 0 when absent; -32602 naming where when it is not one). */
const cJSON *cn_txreq_member(const cJSON *obj, const char *name);
AK_WUR ak_err cn_txreq_get_u256(const cJSON *obj, const char *name, const char *where, ak_u256 *out,
                                int *present, cn_rpc_err *e);
AK_WUR ak_err cn_txreq_get_u64(const cJSON *obj, const char *name, const char *where, uint64_t *out,
                               int *present, cn_rpc_err *e);

/* The sidecar members of obj into t (cn_txreq_blob.c; called by the parser). */
AK_WUR ak_err cn_txreq_get_sidecar(cn_txreq *t, const cJSON *obj, cn_rpc_err *e);

/*
 * The network form of the signed type-3 transaction signed_tx with t's sidecar, as
 * eth_sendRawTransaction takes it (ak_blob.h). *out is malloc'd (caller frees).
 */
AK_WUR ak_err cn_txreq_network_form(const cn_txreq *t, uint8_t **out, size_t *out_len,
                                    const uint8_t *signed_tx, size_t signed_len, cn_rpc_err *e);

/* Fill from the node (not the nonce), in two steps: cn_txreq_fill_gas (the blob fee, then gas:
 * eth_estimateGas, where a call that reverts is refused) before anything is reserved for the
 * transaction, cn_txreq_fill_fees (gasPrice or the EIP-1559 fees) while the reservation is in
 * flight (cn_m_tx.c). */
AK_WUR ak_err cn_txreq_fill_gas(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e);
AK_WUR ak_err cn_txreq_fill_fees(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e);

void cn_txreq_free(cn_txreq *t); /* safe on a zeroed or partly parsed request */

/*
 * 1 if every member of obj is one of names[0..n); else 0 with e = -32602 "unknown member
 * \"x\" in <where>". For the other signing methods' objects too.
 */
int cn_txreq_members_known(const cJSON *obj, const char *const *names, size_t n, const char *where,
                           cn_rpc_err *e);

#endif
