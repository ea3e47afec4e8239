/*
 * cn_ksproto.h - the key server's wire protocol as the keyless/custom signer speaks it
 * (docs/keyserver.md): the JSON of one /sign request item, and the checks of the /sign results
 * and /pubkey answers that come back. Pure: no I/O, no state, no allocation beyond cJSON's.
 *
 * Bounds: key ids and request ids are [A-Za-z0-9._:-] (the caller checks them: no JSON escaping
 * is needed); a signature is at most sizeof(cn_raw_sig.bytes) bytes once decoded. Every check
 * refuses an answer that does not echo the key id (and the request id) it was asked for.
 */
#ifndef CN_KSPROTO_H
#define CN_KSPROTO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* {"key_id","algorithm":"ECDSA_SHA256","data":b64(digest),"request_id"[,"intent"]} into
 * dst[0..cap); *len its length. intent: JSON text spliced in as is (the caller's own, from
 * cn_ks_intent_text), or NULL: digest only. AK_ERR_BUFFER if it does not fit. */
AK_WUR ak_err cn_ksproto_item(char *dst, size_t cap, size_t *len, const char *key_id,
                              const uint8_t digest[32], const char *rid, const char *intent);

/* One successful /sign answer (single form or one batch result): key_id, algorithm and
 * request_id must echo the request; the base64 DER goes to out (CN_SIG_DER). AK_ERR_UPSTREAM. */
AK_WUR ak_err cn_ksproto_sig(cn_raw_sig *out, const cJSON *res, const char *key_id,
                             const char *rid);

/* The error of one failed batch result, as the single form's HTTP status would map it:
 * key_not_allowed/forbidden/policy_denied FORBIDDEN, key_not_found/not_found KEY_NOT_FOUND,
 * *unavailable* UNAVAILABLE with *alone set (send it again alone), anything else UPSTREAM. */
ak_err cn_ksproto_item_err(const cJSON *res, int *alone);

/* A /pubkey answer: key_id echoed, curve secp256k1, public_key a point (0x04..), address equal
 * to keccak(public_key). pub/addr set on AK_OK; else AK_ERR_UPSTREAM with err (may be NULL). */
AK_WUR ak_err cn_ksproto_pubkey(uint8_t pub[65], uint8_t addr[20], const cJSON *ans,
                                const char *key_id, char *err, size_t cap);
/* The same for an answer of that shape from elsewhere (mpc_kms' GET /v1/keys/{key_id}): err
 * starts with where (cn_ksproto_pubkey's is "keyless: /pubkey"). */
AK_WUR ak_err cn_ksproto_pubkey_at(uint8_t pub[65], uint8_t addr[20], const cJSON *ans,
                                   const char *key_id, const char *where, char *err, size_t cap);

#endif
