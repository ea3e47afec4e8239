/*
 * ak_addr.h - secp256k1 public keys and Ethereum addresses (EIP-55 checksums).
 *
 * address = last 20 bytes of keccak256(X || Y). Public keys arrive as 65-byte 04|X|Y, or as
 * a DER OCTET STRING wrapping it (04 41 04|X|Y: how PKCS#11 CKA_EC_POINT arrives), or as a
 * SubjectPublicKeyInfo (AWS KMS GetPublicKey); each is checked to be a point on the curve.
 */
#ifndef AK_ADDR_H
#define AK_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define AK_ADDR_STR_SIZE 43 /* "0x" + 40 + NUL */

/* 65-byte 04|X|Y, or DER OCTET STRING (04 41 04|X|Y), or 33-byte compressed -> 04|X|Y on the curve.
 */
AK_WUR ak_err ak_pubkey_parse(uint8_t pub65[65], const uint8_t *in, size_t len);
/* DER SubjectPublicKeyInfo with id-ecPublicKey and namedCurve secp256k1 -> 04|X|Y. */
AK_WUR ak_err ak_pubkey_parse_spki(uint8_t pub65[65], const uint8_t *der, size_t len);

void ak_addr_from_pubkey(uint8_t addr[20], const uint8_t pub65[65]);

/* EIP-55 mixed-case checksum form, "0x" + 40 + NUL. */
void ak_addr_to_checksum(char out[AK_ADDR_STR_SIZE], const uint8_t addr[20]);

/*
 * "0x" + 40 hex digits. All-lowercase and all-uppercase are accepted without a checksum;
 * mixed case must be a valid EIP-55 checksum (AK_ERR_CHECKSUM otherwise).
 */
AK_WUR ak_err ak_addr_parse(uint8_t addr[20], const char *s, size_t len);

#endif
