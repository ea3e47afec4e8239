/*
 * ak_secmem.h - wiping, constant-time comparison and locked memory for secrets.
 *
 * Learned from libsodium (sodium_memzero, sodium_memcmp, sodium_malloc) and libsecp256k1.
 * Secrets (PINs, private keys, seeds, tokens) live in memory from ak_secure_alloc(), are
 * compared with ak_ct_equal() and are wiped with ak_wipe() before the memory is reused.
 */
#ifndef AK_SECMEM_H
#define AK_SECMEM_H

#include <stddef.h>

/* Overwrite n bytes at p with zeros; the compiler cannot remove it. p may be NULL if n is 0. */
void ak_wipe(void *p, size_t n);

/* 1 if the n bytes at a and b are equal, 0 otherwise; time depends only on n. */
int ak_ct_equal(const void *a, const void *b, size_t n);

/*
 * Constant-time comparison of two strings of possibly different lengths: time depends on
 * the length of `expected` only (the secret's length may leak, not its content).
 * Returns 1 if equal.
 */
int ak_ct_streq(const char *given, size_t given_len, const char *expected, size_t expected_len);

/*
 * n zeroed bytes, mlock()ed where the system allows (a failed mlock is not an error), excluded
 * from core dumps (MADV_DONTDUMP). Free with ak_secure_free(p, n), which wipes first.
 * Returns NULL on allocation failure.
 */
void *ak_secure_alloc(size_t n);
void ak_secure_free(void *p, size_t n);

/* Disable core dumps for this process (RLIMIT_CORE = 0, PR_SET_DUMPABLE = 0). Returns 0 on success.
 */
int ak_disable_core_dumps(void);

#endif
