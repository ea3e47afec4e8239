/*
 * cn_signer_cfsecrets.h - the "cloudflare_secrets" signer backend (design notes 3.3): a
 * secp256k1 private key read over HTTPS with a Cloudflare API token (Authorization: Bearer),
 * cached in locked memory for cache_ttl_s, wiped on expiry (cn_keycache), signing in-process.
 *
 * IMPORTANT - what the real Cloudflare API does: the Secrets Store REST API
 * (/accounts/{account_id}/secrets_store/stores/{store_id}/secrets/{secret_id}) manages secrets
 * and returns their METADATA only; secret values are write-only for API clients and readable
 * only from a Worker through a binding (env.BINDING.get()). So this backend cannot read a key
 * from api.cloudflare.com directly. It implements the request the design note describes,
 *   GET {api_base}/accounts/{account_id}/secrets/{secret_name}
 *   Authorization: Bearer {api_token}
 *   -> 200 {"success": true, "result": {"name": "...", "value": "0x<64 hex>"}, "errors": []}
 *   -> 4xx {"success": false, "errors": [{"code": N, "message": "..."}]}
 * against a configurable api_base: in production a small Cloudflare Worker bound to the
 * Secrets Store secret, checking the bearer token, serves exactly this shape (see
 * docs/signers.md). There is deliberately no default api_base.
 *
 * Config object:
 *   {
 *     "type": "cloudflare_secrets",
 *     "name": "cf-1",                                // optional (default: secret_name)
 *     "api_base": "https://secrets.example.workers.dev/client/v4",   // required, https
 *     "account_id": "023e105f4ecef8ad9ca31a8372d0c353",            // [A-Za-z0-9._:-]
 *     "secret_name": "PAYMASTER_PRIVATE_KEY",                        // [A-Za-z0-9._:-]
 *     "api_token_env": "CF_API_TOKEN",                               // or "api_token_file"
 *     "cache_ttl_s": 300, "address": "0x...", "ca": "...",
 *     "timeout_ms": 5000, "connect_timeout_ms": 2000, "retries": 2, "pool_size": 8
 *   }
 *
 * Errors (secret-free): AK_ERR_AUTH (401/403, or success:false with an auth error),
 * AK_ERR_KEY_NOT_FOUND (404), AK_ERR_PRIVKEY (value not a key, or another key than at
 * start-up), AK_ERR_NETWORK / AK_ERR_TIMEOUT / AK_ERR_UNAVAILABLE, AK_ERR_UPSTREAM (malformed).
 */
#ifndef CN_SIGNER_CFSECRETS_H
#define CN_SIGNER_CFSECRETS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_cfsecrets_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

#endif
