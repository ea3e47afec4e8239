/*
 * ak_abi.h - the small part of the Solidity ABI encoding that the paymaster needs: static
 * 32-byte words (address, uintN, bytes32) and abi.encode of a tuple of static values, which is
 * the concatenation of their words (Solidity ABI specification, "Formal Specification of the
 * Encoding": a static tuple is enc(X1) || ... || enc(Xk), each element one 32-byte word,
 * uintN left-padded with zeros, address as uint160).
 *
 * Pure computation, no allocation: the caller provides every buffer. Dynamic types (bytes,
 * string, arrays) are not encoded here: the contracts we mirror hash them first (keccak256 of
 * the bytes) and put the digest in the tuple as a bytes32, which ak_abi_keccak2() serves.
 */
#ifndef AK_ABI_H
#define AK_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ak_u256.h"

#define AK_ABI_WORD 32

/* uint64 (and smaller: uint48, uint8...) as a word, big-endian, left-padded. */
void ak_abi_word_u64(uint8_t out[AK_ABI_WORD], uint64_t v);
void ak_abi_word_u256(uint8_t out[AK_ABI_WORD], const ak_u256 *v);
/* address: 12 zero bytes then the 20 address bytes. */
void ak_abi_word_address(uint8_t out[AK_ABI_WORD], const uint8_t addr[20]);

/*
 * Two values of at most 128 bits each packed into one word: hi in bytes 0..15, lo in 16..31
 * (ERC-4337 v0.7 accountGasLimits, gasFees, and paymasterAndData[20:52]). AK_ERR_RANGE if
 * either value needs more than 128 bits.
 */
AK_WUR ak_err ak_abi_pack_u128x2(uint8_t out[AK_ABI_WORD], const ak_u256 *hi, const ak_u256 *lo);

/* keccak256(a || b) without concatenating (a or b may be NULL when its length is 0). */
void ak_abi_keccak2(uint8_t out[32], const uint8_t *a, size_t a_len, const uint8_t *b,
                    size_t b_len);

/*
 * Decode a word that must hold an unsigned value of at most `bits` bits (1..64): the high bytes
 * must be zero, as Solidity's abi.decode requires. AK_ERR_RANGE otherwise.
 */
AK_WUR ak_err ak_abi_decode_uint(uint64_t *out, const uint8_t word[AK_ABI_WORD], unsigned bits);

#endif
