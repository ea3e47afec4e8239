/*
 * cn_jwt.h - the one piece of JOSE the cloud backends need: a compact JWS signed RS256 (RFC 7515,
 * RFC 7518 section 3.3) used as an OAuth 2.0 JWT assertion (RFC 7523): Google's service-account
 * grant (gcp_kms) and Microsoft identity platform's certificate credential (azure_key_vault).
 * Also base64url without padding and the certificate thumbprints (x5t, x5t#S256, RFC 7515
 * sections 4.1.7-4.1.8) Microsoft uses to pick the certificate.
 *
 * Keys: RSA private keys of 2048 bits or more, PEM (PKCS#8 or PKCS#1), unencrypted; the EVP_PKEY
 * belongs to the caller (EVP_PKEY_free). OpenSSL keeps its own copy of the key in ordinary heap
 * memory (a documented limit). Header and claims are given as JSON text by the caller, which
 * builds them from validated strings only. Stateless and thread-safe.
 */
#ifndef CN_JWT_H
#define CN_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ak_err.h"

#define CN_JWT_MAX 8192 /* largest assertion built (RS4096 signature + claims) */

/* base64url, no padding, NUL-terminated; AK_ERR_BUFFER when cap is too small. */
AK_WUR ak_err cn_jwt_b64url(char *out, size_t cap, const uint8_t *in, size_t len);

/* An unencrypted RSA private key (>= 2048 bits) from PEM text; AK_ERR_PRIVKEY otherwise. */
AK_WUR ak_err cn_jwt_key_load(EVP_PKEY **out, const char *pem, size_t len);

/* base64url(header) "." base64url(claims) "." base64url(RSASSA-PKCS1-v1_5 SHA-256 signature). */
AK_WUR ak_err cn_jwt_rs256(char *out, size_t cap, EVP_PKEY *key, const char *header,
                           const char *claims);

/* The first certificate in PEM text: its SHA-1 (x5t) and SHA-256 (x5t#S256) thumbprints,
 * base64url, each into a 64-byte buffer. AK_ERR_CONFIG when there is no certificate, and
 * AK_ERR_KEY_TYPE when the certificate's public key is not key's. */
AK_WUR ak_err cn_jwt_cert_thumbprints(char x5t[64], char x5t256[64], const char *pem, size_t len,
                                      EVP_PKEY *key);

#endif
