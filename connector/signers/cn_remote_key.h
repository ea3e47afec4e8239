/*
 * cn_remote_key.h - small pieces shared by the backends that fetch a private key from a secret
 * store (hashicorp_vault, cloudflare_secrets): parsing the key text out of a JSON answer
 * without leaving copies behind, and the signer ops on top of cn_keycache.
 *
 * The signer's impl must start with a cn_remote_key_base (its first member), so the shared ops
 * can find the cache and the backend's destroy hook.
 */
#ifndef CN_REMOTE_KEY_H
#define CN_REMOTE_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_keycache.h"
#include "cn_signer.h"

typedef struct {
    cn_keycache *cache;
    void (*destroy_impl)(void *impl); /* frees the backend's impl (after the cache is freed) */
} cn_remote_key_base;

/*
 * Decode key text (64 hex digits, optional 0x, surrounding whitespace) into key; the local
 * signer's key_file/key_env use it too. AK_ERR_PRIVKEY (key wiped) if it is not a key.
 */
AK_WUR ak_err cn_remote_key_parse(uint8_t key[32], const char *text);

/*
 * Decode the string node (64 hex digits, optional 0x, surrounding whitespace) into key and
 * wipe the node's text in the tree. AK_ERR_PRIVKEY if it is not a key.
 */
AK_WUR ak_err cn_remote_key_take(uint8_t key[32], cJSON *node);

/* Wipe every string value in a cJSON tree (before cJSON_Delete of an answer with secrets). */
void cn_remote_key_wipe_json(cJSON *tree);

/* The ops' sign/health/destroy for a signer whose impl starts with cn_remote_key_base. */
AK_WUR ak_err cn_remote_key_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                                 const cn_sign_ctx *ctx);
AK_WUR ak_err cn_remote_key_health(cn_signer *s, cn_signer_health *out);
void cn_remote_key_destroy(cn_signer *s);

/*
 * After a backend has built its impl: create the cache (first fetch), set s->pubkey/address,
 * and refuse a key whose address differs from want_addr (when has_want).
 */
AK_WUR ak_err cn_remote_key_start(cn_signer *s, cn_keycache_fetch_fn fetch, unsigned ttl_s,
                                  int has_want, const uint8_t want_addr[20], const char *where,
                                  char *err, size_t err_cap);

#endif
