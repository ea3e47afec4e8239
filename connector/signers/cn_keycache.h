/*
 * cn_keycache.h - a private key fetched from a secret store (HashiCorp Vault, Cloudflare
 * Secrets Store), cached with a TTL in locked memory and used to sign with libsecp256k1.
 *
 * The cache owns: the key (32 bytes, ak_secure_alloc), a randomized secp256k1 context, and a
 * reaper thread that wipes the key when its TTL passes even if no signature asks for it. A
 * signature with the key absent or expired calls the fetch callback (one caller fetches,
 * concurrent callers wait for it), which writes the key into a locked buffer the cache owns.
 *
 * Identity: the first fetch (at construction) fixes the public key and address. A later fetch
 * that yields another key (rotated or tampered secret) is refused with AK_ERR_PRIVKEY and the
 * key stays absent: a signer never changes address at run time.
 *
 * Signing: secp256k1_ecdsa_sign_recoverable (RFC 6979, low s), recovery id reported, as the
 * local signer does. Thread-safe: sign from any thread (read lock; refetch takes the write lock
 * only to swap the key in).
 */
#ifndef CN_KEYCACHE_H
#define CN_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "cn_signer.h"

typedef struct cn_keycache cn_keycache;

/*
 * Fetch the key into key[32]. err/err_cap: a short, secret-free reason on failure. Called with
 * no cache lock held, at most one call at a time per cache.
 */
typedef ak_err (*cn_keycache_fetch_fn)(void *user, uint8_t key[32], char *err, size_t err_cap);

/*
 * Create the cache and fetch the key once (construction fails if that fails). ttl_s: seconds a
 * fetched key is kept; 0: for the cache's life (never fetched again, no reaper: the local
 * signer, whose user need only live through this call). *out NULL on failure. Otherwise the
 * callback's user must outlive the cache.
 */
AK_WUR ak_err cn_keycache_new(cn_keycache **out, cn_keycache_fetch_fn fetch, void *user,
                              unsigned ttl_s, char *err, size_t err_cap);

/* Frees and wipes everything; stops the reaper. NULL allowed. */
void cn_keycache_free(cn_keycache *c);

/* 04|X|Y and the address fixed at construction. */
void cn_keycache_identity(const cn_keycache *c, uint8_t pub[65], uint8_t addr[20]);

/* Sign digest (refetching first if needed). out: r||s with recovery id. */
AK_WUR ak_err cn_keycache_sign(cn_keycache *c, cn_raw_sig *out, const uint8_t digest[32]);

/* Fetch the key now unless it is loaded and fresh (health checks). */
AK_WUR ak_err cn_keycache_ensure(cn_keycache *c, char *err, size_t err_cap);

/* 1 if the key is in memory and not expired (no fetch). */
int cn_keycache_loaded(cn_keycache *c);

#endif
