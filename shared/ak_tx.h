/*
 * ak_tx.h - Ethereum transactions: legacy (EIP-155, and pre-155 only when asked), EIP-2930
 * (type 1), EIP-1559 (type 2), EIP-4844 blob (type 3) and EIP-7702 set-code (type 4). Signing
 * digest, signed serialization, and parsing of a signed raw transaction back into fields and
 * sender.
 *
 * An ak_tx borrows its variable-length parts (data, access list, authorization list): the
 * caller keeps them alive. The access list is carried as its RLP encoding (a list of [address,
 * [storageKey...]]), built with ak_tx_access_list_* or taken from a decoded transaction; the
 * authorization list likewise (ak_auth.h builds it); both are validated when used.
 *
 * Type 3 (EIP-4844): `to` required (no contract creation), 1..AK_TX_MAX_BLOB_HASHES blob
 * versioned hashes, each starting with 0x01 (AK_BLOB_VERSION_KZG). This is the signed
 * transaction without its sidecar (ak_blob.h wraps it for the network). AK_TX_MAX_BLOB_HASHES
 * is our bound, above any fork's per-transaction limit (Osaka: 6); the node enforces its own.
 * Type 4 (EIP-7702): `to` required, an authorization list of 1..AK_AUTH_MAX_LIST signed tuples.
 *
 * Bounds: data <= AK_TX_MAX_DATA bytes, access list RLP <= AK_TX_MAX_ACCESS_LIST bytes, chain id
 * <= AK_TX_MAX_CHAIN_ID (so chainId*2+35+1 fits 64 bits), signed encoding <= AK_TX_MAX_ENCODED.
 */
#ifndef AK_TX_H
#define AK_TX_H

#include <stddef.h>
#include <stdint.h>

#include "ak_auth.h"
#include "ak_buf.h"
#include "ak_err.h"
#include "ak_sig.h"
#include "ak_u256.h"

#define AK_TX_MAX_DATA        ((size_t)128 * 1024)
#define AK_TX_MAX_ACCESS_LIST ((size_t)64 * 1024)
#define AK_TX_MAX_BLOB_HASHES 16
#define AK_TX_MAX_ENCODED                                                                          \
    (AK_TX_MAX_DATA + AK_TX_MAX_ACCESS_LIST + AK_AUTH_MAX_LIST_RLP +                               \
     (size_t)AK_TX_MAX_BLOB_HASHES * 33u + 1024u)
#define AK_TX_MAX_CHAIN_ID ((UINT64_MAX - 36u) / 2u)

typedef enum {
    AK_TX_LEGACY = 0,
    AK_TX_EIP2930 = 1,
    AK_TX_EIP1559 = 2,
    AK_TX_EIP4844 = 3,
    AK_TX_EIP7702 = 4
} ak_tx_type;

typedef struct {
    ak_tx_type type;
    uint64_t chain_id; /* required for every type except legacy with pre155 set */
    int pre155;        /* legacy only: sign without replay protection (explicit opt-in) */
    uint64_t nonce;
    ak_u256 gas_price;                /* legacy, EIP-2930 */
    ak_u256 max_priority_fee_per_gas; /* EIP-1559, 4844, 7702 */
    ak_u256 max_fee_per_gas;          /* EIP-1559, 4844, 7702 */
    uint64_t gas_limit;
    int has_to; /* 0: contract creation */
    uint8_t to[20];
    ak_u256 value;
    const uint8_t *data; /* borrowed; may be NULL when data_len is 0 */
    size_t data_len;
    const uint8_t *access_list_rlp; /* borrowed RLP list; NULL means the empty list */
    size_t access_list_rlp_len;
    ak_u256 max_fee_per_blob_gas; /* EIP-4844 */
    size_t n_blob_hashes;         /* EIP-4844: 1..AK_TX_MAX_BLOB_HASHES; 0 for other types */
    uint8_t blob_hashes[AK_TX_MAX_BLOB_HASHES][32];
    const uint8_t *auth_list_rlp; /* EIP-7702: borrowed RLP list of signed tuples (ak_auth.h) */
    size_t auth_list_rlp_len;
} ak_tx;

/*
 * The bytes whose Keccak-256 is signed: RLP([..., chainId, 0, 0]) for EIP-155 legacy (EIP-155's
 * "signing data"), RLP of the six fields for pre-155, type byte || RLP([...]) for typed ones.
 * cap >= data_len + access_list_rlp_len + auth_list_rlp_len + 1200 is always enough. *len set.
 */
AK_WUR ak_err ak_tx_signing_payload(uint8_t *out, size_t cap, size_t *len, const ak_tx *tx);

/* The 32-byte digest to sign (EIP-155 / EIP-2718 typed payload hashing). */
AK_WUR ak_err ak_tx_signing_hash(uint8_t out[32], const ak_tx *tx);

/*
 * The signed transaction as sent with eth_sendRawTransaction: RLP for legacy (v = 27/28 pre-155,
 * chainId*2+35+recid with EIP-155), type byte || RLP for typed ones (yParity). *len set.
 */
AK_WUR ak_err ak_tx_encode_signed(uint8_t *out, size_t cap, size_t *len, const ak_tx *tx,
                                  const ak_sig *sig);

/*
 * Parse a signed raw transaction. tx borrows data and access list from raw. The signature is
 * checked for range and low s; *sig gets it with recid. Strict: unknown type, wrong field
 * count, non-canonical integers and trailing bytes are AK_ERR_TX / AK_ERR_RLP.
 */
AK_WUR ak_err ak_tx_decode_signed(ak_tx *tx, ak_sig *sig, const uint8_t *raw, size_t len);

/* Sender of a decoded signed transaction (recomputes the signing hash, recovers). */
AK_WUR ak_err ak_tx_recover_sender(uint8_t addr[20], const ak_tx *tx, const ak_sig *sig);

/* Transaction hash = keccak256(raw). */
void ak_tx_hash(uint8_t out[32], const uint8_t *raw, size_t len);

/*
 * Access list builder: ak_tx_access_list_begin, then for each entry ak_tx_access_list_add
 * (address + keys), then ak_tx_access_list_end. The result in b is the RLP to put in
 * access_list_rlp.
 */
size_t ak_tx_access_list_begin(const ak_buf *b);
AK_WUR ak_err ak_tx_access_list_add(ak_buf *b, const uint8_t address[20], const uint8_t (*keys)[32],
                                    size_t n_keys);
AK_WUR ak_err ak_tx_access_list_end(ak_buf *b, size_t mark);

#endif
