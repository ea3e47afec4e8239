/*
 * cn_signer_mpc.h - the "mpc_kms" signer backend: a client of an MPC key-management service
 * (design note 004): the key is split between MPC parties and never exists in one place; we
 * send the 32-byte digest (and, for transactions, a human-readable summary the MPC policy
 * engine can check) and get back an ECDSA secp256k1 signature (DER, r||s or r||s||v), which
 * cn_signer_sign_eth() checks against the public key fetched at construction.
 *
 * The wire protocol (endpoints, JSON shapes, the HMAC-SHA256 request signature, the replay
 * window, errors) is specified in docs/mpc-kms-protocol.md; a vendor adapter implements it.
 *
 * Config object:
 *   {
 *     "type": "mpc_kms",
 *     "name": "mpc-1",                        // optional (default: key_id)
 *     "endpoint": "https://mpc-kms.internal:8443",
 *     "access_key_id": "AK1234",              // [A-Za-z0-9._:-], 1..128
 *     "secret_key_env": "MPC_SECRET_KEY",     // or "secret_key_file": the HMAC secret
 *     "key_id": "eth-hot-1",                  // [A-Za-z0-9._:-], 1..128
 *     "summary": true,                        // transactions via /v1/sign_with_summary (default)
 *     "native_token": "ETH",                  // summary token of native transfers (default)
 *     "address": "0x...",                     // optional: the key must have this address
 *     "ca": "...", "timeout_ms": 10000, "connect_timeout_ms": 2000, "retries": 2, "pool_size": 8
 *   }
 *
 * Errors (secret-free): AK_ERR_AUTH (401: bad access key, signature, timestamp or replay),
 * AK_ERR_FORBIDDEN (403, 422 policy refusal), AK_ERR_KEY_NOT_FOUND (404), AK_ERR_UNAVAILABLE
 * (429/502/503/504 after retries), AK_ERR_NETWORK, AK_ERR_TIMEOUT, AK_ERR_UPSTREAM (malformed or
 * mismatched answer). The HMAC secret lives in locked memory and is wiped at destruction.
 */
#ifndef CN_SIGNER_MPC_H
#define CN_SIGNER_MPC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_mpc_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

/*
 * The request signature of docs/mpc-kms-protocol.md (exposed for unit vectors): out = lowercase
 * hex HMAC-SHA256(secret, "MPC-HMAC-SHA256\n" method "\n" path "\n" timestamp "\n" nonce "\n"
 * hex(SHA-256(body))). out_hex: 65 bytes. content_sha256_hex (65 bytes) receives the body
 * digest in hex.
 */
AK_WUR ak_err cn_mpc_sign_request(char out_hex[65], char content_sha256_hex[65], const char *secret,
                                  size_t secret_len, const char *method, const char *path,
                                  const char *timestamp, const char *nonce, const char *body,
                                  size_t body_len);

#endif
