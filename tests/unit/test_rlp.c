/*
 * test_rlp.c - unit tests of ak_rlp: encoder, strict decoder, iterator, integer views and the
 * bounded validator.
 *
 * Vectors: the examples of the RLP specification (ethereum.org/developers/docs/data-structures-
 * and-encoding/rlp and the Yellow Paper appendix B), each re-checked with ethers v6 encodeRlp
 * (tests/tools, `node -e`); the long-form vectors (55/1024-byte strings, a list with a 58-byte
 * payload, 2^256-1) were computed with ethers encodeRlp too. Non-canonical inputs are rejected
 * here even where ethers' decodeRlp accepts them (it accepts 0x8100).
 */
#include "ak_rlp.h"
#include "ak_test.h"

#define LOREM "Lorem ipsum dolor sit amet, consectetur adipisicing elit"

static uint8_t storage[4096];

/* Re-encode a decoded item with the encoder; returns AK_OK and appends to b. */
static ak_err reencode(ak_buf *b, const ak_rlp_item *item, unsigned depth)
{
    if (!item->is_list)
        return ak_rlp_put_bytes(b, item->payload, item->payload_len);
    if (depth > AK_RLP_MAX_DEPTH)
        return AK_ERR_LIMIT;
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

/* Decode hex vector, validate, re-encode, compare. */
static void roundtrip(const char *hex)
{
    uint8_t in[1200];
    size_t n = ak_test_unhex(in, sizeof in, hex);
    ak_rlp_item item;
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(item.encoded_len, n);
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH), AK_OK);
    ak_buf b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(reencode(&b, &item, 0), AK_OK);
    CHECK_EQ_INT(b.len, n);
    CHECK_MEM(b.data, in, n);
}

/* Expect decode_all (and validate) to reject a hex input with err. */
static void reject(const char *hex, ak_err want)
{
    uint8_t in[256];
    size_t n = ak_test_unhex(in, sizeof in, hex);
    ak_rlp_item item;
    ak_err got = ak_rlp_decode_all(&item, in, n);
    if (got != want)
        fprintf(stderr, "reject(%s)\n", hex);
    CHECK_EQ_INT(got, want);
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH), want);
}

/* One level decodes, but the recursive validator finds the bad nested item. */
static void reject_deep(const char *hex)
{
    uint8_t in[256];
    size_t n = ak_test_unhex(in, sizeof in, hex);
    ak_rlp_item item;
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH), AK_ERR_RLP);
}

static void test_encode_spec(void)
{
    ak_buf b = ak_buf_init(storage, sizeof storage);
    uint8_t want[64];
    size_t n;

    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"dog", 3), AK_OK);
    n = ak_test_unhex(want, sizeof want, "83646f67");
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    b = ak_buf_init(storage, sizeof storage);
    size_t m = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"cat", 3), AK_OK);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"dog", 3), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m), AK_OK);
    n = ak_test_unhex(want, sizeof want, "c88363617483646f67");
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, NULL, 0), AK_OK); /* "" */
    m = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m), AK_OK); /* [] */
    CHECK_EQ_INT(ak_rlp_put_u64(&b, 0), AK_OK);
    CHECK_EQ_INT(ak_rlp_put_u64(&b, 15), AK_OK);
    CHECK_EQ_INT(ak_rlp_put_u64(&b, 1024), AK_OK);
    n = ak_test_unhex(want, sizeof want,
                      "80c080"
                      "0f"
                      "820400");
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    /* set-theoretic [ [], [[]], [ [], [[]] ] ] */
    b = ak_buf_init(storage, sizeof storage);
    size_t m0 = ak_rlp_list_begin(&b);
    size_t m1 = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m1), AK_OK);
    m1 = ak_rlp_list_begin(&b);
    size_t m2 = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m2), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m1), AK_OK);
    m1 = ak_rlp_list_begin(&b);
    m2 = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m2), AK_OK);
    m2 = ak_rlp_list_begin(&b);
    size_t m3 = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m3), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m2), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m1), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m0), AK_OK);
    n = ak_test_unhex(want, sizeof want, "c7c0c1c0c3c0c1c0");
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    /* the 56-byte string: first long form */
    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(strlen(LOREM), 56);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)LOREM, 56), AK_OK);
    CHECK(b.len == 58 && b.data[0] == 0xb8 && b.data[1] == 0x38);
    CHECK_MEM(b.data + 2, LOREM, 56);
    /* [LOREM]: a list with a 58-byte payload, f83a (ethers) */
    b = ak_buf_init(storage, sizeof storage);
    m = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)LOREM, 56), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m), AK_OK);
    CHECK(b.len == 60 && b.data[0] == 0xf8 && b.data[1] == 0x3a && b.data[2] == 0xb8);

    /* single bytes: 0x00 and 0x7f are themselves, 0x80 needs a header (ethers) */
    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"\x00", 1), AK_OK);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"\x7f", 1), AK_OK);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"\x80", 1), AK_OK);
    n = ak_test_unhex(want, sizeof want, "007f8180");
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    /* 55 bytes: last short form b7; 1024 bytes: b90400 (ethers) */
    uint8_t big[1024];
    memset(big, 0xaa, 55);
    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, big, 55), AK_OK);
    CHECK(b.len == 56 && b.data[0] == 0xb7 && b.data[1] == 0xaa);
    memset(big, 0xbb, sizeof big);
    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, big, sizeof big), AK_OK);
    CHECK(b.len == 1027 && b.data[0] == 0xb9 && b.data[1] == 0x04 && b.data[2] == 0x00);

    /* u256: 2^256-1 -> a0 ff*32 (ethers), zero -> 80 */
    ak_u256 v;
    memset(big, 0xff, 32);
    CHECK_EQ_INT(ak_u256_from_be(&v, big, 32), AK_OK);
    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(ak_rlp_put_u256(&b, &v), AK_OK);
    CHECK(b.len == 33 && b.data[0] == 0xa0 && memcmp(b.data + 1, big, 32) == 0);
    ak_u256_from_u64(&v, 0);
    CHECK_EQ_INT(ak_rlp_put_u256(&b, &v), AK_OK);
    ak_u256_from_u64(&v, 1024);
    CHECK_EQ_INT(ak_rlp_put_u256(&b, &v), AK_OK);
    CHECK(b.len == 37 && b.data[33] == 0x80 && memcmp(b.data + 34, "\x82\x04\x00", 3) == 0);
    CHECK_EQ_INT(ak_rlp_put_u64(&b, UINT64_MAX), AK_OK);
    CHECK(b.len == 46 && b.data[37] == 0x88 && b.data[45] == 0xff);

    /* raw */
    b = ak_buf_init(storage, sizeof storage);
    CHECK_EQ_INT(ak_rlp_put_raw(&b, (const uint8_t *)"\xc0", 1), AK_OK);
    CHECK(b.len == 1 && b.data[0] == 0xc0);
}

static void test_encode_bounds(void)
{
    uint8_t small[5];
    ak_buf b = ak_buf_init(small, 4);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"dogs", 4), AK_ERR_BUFFER);
    CHECK_EQ_INT(b.len, 0); /* unchanged */
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"dog", 3), AK_OK);
    CHECK_EQ_INT(ak_rlp_put_u64(&b, 1), AK_ERR_BUFFER);
    CHECK_EQ_INT(b.len, 4);
    /* no room for the list header: error, items left as they were */
    b = ak_buf_init(small, 4);
    size_t m = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"cat", 3), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m), AK_ERR_BUFFER);
    CHECK(b.len == 4 && small[0] == 0x83);
    b = ak_buf_init(small, 5);
    m = ak_rlp_list_begin(&b);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, (const uint8_t *)"cat", 3), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_end(&b, m), AK_OK);
    CHECK(b.len == 5 && small[0] == 0xc4 && small[1] == 0x83);
    CHECK_EQ_INT(ak_rlp_list_end(&b, 6), AK_ERR_ARG);
    CHECK_EQ_INT(ak_rlp_put_bytes(NULL, small, 1), AK_ERR_ARG);
    CHECK_EQ_INT(ak_rlp_put_bytes(&b, NULL, 1), AK_ERR_ARG);
}

static void test_decode_spec(void)
{
    roundtrip("83646f67");
    roundtrip("c88363617483646f67");
    roundtrip("80");
    roundtrip("c0");
    roundtrip("0f");
    roundtrip("820400");
    roundtrip("c7c0c1c0c3c0c1c0");
    roundtrip("b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e73656374657475"
              "72206164697069736963696e6720656c6974");
    roundtrip("f83ab8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e736563746574"
              "7572206164697069736963696e6720656c6974");
    roundtrip("00");
    roundtrip("7f");
    roundtrip("8180");
    roundtrip("a0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");

    uint8_t in[16];
    size_t n = ak_test_unhex(in, sizeof in, "c88363617483646f67");
    ak_rlp_item list, it1;
    size_t count = 0;
    CHECK_EQ_INT(ak_rlp_decode_all(&list, in, n), AK_OK);
    CHECK(list.is_list && list.payload == in + 1 && list.payload_len == 8);
    CHECK_EQ_INT(ak_rlp_list_count(&list, &count), AK_OK);
    CHECK_EQ_INT(count, 2);
    ak_rlp_iter it;
    ak_err err = AK_OK;
    ak_rlp_iter_init(&it, &list);
    CHECK_EQ_INT(ak_rlp_iter_next(&it, &it1, &err), 1);
    CHECK(!it1.is_list && it1.payload_len == 3 && memcmp(it1.payload, "cat", 3) == 0);
    CHECK_EQ_INT(ak_rlp_iter_next(&it, &it1, &err), 1);
    CHECK(it1.payload_len == 3 && memcmp(it1.payload, "dog", 3) == 0 && it1.encoded == in + 5);
    CHECK_EQ_INT(ak_rlp_iter_next(&it, &it1, &err), 0);
    CHECK_EQ_INT(ak_rlp_list_count(&it1, &count), AK_ERR_RLP); /* a string is not a list */

    /* decode stops after the first item; decode_all rejects what follows */
    size_t consumed = 0;
    n = ak_test_unhex(in, sizeof in, "8000");
    CHECK_EQ_INT(ak_rlp_decode(&it1, in, n, &consumed), AK_OK);
    CHECK_EQ_INT(consumed, 1);
    CHECK_EQ_INT(ak_rlp_decode_all(&it1, in, n), AK_ERR_RLP);

    /* a malformed item inside a list: decode (one level) accepts, the iterator reports it */
    n = ak_test_unhex(in, sizeof in, "c283646f");
    CHECK_EQ_INT(ak_rlp_decode_all(&list, in, n), AK_ERR_RLP);
    n = ak_test_unhex(in, sizeof in, "c3836461");
    CHECK_EQ_INT(ak_rlp_decode_all(&list, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_list_count(&list, &count), AK_ERR_RLP);
    ak_rlp_iter_init(&it, &list);
    err = AK_OK;
    CHECK_EQ_INT(ak_rlp_iter_next(&it, &it1, &err), -1);
    CHECK_EQ_INT(err, AK_ERR_RLP);

    /* a zeroed item (as left by a failed decode) iterates as empty */
    memset(&list, 0, sizeof list);
    list.is_list = 1;
    ak_rlp_iter_init(&it, &list);
    CHECK_EQ_INT(ak_rlp_iter_next(&it, &it1, &err), 0);
    CHECK_EQ_INT(ak_rlp_list_count(&list, &count), AK_OK);
    CHECK_EQ_INT(count, 0);
}

static void test_decode_reject(void)
{
    reject("", AK_ERR_RLP);
    /* single byte < 0x80 wrapped as a string */
    reject("8100", AK_ERR_RLP);
    reject("817f", AK_ERR_RLP);
    /* long form for a length < 56 */
    reject("b800", AK_ERR_RLP);
    reject("b80180", AK_ERR_RLP);
    char hex55[4 + 110 + 1] = "b837";
    for (size_t i = 0; i < 55; i++)
        memcpy(hex55 + 4 + 2 * i, "aa", 2);
    hex55[sizeof hex55 - 1] = '\0';
    reject(hex55, AK_ERR_RLP);
    hex55[2] = 'b'; /* b7 + 55 bytes: the canonical short form */
    hex55[3] = '7';
    roundtrip(hex55 + 2);
    reject("f800", AK_ERR_RLP);
    reject("f801c0", AK_ERR_RLP);
    /* length of length with a leading zero */
    reject("b90038aaaa", AK_ERR_RLP);
    reject("f90038c0", AK_ERR_RLP);
    reject("b90000", AK_ERR_RLP);
    /* lengths past the end */
    reject("83646f", AK_ERR_RLP);
    reject("81", AK_ERR_RLP);
    reject("c1", AK_ERR_RLP);
    reject("c3c0", AK_ERR_RLP);
    reject("b8", AK_ERR_RLP);
    reject("b9ff", AK_ERR_RLP);
    reject("b838aaaa", AK_ERR_RLP);
    reject("f9ffff", AK_ERR_RLP);
    reject("bfffffffffffffffff", AK_ERR_RLP);
    reject("ffffffffffffffffff00", AK_ERR_RLP);
    reject("bf0100000000000000", AK_ERR_RLP);
    /* trailing bytes */
    reject("8000", AK_ERR_RLP);
    reject("c0c0", AK_ERR_RLP);
    reject("83646f6767", AK_ERR_RLP);
    /* list whose payload holds a partial or non-canonical item */
    reject("c283646f", AK_ERR_RLP);
    reject("c4c28100", AK_ERR_RLP);
    reject_deep("c28100");
    reject_deep("c3c28100");
    reject_deep("c3b80100");
    reject_deep("c3c283ff");

    ak_rlp_item item;
    size_t consumed = 7;
    CHECK_EQ_INT(ak_rlp_decode(&item, NULL, 0, &consumed), AK_ERR_RLP);
    CHECK_EQ_INT(consumed, 0);
    CHECK_EQ_INT(ak_rlp_decode(NULL, (const uint8_t *)"\x80", 1, &consumed), AK_ERR_ARG);
}

static void test_integers(void)
{
    uint8_t in[64];
    ak_rlp_item item;
    uint64_t u = 9;
    ak_u256 v;
    size_t n;

    n = ak_test_unhex(in, sizeof in, "80");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_OK);
    CHECK(u == 0);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_OK);
    CHECK(ak_u256_is_zero(&v));
    n = ak_test_unhex(in, sizeof in, "0f");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_OK);
    CHECK(u == 15);
    n = ak_test_unhex(in, sizeof in, "820400");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_OK);
    CHECK(u == 1024);
    n = ak_test_unhex(in, sizeof in, "88ffffffffffffffff");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_OK);
    CHECK(u == UINT64_MAX);
    n = ak_test_unhex(in, sizeof in,
                      "a0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_OK);
    CHECK_EQ_INT(ak_u256_bits(&v), 256);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_ERR_RANGE);

    /* leading zeros: 0x00 as an integer (zero is 0x80), 0x820004, 0xa1 00 ff*32 */
    n = ak_test_unhex(in, sizeof in, "00");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_ERR_RLP);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_ERR_RLP);
    n = ak_test_unhex(in, sizeof in, "820004");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_ERR_RLP);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_ERR_RLP);
    n = ak_test_unhex(in, sizeof in,
                      "a100ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_ERR_RLP);
    /* too long */
    n = ak_test_unhex(in, sizeof in, "89010000000000000000");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_OK);
    CHECK(v.w[1] == 1 && v.w[0] == 0);
    n = ak_test_unhex(in, sizeof in,
                      "a101ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_ERR_RANGE);
    /* a list is not an integer */
    n = ak_test_unhex(in, sizeof in, "c0");
    CHECK_EQ_INT(ak_rlp_decode_all(&item, in, n), AK_OK);
    CHECK_EQ_INT(ak_rlp_item_u64(&u, &item), AK_ERR_RLP);
    CHECK_EQ_INT(ak_rlp_item_u256(&v, &item), AK_ERR_RLP);

    /* encoder -> decoder round trip over every bit length */
    for (unsigned bit = 0; bit < 64; bit++) {
        uint64_t x = ((uint64_t)1 << bit) | (bit > 3 ? 5 : 0), y = 0;
        ak_buf b = ak_buf_init(storage, sizeof storage);
        CHECK_EQ_INT(ak_rlp_put_u64(&b, x), AK_OK);
        CHECK_EQ_INT(ak_rlp_decode_all(&item, b.data, b.len), AK_OK);
        CHECK_EQ_INT(ak_rlp_item_u64(&y, &item), AK_OK);
        CHECK(x == y);
    }
}

/* n nested lists around nothing, built with the encoder (long list headers past 55). */
static size_t nested(uint8_t *out, size_t cap, unsigned n)
{
    size_t marks[AK_RLP_MAX_DEPTH + 2];
    ak_buf b = ak_buf_init(out, cap);
    for (unsigned i = 0; i < n; i++)
        marks[i] = ak_rlp_list_begin(&b);
    for (unsigned i = n; i-- > 0;)
        CHECK_EQ_INT(ak_rlp_list_end(&b, marks[i]), AK_OK);
    return b.len;
}

static void test_validate(void)
{
    uint8_t in[2 * AK_RLP_MAX_DEPTH + 8];
    size_t n;

    n = nested(in, sizeof in, 1);
    CHECK_EQ_INT(ak_rlp_validate(in, n, 1), AK_OK);
    CHECK_EQ_INT(ak_rlp_validate(in, n, 0), AK_ERR_LIMIT);
    CHECK_EQ_INT(ak_rlp_validate((const uint8_t *)"\x80", 1, 0), AK_OK);
    n = nested(in, sizeof in, 3);
    CHECK_EQ_INT(ak_rlp_validate(in, n, 3), AK_OK);
    CHECK_EQ_INT(ak_rlp_validate(in, n, 2), AK_ERR_LIMIT);
    n = nested(in, sizeof in, AK_RLP_MAX_DEPTH);
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH), AK_OK);
    n = nested(in, sizeof in, AK_RLP_MAX_DEPTH + 1);
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH), AK_ERR_LIMIT);
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH + 1), AK_ERR_ARG);
    /* the set-theoretic vector nests 4 lists deep */
    n = ak_test_unhex(in, sizeof in, "c7c0c1c0c3c0c1c0");
    CHECK_EQ_INT(ak_rlp_validate(in, n, 4), AK_OK);
    CHECK_EQ_INT(ak_rlp_validate(in, n, 3), AK_ERR_LIMIT);
    /* deep list with a bad item at the bottom */
    n = ak_test_unhex(in, sizeof in, "c4c3c28100");
    CHECK_EQ_INT(ak_rlp_validate(in, n, AK_RLP_MAX_DEPTH), AK_ERR_RLP);
    CHECK_EQ_INT(ak_rlp_validate(NULL, 0, 1), AK_ERR_RLP);
    CHECK_EQ_INT(ak_rlp_validate(NULL, 1, 1), AK_ERR_ARG);
}

int main(void)
{
    test_encode_spec();
    test_encode_bounds();
    test_decode_spec();
    test_decode_reject();
    test_integers();
    test_validate();
    return ak_test_report("test_rlp");
}
