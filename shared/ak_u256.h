/*
 * ak_u256.h - 256-bit unsigned integers for Ethereum values, fees and EIP-712 (u)intN.
 *
 * Plain value type, little-endian 64-bit limbs. Conversions to and from big-endian bytes,
 * JSON-RPC QUANTITY ("0x1a", no leading zeros, "0x0" allowed) and decimal strings. All
 * arithmetic reports overflow instead of wrapping. No allocation.
 */
#ifndef AK_U256_H
#define AK_U256_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

typedef struct {
    uint64_t w[4]; /* w[0] least significant */
} ak_u256;

/* Longest text forms, including the terminating NUL. */
#define AK_U256_QUANTITY_MAX 67 /* "0x" + 64 hex digits + NUL */
#define AK_U256_DECIMAL_MAX  79 /* 78 digits + NUL */

void ak_u256_from_u64(ak_u256 *out, uint64_t v);
/* Big-endian bytes, len <= 32 (shorter input is left-padded with zeros). */
AK_WUR ak_err ak_u256_from_be(ak_u256 *out, const uint8_t *in, size_t len);
void ak_u256_to_be(uint8_t out[32], const ak_u256 *v);
/* Minimal big-endian form (no leading zero bytes; zero -> length 0), as RLP wants. Returns length.
 */
size_t ak_u256_to_be_min(uint8_t out[32], const ak_u256 *v);

int ak_u256_is_zero(const ak_u256 *v);
int ak_u256_cmp(const ak_u256 *a, const ak_u256 *b); /* -1, 0, 1 */
/* Number of significant bits (0 for zero). */
unsigned ak_u256_bits(const ak_u256 *v);
/* 1 and *out set if v fits in 64 bits, else 0. */
int ak_u256_to_u64(uint64_t *out, const ak_u256 *v);

/* Arithmetic: AK_ERR_RANGE on overflow/underflow (out is then unspecified). out may alias. */
AK_WUR ak_err ak_u256_add(ak_u256 *out, const ak_u256 *a, const ak_u256 *b);
AK_WUR ak_err ak_u256_sub(ak_u256 *out, const ak_u256 *a, const ak_u256 *b);
AK_WUR ak_err ak_u256_mul(ak_u256 *out, const ak_u256 *a, const ak_u256 *b);

/* JSON-RPC QUANTITY: "0x" then 1-64 lowercase or uppercase hex digits, no leading zero except
 * "0x0". Malformed: AK_ERR_QUANTITY; well formed but 65+ digits (>= 2^256): AK_ERR_RANGE. */
AK_WUR ak_err ak_u256_parse_quantity(ak_u256 *out, const char *s, size_t len);
/* Decimal: 1-78 digits, no sign, no leading zero except "0"; must fit 256 bits.
 * Malformed: AK_ERR_DECIMAL; well formed but >= 2^256: AK_ERR_RANGE. */
AK_WUR ak_err ak_u256_parse_decimal(ak_u256 *out, const char *s, size_t len);
/* Writes the NUL-terminated QUANTITY form ("0x0", "0x1a"); cap >= AK_U256_QUANTITY_MAX is always
 * enough. Too small a cap: AK_ERR_BUFFER (decimal: AK_U256_DECIMAL_MAX is always enough). */
AK_WUR ak_err ak_u256_format_quantity(char *out, size_t cap, const ak_u256 *v);
AK_WUR ak_err ak_u256_format_decimal(char *out, size_t cap, const ak_u256 *v);

#endif
