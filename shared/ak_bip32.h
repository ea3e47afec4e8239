/*
 * ak_bip32.h - BIP-32 hierarchical deterministic keys (private derivation only, secp256k1): the
 * master node from a seed (HMAC-SHA512 keyed "Bitcoin seed"), hardened and normal child derivation
 * (CKDpriv), and a strict derivation path parser ("m/44'/60'/0'/0/0").
 *
 * Path syntax: "m" followed by 0..AK_BIP32_MAX_DEPTH components "/N" or "/N'" ("/Nh", "/NH" are
 * accepted for hardened), N a decimal integer 0..2^31-1 without leading zeros or sign. No spaces,
 * no trailing slash, lowercase "m" only. Errors: AK_ERR_DECIMAL (a component is not a canonical
 * decimal number, or any other syntax error), AK_ERR_RANGE (N >= 2^31), AK_ERR_LIMIT (more than
 * AK_BIP32_MAX_DEPTH components, or more than cap).
 *
 * A derived key that BIP-32 declares invalid (IL >= n, or a zero key: probability < 2^-127) is
 * AK_ERR_PRIVKEY; the caller picks another index, this module does not skip silently.
 *
 * Secrets: ak_bip32_node holds a private key and chain code: the caller wipes it with
 * ak_bip32_node_wipe() when done. Every intermediate (HMAC output, serialised keys) is wiped here.
 * The secp256k1 context is created per call (derivation runs once, at start-up).
 */
#ifndef AK_BIP32_H
#define AK_BIP32_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define AK_BIP32_MAX_DEPTH        16
#define AK_BIP32_HARDENED         0x80000000u
#define AK_BIP32_PATH_MAX         (2 + AK_BIP32_MAX_DEPTH * 12) /* longest valid path text */
#define AK_BIP32_DEFAULT_ETH_PATH "m/44'/60'/0'/0/0"

typedef struct {
    uint8_t key[32];   /* private key (secret) */
    uint8_t chain[32]; /* chain code (secret) */
    uint8_t depth;
    uint32_t index; /* child number, AK_BIP32_HARDENED set for hardened */
} ak_bip32_node;

/* Parse path[0..len) into idx[0..*n) (*n <= cap; cap < depth gives AK_ERR_LIMIT too). */
AK_WUR ak_err ak_bip32_parse_path(uint32_t *idx, size_t cap, size_t *n, const char *path,
                                  size_t len);

/* Master node from a 16..64-byte seed (BIP-32 "Master key generation"). */
AK_WUR ak_err ak_bip32_master(ak_bip32_node *out, const uint8_t *seed, size_t seed_len);

/* CKDpriv(parent, index): hardened when index >= AK_BIP32_HARDENED. out may alias parent. */
AK_WUR ak_err ak_bip32_child(ak_bip32_node *out, const ak_bip32_node *parent, uint32_t index);

/* Master from seed, then every component of path. */
AK_WUR ak_err ak_bip32_derive_path(ak_bip32_node *out, const uint8_t *seed, size_t seed_len,
                                   const char *path, size_t len);

void ak_bip32_node_wipe(ak_bip32_node *node); /* NULL allowed */

#endif
