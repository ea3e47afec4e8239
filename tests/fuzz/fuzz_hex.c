/*
 * fuzz_hex.c - libFuzzer target for the text parsers of ak_hex and ak_u256.
 *
 * The input is taken as text and fed to 0x DATA and bare hex decoding, the 64-bit and 256-bit
 * QUANTITY parsers and the decimal parser. Whatever parses must format back to the input
 * (lowercased: output is always lowercase), and the 64- and 256-bit parsers must agree. The
 * first 64 bytes also drive the u256 arithmetic, checked against its inverse operations.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_hex.h"
#include "ak_u256.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int same_lower(const char *formatted, const uint8_t *in, size_t len)
{
    if (strlen(formatted) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if ((uint8_t)formatted[i] != c)
            return 0;
    }
    return 1;
}

static void fuzz_data(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint8_t out[256];
    size_t n = 0;
    static char enc[AK_HEX_ENCODED_SIZE(256)];

    ak_err err = ak_hex_decode(out, sizeof out, &n, s, size);
    if (err == AK_OK) {
        FUZZ_ASSERT(n <= sizeof out && 2 * n + 2 == size);
        FUZZ_ASSERT(ak_hex_encode(enc, sizeof enc, out, n) == AK_OK);
        FUZZ_ASSERT(same_lower(enc, data, size));
    } else {
        FUZZ_ASSERT(n == 0);
        FUZZ_ASSERT(err == AK_ERR_HEX || err == AK_ERR_LIMIT);
    }
    err = ak_hex_decode_bare(out, sizeof out, &n, s, size);
    if (err == AK_OK) {
        FUZZ_ASSERT(ak_hex_encode(enc, sizeof enc, out, n) == AK_OK);
        FUZZ_ASSERT(same_lower(enc + 2, data, size));
    }
    if (size >= 2 && size % 2 == 0 && size - 2 <= 2 * sizeof out) {
        err = ak_hex_decode_exact(out, (size - 2) / 2, s, size);
        FUZZ_ASSERT((err == AK_OK) == (ak_hex_decode(out, sizeof out, &n, s, size) == AK_OK));
    }
}

static void fuzz_numbers(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char buf[AK_U256_DECIMAL_MAX];
    uint64_t u = 0;
    ak_u256 v;

    ak_err e64 = ak_quantity_parse_u64(&u, s, size);
    if (e64 == AK_OK) {
        FUZZ_ASSERT(ak_quantity_format_u64(buf, sizeof buf, u) == AK_OK);
        FUZZ_ASSERT(same_lower(buf, data, size));
    }
    ak_err e256 = ak_u256_parse_quantity(&v, s, size);
    if (e256 == AK_OK) {
        uint64_t w = 0;
        FUZZ_ASSERT(ak_u256_format_quantity(buf, sizeof buf, &v) == AK_OK);
        FUZZ_ASSERT(same_lower(buf, data, size));
        /* Same syntax: the 64-bit parser agrees whenever the value fits. */
        FUZZ_ASSERT((e64 == AK_OK) == (ak_u256_to_u64(&w, &v) == 1));
        FUZZ_ASSERT(e64 != AK_OK || w == u);
        uint8_t be[32], min[32];
        ak_u256 back;
        ak_u256_to_be(be, &v);
        size_t n = ak_u256_to_be_min(min, &v);
        FUZZ_ASSERT(n == (ak_u256_bits(&v) + 7) / 8);
        FUZZ_ASSERT(ak_u256_from_be(&back, min, n) == AK_OK && ak_u256_cmp(&back, &v) == 0);
        FUZZ_ASSERT(ak_u256_from_be(&back, be, 32) == AK_OK && ak_u256_cmp(&back, &v) == 0);
        /* through decimal and back */
        FUZZ_ASSERT(ak_u256_format_decimal(buf, sizeof buf, &v) == AK_OK);
        FUZZ_ASSERT(ak_u256_parse_decimal(&back, buf, strlen(buf)) == AK_OK);
        FUZZ_ASSERT(ak_u256_cmp(&back, &v) == 0);
    } else {
        FUZZ_ASSERT(e64 != AK_OK);
    }
    if (ak_u256_parse_decimal(&v, s, size) == AK_OK) {
        FUZZ_ASSERT(ak_u256_format_decimal(buf, sizeof buf, &v) == AK_OK);
        FUZZ_ASSERT(strlen(buf) == size && memcmp(buf, data, size) == 0);
    }
}

static void fuzz_arith(const uint8_t *data, size_t size)
{
    ak_u256 a, b, r, back;
    if (size < 64)
        return;
    FUZZ_ASSERT(ak_u256_from_be(&a, data, 32) == AK_OK);
    FUZZ_ASSERT(ak_u256_from_be(&b, data + 32, 32) == AK_OK);
    if (ak_u256_add(&r, &a, &b) == AK_OK) {
        FUZZ_ASSERT(ak_u256_sub(&back, &r, &b) == AK_OK && ak_u256_cmp(&back, &a) == 0);
    } else {
        /* overflow only if a > max - b */
        ak_u256 max = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};
        FUZZ_ASSERT(ak_u256_sub(&back, &max, &b) == AK_OK && ak_u256_cmp(&a, &back) > 0);
    }
    FUZZ_ASSERT((ak_u256_sub(&r, &a, &b) == AK_OK) == (ak_u256_cmp(&a, &b) >= 0));
    ak_err m1 = ak_u256_mul(&r, &a, &b);
    ak_err m2 = ak_u256_mul(&back, &b, &a);
    FUZZ_ASSERT(m1 == m2);
    FUZZ_ASSERT(m1 != AK_OK || ak_u256_cmp(&r, &back) == 0);
    /* a product fits iff bits(a) + bits(b) <= 256, except in the band where it is 257 */
    unsigned bits = ak_u256_bits(&a) + ak_u256_bits(&b);
    if (!ak_u256_is_zero(&a) && !ak_u256_is_zero(&b)) {
        if (bits <= 256)
            FUZZ_ASSERT(m1 == AK_OK);
        if (bits > 257)
            FUZZ_ASSERT(m1 == AK_ERR_RANGE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_data(data, size);
    fuzz_numbers(data, size);
    fuzz_arith(data, size);
    return 0;
}
