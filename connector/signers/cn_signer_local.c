/* cn_signer_local.c - in-process libsecp256k1 signer for development (see cn_signer_local.h). */
#include "cn_signer_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "ak_addr.h"
#include "ak_bip32.h"
#include "ak_bip39.h"
#include "ak_secmem.h"
#include "cn_keycache.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_secfile.h"

#define KEY_TEXT_MAX 256 /* a key file is 64 hex digits plus a little whitespace */

/* The key is held by a cn_keycache that keeps it for the signer's life (TTL 0): its locked
 * memory, randomized context and signing are the remote-key backends' own. */
static ak_err copy_key(void *user, uint8_t key[32], char *err, size_t err_cap)
{
    (void)err;
    (void)err_cap;
    memcpy(key, user, 32);
    return AK_OK;
}

static ak_err local_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                         const cn_sign_ctx *ctx)
{
    (void)ctx;
    return cn_keycache_sign(s->impl, out, digest);
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
    cn_keycache_free(s->impl);
    s->impl = NULL;
}

static const cn_signer_ops k_local_ops = {"local", local_sign, local_health, local_destroy};

ak_err cn_local_signer_from_key(cn_signer **out, const uint8_t key[32], const char *name, char *err,
                                size_t err_cap)
{
    cn_keycache *c = NULL;
    cn_signer *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return AK_ERR_NOMEM;
    s->ops = &k_local_ops;
    s->provider = "local";
    s->level = CN_LEVEL_DEVELOPMENT;
    snprintf(s->name, sizeof(s->name), "%s", name ? name : "local");
    ak_err rc = cn_keycache_new(&c, copy_key, (void *)(uintptr_t)key, 0, err, err_cap);
    if (rc != AK_OK) {
        if (rc == AK_ERR_PRIVKEY)
            snprintf(err, err_cap, "invalid secp256k1 private key");
        cn_signer_free(s);
        return rc;
    }
    s->impl = c;
    cn_keycache_identity(c, s->pubkey, s->address);
    *out = s;
    return AK_OK;
}

typedef struct {
    const char *name, *path;
    ak_cfg_secret_src key, mnemonic, passphrase;
} local_cfg;

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_REF("name", 0, local_cfg, name, 63),
    AK_CFG_SECRET("key", 0, local_cfg, key),
    AK_CFG_SECRET("mnemonic", 0, local_cfg, mnemonic),
    AK_CFG_REF("path", 0, local_cfg, path, AK_BIP32_PATH_MAX),
    AK_CFG_SECRET("passphrase", 0, local_cfg, passphrase),
};

/*
 * BIP-39 mnemonic -> seed (with the optional passphrase) -> BIP-32 path -> key. Every
 * intermediate (mnemonic, passphrase, seed, node) lives in locked memory and is wiped.
 */
static ak_err key_from_mnemonic(uint8_t key[32], const local_cfg *c, char *err, size_t err_cap)
{
    cn_rcfg_secret mn = {0}, pass = {0};
    uint8_t *seed = ak_secure_alloc(AK_BIP39_SEED_LEN);
    ak_bip32_node *node = ak_secure_alloc(sizeof *node);
    const char *p = c->path ? c->path : AK_BIP32_DEFAULT_ETH_PATH;
    ak_err rc = AK_ERR_NOMEM;
    if (seed == NULL || node == NULL)
        goto out;
    rc = cn_rcfg_secret_load(&mn, &c->mnemonic, AK_BIP39_MNEMONIC_MAX, 0, "local", err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = cn_rcfg_secret_load(&pass, &c->passphrase, AK_BIP39_PASSPHRASE_MAX, 0, "local", err,
                             err_cap);
    if (rc != AK_OK)
        goto out;
    rc = ak_bip39_to_seed(seed, mn.s, mn.len, pass.s, pass.len);
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
    cn_rcfg_secret_free(&mn);
    cn_rcfg_secret_free(&pass);
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
    ak_err rc;
    local_cfg c;
    cn_rcfg_secret text = {0};
    uint8_t *key = ak_secure_alloc(32);
    *out = NULL;
    if (key == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    if ((rc = ak_cfg_read(&c, k_fields, AK_CFG_COUNT(k_fields), cfg, "local", err, err_cap)) !=
        AK_OK)
        goto out;
    rc = AK_ERR_CONFIG;
    int mnemonic = c.mnemonic.file || c.mnemonic.env;
    if ((c.key.file || c.key.env) == mnemonic) {
        snprintf(err, err_cap,
                 "local signer needs exactly one of key_file, key_env, "
                 "mnemonic_file or mnemonic_env (strings)");
        goto out;
    }
    if (!mnemonic && (c.path || c.passphrase.file || c.passphrase.env)) {
        snprintf(err, err_cap, "local: path and passphrase_* go with mnemonic_file/mnemonic_env");
        goto out;
    }
    if (mnemonic)
        rc = key_from_mnemonic(key, &c, err, err_cap);
    else if ((rc = cn_rcfg_secret_load(&text, &c.key, KEY_TEXT_MAX, CN_RCFG_TRIM_SPACE, "local",
                                       err, err_cap)) == AK_OK &&
             (rc = cn_remote_key_parse(key, text.s)) != AK_OK) {
        snprintf(err, err_cap, "the local key must be 64 hex digits");
        rc = AK_ERR_CONFIG;
    }
    if (rc != AK_OK)
        goto out;
    rc = cn_local_signer_from_key(out, key, c.name ? c.name : "local", err, err_cap);
    if (rc != AK_OK)
        goto out;
    char addr[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(addr, (*out)->address);
    cn_log(CN_LOG_WARN,
           "LOCAL SIGNER IN USE: the private key is held in this process's memory; this is NOT an "
           "HSM and is meant for development and tests only",
           "address", addr, "signer", (*out)->name, (char *)NULL);
out:
    cn_rcfg_secret_free(&text);
    if (key != NULL)
        ak_secure_free(key, 32);
    return rc;
}
