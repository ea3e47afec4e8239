/* cn_signer_local.c - in-process libsecp256k1 signer for development (see cn_signer_local.h). */
#include "cn_signer_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_bip32.h"
#include "ak_bip39.h"
#include "ak_secmem.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_secfile.h"
#include "cn_signer_util.h"

#define KEY_TEXT_MAX 256 /* a key file is 64 hex digits plus a little whitespace */

typedef struct {
    secp256k1_context *ctx;
    uint8_t *key; /* 32 bytes from ak_secure_alloc */
} local_impl;

static ak_err local_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                         const cn_sign_ctx *ctx)
{
    (void)ctx;
    local_impl *li = s->impl;
    secp256k1_ecdsa_recoverable_signature rsig;
    int recid = 0;
    if (!secp256k1_ecdsa_sign_recoverable(li->ctx, &rsig, digest, li->key, NULL, NULL))
        return AK_ERR_CRYPTO;
    if (!secp256k1_ecdsa_recoverable_signature_serialize_compact(li->ctx, out->bytes, &recid,
                                                                 &rsig))
        return AK_ERR_CRYPTO;
    out->form = CN_SIG_RS;
    out->len = 64;
    out->has_recid = 1;
    out->recid = (uint8_t)recid;
    return AK_OK;
}

static ak_err local_health(cn_signer *s, cn_signer_health *out)
{
    (void)s;
    memset(out, 0, sizeof(*out));
    out->can_sign = 1;
    out->expected_latency_ms = 1;
    out->max_concurrency = 64;
    return AK_OK;
}

static void local_destroy(cn_signer *s)
{
    local_impl *li = s->impl;
    if (li == NULL)
        return;
    if (li->key != NULL)
        ak_secure_free(li->key, 32);
    if (li->ctx != NULL)
        secp256k1_context_destroy(li->ctx);
    free(li);
    s->impl = NULL;
}

static const cn_signer_ops k_local_ops = {"local", local_sign, local_health, local_destroy};

ak_err cn_local_signer_from_key(cn_signer **out, const uint8_t key[32], const char *name, char *err,
                                size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    uint8_t seed[32];
    cn_signer *s = calloc(1, sizeof(*s));
    local_impl *li = calloc(1, sizeof(*li));
    *out = NULL;
    if (s == NULL || li == NULL)
        goto out;
    s->ops = &k_local_ops;
    s->impl = li;
    s->provider = "local";
    s->level = CN_LEVEL_DEVELOPMENT;
    snprintf(s->name, sizeof(s->name), "%s", name ? name : "local");
    li->key = ak_secure_alloc(32);
    li->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (li->key == NULL || li->ctx == NULL)
        goto out;
    memcpy(li->key, key, 32);
    rc = AK_ERR_CRYPTO;
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
        !secp256k1_context_randomize(li->ctx, seed)) {
        snprintf(err, err_cap, "cannot randomize the signing context");
        goto out;
    }
    rc = AK_ERR_PRIVKEY;
    secp256k1_pubkey pk;
    size_t plen = sizeof(s->pubkey);
    if (!secp256k1_ec_seckey_verify(li->ctx, li->key) ||
        !secp256k1_ec_pubkey_create(li->ctx, &pk, li->key) ||
        !secp256k1_ec_pubkey_serialize(li->ctx, s->pubkey, &plen, &pk, SECP256K1_EC_UNCOMPRESSED)) {
        snprintf(err, err_cap, "invalid secp256k1 private key");
        goto out;
    }
    ak_addr_from_pubkey(s->address, s->pubkey);
    *out = s;
    s = NULL;
    rc = AK_OK;
out:
    ak_wipe(seed, sizeof(seed));
    if (s != NULL)
        cn_signer_free(s); /* destroy frees li */
    else if (rc != AK_OK)
        free(li);
    return rc;
}

/*
 * BIP-39 mnemonic -> seed (with the optional passphrase) -> BIP-32 path -> key. Every
 * intermediate (mnemonic, passphrase, seed, node) lives in locked memory and is wiped.
 */
static ak_err key_from_mnemonic(uint8_t key[32], const cJSON *cfg, char *err, size_t err_cap)
{
    char *mn = NULL, *pass = NULL;
    size_t mn_cap = 0, mn_len = 0, pass_cap = 0, pass_len = 0;
    uint8_t *seed = ak_secure_alloc(AK_BIP39_SEED_LEN);
    ak_bip32_node *node = ak_secure_alloc(sizeof *node);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(cfg, "path");
    const char *p = AK_BIP32_DEFAULT_ETH_PATH;
    ak_err rc = AK_ERR_NOMEM;
    if (seed == NULL || node == NULL)
        goto out;
    rc = AK_ERR_CONFIG;
    if (path != NULL) {
        if (!cJSON_IsString(path) || strlen(path->valuestring) > AK_BIP32_PATH_MAX) {
            snprintf(err, err_cap, "local.path: a BIP-32 path such as %s",
                     AK_BIP32_DEFAULT_ETH_PATH);
            goto out;
        }
        p = path->valuestring;
    }
    rc = cn_cfg_secret(&mn, &mn_cap, &mn_len, cfg, "mnemonic_file", "mnemonic_env", 1,
                       AK_BIP39_MNEMONIC_MAX, "local", err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = cn_cfg_secret(&pass, &pass_cap, &pass_len, cfg, "passphrase_file", "passphrase_env", 0,
                       AK_BIP39_PASSPHRASE_MAX, "local", err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = ak_bip39_to_seed(seed, mn, mn_len, pass, pass_len);
    if (rc != AK_OK) {
        /* Never say which word: the words are the secret. */
        snprintf(err, err_cap, "local: the mnemonic is not a valid BIP-39 English mnemonic (%s)",
                 ak_strerror(rc));
        rc = AK_ERR_CONFIG;
        goto out;
    }
    rc = ak_bip32_derive_path(node, seed, AK_BIP39_SEED_LEN, p, strlen(p));
    if (rc != AK_OK) {
        snprintf(err, err_cap, "local.path: \"%.64s\" cannot be derived (%s)", p, ak_strerror(rc));
        rc = AK_ERR_CONFIG;
        goto out;
    }
    memcpy(key, node->key, 32);
out:
    if (mn != NULL)
        ak_secure_free(mn, mn_cap);
    if (pass != NULL)
        ak_secure_free(pass, pass_cap);
    if (seed != NULL)
        ak_secure_free(seed, AK_BIP39_SEED_LEN);
    if (node != NULL) {
        ak_bip32_node_wipe(node);
        ak_secure_free(node, sizeof *node);
    }
    return rc;
}

ak_err cn_local_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    static const char *const known[] = {
        "type",         "name", "key_file",       "key_env",         "mnemonic_file",
        "mnemonic_env", "path", "passphrase_env", "passphrase_file", NULL};
    ak_err rc = AK_ERR_CONFIG;
    char *text = ak_secure_alloc(KEY_TEXT_MAX);
    uint8_t *key = ak_secure_alloc(32);
    *out = NULL;
    if (text == NULL || key == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(cfg, "key_file");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(cfg, "key_env");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    int mnemonic =
        cJSON_HasObjectItem(cfg, "mnemonic_file") || cJSON_HasObjectItem(cfg, "mnemonic_env");
    if ((rc = cn_cfg_known(cfg, known, "local", err, err_cap)) != AK_OK)
        goto out;
    rc = AK_ERR_CONFIG;
    if ((file != NULL) + (env != NULL) + mnemonic != 1 || (file && !cJSON_IsString(file)) ||
        (env && !cJSON_IsString(env))) {
        snprintf(err, err_cap,
                 "local signer needs exactly one of key_file, key_env, "
                 "mnemonic_file or mnemonic_env (strings)");
        goto out;
    }
    if (!mnemonic &&
        (cJSON_HasObjectItem(cfg, "path") || cJSON_HasObjectItem(cfg, "passphrase_env") ||
         cJSON_HasObjectItem(cfg, "passphrase_file"))) {
        snprintf(err, err_cap, "local: path and passphrase_* go with mnemonic_file/mnemonic_env");
        goto out;
    }
    if (name != NULL && (!cJSON_IsString(name) || strlen(name->valuestring) >= 64)) {
        snprintf(err, err_cap, "local.name: must be a string of < 64 chars");
        goto out;
    }
    if (mnemonic) {
        rc = key_from_mnemonic(key, cfg, err, err_cap);
        if (rc != AK_OK)
            goto out;
    } else if (file != NULL) {
        size_t text_len = 0;
        if ((rc = cn_secret_file_check(file->valuestring, err, err_cap)) != AK_OK)
            goto out;
        rc = cn_rcfg_read_file(text, KEY_TEXT_MAX, &text_len, file->valuestring);
        if (rc != AK_OK) {
            snprintf(err, err_cap, "cannot read key_file %s", file->valuestring);
            goto out;
        }
    } else {
        const char *v = getenv(env->valuestring);
        if (v == NULL || strlen(v) >= KEY_TEXT_MAX) {
            snprintf(err, err_cap, "environment variable %s is not set or too long",
                     env->valuestring);
            goto out;
        }
        memcpy(text, v, strlen(v) + 1);
        /* Wipe the environment's copy too; the variable is not needed again. */
        ak_wipe((char *)v, strlen(v));
        unsetenv(env->valuestring);
    }
    rc = mnemonic ? AK_OK : cn_remote_key_parse(key, text);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "the local key must be 64 hex digits");
        goto out;
    }
    rc = cn_local_signer_from_key(
        out, key, cJSON_IsString(name) ? cJSON_GetStringValue(name) : "local", err, err_cap);
    if (rc != AK_OK)
        goto out;
    char addr[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(addr, (*out)->address);
    cn_log(CN_LOG_WARN,
           "LOCAL SIGNER IN USE: the private key is held in this process's memory; this is NOT an "
           "HSM and is meant for development and tests only",
           "address", addr, "signer", (*out)->name, (char *)NULL);
out:
    if (text != NULL)
        ak_secure_free(text, KEY_TEXT_MAX);
    if (key != NULL)
        ak_secure_free(key, 32);
    return rc;
}
