/* cn_keycache.c - TTL cache of a fetched private key in locked memory (see cn_keycache.h). */
#include "cn_keycache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_secmem.h"

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

    pthread_t reaper;
    int reaper_started;
    pthread_mutex_t reap_mu; /* guards stopping */
    pthread_cond_t reap_cv;
    int stopping;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* The reaper: wakes every 250 ms (or when stopping) and wipes an expired key. */
static void *reaper_main(void *arg)
{
    cn_keycache *c = arg;
    pthread_mutex_lock(&c->reap_mu);
    while (!c->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&c->reap_cv, &c->reap_mu, &ts);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->reap_mu);
        wipe_if_expired(c, 0);
        pthread_mutex_lock(&c->reap_mu);
    }
    pthread_mutex_unlock(&c->reap_mu);
    return NULL;
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
    pthread_mutex_init(&c->reap_mu, NULL);
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
    if (rc != AK_OK || ttl_s == 0)
        goto out; /* TTL 0: nothing to reap */
    rc = AK_ERR_INTERNAL;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    int bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
              pthread_cond_init(&c->reap_cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad)
        goto out;
    if (pthread_create(&c->reaper, NULL, reaper_main, c) != 0) {
        pthread_cond_destroy(&c->reap_cv);
        goto out;
    }
    c->reaper_started = 1;
    rc = AK_OK;
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
    if (c->reaper_started) {
        pthread_mutex_lock(&c->reap_mu);
        c->stopping = 1;
        pthread_cond_signal(&c->reap_cv);
        pthread_mutex_unlock(&c->reap_mu);
        pthread_join(c->reaper, NULL);
        pthread_cond_destroy(&c->reap_cv);
    }
    if (c->key != NULL)
        ak_secure_free(c->key, 32);
    if (c->ctx != NULL)
        secp256k1_context_destroy(c->ctx);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->fetch_mu);
    pthread_mutex_destroy(&c->reap_mu);
    free(c);
}
