/* cn_signer_local.c - in-process libsecp256k1 signer for development (see cn_signer_local.h). */
#include "cn_signer_local.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_secmem.h"
#include "cn_log.h"

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

/* Read at most cap-1 bytes of path into buf (NUL-terminated). */
static ak_err read_small_file(char *buf, size_t cap, const char *path)
{
    ak_err rc = AK_ERR_IO;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap - 1) {
            rc = AK_ERR_LIMIT;
            goto out;
        }
    }
    buf[len] = '\0';
    rc = AK_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Parse the key text (64 hex digits, optional 0x, whitespace around) into key. */
static ak_err parse_key_text(uint8_t key[32], const char *text)
{
    const char *b = text;
    while (*b && isspace((unsigned char)*b))
        b++;
    size_t n = strlen(b);
    while (n > 0 && isspace((unsigned char)b[n - 1]))
        n--;
    if (n >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X')) {
        b += 2;
        n -= 2;
    }
    size_t got = 0;
    if (n != 64 || ak_hex_decode_bare(key, 32, &got, b, n) != AK_OK || got != 32)
        return AK_ERR_PRIVKEY;
    return AK_OK;
}

ak_err cn_local_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
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
    if ((file != NULL) == (env != NULL) || (file && !cJSON_IsString(file)) ||
        (env && !cJSON_IsString(env))) {
        snprintf(err, err_cap, "local signer needs exactly one of key_file or key_env (strings)");
        goto out;
    }
    if (file != NULL) {
        rc = read_small_file(text, KEY_TEXT_MAX, file->valuestring);
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
    rc = parse_key_text(key, text);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "the local key must be 64 hex digits");
        goto out;
    }
    rc = cn_local_signer_from_key(out, key, cJSON_IsString(name) ? name->valuestring : "local", err,
                                  err_cap);
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
