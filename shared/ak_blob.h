/*
 * ak_blob.h - EIP-4844 blob helpers around a signed type-3 transaction: the versioned hash of
 * a KZG commitment, and the network form a node takes with eth_sendRawTransaction (the signed
 * transaction wrapped with its sidecar: blobs, commitments, proofs).
 *
 *   versioned hash = 0x01 || sha256(commitment)[1:]      (EIP-4844 kzg_to_versioned_hash)
 *   network form, EIP-4844:  0x03 || rlp([tx_payload_body, blobs, commitments, proofs])
 *                 EIP-7594:  0x03 || rlp([tx_payload_body, 1, blobs, commitments, cell_proofs])
 *   tx_payload_body = rlp([chain_id, ..., y_parity, r, s]) (the signed transaction minus 0x03)
 *
 * KZG proofs are not verified here (that needs the trusted setup: the node does it); the
 * encoder checks counts, sizes, and that each versioned hash of the transaction is its
 * commitment's. Nothing allocated; the caller sizes the output with ak_blob_network_size.
 */
#ifndef AK_BLOB_H
#define AK_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define AK_BLOB_SIZE            131072u /* FIELD_ELEMENTS_PER_BLOB * 32 */
#define AK_BLOB_COMMITMENT_SIZE 48u
#define AK_BLOB_PROOF_SIZE      48u
#define AK_BLOB_CELLS_PER_BLOB  128u /* EIP-7594 CELLS_PER_EXT_BLOB: cell proofs per blob */
#define AK_BLOB_VERSION_KZG     0x01

typedef enum {
    AK_BLOB_WRAPPER_4844 = 0, /* one proof per blob (Cancun, Prague) */
    AK_BLOB_WRAPPER_7594 = 1  /* wrapper_version 1, 128 cell proofs per blob (Osaka) */
} ak_blob_wrapper;

/* 0x01 || sha256(commitment)[1..31]. */
void ak_blob_versioned_hash(uint8_t out[32], const uint8_t commitment[AK_BLOB_COMMITMENT_SIZE]);

/* Bytes ak_blob_network_encode needs at most for these sizes (0 on overflow). */
size_t ak_blob_network_size(size_t signed_len, size_t n_blobs, ak_blob_wrapper wrapper);

/*
 * signed_tx: a signed type-3 transaction (ak_tx_encode_signed output, decoded strictly here).
 * blobs: n_blobs * AK_BLOB_SIZE bytes; commitments: n_blobs * 48; proofs: n_blobs * 48 (4844)
 * or n_blobs * 128 * 48 (7594). n_blobs must equal the transaction's blob hash count and
 * versioned_hash(commitments[i]) its i-th hash: else AK_ERR_TX. *len set.
 */
AK_WUR ak_err ak_blob_network_encode(uint8_t *out, size_t cap, size_t *len,
                                     const uint8_t *signed_tx, size_t signed_len,
                                     const uint8_t *blobs, const uint8_t *commitments,
                                     const uint8_t *proofs, size_t n_blobs,
                                     ak_blob_wrapper wrapper);

#endif
