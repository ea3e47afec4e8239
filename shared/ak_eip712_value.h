/*
 * ak_eip712_value.h - the atomic value encoders of ak_eip712 (integers, dynamic bytes), kept in
 * their own file so that ak_eip712.c stays one readable piece. Internal to ak_eip712: the forms
 * accepted are those listed in ak_eip712.c's header comment (JSON number up to 2^53 - 1,
 * decimal string, 0x hex string, leading '-' for decimal negatives). Errors: AK_ERR_EIP712.
 */
#ifndef AK_EIP712_VALUE_H
#define AK_EIP712_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"

/* Magnitude and sign of an integer value. */
AK_WUR ak_err ak_eip712v_parse_integer(ak_u256 *mag, int *neg, const cJSON *v);

/* intN (is_signed) / uintN of `width` bits: range check, then the 32-byte word (two's
 * complement for negatives). */
AK_WUR ak_err ak_eip712v_encode_integer(uint8_t out[32], int is_signed, unsigned width,
                                        const cJSON *v);

/* keccak256 of 0x DATA, decoded in chunks so that no copy of the whole value is made. */
AK_WUR ak_err ak_eip712v_hash_bytes(uint8_t out[32], const char *s, size_t len);

#endif
