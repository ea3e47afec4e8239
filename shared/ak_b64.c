/* ak_b64.c - strict RFC 4648 base64 and unpadded base64url (see ak_b64.h). */
#include "ak_b64.h"

static const char ak_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of c in the standard (url = 0) or URL-safe (url = 1) alphabet, or -1. */
static int ak_b64_value(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

ak_err ak_b64_encode(char *out, size_t cap, const uint8_t *in, size_t len)
{
    if (len > (SIZE_MAX / 4) * 3 - 3 || cap < AK_B64_ENCODED_SIZE(len))
        return AK_ERR_BUFFER;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = ak_b64_alphabet[(v >> 18) & 63];
        out[o++] = ak_b64_alphabet[(v >> 12) & 63];
        out[o++] = (char)(i + 1 < len ? ak_b64_alphabet[(v >> 6) & 63] : '=');
        out[o++] = (char)(i + 2 < len ? ak_b64_alphabet[v & 63] : '=');
    }
    out[o] = '\0';
    return AK_OK;
}

ak_err ak_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t len)
{
    *out_len = 0;
    if (len % 4 != 0)
        return AK_ERR_BASE64;
    size_t pad = 0;
    if (len >= 4 && in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    if (n > out_cap)
        return AK_ERR_LIMIT;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        for (size_t k = 0; k < 4; k++) {
            if (last && k >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = ak_b64_value(in[i + k], 0);
            if (v[k] < 0)
                return AK_ERR_BASE64;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Canonical form: the bits under the padding must be zero. */
        if (last && pad == 2 && (w & 0xffff) != 0)
            return AK_ERR_BASE64;
        if (last && pad == 1 && (w & 0xff) != 0)
            return AK_ERR_BASE64;
        out[o++] = (uint8_t)(w >> 16);
        if (!(last && pad == 2))
            out[o++] = (uint8_t)(w >> 8);
        if (!(last && pad >= 1))
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return AK_OK;
}

ak_err ak_b64url_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in, size_t len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    *out_len = 0;
    if (len % 4 == 1)
        return AK_ERR_BASE64;
    if ((len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0) > out_cap)
        return AK_ERR_LIMIT;
    for (size_t i = 0; i < len; i++) {
        int v = ak_b64_value(in[i], 1);
        if (v < 0)
            return AK_ERR_BASE64;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* Canonical form: the unused low bits of the last character must be zero. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return AK_ERR_BASE64;
    *out_len = n;
    return AK_OK;
}
