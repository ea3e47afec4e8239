/* ak_blob.c - EIP-4844 versioned hashes and the blob transaction network form (see ak_blob.h). */
#include "ak_blob.h"

#include <string.h>

#include <nettle/sha2.h>

void ak_blob_versioned_hash(uint8_t out[32], const uint8_t commitment[AK_BLOB_COMMITMENT_SIZE])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, AK_BLOB_COMMITMENT_SIZE, commitment);
    sha256_digest(&c, 32, out);
    out[0] = AK_BLOB_VERSION_KZG;
}

size_t ak_blob_network_size(size_t signed_len, size_t n_blobs, ak_blob_wrapper wrapper)
{
    (void)signed_len;
    (void)n_blobs;
    (void)wrapper;
    return 0;
}

ak_err ak_blob_network_encode(uint8_t *out, size_t cap, size_t *len, const uint8_t *signed_tx,
                              size_t signed_len, const uint8_t *blobs, const uint8_t *commitments,
                              const uint8_t *proofs, size_t n_blobs, ak_blob_wrapper wrapper)
{
    (void)out;
    (void)cap;
    (void)len;
    (void)signed_tx;
    (void)signed_len;
    (void)blobs;
    (void)commitments;
    (void)proofs;
    (void)n_blobs;
    (void)wrapper;
    return AK_ERR_INTERNAL; /* filled in next */
}
