/* ak_eip191.c - EIP-191 personal message digest (see ak_eip191.h). */
#include "ak_eip191.h"

#include <stdio.h>
#include <string.h>

#include "ak_keccak.h"

void ak_eip191_hash(uint8_t out[32], const uint8_t *msg, size_t len)
{
    static const char prefix[] = "\x19"
                                 "Ethereum Signed Message:\n";
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%zu", len);
    ak_keccak_ctx ctx;
    ak_keccak256_init(&ctx);
    ak_keccak256_update(&ctx, (const uint8_t *)prefix, sizeof(prefix) - 1);
    ak_keccak256_update(&ctx, (const uint8_t *)digits, (size_t)n);
    if (len)
        ak_keccak256_update(&ctx, msg, len);
    ak_keccak256_final(&ctx, out);
}
