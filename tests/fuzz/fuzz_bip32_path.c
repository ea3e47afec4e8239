/*
 * fuzz_bip32_path.c - libFuzzer target for the BIP-32 path parser and the BIP-39 mnemonic parser
 * (ak_bip32_parse_path, ak_bip39_check).
 *
 * Path: whatever parses must print back to the same text when every hardened marker is "'" (the
 * canonical form), have at most AK_BIP32_MAX_DEPTH components, and agree with a parse capped at
 * fewer components. Mnemonic: a phrase that validates must consist of 12..24 list words; the error
 * codes stay within the documented set. PBKDF2 is not run (too slow to fuzz).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_bip32.h"
#include "ak_bip39.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void fuzz_path(const char *s, size_t size)
{
    uint32_t idx[AK_BIP32_MAX_DEPTH];
    size_t n = 0;
    ak_err e = ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH, &n, s, size);
    if (e != AK_OK) {
        FUZZ_ASSERT(e == AK_ERR_DECIMAL || e == AK_ERR_RANGE || e == AK_ERR_LIMIT);
        FUZZ_ASSERT(n == 0);
        return;
    }
    FUZZ_ASSERT(n <= AK_BIP32_MAX_DEPTH && size <= AK_BIP32_PATH_MAX);
    /* Re-print with "'" and compare to the input with h/H replaced by "'". */
    char buf[AK_BIP32_PATH_MAX + 1], norm[AK_BIP32_PATH_MAX + 1];
    size_t off = (size_t)snprintf(buf, sizeof buf, "m");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "/%u%s",
                                (unsigned)(idx[i] & ~AK_BIP32_HARDENED),
                                (idx[i] & AK_BIP32_HARDENED) ? "'" : "");
    for (size_t i = 0; i < size; i++)
        norm[i] = (s[i] == 'h' || s[i] == 'H') ? '\'' : s[i];
    FUZZ_ASSERT(off == size && memcmp(buf, norm, size) == 0);
    if (n > 0) {
        size_t m = 0;
        FUZZ_ASSERT(ak_bip32_parse_path(idx, n - 1, &m, s, size) == AK_ERR_LIMIT);
    }
}

static void fuzz_mnemonic(const char *s, size_t size)
{
    ak_err e = ak_bip39_check(s, size);
    if (e != AK_OK) {
        FUZZ_ASSERT(e == AK_ERR_PRIVKEY || e == AK_ERR_CHECKSUM || e == AK_ERR_LIMIT);
        return;
    }
    size_t words = 0, pos = 0;
    while (pos < size) {
        while (pos < size && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
            pos++;
        size_t start = pos;
        while (pos < size && !(s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
            pos++;
        if (pos > start) {
            FUZZ_ASSERT(ak_bip39_word_index(s + start, pos - start) >= 0);
            words++;
        }
    }
    FUZZ_ASSERT(words >= 12 && words <= 24 && words % 3 == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_path((const char *)data, size);
    fuzz_mnemonic((const char *)data, size);
    return 0;
}
