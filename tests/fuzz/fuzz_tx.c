/*
 * fuzz_tx: strict decoding of signed raw transactions (ak_tx_decode_signed). A decoded
 * transaction must re-encode to exactly the input (the decoder accepts only canonical forms),
 * its signing hash must be computable, and sender recovery may only succeed or fail cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[AK_TX_MAX_ENCODED];
    uint8_t h[32], addr[20];
    size_t len = 0;
    ak_tx tx;
    ak_sig sig;
    ak_err err;
    if (ak_tx_decode_signed(&tx, &sig, data, size) != AK_OK)
        return 0;
    if (ak_tx_encode_signed(out, sizeof out, &len, &tx, &sig) != AK_OK || len != size ||
        memcmp(out, data, size) != 0)
        abort();
    if (ak_tx_signing_hash(h, &tx) != AK_OK)
        abort();
    err = ak_tx_recover_sender(addr, &tx, &sig);
    if (err != AK_OK && err != AK_ERR_RECOVER)
        abort();
    ak_tx_hash(h, data, size);
    return 0;
}
