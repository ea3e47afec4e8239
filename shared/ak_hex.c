/*
 * ak_hex.c - strict hex for Ethereum JSON-RPC (see ak_hex.h).
 *
 * DATA and QUANTITY follow the Ethereum JSON-RPC "hex value encoding" conventions
 * (ethereum.org/developers/docs/apis/json-rpc/#hex-encoding): DATA is "0x" plus two hex digits
 * per byte, QUANTITY is "0x" plus the shortest hex form ("0x0" for zero). Input digits may be
 * upper or lower case; output is always lowercase. Nothing is allocated; every write is bounded
 * by the capacity the caller passes, and the prefix must be a lowercase "0x".
 */
#include "ak_hex.h"

static const char ak_hex_digits[] = "0123456789abcdef";

/* Value of one hex digit, or -1. */
static int ak_hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ak_err ak_hex_decode_bare(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex,
                          size_t hex_len)
{
    if (out_len == NULL || (hex == NULL && hex_len != 0) || (out == NULL && out_cap != 0))
        return AK_ERR_ARG;
    *out_len = 0;
    if (hex_len % 2 != 0)
        return AK_ERR_HEX;
    if (hex_len / 2 > out_cap)
        return AK_ERR_LIMIT;
    if (out == NULL) /* then out_cap is 0, hence hex_len too: empty data */
        return AK_OK;
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = ak_hex_nibble(hex[i]);
        int lo = ak_hex_nibble(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return AK_ERR_HEX;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = hex_len / 2;
    return AK_OK;
}

ak_err ak_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex, size_t hex_len)
{
    if (out_len == NULL || (hex == NULL && hex_len != 0))
        return AK_ERR_ARG;
    *out_len = 0;
    if (hex_len < 2 || hex[0] != '0' || hex[1] != 'x')
        return AK_ERR_HEX;
    return ak_hex_decode_bare(out, out_cap, out_len, hex + 2, hex_len - 2);
}

ak_err ak_hex_decode_exact(uint8_t *out, size_t out_len, const char *hex, size_t hex_len)
{
    size_t got = 0;
    if (hex == NULL && hex_len != 0)
        return AK_ERR_ARG;
    /* A wrong length (either way) is malformed for this field, and is checked before any
     * byte is written so that a short or long value never half-fills out. */
    if (hex_len >= 2 && hex_len % 2 == 0 && (hex_len - 2) / 2 != out_len)
        return AK_ERR_HEX;
    return ak_hex_decode(out, out_len, &got, hex, hex_len);
}

ak_err ak_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t in_len)
{
    if (out == NULL || (in == NULL && in_len != 0))
        return AK_ERR_ARG;
    if (in_len > (SIZE_MAX - 3) / 2 || out_cap < AK_HEX_ENCODED_SIZE(in_len))
        return AK_ERR_BUFFER;
    out[0] = '0';
    out[1] = 'x';
    ak_hex_bare(out + 2, in, in_len);
    return AK_OK;
}

void ak_hex_bare(char *out, const uint8_t *in, size_t in_len)
{
    for (size_t i = 0; i < in_len; i++) {
        out[2 * i] = ak_hex_digits[in[i] >> 4];
        out[2 * i + 1] = ak_hex_digits[in[i] & 0x0f];
    }
    out[2 * in_len] = '\0';
}

ak_err ak_quantity_parse_u64(uint64_t *out, const char *s, size_t len)
{
    if (out == NULL || (s == NULL && len != 0))
        return AK_ERR_ARG;
    *out = 0;
    if (len < 3 || s[0] != '0' || s[1] != 'x')
        return AK_ERR_QUANTITY;
    /* "0x0" is zero; any other leading zero is non-canonical. */
    if (s[2] == '0' && len != 3)
        return AK_ERR_QUANTITY;
    for (size_t i = 2; i < len; i++) {
        if (ak_hex_nibble(s[i]) < 0)
            return AK_ERR_QUANTITY;
    }
    /* Well formed; more than 16 significant digits does not fit 64 bits. */
    if (len - 2 > 16)
        return AK_ERR_RANGE;
    uint64_t v = 0;
    for (size_t i = 2; i < len; i++)
        v = v << 4 | (uint64_t)ak_hex_nibble(s[i]);
    *out = v;
    return AK_OK;
}

ak_err ak_quantity_format_u64(char *out, size_t cap, uint64_t v)
{
    if (out == NULL)
        return AK_ERR_ARG;
    unsigned n = 1;
    while (n < 16 && (v >> (4 * n)) != 0)
        n++;
    if (cap < (size_t)n + 3)
        return AK_ERR_BUFFER;
    out[0] = '0';
    out[1] = 'x';
    for (unsigned i = 0; i < n; i++)
        out[2 + i] = ak_hex_digits[(v >> (4 * (n - 1 - i))) & 0x0f];
    out[2 + n] = '\0';
    return AK_OK;
}
