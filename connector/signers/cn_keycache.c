/* cn_keycache.c - TTL cache of a fetched private key in locked memory (see cn_keycache.h). */
#include "cn_keycache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_secmem.h"
#include "rt_clock.h"
#include "rt_ticker.h"

struct cn_keycache {
    cn_keycache_fetch_fn fetch;
    void *user;
    int64_t ttl_ms;
    secp256k1_context *ctx;

    pthread_rwlock_t lock; /* guards key, loaded, expires_ms */
    uint8_t *key;          /* 32 bytes, ak_secure_alloc */
    int loaded;
    int64_t expires_ms; /* CLOCK_MONOTONIC ms */

    pthread_mutex_t fetch_mu; /* one fetch at a time */
    uint8_t pub[65], addr[20];

    rt_ticker *reaper; /* every 250 ms: wipe_if_expired */
};

static int64_t now_ms(void) /* the one clock (rt_clock) */
{
    return rt_clock_mono_ms(rt_clock_system());
}

/* Wipe the key if expired (or force). Caller holds no lock. */
static void wipe_if_expired(cn_keycache *c, int force)
{
    pthread_rwlock_wrlock(&c->lock);
    if (c->loaded && (force || now_ms() >= c->expires_ms)) {
        ak_wipe(c->key, 32);
        c->loaded = 0;
    }
    pthread_rwlock_unlock(&c->lock);
}

/* The reaper (every 250 ms): wipe an expired key. */
static void reap(void *arg)
{
    wipe_if_expired(arg, 0);
}

/* Derive 04|X|Y from key; 0 if the key is not a valid secp256k1 scalar. */
static int derive_pub(const cn_keycache *c, uint8_t pub[65], const uint8_t key[32])
{
    secp256k1_pubkey pk;
    size_t plen = 65;
    return secp256k1_ec_seckey_verify(c->ctx, key) &&
           secp256k1_ec_pubkey_create(c->ctx, &pk, key) &&
           secp256k1_ec_pubkey_serialize(c->ctx, pub, &plen, &pk, SECP256K1_EC_UNCOMPRESSED);
}

/*
 * Fetch, check and install the key. first: construction (sets the identity); otherwise the
 * key must have the identity's public key.
 */
static AK_WUR ak_err refetch(cn_keycache *c, int first, char *err, size_t err_cap)
{
    uint8_t pub[65];
    ak_err rc = AK_ERR_NOMEM;
    uint8_t *tmp = ak_secure_alloc(32);
    pthread_mutex_lock(&c->fetch_mu);
    if (tmp == NULL)
        goto out;
    if (!first && cn_keycache_loaded(c)) { /* another thread fetched while we waited */
        rc = AK_OK;
        goto out;
    }
    rc = c->fetch(c->user, tmp, err, err_cap);
    if (rc != AK_OK)
        goto out;
    rc = AK_ERR_PRIVKEY;
    if (!derive_pub(c, pub, tmp)) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "the fetched secret is not a valid secp256k1 private key");
        goto out;
    }
    if (first) {
        memcpy(c->pub, pub, 65);
        ak_addr_from_pubkey(c->addr, pub);
    } else if (memcmp(pub, c->pub, 65) != 0) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "the fetched key has another address than at start-up");
        goto out;
    }
    pthread_rwlock_wrlock(&c->lock);
    memcpy(c->key, tmp, 32);
    c->loaded = 1;
    c->expires_ms = now_ms() + c->ttl_ms;
    pthread_rwlock_unlock(&c->lock);
    rc = AK_OK;
out:
    pthread_mutex_unlock(&c->fetch_mu);
    if (tmp != NULL)
        ak_secure_free(tmp, 32);
    ak_wipe(pub, sizeof pub);
    return rc;
}

ak_err cn_keycache_ensure(cn_keycache *c, char *err, size_t err_cap)
{
    if (cn_keycache_loaded(c))
        return AK_OK;
    wipe_if_expired(c, 0);
    return refetch(c, 0, err, err_cap);
}

int cn_keycache_loaded(cn_keycache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    int ok = c->loaded && now_ms() < c->expires_ms;
    pthread_rwlock_unlock(&c->lock);
    return ok;
}

void cn_keycache_identity(const cn_keycache *c, uint8_t pub[65], uint8_t addr[20])
{
    memcpy(pub, c->pub, 65);
    memcpy(addr, c->addr, 20);
}

ak_err cn_keycache_sign(cn_keycache *c, cn_raw_sig *out, const uint8_t digest[32])
{
    secp256k1_ecdsa_recoverable_signature rsig;
    int recid = 0;
    ak_err rc = AK_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&c->lock);
        if (c->loaded && now_ms() < c->expires_ms) {
            int ok = secp256k1_ecdsa_sign_recoverable(c->ctx, &rsig, digest, c->key, NULL, NULL);
            pthread_rwlock_unlock(&c->lock);
            if (!ok || !secp256k1_ecdsa_recoverable_signature_serialize_compact(c->ctx, out->bytes,
                                                                                &recid, &rsig))
                return AK_ERR_CRYPTO;
            out->form = CN_SIG_RS;
            out->len = 64;
            out->has_recid = 1;
            out->recid = (uint8_t)recid;
            return AK_OK;
        }
        pthread_rwlock_unlock(&c->lock);
        if (attempt == 0) {
            wipe_if_expired(c, 0);
            rc = refetch(c, 0, NULL, 0);
            if (rc != AK_OK)
                return rc;
        }
    }
    return AK_ERR_UNAVAILABLE; /* expired again right after the fetch (TTL shorter than a call) */
}

ak_err cn_keycache_new(cn_keycache **out, cn_keycache_fetch_fn fetch, void *user, unsigned ttl_s,
                       char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    uint8_t seed[32];
    cn_keycache *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        goto out;
    /* Prefer the writer: a refetch must not starve behind a stream of signatures. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&c->fetch_mu, NULL);
    c->fetch = fetch;
    c->user = user;
    c->ttl_ms = ttl_s ? (int64_t)ttl_s * 1000 : INT64_MAX / 4; /* 0: for the cache's life */
    c->key = ak_secure_alloc(32);
    c->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (c->key == NULL || c->ctx == NULL)
        goto out;
    rc = AK_ERR_CRYPTO;
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed ||
        !secp256k1_context_randomize(c->ctx, seed)) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "cannot randomize the signing context");
        goto out;
    }
    rc = refetch(c, 1, err, err_cap);
    if (rc == AK_OK && ttl_s != 0) /* TTL 0: nothing to reap */
        rc = rt_ticker_start(&c->reaper, 250, reap, c);
out:
    if (rc == AK_OK) {
        *out = c;
        c = NULL;
    }
    ak_wipe(seed, sizeof seed);
    cn_keycache_free(c);
    return rc;
}

void cn_keycache_free(cn_keycache *c)
{
    if (c == NULL)
        return;
    rt_ticker_stop(c->reaper);
    if (c->key != NULL)
        ak_secure_free(c->key, 32);
    if (c->ctx != NULL)
        secp256k1_context_destroy(c->ctx);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->fetch_mu);
    free(c);
}
