/*
 * fuzz_rlp.c - libFuzzer target for the strict RLP decoder and validator.
 *
 * Input that ak_rlp_validate accepts is canonical, so re-encoding its decoded tree with the
 * encoder must give the input back byte for byte. The first item from ak_rlp_decode must lie
 * inside the input; a string item re-encodes to itself, and an integer view re-encodes to it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_rlp.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define FUZZ_MAX_OUT 65536

static uint8_t out_storage[FUZZ_MAX_OUT];

static ak_err reencode(ak_buf *b, const ak_rlp_item *item, unsigned depth)
{
    if (!item->is_list)
        return ak_rlp_put_bytes(b, item->payload, item->payload_len);
    FUZZ_ASSERT(depth < AK_RLP_MAX_DEPTH);
    size_t mark = ak_rlp_list_begin(b);
    ak_rlp_iter it;
    ak_rlp_item child;
    ak_err err = AK_OK;
    int r;
    ak_rlp_iter_init(&it, item);
    while ((r = ak_rlp_iter_next(&it, &child, &err)) == 1) {
        err = reencode(b, &child, depth + 1);
        if (err != AK_OK)
            return err;
    }
    if (r < 0)
        return err;
    return ak_rlp_list_end(b, mark);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ak_rlp_item item;
    size_t consumed = 0;
    ak_err valid = ak_rlp_validate(data, size, AK_RLP_MAX_DEPTH);

    if (valid == AK_OK && size <= FUZZ_MAX_OUT) {
        ak_buf b = ak_buf_init(out_storage, sizeof out_storage);
        FUZZ_ASSERT(ak_rlp_decode_all(&item, data, size) == AK_OK);
        FUZZ_ASSERT(reencode(&b, &item, 0) == AK_OK);
        FUZZ_ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
    }
    if (ak_rlp_decode(&item, data, size, &consumed) != AK_OK) {
        FUZZ_ASSERT(consumed == 0 && valid != AK_OK);
        return 0;
    }
    FUZZ_ASSERT(consumed >= 1 && consumed <= size && item.encoded == data);
    FUZZ_ASSERT(item.encoded_len == consumed);
    FUZZ_ASSERT(item.payload >= data && item.payload + item.payload_len == data + consumed);
    ak_rlp_item whole;
    FUZZ_ASSERT((ak_rlp_decode_all(&whole, data, size) == AK_OK) == (consumed == size));
    if (valid == AK_OK)
        FUZZ_ASSERT(consumed == size);

    ak_buf b = ak_buf_init(out_storage, sizeof out_storage);
    if (!item.is_list && consumed <= FUZZ_MAX_OUT) {
        FUZZ_ASSERT(ak_rlp_put_bytes(&b, item.payload, item.payload_len) == AK_OK);
        FUZZ_ASSERT(b.len == consumed && memcmp(b.data, data, consumed) == 0);
        uint64_t u = 0;
        ak_u256 v;
        if (ak_rlp_item_u64(&u, &item) == AK_OK) {
            b = ak_buf_init(out_storage, sizeof out_storage);
            FUZZ_ASSERT(ak_rlp_put_u64(&b, u) == AK_OK);
            FUZZ_ASSERT(b.len == consumed && memcmp(b.data, data, consumed) == 0);
        }
        if (ak_rlp_item_u256(&v, &item) == AK_OK) {
            b = ak_buf_init(out_storage, sizeof out_storage);
            FUZZ_ASSERT(ak_rlp_put_u256(&b, &v) == AK_OK);
            FUZZ_ASSERT(b.len == consumed && memcmp(b.data, data, consumed) == 0);
        }
    } else if (item.is_list) {
        size_t count = 0;
        ak_err err = ak_rlp_list_count(&item, &count);
        FUZZ_ASSERT(err == AK_OK || err == AK_ERR_RLP);
        FUZZ_ASSERT(err == AK_OK || count == 0);
        FUZZ_ASSERT(count <= item.payload_len);
    }
    return 0;
}
