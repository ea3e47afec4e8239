/*
 * test_abi.c - unit tests of ak_abi: static words, u128 pairs, keccak of two pieces, uint decode.
 *
 * Vectors computed with ethers v6 (tests/tools): AbiCoder.defaultAbiCoder().encode(...) for the
 * words, solidityPacked(['uint128','uint128'], [200000, 100000]) for the pair, and
 * keccak256(concat(['0x2222222222222222222222222222222222222222', '0xdeadbeef'])).
 */
#include "ak_abi.h"
#include "ak_test.h"

static void test_words(void)
{
    uint8_t w[32], want[32], addr[20];
    ak_abi_word_u64(w, 0x6553ff10); /* ethers: encode(['uint48'], [1700003600]) */
    ak_test_unhex(want, 32, "000000000000000000000000000000000000000000000000000000006553ff10");
    CHECK_MEM(w, want, 32);
    ak_abi_word_u64(w, UINT64_MAX);
    ak_test_unhex(want, 32, "000000000000000000000000000000000000000000000000ffffffffffffffff");
    CHECK_MEM(w, want, 32);
    ak_test_unhex(addr, 20, "3333333333333333333333333333333333333333");
    ak_abi_word_address(w, addr); /* ethers: encode(['address'], ['0x3333...']) */
    ak_test_unhex(want, 32, "0000000000000000000000003333333333333333333333333333333333333333");
    CHECK_MEM(w, want, 32);
    ak_u256 v = {{7, 5, 0, 0}}; /* (5 << 64) | 7 */
    ak_abi_word_u256(w, &v);
    ak_test_unhex(want, 32, "0000000000000000000000000000000000000000000000050000000000000007");
    CHECK_MEM(w, want, 32);
}

static void test_pack(void)
{
    uint8_t w[32], want[32];
    ak_u256 hi, lo, big;
    ak_u256_from_u64(&hi, 200000);
    ak_u256_from_u64(&lo, 100000);
    CHECK_EQ_INT(ak_abi_pack_u128x2(w, &hi, &lo), AK_OK);
    ak_test_unhex(want, 32, "00000000000000000000000000030d40000000000000000000000000000186a0");
    CHECK_MEM(w, want, 32);
    /* 2^128 - 1 fits, 2^128 does not (either side). */
    big = (ak_u256){{UINT64_MAX, UINT64_MAX, 0, 0}};
    CHECK_EQ_INT(ak_abi_pack_u128x2(w, &big, &big), AK_OK);
    memset(want, 0xff, 32);
    CHECK_MEM(w, want, 32);
    big = (ak_u256){{0, 0, 1, 0}};
    CHECK_EQ_INT(ak_abi_pack_u128x2(w, &big, &lo), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_abi_pack_u128x2(w, &lo, &big), AK_ERR_RANGE);
}

static void test_keccak2(void)
{
    uint8_t a[20], b[4] = {0xde, 0xad, 0xbe, 0xef}, d[32], want[32];
    ak_test_unhex(a, 20, "2222222222222222222222222222222222222222");
    ak_abi_keccak2(d, a, 20, b, 4);
    ak_test_unhex(want, 32, "90f4a2cfb8d428caaaa670c7fc276741ccd54a408f5a7a0977e3d61b23210622");
    CHECK_MEM(d, want, 32);
    /* Split point does not matter. */
    uint8_t ab[24];
    memcpy(ab, a, 20);
    memcpy(ab + 20, b, 4);
    ak_abi_keccak2(d, ab, 10, ab + 10, 14);
    CHECK_MEM(d, want, 32);
    /* Empty: keccak256("") from the Keccak team's reference. */
    ak_abi_keccak2(d, NULL, 0, NULL, 0);
    ak_test_unhex(want, 32, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    CHECK_MEM(d, want, 32);
}

static void test_decode(void)
{
    uint8_t w[32];
    uint64_t v = 0;
    ak_abi_word_u64(w, 0xffffffffffffULL);
    CHECK_EQ_INT(ak_abi_decode_uint(&v, w, 48), AK_OK);
    CHECK(v == 0xffffffffffffULL);
    ak_abi_word_u64(w, 0x1000000000000ULL); /* 2^48 */
    CHECK_EQ_INT(ak_abi_decode_uint(&v, w, 48), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_abi_decode_uint(&v, w, 64), AK_OK);
    ak_abi_word_u64(w, 1);
    w[0] = 1; /* a high byte set: not a uint64 */
    CHECK_EQ_INT(ak_abi_decode_uint(&v, w, 64), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_abi_decode_uint(&v, w, 0), AK_ERR_ARG);
    CHECK_EQ_INT(ak_abi_decode_uint(&v, w, 65), AK_ERR_ARG);
}

int main(void)
{
    test_words();
    test_pack();
    test_keccak2();
    test_decode();
    return ak_test_report("test_abi");
}
