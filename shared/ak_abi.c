/* ak_abi.c - static ABI words (see ak_abi.h). */
#include "ak_abi.h"

#include <string.h>

#include "ak_keccak.h"

void ak_abi_word_u64(uint8_t out[AK_ABI_WORD], uint64_t v)
{
    memset(out, 0, AK_ABI_WORD - 8);
    for (int i = 0; i < 8; i++)
        out[AK_ABI_WORD - 1 - i] = (uint8_t)(v >> (8 * i));
}

void ak_abi_word_u256(uint8_t out[AK_ABI_WORD], const ak_u256 *v)
{
    ak_u256_to_be(out, v);
}

void ak_abi_word_address(uint8_t out[AK_ABI_WORD], const uint8_t addr[20])
{
    memset(out, 0, 12);
    memcpy(out + 12, addr, 20);
}

ak_err ak_abi_pack_u128x2(uint8_t out[AK_ABI_WORD], const ak_u256 *hi, const ak_u256 *lo)
{
    uint8_t h[32], l[32];
    if (ak_u256_bits(hi) > 128 || ak_u256_bits(lo) > 128)
        return AK_ERR_RANGE;
    ak_u256_to_be(h, hi);
    ak_u256_to_be(l, lo);
    memcpy(out, h + 16, 16);
    memcpy(out + 16, l + 16, 16);
    return AK_OK;
}

void ak_abi_keccak2(uint8_t out[32], const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    ak_keccak_ctx c;
    ak_keccak256_init(&c);
    if (a_len > 0)
        ak_keccak256_update(&c, a, a_len);
    if (b_len > 0)
        ak_keccak256_update(&c, b, b_len);
    ak_keccak256_final(&c, out);
}

ak_err ak_abi_decode_uint(uint64_t *out, const uint8_t word[AK_ABI_WORD], unsigned bits)
{
    uint64_t v = 0;
    if (bits == 0 || bits > 64)
        return AK_ERR_ARG;
    for (size_t i = 0; i < AK_ABI_WORD - 8; i++)
        if (word[i] != 0)
            return AK_ERR_RANGE;
    for (size_t i = AK_ABI_WORD - 8; i < AK_ABI_WORD; i++)
        v = (v << 8) | word[i];
    if (bits < 64 && (v >> bits) != 0)
        return AK_ERR_RANGE;
    *out = v;
    return AK_OK;
}
