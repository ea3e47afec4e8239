/* cn_remote_key.c - shared parts of the fetched-key backends (see cn_remote_key.h). */
#include "cn_remote_key.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_secmem.h"

ak_err cn_remote_key_parse(uint8_t key[32], const char *text)
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
    if (n == 64 && ak_hex_decode_bare(key, 32, &got, b, n) == AK_OK && got == 32)
        return AK_OK;
    ak_wipe(key, 32);
    return AK_ERR_PRIVKEY;
}

ak_err cn_remote_key_take(uint8_t key[32], cJSON *node)
{
    if (!cJSON_IsString(node) || node->valuestring == NULL)
        return AK_ERR_PRIVKEY;
    ak_err rc = cn_remote_key_parse(key, node->valuestring);
    ak_wipe(node->valuestring, strlen(node->valuestring));
    return rc;
}

void cn_remote_key_wipe_json(cJSON *tree)
{
    cJSON *it;
    if (tree == NULL)
        return;
    if (cJSON_IsString(tree) && tree->valuestring != NULL)
        ak_wipe(tree->valuestring, strlen(tree->valuestring));
    cJSON_ArrayForEach(it, tree) cn_remote_key_wipe_json(it);
}

ak_err cn_remote_key_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                          const cn_sign_ctx *ctx)
{
    (void)ctx;
    cn_remote_key_base *b = s->impl;
    return cn_keycache_sign(b->cache, out, digest);
}

ak_err cn_remote_key_health(cn_signer *s, cn_signer_health *out)
{
    cn_remote_key_base *b = s->impl;
    char why[96] = "";
    memset(out, 0, sizeof *out);
    out->max_concurrency = 64;
    /* A fresh key signs in ~0.05 ms; otherwise the next signature pays a fetch. */
    out->expected_latency_ms = cn_keycache_loaded(b->cache) ? 1 : 50;
    ak_err rc = cn_keycache_ensure(b->cache, why, sizeof why);
    out->can_sign = rc == AK_OK;
    if (rc != AK_OK)
        snprintf(out->detail, sizeof out->detail, "cannot fetch the key: %s",
                 why[0] ? why : ak_strerror(rc));
    return AK_OK;
}

void cn_remote_key_destroy(cn_signer *s)
{
    cn_remote_key_base *b = s->impl;
    if (b == NULL)
        return;
    cn_keycache_free(b->cache);
    b->cache = NULL;
    if (b->destroy_impl != NULL)
        b->destroy_impl(b);
    s->impl = NULL;
}

ak_err cn_remote_key_start(cn_signer *s, cn_keycache_fetch_fn fetch, unsigned ttl_s, int has_want,
                           const uint8_t want_addr[20], const char *where, char *err,
                           size_t err_cap)
{
    cn_remote_key_base *b = s->impl;
    char why[160] = "";
    ak_err rc = cn_keycache_new(&b->cache, fetch, b, ttl_s, why, sizeof why);
    if (rc != AK_OK) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "%s: cannot fetch the private key: %s", where,
                     why[0] ? why : ak_strerror(rc));
        return rc;
    }
    cn_keycache_identity(b->cache, s->pubkey, s->address);
    if (has_want && memcmp(s->address, want_addr, 20) != 0) {
        char got[AK_ADDR_STR_SIZE], want[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(got, s->address);
        ak_addr_to_checksum(want, want_addr);
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "%s: the stored key is for %s, not the configured address %s",
                     where, got, want);
        return AK_ERR_PRIVKEY;
    }
    return AK_OK;
}
