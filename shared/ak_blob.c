/* ak_blob.c - EIP-4844 versioned hashes and the blob transaction network form (see ak_blob.h). */
#include "ak_blob.h"

#include <string.h>

#include <nettle/sha2.h>

#include "ak_rlp.h"
#include "ak_tx.h"

/* RLP header room for any list or string here (1 + up to 8 length bytes). */
#define HDR 9u

void ak_blob_versioned_hash(uint8_t out[32], const uint8_t commitment[AK_BLOB_COMMITMENT_SIZE])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, AK_BLOB_COMMITMENT_SIZE, commitment);
    sha256_digest(&c, 32, out);
    out[0] = AK_BLOB_VERSION_KZG;
}

static size_t proofs_per_blob(ak_blob_wrapper w)
{
    return w == AK_BLOB_WRAPPER_7594 ? AK_BLOB_CELLS_PER_BLOB : 1u;
}

size_t ak_blob_network_size(size_t signed_len, size_t n_blobs, ak_blob_wrapper wrapper)
{
    size_t per = (AK_BLOB_SIZE + HDR) + (AK_BLOB_COMMITMENT_SIZE + 1u) +
                 proofs_per_blob(wrapper) * (AK_BLOB_PROOF_SIZE + 1u);
    if (n_blobs > AK_TX_MAX_BLOB_HASHES || signed_len > AK_TX_MAX_ENCODED)
        return 0;
    return 1u + HDR + signed_len + 1u + 3u * HDR + n_blobs * per;
}

/* A list of n strings of size bytes each. */
static ak_err put_list(ak_buf *b, const uint8_t *items, size_t n, size_t size)
{
    size_t mark = ak_rlp_list_begin(b);
    ak_err err;
    for (size_t i = 0; i < n; i++) {
        if ((err = ak_rlp_put_bytes(b, items + i * size, size)) != AK_OK)
            return err;
    }
    return ak_rlp_list_end(b, mark);
}

ak_err ak_blob_network_encode(uint8_t *out, size_t cap, size_t *len, const uint8_t *signed_tx,
                              size_t signed_len, const uint8_t *blobs, const uint8_t *commitments,
                              const uint8_t *proofs, size_t n_blobs, ak_blob_wrapper wrapper)
{
    ak_buf b = ak_buf_init(out, cap);
    uint8_t vh[32];
    size_t mark;
    ak_tx tx;
    ak_sig sig;
    ak_err err;
    if (out == NULL || len == NULL || signed_tx == NULL || blobs == NULL || commitments == NULL ||
        proofs == NULL || (wrapper != AK_BLOB_WRAPPER_4844 && wrapper != AK_BLOB_WRAPPER_7594))
        return AK_ERR_ARG;
    if ((err = ak_tx_decode_signed(&tx, &sig, signed_tx, signed_len)) != AK_OK)
        return err;
    if (tx.type != AK_TX_EIP4844 || n_blobs != tx.n_blob_hashes)
        return AK_ERR_TX;
    for (size_t i = 0; i < n_blobs; i++) {
        ak_blob_versioned_hash(vh, commitments + i * AK_BLOB_COMMITMENT_SIZE);
        if (memcmp(vh, tx.blob_hashes[i], 32) != 0)
            return AK_ERR_TX;
    }
    /* 0x03 || rlp([tx_payload_body, (wrapper_version,) blobs, commitments, proofs]) */
    if ((err = ak_buf_append_byte(&b, AK_TX_EIP4844)) != AK_OK)
        return err;
    mark = ak_rlp_list_begin(&b);
    if ((err = ak_rlp_put_raw(&b, signed_tx + 1, signed_len - 1)) != AK_OK ||
        (wrapper == AK_BLOB_WRAPPER_7594 && (err = ak_rlp_put_u64(&b, 1)) != AK_OK) ||
        (err = put_list(&b, blobs, n_blobs, AK_BLOB_SIZE)) != AK_OK ||
        (err = put_list(&b, commitments, n_blobs, AK_BLOB_COMMITMENT_SIZE)) != AK_OK ||
        (err = put_list(&b, proofs, n_blobs * proofs_per_blob(wrapper), AK_BLOB_PROOF_SIZE)) !=
            AK_OK ||
        (err = ak_rlp_list_end(&b, mark)) != AK_OK)
        return err;
    *len = b.len;
    return AK_OK;
}
