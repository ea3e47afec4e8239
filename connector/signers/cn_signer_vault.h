/*
 * cn_signer_vault.h - the "hashicorp_vault" signer backend: a secp256k1 private key stored in a
 * HashiCorp Vault KV version 2 secret (the way Web3Signer uses Vault: Vault's transit engine has
 * no secp256k1), fetched over TLS, cached in locked memory for cache_ttl_s and wiped on expiry
 * (cn_keycache), and used to sign in this process with libsecp256k1.
 *
 * Config object (one account's "signer"):
 *   {
 *     "type": "hashicorp_vault",
 *     "name": "vault-1",                        // optional, for logs/metrics (default: path)
 *     "addr": "https://vault.internal:8200",    // https base URL
 *     "namespace": "team-a",                    // optional, sent as X-Vault-Namespace
 *     "mount": "secret",                        // KV v2 mount (default "secret")
 *     "path": "eth/signer-1",                   // secret path under the mount
 *     "field": "private_key",                   // key in the secret's data (default)
 *     "version": 0,                             // optional secret version; 0 = latest
 *     "auth": { "method": "token", "token_file": "/run/vault-token" }      // or "token_env"
 *          |  { "method": "approle", "mount": "approle", "role_id": "...",
 *               "secret_id_file": "..." }                                  // or "secret_id_env"
 *          |  { "method": "kubernetes", "mount": "kubernetes", "role": "signer",
 *               "jwt_file": "/var/run/secrets/kubernetes.io/serviceaccount/token" },
 *     "cache_ttl_s": 300,                       // 1..86400
 *     "address": "0x...",                       // optional: the key must have this address
 *     "ca": "/etc/anode/vault-ca.crt",          // optional CA bundle (default: system store)
 *     "timeout_ms": 5000, "connect_timeout_ms": 2000, "retries": 2, "pool_size": 8
 *   }
 *
 * Vault API: GET {addr}/v1/{mount}/data/{path}[?version=N] with X-Vault-Token; the answer's
 * data.data.{field} is the key as 64 hex digits (0x optional). AppRole: POST
 * {addr}/v1/auth/{mount}/login {"role_id","secret_id"}; Kubernetes: POST
 * {addr}/v1/auth/{mount}/login {"role","jwt"} (the JWT file is re-read at each login); both
 * answer auth.client_token and auth.lease_duration. The client token is renewed by logging in
 * again when 90% of its lease has passed, or once when a read is refused with 403. A static
 * token is looked up (GET /v1/auth/token/lookup-self) after the first read and, if renewable
 * with a TTL, renewed (POST /v1/auth/token/renew-self) once two thirds of its TTL have passed;
 * this rides on the key reads, so keep cache_ttl_s below a third of the token's TTL (an idle
 * connector reads again only when a signature needs the key). A token without the lookup-self
 * capability (403) is not renewed (logged); other failures are retried at the next read.
 *
 * Errors (secret-free): AK_ERR_AUTH (token rejected, login refused), AK_ERR_KEY_NOT_FOUND
 * (no secret or no field), AK_ERR_PRIVKEY (not a key; another key than at start-up),
 * AK_ERR_NETWORK / AK_ERR_TIMEOUT / AK_ERR_UNAVAILABLE (transport, sealed or standby Vault),
 * AK_ERR_UPSTREAM (malformed answer). Tokens and keys live in locked memory and are wiped.
 */
#ifndef CN_SIGNER_VAULT_H
#define CN_SIGNER_VAULT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_vault_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

#endif
