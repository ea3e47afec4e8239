/*
 * cn_signer_gcpkms.h - the "gcp_kms" signer backend: a Google Cloud KMS CryptoKeyVersion of
 * algorithm EC_SIGN_SECP256K1_SHA256 (purpose ASYMMETRIC_SIGN; protection level SOFTWARE, HSM
 * or EXTERNAL), used over the Cloud KMS REST API v1 with OAuth 2.0 bearer tokens (cn_gcpcreds,
 * cached and refreshed by cn_oauth). The key never leaves Cloud KMS.
 *
 * Config object (one account's "signer"):
 *   {
 *     "type": "gcp_kms",
 *     "name": "gcp-prod",                 // optional (default: "<cryptoKey>/<version>", cut)
 *     "key_version": "projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/1",
 *     "endpoint": "https://cloudkms.googleapis.com",   // optional, https only (a private
 *                                         // service connect endpoint, or a test stand-in)
 *     "credentials_file": "/etc/anode/gcp-sa.json",    // optional, else
 *                                         // $GOOGLE_APPLICATION_CREDENTIALS, else the
 *                                         // metadata server
 *     "address": "0x...",                 // optional: the key must have this address
 *     "ca": "/etc/anode/ca.pem",          // optional CA bundle (KMS and token_uri); default
 *                                         // the system's
 *     "timeout_ms": 5000, "connect_timeout_ms": 2000, "retries": 2, "pool_size": 8
 *   }
 *
 * Start-up: a first token, then GET {endpoint}/v1/{key_version}/publicKey: algorithm must be
 * EC_SIGN_SECP256K1_SHA256, pemCrc32c must be the CRC32C of pem (when given), name the key
 * version asked for, and pem a SubjectPublicKeyInfo of a secp256k1 point (ak_pubkey_parse_spki).
 * Signing: POST {endpoint}/v1/{key_version}:asymmetricSign {"digest": {"sha256": base64(the
 * 32-byte Keccak-256 digest)}, "digestCrc32c": "<crc32c>"}: for this algorithm Cloud KMS signs
 * the 32 bytes given as the "sha256" digest as they are. The answer must carry
 * verifiedDigestCrc32c = true, name = key_version and signatureCrc32c = CRC32C(signature) (Google's
 * data-integrity guidance); a mismatch is AK_ERR_UPSTREAM (logged), never a signature. The DER
 * signature goes to cn_signer_sign_eth (strict DER, low-s, recovery against the public key).
 * health() fetches the public key again (no retries) and checks it is unchanged.
 *
 * Errors (secret-free): AK_ERR_AUTH (token refused twice, token endpoint refused), AK_ERR_FORBIDDEN
 * (403), AK_ERR_KEY_NOT_FOUND (404), AK_ERR_UNAVAILABLE (429/5xx after retries, a disabled or
 * destroyed version: FAILED_PRECONDITION), AK_ERR_KEY_TYPE (another algorithm), AK_ERR_UPSTREAM
 * (malformed answer, CRC32C mismatch), AK_ERR_NETWORK/AK_ERR_TIMEOUT. Thread-safe.
 */
#ifndef CN_SIGNER_GCPKMS_H
#define CN_SIGNER_GCPKMS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

#define CN_GCPKMS_NAME_MAX 512

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_gcpkms_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

/*
 * Parse a getPublicKey answer for key version name: pub65 = 04|X|Y. AK_ERR_KEY_TYPE for another
 * algorithm, AK_ERR_UPSTREAM for a malformed answer or a CRC32C mismatch (exported for the fuzzer).
 */
AK_WUR ak_err cn_gcpkms_parse_pubkey(uint8_t pub65[65], const char *body, size_t len,
                                     const char *name);

/* Parse an asymmetricSign answer: der (72 bytes) and *der_len (exported for the fuzzer). */
AK_WUR ak_err cn_gcpkms_parse_sign(uint8_t der[72], size_t *der_len, const char *body, size_t len,
                                   const char *name);

#endif
