/*
 * cn_signer_awskms.h - the "aws_kms" signer backend: an asymmetric secp256k1 key
 * (KeySpec ECC_SECG_P256K1, KeyUsage SIGN_VERIFY) in AWS KMS, used over KMS's JSON 1.1 API
 * (POST /, X-Amz-Target: TrentService.<Op>, Content-Type: application/x-amz-json-1.1) with
 * requests signed by our own SigV4 code (cn_sigv4). The key never leaves KMS.
 *
 * Config object (one account's "signer"):
 *   {
 *     "type": "aws_kms",                 // checked by the factory, ignored here
 *     "name": "kms-prod",                // optional (default: key_id, cut to 63 chars)
 *     "key_id": "alias/eth-signer",      // key id, key ARN, alias name or alias ARN:
 *                                        //   1..256 chars of [A-Za-z0-9:/_.-]
 *     "region": "us-east-1",             // required, [a-z0-9-]
 *     "endpoint": "https://vpce-x.kms.us-east-1.vpce.amazonaws.com",
 *                                        // optional override (VPC endpoint, emulator):
 *                                        // https://host[:port], or http:// only to
 *                                        // 127.0.0.1 / localhost / [::1]; no path
 *     "access_key_id": "AKIA...",        // optional, else $AWS_ACCESS_KEY_ID
 *     "secret_access_key": "${SECRET}",  // optional, else $AWS_SECRET_ACCESS_KEY
 *     "session_token": "...",            // optional, else $AWS_SESSION_TOKEN (if set)
 *     "timeout_ms": 5000,                // whole call incl. retries, 1..600000
 *     "connect_timeout_ms": 2000,        // 1..600000
 *     "retries": 3,                      // extra attempts, 0..10
 *     "pool_size": 16,                   // idle connections kept, 1..256
 *     "sign_content_sha256": false       // also send and sign x-amz-content-sha256
 *   }
 * Credentials (cn_awscreds_keeper, cn_awscreds.h) come either all from the config
 * (access_key_id + secret_access_key [+ session_token]) or all from the environment; a
 * half-configured pair is AK_ERR_CONFIG. The environment variables are left in place (a backup
 * aws_kms signer may read them too). With neither, the role's temporary credentials come from
 * where AWS hands them to a workload: a container credentials endpoint (ECS task role, EKS Pod
 * Identity) or EC2 instance metadata (IMDSv2), as the AWS SDKs find them; cn_oauth's cache
 * refreshes them 5 minutes before they expire (a failed refresh is retried every 10 s while the
 * old ones last), and each request signs with a copy.
 *
 * Construction calls GetPublicKey: the SubjectPublicKeyInfo must be id-ecPublicKey/secp256k1
 * (ak_pubkey_parse_spki), KeySpec ECC_SECG_P256K1, KeyUsage SIGN_VERIFY and ECDSA_SHA_256
 * offered (when reported); the address is keccak(pubkey). Signing calls Sign {KeyId,
 * Message: base64(digest), MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256"} and
 * returns the DER "Signature" as CN_SIG_DER; cn_signer_sign_eth() then parses it strictly,
 * normalises s and recovers against the public key, so a malformed DER (AK_ERR_DER) or a
 * signature by another key (AK_ERR_RECOVER) is refused there. health() makes one
 * GetPublicKey call (no retries) and checks the key is unchanged.
 *
 * Connections: the connector's one HTTP client (cn_rhttp: a pool of CURL easy handles kept
 * alive, no new TCP/TLS connection per signature). Retries: network errors, TLS handshake
 * failures, HTTP 429, 5xx, and the KMS error types ThrottlingException, KMSInternalException,
 * DependencyTimeoutException, with cn_rhttp's backoff (50 ms doubling, capped at 1 s, +-50%
 * jitter), at most "retries" extra attempts and never past timeout_ms. Each attempt is signed
 * afresh (new x-amz-date).
 *
 * Errors (no secrets, no response bodies in messages): AK_ERR_AUTH (bad or expired
 * credentials, bad signature: UnrecognizedClientException, InvalidSignatureException,
 * IncompleteSignatureException, ExpiredTokenException, InvalidClientTokenId, 401/403 without
 * a known type), AK_ERR_FORBIDDEN (AccessDeniedException), AK_ERR_KEY_NOT_FOUND
 * (NotFoundException), AK_ERR_UNAVAILABLE (throttling or 5xx after the retries,
 * DisabledException, KMSInvalidStateException), AK_ERR_TIMEOUT, AK_ERR_NETWORK,
 * AK_ERR_UPSTREAM (anything else, malformed or oversized answers), AK_ERR_KEY_TYPE (not a
 * secp256k1 signing key). The KMS error type is logged (cn_log, warn) once per failed call;
 * the KMS message never is.
 *
 * Secrets: secret_access_key and session_token live in the keeper's ak_secure_alloc memory,
 * wiped on destroy. The per-request header block carrying the token and the Authorization value is
 * secure memory too (cn_rhttp_header_add), handed to libcurl as our own list nodes (not
 * duplicated by curl_slist_append); libcurl still composes the request in its own buffers, which it
 * does not wipe. Thread-safe: sign/health from any thread. The process must call
 * curl_global_init(CURL_GLOBAL_DEFAULT) once before any thread starts (not done here).
 */
#ifndef CN_SIGNER_AWSKMS_H
#define CN_SIGNER_AWSKMS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

#define CN_AWSKMS_MAX_BODY ((size_t)64 * 1024) /* largest KMS answer read */

/* On failure *out is NULL and err holds a short, secret-free reason. Free with cn_signer_free(). */
AK_WUR ak_err cn_awskms_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

#endif
