/*
 * fuzz_tx: strict decoding of signed raw transactions (ak_tx_decode_signed), all five types. A
 * decoded transaction must re-encode to exactly the input (the decoder accepts only canonical
 * forms), its signing hash must be computable, and sender recovery may only succeed or fail
 * cleanly. Type 4: every authorization tuple must read back (ak_auth_list_get), rebuild to the
 * same list bytes (ak_auth_list_*), and its authority recovery succeed or fail cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_auth.h"
#include "ak_tx.h"

static void check_auth_list(const ak_tx *tx)
{
    static uint8_t mem[AK_AUTH_MAX_LIST_RLP];
    ak_buf b = ak_buf_init(mem, sizeof mem);
    size_t count = 0, mark;
    uint8_t addr[20];
    ak_auth_signed sa;
    ak_err err;
    if (ak_auth_list_check(&count, tx->auth_list_rlp, tx->auth_list_rlp_len) != AK_OK || count == 0)
        abort();
    mark = ak_auth_list_begin(&b);
    for (size_t i = 0; i < count; i++) {
        if (ak_auth_list_get(&sa, tx->auth_list_rlp, tx->auth_list_rlp_len, i) != AK_OK ||
            ak_auth_list_add(&b, &sa) != AK_OK)
            abort();
        err = ak_auth_recover_authority(addr, &sa);
        if (err != AK_OK && err != AK_ERR_RECOVER)
            abort();
    }
    if (ak_auth_list_end(&b, mark) != AK_OK || b.len != tx->auth_list_rlp_len ||
        memcmp(b.data, tx->auth_list_rlp, b.len) != 0)
        abort();
}

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
    if (tx.type == AK_TX_EIP7702)
        check_auth_list(&tx);
    ak_tx_hash(h, data, size);
    return 0;
}
