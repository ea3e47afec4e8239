/*
 * ak_u256.c - 256-bit unsigned integers (see ak_u256.h).
 *
 * Four little-endian 64-bit limbs; products and carries use unsigned __int128 (GCC and clang).
 * Every operation that could wrap reports AK_ERR_RANGE instead. Text forms: JSON-RPC QUANTITY
 * (Ethereum JSON-RPC hex encoding: "0x" + shortest hex, "0x0" for zero, input digits in either
 * case, lowercase output) and plain decimal. Nothing is allocated; outputs are bounded by the
 * capacities the caller passes. Not constant time: values here are amounts, not secrets.
 */
#include "ak_u256.h"

#include <string.h>

typedef unsigned __int128 ak_u128;

static const char ak_u256_hex[] = "0123456789abcdef";

static int ak_u256_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void ak_u256_from_u64(ak_u256 *out, uint64_t v)
{
    out->w[0] = v;
    out->w[1] = 0;
    out->w[2] = 0;
    out->w[3] = 0;
}

ak_err ak_u256_from_be(ak_u256 *out, const uint8_t *in, size_t len)
{
    if (out == NULL || (in == NULL && len != 0))
        return AK_ERR_ARG;
    if (len > 32)
        return AK_ERR_RANGE;
    ak_u256 r = {{0, 0, 0, 0}};
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i); /* position of this byte's low bit */
        r.w[bit / 64] |= (uint64_t)in[i] << (bit % 64);
    }
    *out = r;
    return AK_OK;
}

void ak_u256_to_be(uint8_t out[32], const ak_u256 *v)
{
    for (size_t i = 0; i < 32; i++) {
        size_t bit = 8 * (31 - i);
        out[i] = (uint8_t)(v->w[bit / 64] >> (bit % 64));
    }
}

size_t ak_u256_to_be_min(uint8_t out[32], const ak_u256 *v)
{
    uint8_t full[32];
    ak_u256_to_be(full, v);
    size_t skip = 0;
    while (skip < 32 && full[skip] == 0)
        skip++;
    memcpy(out, full + skip, 32 - skip);
    return 32 - skip;
}

int ak_u256_is_zero(const ak_u256 *v)
{
    return (v->w[0] | v->w[1] | v->w[2] | v->w[3]) == 0;
}

int ak_u256_cmp(const ak_u256 *a, const ak_u256 *b)
{
    for (int i = 3; i >= 0; i--) {
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    }
    return 0;
}

unsigned ak_u256_bits(const ak_u256 *v)
{
    for (int i = 3; i >= 0; i--) {
        if (v->w[i] != 0)
            return (unsigned)(64 * i + 64 - __builtin_clzll(v->w[i]));
    }
    return 0;
}

int ak_u256_to_u64(uint64_t *out, const ak_u256 *v)
{
    if ((v->w[1] | v->w[2] | v->w[3]) != 0)
        return 0;
    *out = v->w[0];
    return 1;
}

ak_err ak_u256_add(ak_u256 *out, const ak_u256 *a, const ak_u256 *b)
{
    ak_u256 r;
    uint64_t carry = 0;
    for (size_t i = 0; i < 4; i++) {
        ak_u128 s = (ak_u128)a->w[i] + b->w[i] + carry;
        r.w[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
    if (carry)
        return AK_ERR_RANGE;
    *out = r;
    return AK_OK;
}

ak_err ak_u256_sub(ak_u256 *out, const ak_u256 *a, const ak_u256 *b)
{
    if (ak_u256_cmp(a, b) < 0)
        return AK_ERR_RANGE;
    ak_u256 r;
    uint64_t borrow = 0;
    for (size_t i = 0; i < 4; i++) {
        uint64_t x = a->w[i], y = b->w[i];
        r.w[i] = x - y - borrow;
        borrow = (x < y || (x == y && borrow)) ? 1 : 0;
    }
    *out = r;
    return AK_OK;
}

ak_err ak_u256_mul(ak_u256 *out, const ak_u256 *a, const ak_u256 *b)
{
    /* Schoolbook 4x4 limbs into 8; anything above limb 3 is overflow. */
    uint64_t t[8] = {0};
    for (size_t i = 0; i < 4; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < 4; j++) {
            ak_u128 p = (ak_u128)a->w[i] * b->w[j] + t[i + j] + carry;
            t[i + j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        t[i + 4] = carry;
    }
    if ((t[4] | t[5] | t[6] | t[7]) != 0)
        return AK_ERR_RANGE;
    memcpy(out->w, t, sizeof out->w);
    return AK_OK;
}

ak_err ak_u256_parse_quantity(ak_u256 *out, const char *s, size_t len)
{
    if (out == NULL || (s == NULL && len != 0))
        return AK_ERR_ARG;
    if (len < 3 || s[0] != '0' || s[1] != 'x')
        return AK_ERR_QUANTITY;
    if (s[2] == '0' && len != 3) /* only "0x0" may start with a zero */
        return AK_ERR_QUANTITY;
    for (size_t i = 2; i < len; i++) {
        if (ak_u256_nibble(s[i]) < 0)
            return AK_ERR_QUANTITY;
    }
    if (len - 2 > 64) /* well formed, but 2^256 or more */
        return AK_ERR_RANGE;
    ak_u256 r = {{0, 0, 0, 0}};
    size_t n = len - 2;
    for (size_t i = 0; i < n; i++) {
        size_t bit = 4 * (n - 1 - i);
        r.w[bit / 64] |= (uint64_t)ak_u256_nibble(s[2 + i]) << (bit % 64);
    }
    *out = r;
    return AK_OK;
}

ak_err ak_u256_parse_decimal(ak_u256 *out, const char *s, size_t len)
{
    if (out == NULL || (s == NULL && len != 0))
        return AK_ERR_ARG;
    if (len == 0 || (s[0] == '0' && len != 1))
        return AK_ERR_DECIMAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return AK_ERR_DECIMAL;
    }
    if (len > AK_U256_DECIMAL_MAX - 1)
        return AK_ERR_RANGE;
    ak_u256 r = {{0, 0, 0, 0}};
    ak_u256 ten, digit;
    ak_u256_from_u64(&ten, 10);
    for (size_t i = 0; i < len; i++) {
        ak_u256_from_u64(&digit, (uint64_t)(s[i] - '0'));
        if (ak_u256_mul(&r, &r, &ten) != AK_OK || ak_u256_add(&r, &r, &digit) != AK_OK)
            return AK_ERR_RANGE;
    }
    *out = r;
    return AK_OK;
}

ak_err ak_u256_format_quantity(char *out, size_t cap, const ak_u256 *v)
{
    if (out == NULL || v == NULL)
        return AK_ERR_ARG;
    unsigned bits = ak_u256_bits(v);
    unsigned n = bits == 0 ? 1 : (bits + 3) / 4;
    if (cap < (size_t)n + 3)
        return AK_ERR_BUFFER;
    out[0] = '0';
    out[1] = 'x';
    for (unsigned i = 0; i < n; i++) {
        unsigned bit = 4 * (n - 1 - i);
        out[2 + i] = ak_u256_hex[(v->w[bit / 64] >> (bit % 64)) & 0x0f];
    }
    out[2 + n] = '\0';
    return AK_OK;
}

ak_err ak_u256_format_decimal(char *out, size_t cap, const ak_u256 *v)
{
    if (out == NULL || v == NULL)
        return AK_ERR_ARG;
    char rev[AK_U256_DECIMAL_MAX];
    size_t n = 0;
    ak_u256 q = *v;
    do {
        /* q /= 10, remainder into rev, top limb first. */
        uint64_t rem = 0;
        for (int i = 3; i >= 0; i--) {
            ak_u128 cur = (ak_u128)rem << 64 | q.w[i];
            q.w[i] = (uint64_t)(cur / 10);
            rem = (uint64_t)(cur % 10);
        }
        rev[n++] = (char)('0' + rem);
    } while (!ak_u256_is_zero(&q) && n < sizeof rev);
    if (cap < n + 1)
        return AK_ERR_BUFFER;
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return AK_OK;
}
