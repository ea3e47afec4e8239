/*
 * cn_signer_keyless.h - the "keyless" signer backend: a client of anode-keyserver over mutual
 * TLS (libcurl). The key never leaves the HSM behind the key server; the connector sends a
 * 32-byte digest and gets back a DER signature, which cn_signer_sign_eth() converts and checks
 * against the public key fetched here at construction.
 *
 * Config object (one account's "signer"):
 *   {
 *     "type": "keyless",                    // checked by the caller's factory, ignored here
 *     "name": "hsm-1",                      // optional, for logs/metrics (default: key_id)
 *     "urls": ["https://127.0.0.1:8443"],   // 1..8 key server base URLs, tried in order
 *     "key_id": "k1",                       // 1..128 chars of [A-Za-z0-9._:-]
 *     "client_cert": "/etc/anode/pki/connector.crt",
 *     "client_key":  "/etc/anode/pki/connector.key",
 *     "ca":          "/etc/anode/pki/ca.crt",
 *     "timeout_ms": 5000,                   // whole request, 1..600000
 *     "connect_timeout_ms": 2000,           // TCP + TLS handshake, 1..600000 (default 2000)
 *     "retries": 2,                         // extra attempts, 0..10
 *     "pool_size": 16,                      // idle connections kept, 1..256 (default 16)
 *     "batch_max": 64,                      // signatures per batch request, 1..256 (1 = never
 *                                           // batch; default 64, "custom": 1)
 *     "max_inflight": 4,                    // POST /sign in flight when batching, 1..256
 *                                           // (default 4)
 *     "send_intent": "auto"                 // "auto" | "always" | "never" (issue 11, below)
 *   }
 *
 * Intents (issue 11): a signature whose cn_sign_ctx carries an intent sends it as "intent"
 * (ak_intent_to_json) beside "data" in its /sign item. "auto" does so only for the kinds the key
 * server's GET /health lists in "intents" (learned at construction and on every health check);
 * "always" refuses with AK_ERR_FORBIDDEN a signature without an intent or of a kind not listed
 * (one /health fetch first if none was learned yet); "never" sends digests only. A refusal's
 * {"error":{"code","message"}} is copied to ctx->why (printable ASCII, bounded). "custom" never
 * sends intents.
 *
 * Protocol (keyserver issue): POST /sign {"key_id","algorithm":"ECDSA_SHA256","data":b64(32),
 * "request_id"} -> {"key_id","algorithm","signature":b64(DER),"request_id"}; GET
 * /pubkey?key_id=K -> {"key_id","curve":"secp256k1","public_key":"0x04..","address":"0x.."};
 * GET /health; errors {"error":{"code","message"}}.
 *
 * Batching (group commit, batch_max > 1): at most max_inflight POST /sign requests are in flight
 * per signer (default 2). A signature that finds a free slot and nobody waiting is sent alone
 * at once (no added delay at low load); the others wait, and each slot that frees carries up to
 * batch_max of them as one POST /sign {"requests":[...]} (results in order, each checked like a
 * single answer). The key server signs a batch's items concurrently on its HSM sessions
 * (p11_token_sign_many), so a small max_inflight already uses the HSM's parallelism while
 * keeping batches large under load (fewer requests, less TLS/HTTP/JSON/audit work per
 * signature); max_inflight 1 serialises batches (no overlap of network and signing). Per-signature
 * errors come from each result ("key_not_allowed" -> AK_ERR_FORBIDDEN, other error results ->
 * AK_ERR_UPSTREAM); a result saying the HSM is unavailable, and every signature of a batch the
 * server refuses as such (HTTP 400, 404, 405, 413, 415, 501), is sent again alone with that
 * signature's own retries and failover. The batch request runs until the earliest deadline among
 * its signatures; a signature still waiting for a slot at its deadline fails with AK_ERR_TIMEOUT;
 * more than 4096 waiting -> AK_ERR_BUSY.
 *
 * Construction fetches /pubkey (first URL that answers), parses the key (ak_pubkey_parse),
 * and refuses it unless the reported address equals keccak(pubkey) and the key id echoes.
 *
 * Connections: the connector's one HTTP client (cn_rhttp): a bounded
 * pool of CURL easy handles, each keeping its TLS connection alive between requests (no new
 * handshake per signature). Retries: on network errors, timeouts, TLS handshake failures and
 * HTTP 429/502/503/504, up to "retries" extra attempts with exponential backoff (50 ms doubling,
 * +-50% jitter, capped at 1 s) and never past timeout_ms in total. Failover: URLs are tried in
 * order; one that failed in a retryable way is marked down and tried last (only if every
 * healthy one fails too). With more than one URL a
 * background thread probes each down URL's /health every second and keeps it marked down until
 * it answers 200; with one URL the mark simply expires after CN_KEYLESS_COOLDOWN_MS.
 *
 * Errors (messages carry no secrets, no response bodies): AK_ERR_NETWORK (refused, reset, TLS),
 * AK_ERR_TIMEOUT, AK_ERR_UNAVAILABLE (429/502/503/504), AK_ERR_AUTH (401), AK_ERR_FORBIDDEN
 * (403), AK_ERR_KEY_NOT_FOUND (404), AK_ERR_UPSTREAM (other status, malformed or oversized
 * response, key id mismatch).
 * Response bodies are bounded by CN_KEYLESS_MAX_BODY (a batch answer by 1 KiB per signature
 * + 256 bytes). Thread-safe: sign/health from any thread.
 */
#ifndef CN_SIGNER_KEYLESS_H
#define CN_SIGNER_KEYLESS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

#define CN_KEYLESS_MAX_URLS    8
#define CN_KEYLESS_MAX_BODY    ((size_t)64 * 1024)
#define CN_KEYLESS_COOLDOWN_MS 2000

/*
 * Create a keyless signer from cfg. The process must call curl_global_init(CURL_GLOBAL_DEFAULT)
 * once, before any thread starts (this module does not).
 * On failure *out is NULL and err (if err_cap > 0) holds a short, secret-free reason.
 * Free with cn_signer_free().
 */
AK_WUR ak_err cn_keyless_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

/*
 * The same client with the options of the "custom" backend (cn_signer_custom.h): any key
 * server speaking this protocol, over http:// or https://, client certificate and ca optional,
 * an optional bearer token (sent as "Authorization: Bearer ..." on every request; copied into
 * locked memory, wiped at destroy). ops->type is "custom".
 */
typedef struct {
    int allow_http;         /* accept http:// URLs */
    int optional_tls_files; /* client_cert/client_key (both or none) and ca optional */
    const char *bearer;     /* NULL = no Authorization header; not NUL-terminated */
    size_t bearer_len;      /* <= 4096 */
    const char *provider;   /* static string for metadata */
    cn_security_level level;
    const char *const *extra_known; /* extra config fields the caller handles; NULL-ended */
} cn_keyless_ext;

AK_WUR ak_err cn_keyless_signer_new_ext(cn_signer **out, const cJSON *cfg,
                                        const cn_keyless_ext *ext, char *err, size_t err_cap);

#endif
