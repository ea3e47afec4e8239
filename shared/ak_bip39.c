/*
 * ak_bip39.c - BIP-39 mnemonic validation and seed derivation (see ak_bip39.h).
 *
 * Owns nothing. The wordlist is the const table in ak_bip39_english.c; lookups are a binary search
 * over it (the list is sorted, as BIP-39 requires of the English list).
 */
#include "ak_bip39.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ak_secmem.h"

/* Room for 24 words of at most 8 letters plus 23 single spaces, and a NUL. */
#define NORM_MAX (AK_BIP39_WORDS_MAX * 9)

static int is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ak_bip39_word_index(const char *word, size_t len)
{
    int lo = 0, hi = AK_BIP39_WORDS - 1;
    if (word == NULL || len == 0 || len > 8)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (word[i] < 'a' || word[i] > 'z')
            return -1; /* also keeps NUL bytes away from strncmp below */
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *w = ak_bip39_english[mid];
        int c = strncmp(w, word, len);
        if (c == 0)
            c = w[len] == '\0' ? 0 : 1; /* w is longer than word: w sorts after */
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/*
 * Split into words, look each up, check count and checksum. On success norm (if not NULL) holds the
 * words joined by single spaces, NUL-terminated, and
 * *norm_len its length.
 */
static AK_WUR ak_err parse(char norm[NORM_MAX + 1], size_t *norm_len, const char *m, size_t len)
{
    uint16_t idx[AK_BIP39_WORDS_MAX];
    uint8_t bits[33]; /* 24 words * 11 bits = 264 bits = 33 bytes: entropy then
                         checksum */
    uint8_t hash[SHA256_DIGEST_LENGTH];
    size_t n = 0, pos = 0, out = 0;
    ak_err rc = AK_ERR_PRIVKEY;

    memset(bits, 0, sizeof bits);
    if (m == NULL && len > 0)
        return AK_ERR_ARG;
    if (len > AK_BIP39_MNEMONIC_MAX)
        return AK_ERR_LIMIT;
    while (pos < len) {
        while (pos < len && is_sep(m[pos]))
            pos++;
        if (pos == len)
            break;
        size_t start = pos;
        while (pos < len && !is_sep(m[pos]))
            pos++;
        if (n == AK_BIP39_WORDS_MAX)
            goto out; /* too many words */
        int i = ak_bip39_word_index(m + start, pos - start);
        if (i < 0)
            goto out;
        idx[n++] = (uint16_t)i;
        if (norm != NULL) {
            size_t wl = strlen(ak_bip39_english[i]);
            if (out > 0)
                norm[out++] = ' ';
            memcpy(norm + out, ak_bip39_english[i], wl);
            out += wl;
        }
    }
    if (n < 12 || n % 3 != 0)
        goto out;
    /* BIP-39: ENT = 32 * n / 3 bits of entropy followed by CS = ENT / 32 checksum bits. */
    for (size_t w = 0; w < n; w++)
        for (int b = 10; b >= 0; b--) {
            size_t bit = w * 11 + (size_t)(10 - b);
            if ((idx[w] >> b) & 1)
                bits[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
        }
    size_t ent_bytes = n * 11 * 32 / 33 / 8;
    size_t cs_bits = ent_bytes / 4;
    SHA256(bits, ent_bytes, hash);
    uint8_t mask = (uint8_t)(0xFFu << (8 - cs_bits));
    if (((bits[ent_bytes] ^ hash[0]) & mask) != 0) {
        rc = AK_ERR_CHECKSUM;
        goto out;
    }
    if (norm != NULL) {
        norm[out] = '\0';
        *norm_len = out;
    }
    rc = AK_OK;
out:
    ak_wipe(idx, sizeof idx);
    ak_wipe(bits, sizeof bits);
    ak_wipe(hash, sizeof hash);
    if (rc != AK_OK && norm != NULL)
        ak_wipe(norm, NORM_MAX + 1);
    return rc;
}

ak_err ak_bip39_check(const char *mnemonic, size_t len)
{
    return parse(NULL, NULL, mnemonic, len);
}

ak_err ak_bip39_to_seed(uint8_t seed[AK_BIP39_SEED_LEN], const char *mnemonic, size_t len,
                        const char *passphrase, size_t pass_len)
{
    char norm[NORM_MAX + 1];
    char salt[8 + AK_BIP39_PASSPHRASE_MAX];
    size_t norm_len = 0;
    ak_err rc = AK_ERR_ARG;

    if (seed == NULL || (passphrase == NULL && pass_len > 0))
        goto out;
    rc = AK_ERR_LIMIT;
    if (pass_len > AK_BIP39_PASSPHRASE_MAX)
        goto out;
    rc = AK_ERR_RANGE;
    for (size_t i = 0; i < pass_len; i++)
        if ((unsigned char)passphrase[i] < 0x20 || (unsigned char)passphrase[i] > 0x7e)
            goto out; /* not printable ASCII: would need NFKD (see header) */
    rc = parse(norm, &norm_len, mnemonic, len);
    if (rc != AK_OK)
        goto out;
    static const char label[8] = {'m', 'n', 'e', 'm', 'o', 'n', 'i', 'c'};
    memcpy(salt, label, sizeof label);
    if (pass_len > 0)
        memcpy(salt + 8, passphrase, pass_len);
    rc = AK_ERR_CRYPTO;
    if (PKCS5_PBKDF2_HMAC(norm, (int)norm_len, (const unsigned char *)salt, (int)(8 + pass_len),
                          2048, EVP_sha512(), AK_BIP39_SEED_LEN, seed) != 1) {
        ak_wipe(seed, AK_BIP39_SEED_LEN);
        goto out;
    }
    rc = AK_OK;
out:
    ak_wipe(norm, sizeof norm);
    ak_wipe(salt, sizeof salt);
    return rc;
}
