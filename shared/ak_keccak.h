/*
 * ak_keccak.h - Keccak-256 as Ethereum uses it (original Keccak padding 0x01..0x80, not
 * FIPS-202 SHA3-256's 0x06). Built on nettle's exported Keccak-f[1600] permutation
 * (nettle_sha3_permute): OpenSSL 3.0, libgcrypt and GnuTLS on Debian 12 offer no Keccak-256.
 * keccak256("") = c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470.
 */
#ifndef AK_KECCAK_H
#define AK_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define AK_KECCAK256_RATE 136

/* Streaming context; plain value, no allocation. Wipe with ak_wipe if the input was secret. */
typedef struct {
    uint64_t a[25];
    uint8_t buf[AK_KECCAK256_RATE];
    size_t buf_len;
} ak_keccak_ctx;

void ak_keccak256_init(ak_keccak_ctx *ctx);
void ak_keccak256_update(ak_keccak_ctx *ctx, const uint8_t *in, size_t len);
/* Writes the digest; ctx must be re-initialised before reuse. */
void ak_keccak256_final(ak_keccak_ctx *ctx, uint8_t out[32]);

/* One-shot. in may be NULL if len is 0. */
void ak_keccak256(uint8_t out[32], const uint8_t *in, size_t len);

#endif
