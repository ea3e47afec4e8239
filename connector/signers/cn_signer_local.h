/*
 * cn_signer_local.h - the "local" signer backend: a secp256k1 private key held in this process,
 * for development and tests only. It is NOT an HSM: the constructor logs a loud warning.
 *
 * Config object (one account's "signer"):
 *   { "type": "local", "key_file": "/path/key.hex" }   or   { "type": "local", "key_env": "VAR" }
 * or, from a BIP-39 mnemonic (English) and a BIP-32 path:
 *   { "type": "local", "mnemonic_env": "VAR" | "mnemonic_file": "/path",
 *     "path": "m/44'/60'/0'/0/0",                  // default
 *     "passphrase_env": "VAR" | "passphrase_file": "/path" }   // optional BIP-39 passphrase
 * The mnemonic, passphrase, seed and derived node are held in locked memory and wiped.
 * Unknown fields are refused.
 * The key is 64 hex digits (optional 0x, surrounding whitespace allowed). It is read into locked,
 * non-dumpable memory (ak_secure_alloc), the file buffer and environment copy are wiped, and the
 * environment variable is removed from the process environment after reading.
 *
 * Signing: libsecp256k1 secp256k1_ecdsa_sign_recoverable (RFC 6979 nonces, low s) with the
 * backend's own context, randomized at creation (side-channel blinding). The raw signature carries
 * its recovery id (has_recid). Thread-safe: the context and key are read-only after creation.
 */
#ifndef CN_SIGNER_LOCAL_H
#define CN_SIGNER_LOCAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_local_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

/* Same, from a 32-byte key already in memory (tests, benchmarks). key is copied, not wiped. */
AK_WUR ak_err cn_local_signer_from_key(cn_signer **out, const uint8_t key[32], const char *name,
                                       char *err, size_t err_cap);

#endif
