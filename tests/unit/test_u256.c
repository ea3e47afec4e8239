/*
 * test_u256.c - unit tests of ak_u256: QUANTITY and decimal parse/format, big-endian
 * conversions, arithmetic with overflow detection.
 *
 * Vectors: 2^256-1 in decimal and the arithmetic table below were computed with Node.js BigInt
 * (tests/tools, `node -e`), independently of this code; the QUANTITY rules are the Ethereum
 * JSON-RPC hex encoding conventions (ethereum.org/developers/docs/apis/json-rpc/#hex-encoding).
 */
#include "ak_test.h"
#include "ak_u256.h"

#define MAX_HEX "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"
/* 2^256, from Node.js: (1n<<256n).toString() */
#define POW256_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639936"

static ak_err q(ak_u256 *v, const char *s)
{
    return ak_u256_parse_quantity(v, s, strlen(s));
}

static ak_err d(ak_u256 *v, const char *s)
{
    return ak_u256_parse_decimal(v, s, strlen(s));
}

static void test_quantity(void)
{
    ak_u256 v;
    char buf[AK_U256_QUANTITY_MAX];
    uint64_t u = 0;

    CHECK_EQ_INT(q(&v, "0x0"), AK_OK);
    CHECK(ak_u256_is_zero(&v));
    CHECK_EQ_INT(ak_u256_format_quantity(buf, sizeof buf, &v), AK_OK);
    CHECK_STR(buf, "0x0");

    CHECK_EQ_INT(q(&v, "0x1a"), AK_OK);
    CHECK(ak_u256_to_u64(&u, &v) && u == 26);
    CHECK_EQ_INT(q(&v, "0xAbCdEf"), AK_OK); /* mixed case accepted */
    CHECK(ak_u256_to_u64(&u, &v) && u == 0xabcdef);
    CHECK_EQ_INT(ak_u256_format_quantity(buf, sizeof buf, &v), AK_OK);
    CHECK_STR(buf, "0xabcdef"); /* lowercase out */

    CHECK_EQ_INT(q(&v, MAX_HEX), AK_OK);
    CHECK_EQ_INT(ak_u256_bits(&v), 256);
    CHECK(v.w[0] == UINT64_MAX && v.w[1] == UINT64_MAX && v.w[2] == UINT64_MAX &&
          v.w[3] == UINT64_MAX);
    CHECK_EQ_INT(ak_u256_format_quantity(buf, sizeof buf, &v), AK_OK);
    CHECK_STR(buf, MAX_HEX);
    CHECK_EQ_INT(strlen(buf) + 1, AK_U256_QUANTITY_MAX);
    CHECK_EQ_INT(ak_u256_format_quantity(buf, AK_U256_QUANTITY_MAX - 1, &v), AK_ERR_BUFFER);
    CHECK_EQ_INT(q(&v, "0x8000000000000000000000000000000000000000000000000000000000000000"),
                 AK_OK);
    CHECK_EQ_INT(ak_u256_bits(&v), 256);
    CHECK(v.w[3] == 0x8000000000000000ULL && v.w[0] == 0);
    CHECK_EQ_INT(q(&v, "0x10000000000000000"), AK_OK); /* 2^64 */
    CHECK(v.w[1] == 1 && v.w[0] == 0 && !ak_u256_to_u64(&u, &v));

    /* 2^256: 65 significant digits */
    CHECK_EQ_INT(q(&v, "0x10000000000000000000000000000000000000000000000000000000000000000"),
                 AK_ERR_RANGE);
    /* negatives */
    CHECK_EQ_INT(q(&v, ""), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x00"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x01"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
                 AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0X1"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "1a"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x1g"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x 1"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "0x1 "), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "-0x1"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(q(&v, "+0x1"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(ak_u256_parse_quantity(&v, "0x1\0", 4), AK_ERR_QUANTITY); /* embedded NUL */
    CHECK_EQ_INT(ak_u256_parse_quantity(&v, "0x12", 3), AK_OK);            /* length respected */
    CHECK(ak_u256_to_u64(&u, &v) && u == 1);
    CHECK_EQ_INT(ak_u256_parse_quantity(NULL, "0x1", 3), AK_ERR_ARG);
    CHECK_EQ_INT(ak_u256_format_quantity(buf, 3, &v), AK_ERR_BUFFER);
    CHECK_EQ_INT(ak_u256_format_quantity(buf, 4, &v), AK_OK);
}

static void test_decimal(void)
{
    ak_u256 v, w;
    char buf[AK_U256_DECIMAL_MAX];

    CHECK_EQ_INT(d(&v, "0"), AK_OK);
    CHECK(ak_u256_is_zero(&v));
    CHECK_EQ_INT(ak_u256_format_decimal(buf, sizeof buf, &v), AK_OK);
    CHECK_STR(buf, "0");
    CHECK_EQ_INT(d(&v, "18446744073709551616"), AK_OK); /* 2^64 */
    CHECK(v.w[0] == 0 && v.w[1] == 1 && v.w[2] == 0 && v.w[3] == 0);
    CHECK_EQ_INT(ak_u256_format_decimal(buf, sizeof buf, &v), AK_OK);
    CHECK_STR(buf, "18446744073709551616");

    CHECK_EQ_INT(d(&v, MAX_DEC), AK_OK);
    CHECK_EQ_INT(q(&w, MAX_HEX), AK_OK);
    CHECK_EQ_INT(ak_u256_cmp(&v, &w), 0);
    CHECK_EQ_INT(ak_u256_format_decimal(buf, sizeof buf, &v), AK_OK);
    CHECK_STR(buf, MAX_DEC);
    CHECK_EQ_INT(strlen(buf) + 1, AK_U256_DECIMAL_MAX);
    CHECK_EQ_INT(ak_u256_format_decimal(buf, AK_U256_DECIMAL_MAX - 1, &v), AK_ERR_BUFFER);

    CHECK_EQ_INT(d(&v, POW256_DEC), AK_ERR_RANGE);
    CHECK_EQ_INT(
        d(&v, "999999999999999999999999999999999999999999999999999999999999999999999999999999"),
        AK_ERR_RANGE);
    CHECK_EQ_INT(
        d(&v, "1000000000000000000000000000000000000000000000000000000000000000000000000000000"),
        AK_ERR_RANGE); /* 79 digits */
    CHECK_EQ_INT(d(&v, ""), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "00"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "01"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "-1"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "+1"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "1.0"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "1e3"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, "0x1"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(d(&v, " 1"), AK_ERR_DECIMAL);
    CHECK_EQ_INT(ak_u256_format_decimal(buf, 1, &v), AK_ERR_BUFFER);
}

static void test_be(void)
{
    ak_u256 v;
    uint8_t in[33], out[32], min[32];
    size_t n = ak_test_unhex(in, sizeof in,
                             "0102030405060708090a0b0c0d0e0f10111213141516171819"
                             "1a1b1c1d1e1f20");
    CHECK_EQ_INT(ak_u256_from_be(&v, in, n), AK_OK);
    CHECK(v.w[3] == 0x0102030405060708ULL && v.w[0] == 0x191a1b1c1d1e1f20ULL);
    ak_u256_to_be(out, &v);
    CHECK_MEM(out, in, 32);
    CHECK_EQ_INT(ak_u256_to_be_min(min, &v), 32);
    CHECK_MEM(min, in, 32);

    /* short input is left-padded */
    CHECK_EQ_INT(ak_u256_from_be(&v, (const uint8_t *)"\x04\x00", 2), AK_OK);
    CHECK(v.w[0] == 1024 && v.w[1] == 0);
    CHECK_EQ_INT(ak_u256_to_be_min(min, &v), 2);
    CHECK(min[0] == 4 && min[1] == 0);
    ak_u256_to_be(out, &v);
    CHECK(out[30] == 4 && out[31] == 0 && out[0] == 0);
    /* leading zero bytes in the input are dropped by the minimal form */
    CHECK_EQ_INT(ak_u256_from_be(&v, (const uint8_t *)"\x00\x00\x7f", 3), AK_OK);
    CHECK_EQ_INT(ak_u256_to_be_min(min, &v), 1);
    CHECK(min[0] == 0x7f);
    /* zero */
    CHECK_EQ_INT(ak_u256_from_be(&v, in, 0), AK_OK);
    CHECK(ak_u256_is_zero(&v));
    CHECK_EQ_INT(ak_u256_to_be_min(min, &v), 0);
    CHECK_EQ_INT(ak_u256_bits(&v), 0);
    /* too long */
    memset(in, 0, sizeof in);
    CHECK_EQ_INT(ak_u256_from_be(&v, in, 33), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_u256_from_be(NULL, in, 1), AK_ERR_ARG);

    uint64_t u = 0;
    ak_u256_from_u64(&v, UINT64_MAX);
    CHECK(ak_u256_to_u64(&u, &v) && u == UINT64_MAX);
    CHECK_EQ_INT(ak_u256_bits(&v), 64);
    ak_u256_from_u64(&v, 1);
    CHECK_EQ_INT(ak_u256_bits(&v), 1);
}

/* a, b, a+b, a-b, a*b ("overflow"/"underflow" when out of range), decimal of a.
 * Generated with Node.js BigInt from random operands (tests/tools). */
static const struct {
    const char *a, *b, *add, *sub, *mul, *a_dec;
} arith[] = {
    {"0x222e57fae38bdb820a6b60d534d903a07dc0dedb872a09b7a4018f7dee7bd87e",
     "0xa342072998ab6eb3a70b2ed676e4b70dea8320d19207e2e99e9e46a074d447",
     "0x22d19a020d2486f0be126c040b4fe8578bab61fc58bc119a8da02dc48ef0acc5",
     "0x218b15f3b9f3301356c455a65e621ee96fd65bbab59801d4ba62f1374e070437", "overflow",
     "15460519032693124678403104311479325063820578116374123787272806833385159514238"},
    {"0x1a87609304c2e85e570a791e7b9b9a1ddd05c6ea0e82f0b716d701474472cf", "0xd9",
     "0x1a87609304c2e85e570a791e7b9b9a1ddd05c6ea0e82f0b716d701474473a8",
     "0x1a87609304c2e85e570a791e7b9b9a1ddd05c6ea0e82f0b716d701474471f6",
     "0x167cc0dc9f0936f7f7c7e0aad6c6e5a35059e59c664cfe0b325c401569055177",
     "46872363078800349558516375979340090383946173866481391224080910733761868495"},
    {"0x34a709972cb9e1cbe616c1a9be600c34", "0xdf34645322fc4028f443e8c4aaf91c71",
     "0x113db6dea4fb621f4da5aaa6e695928a5", "underflow",
     "0x2de847eafbc43bd44acd98ceec0b94de33f365ad07ea4249b1f47815f04f12f4",
     "69987163875171972126406586239377476660"},
    {"0x8bd2b10f0a9e0fdad3", "0xa23518e7f20aee254a8564223f3e81768325dcadff5eab",
     "0xa23518e7f20aee254a8564223f3f0d493434e74c0f397e", "underflow",
     "0x589854449cbf8a008953abc6b22a8ef29f165c89a4653f904468a720f61da4f1",
     "2579279358602746256083"},
    {"0xd61ca8d8ecb9b698", "0x31d3e6256619dd3a", "0x107f08efe52d393d2", "0xa448c2b3869fd95e",
     "0x29acb66db7570227d3ee965d598c9670", "15428392073102472856"},
    {"0x781eceb6b66bbb3576b973384cb29d4ef8aad643", "0xcd6f65e5d3de83539bbe6b4",
     "0x781eceb6b66bbb3583906996a9f085843266bcf7", "0x781eceb6b66bbb3569e27cd9ef74b519beeeef8f",
     "0x6064f0b3efd429c085210c000c4818242f13f0d6f6fe5d7977b514ec28fd91c",
     "685765922159588251866982729830775284590201984579"},
};

static void check_op(ak_err err, const ak_u256 *r, const char *want)
{
    char buf[AK_U256_QUANTITY_MAX];
    if (want[0] != '0') {
        CHECK_EQ_INT(err, AK_ERR_RANGE);
        return;
    }
    CHECK_EQ_INT(err, AK_OK);
    CHECK_EQ_INT(ak_u256_format_quantity(buf, sizeof buf, r), AK_OK);
    CHECK_STR(buf, want);
}

static void test_arith(void)
{
    for (size_t i = 0; i < sizeof arith / sizeof arith[0]; i++) {
        ak_u256 a, b, r, c;
        char buf[AK_U256_DECIMAL_MAX];
        CHECK_EQ_INT(q(&a, arith[i].a), AK_OK);
        CHECK_EQ_INT(q(&b, arith[i].b), AK_OK);
        check_op(ak_u256_add(&r, &a, &b), &r, arith[i].add);
        check_op(ak_u256_sub(&r, &a, &b), &r, arith[i].sub);
        check_op(ak_u256_mul(&r, &a, &b), &r, arith[i].mul);
        check_op(ak_u256_mul(&r, &b, &a), &r, arith[i].mul);
        CHECK_EQ_INT(ak_u256_format_decimal(buf, sizeof buf, &a), AK_OK);
        CHECK_STR(buf, arith[i].a_dec);
        CHECK_EQ_INT(d(&c, arith[i].a_dec), AK_OK);
        CHECK_EQ_INT(ak_u256_cmp(&c, &a), 0);
        /* aliasing: out == a */
        c = a;
        check_op(ak_u256_add(&c, &c, &b), &c, arith[i].add);
    }

    ak_u256 max, one, zero, two, r, half;
    CHECK_EQ_INT(q(&max, MAX_HEX), AK_OK);
    ak_u256_from_u64(&one, 1);
    ak_u256_from_u64(&zero, 0);
    ak_u256_from_u64(&two, 2);
    CHECK_EQ_INT(ak_u256_add(&r, &max, &one), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_u256_add(&r, &max, &zero), AK_OK);
    CHECK_EQ_INT(ak_u256_cmp(&r, &max), 0);
    CHECK_EQ_INT(ak_u256_sub(&r, &zero, &one), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_u256_sub(&r, &max, &max), AK_OK);
    CHECK(ak_u256_is_zero(&r));
    CHECK_EQ_INT(ak_u256_mul(&r, &max, &one), AK_OK);
    CHECK_EQ_INT(ak_u256_cmp(&r, &max), 0);
    CHECK_EQ_INT(ak_u256_mul(&r, &max, &zero), AK_OK);
    CHECK(ak_u256_is_zero(&r));
    CHECK_EQ_INT(ak_u256_mul(&r, &max, &two), AK_ERR_RANGE);
    /* 2^255 * 2 overflows, (2^255 - 1) * 2 = 2^256 - 2 does not */
    CHECK_EQ_INT(q(&half, "0x8000000000000000000000000000000000000000000000000000000000000000"),
                 AK_OK);
    CHECK_EQ_INT(ak_u256_mul(&r, &half, &two), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_u256_sub(&half, &half, &one), AK_OK);
    CHECK_EQ_INT(ak_u256_mul(&r, &half, &two), AK_OK);
    CHECK_EQ_INT(ak_u256_add(&r, &r, &one), AK_OK);
    CHECK_EQ_INT(ak_u256_cmp(&r, &max), 0);
    /* 2^128 * 2^128 overflows only through the high limbs */
    ak_u256 p128;
    CHECK_EQ_INT(q(&p128, "0x100000000000000000000000000000000"), AK_OK);
    CHECK_EQ_INT(ak_u256_mul(&r, &p128, &p128), AK_ERR_RANGE);
    /* borrow propagation across all limbs: 2^192 - 1 */
    ak_u256 p192;
    CHECK_EQ_INT(q(&p192, "0x1000000000000000000000000000000000000000000000000"), AK_OK);
    CHECK_EQ_INT(ak_u256_sub(&r, &p192, &one), AK_OK);
    CHECK(r.w[0] == UINT64_MAX && r.w[1] == UINT64_MAX && r.w[2] == UINT64_MAX && r.w[3] == 0);
    CHECK_EQ_INT(ak_u256_cmp(&one, &two), -1);
    CHECK_EQ_INT(ak_u256_cmp(&two, &one), 1);
}

int main(void)
{
    test_quantity();
    test_decimal();
    test_be();
    test_arith();
    return ak_test_report("test_u256");
}
