/* ak_secmem.c - wiping, constant-time comparison, locked memory (see ak_secmem.h). */
#include "ak_secmem.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

void ak_wipe(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
    /* glibc's explicit_bzero is guaranteed not to be optimised away. */
    explicit_bzero(p, n);
}

int ak_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}

int ak_ct_streq(const char *given, size_t given_len, const char *expected, size_t expected_len)
{
    /* Compare over expected's length, reading given cyclically so its length does not matter;
     * the length check is folded into the same accumulator. */
    const volatile uint8_t *g = (const volatile uint8_t *)given;
    const volatile uint8_t *e = (const volatile uint8_t *)expected;
    uint8_t diff = (uint8_t)(given_len != expected_len);
    if (given_len == 0 || expected_len == 0)
        return given_len == expected_len;
    for (size_t i = 0; i < expected_len; i++)
        diff |= (uint8_t)(g[i % given_len] ^ e[i]);
    return diff == 0;
}

static size_t ak_page_round(size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096u;
    return (n + p - 1) / p * p;
}

void *ak_secure_alloc(size_t n)
{
    if (n == 0 || n > SIZE_MAX / 2)
        return NULL;
    size_t len = ak_page_round(n);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)mlock(p, len); /* best effort: RLIMIT_MEMLOCK may forbid it */
    (void)madvise(p, len, MADV_DONTDUMP);
    return p; /* mmap memory is zero-filled */
}

void ak_secure_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    size_t len = ak_page_round(n);
    ak_wipe(p, len);
    (void)munlock(p, len);
    (void)munmap(p, len);
}

int ak_disable_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    int rc = 0;
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        rc = -1;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        rc = -1;
    return rc;
}
