/*
 * cn_signer_azkv.h - the "azure_key_vault" signer backend: an EC key of curve P-256K (kty EC or
 * EC-HSM) in Azure Key Vault or Azure Key Vault Managed HSM, used over the Key Vault REST API
 * (api-version 7.4) with Entra ID bearer tokens (cn_azcreds, cached and refreshed by cn_oauth).
 * The key never leaves the vault.
 *
 * Config object (one account's "signer"):
 *   {
 *     "type": "azure_key_vault",
 *     "name": "akv-prod",                       // optional (default: key_name)
 *     "vault_url": "https://myvault.vault.azure.net",  // or https://myhsm.managedhsm.azure.net
 *     "managed_hsm": false,                     // optional; default: host ends in
 *                                               // .managedhsm.azure.net (picks the token scope)
 *     "key_name": "eth-signer",                 // 1..127 of [A-Za-z0-9-]
 *     "key_version": "4e0c...",                 // optional (default: the current version at
 *                                               // start-up, then pinned), 32 hex digits
 *     "tenant_id": "...", "client_id": "...",   // service principal / user-assigned identity
 *     "client_secret_file": "/run/secret" | "client_secret_env": "VAR",
 *     "certificate_file": "/etc/anode/sp.pem",  // PEM: RSA private key + certificate
 *     "authority_host": "https://login.microsoftonline.com",  // optional, https only
 *     "address": "0x...",                       // optional: the key must have this address
 *     "ca": "...", "timeout_ms": 5000, "connect_timeout_ms": 2000, "retries": 2, "pool_size": 8
 *   }
 * Credentials: see cn_azcreds.h (client secret, client certificate, managed identity, with the
 * AZURE_* environment variables of Azure's SDKs).
 *
 * Start-up: a first token, then GET {vault_url}/keys/{key_name}[/{key_version}]?api-version=7.4:
 * key.kty EC or EC-HSM, key.crv P-256K, x and y (base64url, 32 bytes each) a point on secp256k1,
 * key_ops (when given) including "sign", attributes.enabled not false, and key.kid naming this
 * key (its version is pinned when none was configured). Signing: POST
 * .../keys/{key_name}/{version}/sign?api-version=7.4 {"alg": "ES256K", "value": base64url(the
 * 32-byte digest)}; the answer's "value" is r||s (64 bytes, base64url) and its kid must be the
 * pinned one; cn_signer_sign_eth then normalises s and recovers against the public key.
 * health() reads the key again (no retries) and checks it is unchanged.
 *
 * Errors (secret-free): AK_ERR_AUTH, AK_ERR_FORBIDDEN (403), AK_ERR_KEY_NOT_FOUND (404),
 * AK_ERR_UNAVAILABLE (429/5xx after retries; a disabled key), AK_ERR_KEY_TYPE (not P-256K or not
 * for signing), AK_ERR_UPSTREAM (malformed answer), AK_ERR_NETWORK/AK_ERR_TIMEOUT. Thread-safe.
 */
#ifndef CN_SIGNER_AZKV_H
#define CN_SIGNER_AZKV_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

#define CN_AZKV_VERSION_MAX 64

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_azkv_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

/*
 * Parse a key bundle (GET key answer) for key_name: pub65 = 04|X|Y and version (the kid's last
 * segment). AK_ERR_KEY_TYPE for another key type/curve or no "sign" operation,
 * AK_ERR_UNAVAILABLE for a disabled key, AK_ERR_UPSTREAM when malformed (exported for the fuzzer).
 */
AK_WUR ak_err cn_azkv_parse_key(uint8_t pub65[65], char version[CN_AZKV_VERSION_MAX + 1],
                                const char *body, size_t len, const char *key_name);

/* Parse a sign answer: rs = r||s; the kid must end in /keys/{key_name}/{version}. */
AK_WUR ak_err cn_azkv_parse_sign(uint8_t rs[64], const char *body, size_t len, const char *key_name,
                                 const char *version);

#endif
