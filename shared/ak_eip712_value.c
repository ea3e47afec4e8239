/* ak_eip712_value.c - EIP-712 atomic value encoders (see ak_eip712_value.h). */
#include "ak_eip712.h"
#include "ak_eip712_value.h"

#include <string.h>

#include "ak_hex.h"
#include "ak_keccak.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_str(const cJSON *v)
{
    return v != NULL && cJSON_IsString(v) && v->valuestring != NULL;
}

static int hex_nibble(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Magnitude and sign of an integer value (see the module comment for accepted forms). */
ak_err ak_eip712v_parse_integer(ak_u256 *mag, int *neg, const cJSON *v)
{
    const char *s;
    size_t len, i = 0;
    *neg = 0;
    if (v == NULL)
        return AK_ERR_EIP712;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        const double max_safe = 9007199254740991.0; /* 2^53 - 1, Number.MAX_SAFE_INTEGER */
        int64_t iv;
        if (!(d >= -max_safe && d <= max_safe))
            return AK_ERR_EIP712;
        iv = (int64_t)d;
        if ((double)iv != d)
            return AK_ERR_EIP712; /* not integral */
        *neg = iv < 0;
        ak_u256_from_u64(mag, (uint64_t)(iv < 0 ? -iv : iv));
        return AK_OK;
    }
    if (!is_str(v))
        return AK_ERR_EIP712;
    s = v->valuestring;
    len = strlen(s);
    if (len > 0 && s[0] == '-') {
        *neg = 1;
        i = 1;
    }
    if (len - i >= 2 && s[i] == '0' && s[i + 1] == 'x') {
        char q[AK_U256_QUANTITY_MAX];
        size_t start = i + 2, n;
        if (start == len || *neg)
            return AK_ERR_EIP712; /* "-0x.." : ethers takes it, viem does not */
        for (size_t j = start; j < len; j++)
            if (hex_nibble(s[j]) < 0)
                return AK_ERR_EIP712;
        while (start < len - 1 && s[start] == '0')
            start++;
        n = len - start;
        if (n > 64)
            return AK_ERR_EIP712; /* more than 256 bits */
        q[0] = '0';
        q[1] = 'x';
        memcpy(q + 2, s + start, n);
        return ak_u256_parse_quantity(mag, q, n + 2) == AK_OK ? AK_OK : AK_ERR_EIP712;
    }
    if (i == len)
        return AK_ERR_EIP712;
    for (size_t j = i; j < len; j++)
        if (!is_digit(s[j]))
            return AK_ERR_EIP712;
    while (i < len - 1 && s[i] == '0')
        i++;
    if (len - i > 78)
        return AK_ERR_EIP712;
    return ak_u256_parse_decimal(mag, s + i, len - i) == AK_OK ? AK_OK : AK_ERR_EIP712;
}

ak_err ak_eip712v_encode_integer(uint8_t out[32], int is_signed, unsigned width, const cJSON *v)
{
    ak_u256 mag;
    int neg;
    unsigned bits;
    ak_err err = ak_eip712v_parse_integer(&mag, &neg, v);
    if (err != AK_OK)
        return err;
    if (ak_u256_is_zero(&mag))
        neg = 0;
    bits = ak_u256_bits(&mag);
    if (!is_signed) {
        if (neg || bits > width)
            return AK_ERR_EIP712;
    } else if ((!neg && bits > width - 1u) || (neg && bits > width)) {
        return AK_ERR_EIP712;
    } else if (neg && bits == width) {
        /* only -2^(N-1) itself: a single bit set */
        ak_u256 one, m1;
        ak_u256_from_u64(&one, 1);
        if (ak_u256_sub(&m1, &mag, &one) != AK_OK || ak_u256_bits(&m1) >= bits)
            return AK_ERR_EIP712;
    }
    ak_u256_to_be(out, &mag);
    if (neg) {
        unsigned carry = 1;
        for (int i = 31; i >= 0; i--) {
            unsigned b = (unsigned)(uint8_t)~out[i] + carry;
            out[i] = (uint8_t)b;
            carry = b >> 8;
        }
    }
    return AK_OK;
}

ak_err ak_eip712v_hash_bytes(uint8_t out[32], const char *s, size_t len)
{
    ak_keccak_ctx k;
    uint8_t chunk[128];
    size_t got = 0;
    if (len < 2 || s[0] != '0' || s[1] != 'x' || len % 2 != 0)
        return AK_ERR_EIP712;
    ak_keccak256_init(&k);
    for (size_t i = 2; i < len; i += 2 * sizeof(chunk)) {
        size_t n = len - i < 2 * sizeof(chunk) ? len - i : 2 * sizeof(chunk);
        if (ak_hex_decode_bare(chunk, sizeof(chunk), &got, s + i, n) != AK_OK)
            return AK_ERR_EIP712;
        ak_keccak256_update(&k, chunk, got);
    }
    ak_keccak256_final(&k, out);
    return AK_OK;
}

ak_err ak_eip712_uint_value(ak_u256 *out, const cJSON *v)
{
    int neg = 0;
    ak_err rc = ak_eip712v_parse_integer(out, &neg, v);
    if (rc == AK_OK && neg && !ak_u256_is_zero(out))
        rc = AK_ERR_EIP712;
    return rc;
}
