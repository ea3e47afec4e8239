/* cn_txreq_blob.c - the blob sidecar of an eth_sendTransaction type-3 request (blobs,
 * commitments, proofs as geth's TransactionArgs names them) and the network form sent to the
 * node (see cn_txreq.h; the encoding is shared/ak_blob.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_blob.h"
#include "ak_hex.h"
#include "cn_txreq.h"

/* A JSON array of n hex strings of exactly size bytes each, into a malloc'd buffer. */
static ak_err hex_items(uint8_t **out, size_t *n_out, const cJSON *arr, const char *name,
                        size_t size, size_t max, cn_rpc_err *e)
{
    const cJSON *it;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    int count = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || count < 1 || (size_t)count > max) {
        cn_err_set(e, CN_E_PARAMS, "%s must be an array of 1..%zu items", name, max);
        return AK_ERR_TX;
    }
    *out = malloc((size_t)count * size);
    if (*out == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return AK_ERR_NOMEM;
    }
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || ak_hex_decode_exact(*out + n * size, size, it->valuestring,
                                                       strlen(it->valuestring)) != AK_OK) {
            cn_err_set(e, CN_E_PARAMS, "invalid %s[%zu]: %zu bytes of 0x hex", name, n, size);
            return AK_ERR_HEX;
        }
        n++;
    }
    *n_out = n;
    return AK_OK;
}

ak_err cn_txreq_get_sidecar(cn_txreq *t, const cJSON *obj, cn_rpc_err *e)
{
    const cJSON *blobs = cJSON_GetObjectItemCaseSensitive(obj, "blobs");
    const cJSON *comms = cJSON_GetObjectItemCaseSensitive(obj, "commitments");
    const cJSON *proofs = cJSON_GetObjectItemCaseSensitive(obj, "proofs");
    size_t n_comms = 0;
    ak_err rc;
    int has_b = blobs != NULL && !cJSON_IsNull(blobs);
    int has_c = comms != NULL && !cJSON_IsNull(comms);
    int has_p = proofs != NULL && !cJSON_IsNull(proofs);
    if (!has_b && !has_c && !has_p)
        return AK_OK;
    if (!has_b || !has_c || !has_p) {
        cn_err_set(e, CN_E_PARAMS,
                   "a blob sidecar needs blobs, commitments and proofs together (missing:%s%s%s)",
                   has_b ? "" : " blobs", has_c ? "" : " commitments", has_p ? "" : " proofs");
        return AK_ERR_TX;
    }
    if ((rc = hex_items(&t->blobs, &t->n_blobs, blobs, "blobs", AK_BLOB_SIZE, CN_TXREQ_MAX_BLOBS,
                        e)) != AK_OK ||
        (rc = hex_items(&t->commitments, &n_comms, comms, "commitments", AK_BLOB_COMMITMENT_SIZE,
                        CN_TXREQ_MAX_BLOBS, e)) != AK_OK ||
        (rc = hex_items(&t->proofs, &t->n_proofs, proofs, "proofs", AK_BLOB_PROOF_SIZE,
                        (size_t)CN_TXREQ_MAX_BLOBS * AK_BLOB_CELLS_PER_BLOB, e)) != AK_OK)
        return rc;
    if (n_comms != t->n_blobs) {
        cn_err_set(e, CN_E_PARAMS, "commitments has %zu items for %zu blobs", n_comms, t->n_blobs);
        return AK_ERR_TX;
    }
    /* One proof per blob (EIP-4844) or one per cell (EIP-7594): the client's proofs decide. */
    if (t->n_proofs == t->n_blobs) {
        t->wrapper = AK_BLOB_WRAPPER_4844;
    } else if (t->n_proofs == t->n_blobs * AK_BLOB_CELLS_PER_BLOB) {
        t->wrapper = AK_BLOB_WRAPPER_7594;
    } else {
        cn_err_set(e, CN_E_PARAMS,
                   "proofs has %zu items for %zu blobs: one per blob (EIP-4844) or %u per blob "
                   "(EIP-7594 cell proofs)",
                   t->n_proofs, t->n_blobs, AK_BLOB_CELLS_PER_BLOB);
        return AK_ERR_TX;
    }
    /* The hashes the transaction signs: the commitments' (EIP-4844 kzg_to_versioned_hash);
     * when the client sent hashes too they must be exactly those. */
    int given = t->tx.n_blob_hashes > 0;
    if (given && t->tx.n_blob_hashes != t->n_blobs) {
        cn_err_set(e, CN_E_PARAMS, "blobVersionedHashes has %zu items for %zu blobs",
                   t->tx.n_blob_hashes, t->n_blobs);
        return AK_ERR_TX;
    }
    for (size_t i = 0; i < t->n_blobs; i++) {
        uint8_t h[32];
        ak_blob_versioned_hash(h, t->commitments + i * AK_BLOB_COMMITMENT_SIZE);
        if (given && memcmp(h, t->tx.blob_hashes[i], 32) != 0) {
            cn_err_set(e, CN_E_PARAMS,
                       "blobVersionedHashes[%zu] is not the versioned hash of commitments[%zu]", i,
                       i);
            return AK_ERR_TX;
        }
        memcpy(t->tx.blob_hashes[i], h, 32);
    }
    t->tx.n_blob_hashes = t->n_blobs;
    t->has_sidecar = 1;
    return AK_OK;
}

ak_err cn_txreq_network_form(const cn_txreq *t, uint8_t **out, size_t *out_len,
                             const uint8_t *signed_tx, size_t signed_len, cn_rpc_err *e)
{
    size_t cap = ak_blob_network_size(signed_len, t->n_blobs, t->wrapper);
    ak_err rc;
    *out = cap ? malloc(cap) : NULL;
    if (*out == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return AK_ERR_NOMEM;
    }
    rc = ak_blob_network_encode(*out, cap, out_len, signed_tx, signed_len, t->blobs, t->commitments,
                                t->proofs, t->n_blobs, t->wrapper);
    if (rc != AK_OK) {
        cn_err_set(e, CN_E_INTERNAL, "cannot build the blob transaction's network form: %s",
                   ak_strerror(rc));
        free(*out);
        *out = NULL;
    }
    return rc;
}
