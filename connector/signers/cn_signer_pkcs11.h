/*
 * cn_signer_pkcs11.h - the "pkcs11" signer backend: the connector signs through PKCS#11 itself
 * (pkcs11/p11_token), for sites that run the connector next to the HSM. No key server between.
 *
 * Config object (one signer):
 *   { "type": "pkcs11",
 *     "name": "hsm-local",                           // optional (default: the token label)
 *     "module": "/usr/lib/softhsm/libsofthsm2.so",   // required
 *     "token_label": "anode",                        // required
 *     "pin_file": "/etc/anode/pin" | "pin_env": "VAR", // exactly one
 *     "key": "pkcs11:object=k1;type=private",        // required, RFC 7512 (object and/or id)
 *     "max_sessions": 8,                             // 1..1024 (default 8)
 *     "timeout_ms": 5000 }                           // one signature incl. the wait, 1..600000
 * The PIN is read into locked memory, handed to p11_token (which keeps its own locked copy
 * for re-login after faults) and wiped; a pin_env variable is removed from the environment.
 * A PIN inside the key URI (pin-value) is refused: PINs do not belong in config strings.
 *
 * Signing: p11_token_sign_raw (CKM_ECDSA, raw r||s); the manager / cn_signer_sign_eth make it
 * low-s and find the recovery id against the public key read from the token at start-up.
 * Errors: AK_ERR_HSM, AK_ERR_HSM_UNAVAILABLE, AK_ERR_BUSY, AK_ERR_TIMEOUT (p11_token.h).
 * Thread-safe (p11_token is); free with cn_signer_free (closes the token).
 */
#ifndef CN_SIGNER_PKCS11_H
#define CN_SIGNER_PKCS11_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

AK_WUR ak_err cn_pkcs11_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

#endif
