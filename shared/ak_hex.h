/*
 * ak_hex.h - strict hex for Ethereum JSON-RPC (DATA and 64-bit QUANTITY) and lowercase encoding.
 *
 * DATA: "0x" followed by an even number of hex digits (either case); "0x" alone is empty data.
 * QUANTITY: "0x" followed by 1..16 hex digits, no leading zeros ("0x0" is zero) - see ak_u256.h
 * for 256-bit quantities. Every decoder takes an explicit input length and an output capacity;
 * input longer than the capacity is AK_ERR_LIMIT, never truncated. The prefix is a lowercase
 * "0x" ("0X" is rejected). QUANTITY errors: AK_ERR_QUANTITY when malformed, AK_ERR_RANGE when
 * well formed but more than 16 digits.
 */
#ifndef AK_HEX_H
#define AK_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

/* Bytes of output needed to encode n bytes as "0x..." plus NUL. */
#define AK_HEX_ENCODED_SIZE(n) (2 * (size_t)(n) + 3)

/*
 * Decode strict 0x DATA of hex_len characters into out (capacity out_cap); *out_len gets the
 * byte count. Errors: AK_ERR_HEX (no 0x, odd length, bad digit), AK_ERR_LIMIT (> out_cap bytes).
 */
AK_WUR ak_err ak_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex,
                            size_t hex_len);

/* As ak_hex_decode but the decoded length must be exactly out_len (e.g. 32 for a hash); any
 * other length is AK_ERR_HEX and leaves out untouched. */
AK_WUR ak_err ak_hex_decode_exact(uint8_t *out, size_t out_len, const char *hex, size_t hex_len);

/* Decode bare hex (no 0x prefix), even length; used for config files and test vectors. */
AK_WUR ak_err ak_hex_decode_bare(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex,
                                 size_t hex_len);

/* Write the lowercase hex of in, no prefix, + NUL into out (2 * in_len + 1 bytes): digests
 * and MACs in HTTP signing schemes, audit fields. */
void ak_hex_bare(char *out, const uint8_t *in, size_t in_len);

/* Write "0x" + lowercase hex of in + NUL into out; out_cap >= AK_HEX_ENCODED_SIZE(in_len). */
AK_WUR ak_err ak_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t in_len);

/* 64-bit QUANTITY parse and format (format writes NUL-terminated, cap >= 19 is enough). */
AK_WUR ak_err ak_quantity_parse_u64(uint64_t *out, const char *s, size_t len);
AK_WUR ak_err ak_quantity_format_u64(char *out, size_t cap, uint64_t v);

#endif
