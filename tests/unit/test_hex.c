/*
 * test_hex.c - unit tests of ak_hex: strict 0x DATA, bare hex, lowercase encoding and 64-bit
 * QUANTITY. The rules and the examples ("0x41", "0x400", "0x0" valid; "0x", "0x0400", "ff"
 * invalid as QUANTITY; "0xf0f0f" invalid as DATA) are from the Ethereum JSON-RPC hex encoding
 * conventions (ethereum.org/developers/docs/apis/json-rpc/#hex-encoding).
 */
#include "ak_hex.h"
#include "ak_test.h"

static ak_err dec(uint8_t *out, size_t cap, size_t *n, const char *s)
{
    return ak_hex_decode(out, cap, n, s, strlen(s));
}

static ak_err qp(uint64_t *v, const char *s)
{
    return ak_quantity_parse_u64(v, s, strlen(s));
}

static void test_data(void)
{
    uint8_t out[64];
    size_t n = 99;

    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x"), AK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(dec(NULL, 0, &n, "0x"), AK_OK);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x41"), AK_OK);
    CHECK(n == 1 && out[0] == 0x41);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x004200"), AK_OK);
    CHECK(n == 3 && out[0] == 0 && out[1] == 0x42 && out[2] == 0);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0xDeAdBeEf"), AK_OK); /* either case */
    CHECK(n == 4 && out[0] == 0xde && out[1] == 0xad && out[2] == 0xbe && out[3] == 0xef);

    /* bounded by the output capacity: LIMIT, never truncated */
    CHECK_EQ_INT(dec(out, 3, &n, "0x01020304"), AK_ERR_LIMIT);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(dec(out, 4, &n, "0x01020304"), AK_OK);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(dec(NULL, 0, &n, "0x00"), AK_ERR_LIMIT);

    /* malformed */
    CHECK_EQ_INT(dec(out, sizeof out, &n, ""), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0xf0f0f"), AK_ERR_HEX); /* odd */
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x0"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0X41"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "41"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x4g"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0xg4"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x 41"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x41 "), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "0x0x"), AK_ERR_HEX);
    CHECK_EQ_INT(dec(out, sizeof out, &n, "x041"), AK_ERR_HEX);
    CHECK_EQ_INT(ak_hex_decode(out, sizeof out, &n, "0x41\0\0", 6), AK_ERR_HEX);
    CHECK_EQ_INT(ak_hex_decode(out, sizeof out, &n, "0x4142", 4), AK_OK); /* length respected */
    CHECK(n == 1 && out[0] == 0x41);
    CHECK_EQ_INT(ak_hex_decode(out, sizeof out, NULL, "0x41", 4), AK_ERR_ARG);
    CHECK_EQ_INT(ak_hex_decode(out, sizeof out, &n, NULL, 4), AK_ERR_ARG);
    /* every non-hex byte is rejected in both digit positions */
    for (int c = 1; c < 256; c++) {
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        char s[4] = {'0', 'x', (char)c, '0'};
        char t[4] = {'0', 'x', '0', (char)c};
        CHECK_EQ_INT(ak_hex_decode(out, sizeof out, &n, s, 4), ok ? AK_OK : AK_ERR_HEX);
        CHECK_EQ_INT(ak_hex_decode(out, sizeof out, &n, t, 4), ok ? AK_OK : AK_ERR_HEX);
    }
}

static void test_exact_bare(void)
{
    uint8_t out[32];
    size_t n = 0;
    static const char h32[] = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

    CHECK_EQ_INT(ak_hex_decode_exact(out, 32, h32, strlen(h32)), AK_OK);
    CHECK(out[0] == 0xc5 && out[31] == 0x70);
    CHECK_EQ_INT(ak_hex_decode_exact(out, 32, h32, strlen(h32) - 2), AK_ERR_HEX); /* 31 bytes */
    CHECK_EQ_INT(ak_hex_decode_exact(out, 31, h32, strlen(h32)), AK_ERR_HEX);     /* 32 bytes */
    CHECK_EQ_INT(ak_hex_decode_exact(out, 32, h32, strlen(h32) - 1), AK_ERR_HEX); /* odd */
    CHECK_EQ_INT(ak_hex_decode_exact(out, 32, h32 + 2, strlen(h32) - 2), AK_ERR_HEX);
    CHECK_EQ_INT(ak_hex_decode_exact(out, 0, "0x", 2), AK_OK);

    CHECK_EQ_INT(ak_hex_decode_bare(out, sizeof out, &n, "00ff", 4), AK_OK);
    CHECK(n == 2 && out[0] == 0 && out[1] == 0xff);
    CHECK_EQ_INT(ak_hex_decode_bare(out, sizeof out, &n, "", 0), AK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(ak_hex_decode_bare(out, sizeof out, &n, "0x00", 4), AK_ERR_HEX);
    CHECK_EQ_INT(ak_hex_decode_bare(out, sizeof out, &n, "abc", 3), AK_ERR_HEX);
    CHECK_EQ_INT(ak_hex_decode_bare(out, 1, &n, "abcd", 4), AK_ERR_LIMIT);
}

static void test_encode(void)
{
    char buf[AK_HEX_ENCODED_SIZE(4)];
    const uint8_t in[4] = {0xde, 0xad, 0x0b, 0xef};
    uint8_t back[4];
    size_t n = 0;

    CHECK_EQ_INT(ak_hex_encode(buf, sizeof buf, in, 4), AK_OK);
    CHECK_STR(buf, "0xdead0bef");
    CHECK_EQ_INT(ak_hex_decode(back, sizeof back, &n, buf, strlen(buf)), AK_OK);
    CHECK(n == 4 && memcmp(back, in, 4) == 0);
    CHECK_EQ_INT(ak_hex_encode(buf, sizeof buf - 1, in, 4), AK_ERR_BUFFER);
    CHECK_EQ_INT(ak_hex_encode(buf, 3, NULL, 0), AK_OK);
    CHECK_STR(buf, "0x");
    CHECK_EQ_INT(ak_hex_encode(buf, 2, NULL, 0), AK_ERR_BUFFER);
    CHECK_EQ_INT(ak_hex_encode(NULL, 10, in, 1), AK_ERR_ARG);
    ak_hex_bare(buf, in, 4); /* no prefix */
    CHECK_STR(buf, "dead0bef");
    ak_hex_bare(buf, in, 0);
    CHECK_STR(buf, "");

    /* all 256 byte values round-trip */
    uint8_t all[256], got[256];
    char big[AK_HEX_ENCODED_SIZE(256)];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    CHECK_EQ_INT(ak_hex_encode(big, sizeof big, all, sizeof all), AK_OK);
    CHECK_EQ_INT(strlen(big), 514);
    CHECK(strncmp(big, "0x000102", 8) == 0 && strcmp(big + 508, "fdfeff") == 0);
    CHECK_EQ_INT(ak_hex_decode(got, sizeof got, &n, big, strlen(big)), AK_OK);
    CHECK(n == 256 && memcmp(got, all, 256) == 0);
}

static void test_quantity(void)
{
    uint64_t v = 1;
    char buf[19];

    CHECK_EQ_INT(qp(&v, "0x0"), AK_OK);
    CHECK(v == 0);
    CHECK_EQ_INT(qp(&v, "0x41"), AK_OK);
    CHECK(v == 65);
    CHECK_EQ_INT(qp(&v, "0x400"), AK_OK);
    CHECK(v == 1024);
    CHECK_EQ_INT(qp(&v, "0xFfFf"), AK_OK);
    CHECK(v == 0xffff);
    CHECK_EQ_INT(qp(&v, "0xffffffffffffffff"), AK_OK);
    CHECK(v == UINT64_MAX);
    CHECK_EQ_INT(qp(&v, "0x10000000000000000"), AK_ERR_RANGE); /* 2^64 */
    CHECK_EQ_INT(qp(&v, "0x"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "0x00"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "0x0400"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "ff"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "0X1"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, ""), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "0x1g"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "0x-1"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(qp(&v, "0x10000000000000000g"), AK_ERR_QUANTITY);
    CHECK_EQ_INT(ak_quantity_parse_u64(NULL, "0x1", 3), AK_ERR_ARG);

    CHECK_EQ_INT(ak_quantity_format_u64(buf, sizeof buf, 0), AK_OK);
    CHECK_STR(buf, "0x0");
    CHECK_EQ_INT(ak_quantity_format_u64(buf, sizeof buf, 1024), AK_OK);
    CHECK_STR(buf, "0x400");
    CHECK_EQ_INT(ak_quantity_format_u64(buf, sizeof buf, 0xABCDEF), AK_OK);
    CHECK_STR(buf, "0xabcdef");
    CHECK_EQ_INT(ak_quantity_format_u64(buf, sizeof buf, UINT64_MAX), AK_OK);
    CHECK_STR(buf, "0xffffffffffffffff");
    CHECK_EQ_INT(ak_quantity_format_u64(buf, 18, UINT64_MAX), AK_ERR_BUFFER);
    CHECK_EQ_INT(ak_quantity_format_u64(buf, 4, 15), AK_OK);
    CHECK_EQ_INT(ak_quantity_format_u64(buf, 4, 16), AK_ERR_BUFFER);
    /* format -> parse round trip across bit positions */
    for (unsigned b = 0; b < 64; b++) {
        uint64_t x = (uint64_t)1 << b, y = 0;
        CHECK_EQ_INT(ak_quantity_format_u64(buf, sizeof buf, x), AK_OK);
        CHECK_EQ_INT(qp(&y, buf), AK_OK);
        CHECK(x == y);
    }
}

int main(void)
{
    test_data();
    test_exact_bare();
    test_encode();
    test_quantity();
    return ak_test_report("test_hex");
}
