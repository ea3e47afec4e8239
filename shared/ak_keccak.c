/*
 * ak_keccak.c - Keccak-256 (Ethereum) on nettle's Keccak-f[1600] permutation.
 * Sponge with rate 136 bytes; padding is the original Keccak multi-rate pad 0x01 ... 0x80
 * (FIPS 202 SHA3 uses 0x06 instead). Lanes are little-endian 64-bit words.
 */
#include "ak_keccak.h"

#include <string.h>

#include <nettle/sha3.h>

static void ak_keccak_absorb_block(ak_keccak_ctx *ctx, const uint8_t *block)
{
    struct sha3_state st;
    for (size_t i = 0; i < AK_KECCAK256_RATE / 8; i++) {
        uint64_t lane = 0;
        for (int b = 7; b >= 0; b--)
            lane = (lane << 8) | block[8 * i + (size_t)b];
        ctx->a[i] ^= lane;
    }
    memcpy(st.a, ctx->a, sizeof(st.a));
    nettle_sha3_permute(&st);
    memcpy(ctx->a, st.a, sizeof(ctx->a));
}

void ak_keccak256_init(ak_keccak_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
}

void ak_keccak256_update(ak_keccak_ctx *ctx, const uint8_t *in, size_t len)
{
    if (ctx->buf_len) {
        size_t take = AK_KECCAK256_RATE - ctx->buf_len;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buf_len, in, take);
        ctx->buf_len += take;
        in += take;
        len -= take;
        if (ctx->buf_len < AK_KECCAK256_RATE)
            return;
        ak_keccak_absorb_block(ctx, ctx->buf);
        ctx->buf_len = 0;
    }
    while (len >= AK_KECCAK256_RATE) {
        ak_keccak_absorb_block(ctx, in);
        in += AK_KECCAK256_RATE;
        len -= AK_KECCAK256_RATE;
    }
    if (len) {
        memcpy(ctx->buf, in, len);
        ctx->buf_len = len;
    }
}

void ak_keccak256_final(ak_keccak_ctx *ctx, uint8_t out[32])
{
    memset(ctx->buf + ctx->buf_len, 0, AK_KECCAK256_RATE - ctx->buf_len);
    ctx->buf[ctx->buf_len] ^= 0x01;
    ctx->buf[AK_KECCAK256_RATE - 1] ^= 0x80;
    ak_keccak_absorb_block(ctx, ctx->buf);
    for (size_t i = 0; i < 4; i++) {
        for (size_t b = 0; b < 8; b++)
            out[8 * i + b] = (uint8_t)(ctx->a[i] >> (8 * b));
    }
}

void ak_keccak256(uint8_t out[32], const uint8_t *in, size_t len)
{
    ak_keccak_ctx ctx;
    ak_keccak256_init(&ctx);
    if (len)
        ak_keccak256_update(&ctx, in, len);
    ak_keccak256_final(&ctx, out);
}
