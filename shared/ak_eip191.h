/*
 * ak_eip191.h - EIP-191 version 0x45 ("personal_sign") message digest:
 * keccak256("\x19Ethereum Signed Message:\n" || decimal(len(msg)) || msg).
 */
#ifndef AK_EIP191_H
#define AK_EIP191_H

#include <stddef.h>
#include <stdint.h>

void ak_eip191_hash(uint8_t out[32], const uint8_t *msg, size_t len);

#endif
