/*
 * cn_signer_custom.h - the "custom" signer backend: any HTTP key server that speaks the
 * anode-keyserver protocol (POST /sign, GET /pubkey, GET /health; see cn_signer_keyless.h),
 * so third-party key servers plug in. A thin wrapper over the keyless client
 * (cn_keyless_signer_new_ext) with these differences:
 *   - "urls" may be http:// (plain HTTP: only for loopback or a trusted network; a warning is
 *     logged) or https://;
 *   - "client_cert" + "client_key" (mutual TLS) are optional (both or neither), "ca" optional
 *     (default: the system trust store);
 *   - "token_file" or "token_env" (optional, at most one): a bearer token sent as
 *     "Authorization: Bearer <token>" on every request, held in locked memory;
 *   - "security_level": development|testing|staging|production|enterprise (default staging):
 *     we cannot know what protects the key behind a third-party server, the operator says so.
 * Every other field (name, key_id, timeout_ms, connect_timeout_ms, retries, pool_size,
 * connection_reuse) is the keyless signer's.
 */
#ifndef CN_SIGNER_CUSTOM_H
#define CN_SIGNER_CUSTOM_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

#define CN_CUSTOM_TOKEN_MAX 4096

AK_WUR ak_err cn_custom_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

#endif
