/*
 * ak_bip39.h - BIP-39 mnemonics (English wordlist only): validation (every word in the list, word
 * count 12/15/18/21/24, checksum) and the seed, PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" ||
 * passphrase, 2048 iterations, 64 bytes), through OpenSSL.
 *
 * Normalisation: BIP-39 hashes the NFKD form of the mnemonic and passphrase. This module does not
 * implement Unicode NFKD; it accepts ASCII only, where NFKD is the identity: the English words are
 * lowercase ASCII, and a passphrase containing any byte >= 0x80 (or a control byte) is refused
 * (AK_ERR_RANGE) rather than hashed un-normalised into a wrong wallet. Words may be separated by
 * runs of ASCII spaces, tabs or newlines and surrounded by them (a mnemonic read from a file); the
 * seed is computed over the words joined by single spaces, as BIP-39 and the wallets that implement
 * it do. Uppercase is refused (the list is lowercase).
 *
 * Errors: AK_ERR_LIMIT (mnemonic longer than AK_BIP39_MNEMONIC_MAX, passphrase longer than
 * AK_BIP39_PASSPHRASE_MAX), AK_ERR_PRIVKEY (a word not in the list, a non-ASCII or uppercase byte,
 * a word count other than 12/15/18/21/24), AK_ERR_CHECKSUM (the words are valid but the checksum
 * bits do not match), AK_ERR_RANGE (non-ASCII passphrase), AK_ERR_CRYPTO (OpenSSL). Error codes
 * never reveal which word was wrong (the words are the secret).
 *
 * Secrets: the mnemonic, passphrase and seed are the caller's; every copy this module makes (the
 * normalised phrase, the salt, the entropy bits) is wiped before return.
 */
#ifndef AK_BIP39_H
#define AK_BIP39_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define AK_BIP39_WORDS          2048
#define AK_BIP39_SEED_LEN       64
#define AK_BIP39_MNEMONIC_MAX   1024 /* bytes of input text, whitespace included */
#define AK_BIP39_PASSPHRASE_MAX 256
#define AK_BIP39_WORDS_MAX      24

/* The English list, sorted (index = the 11-bit value). ak_bip39_english.c. */
extern const char *const ak_bip39_english[AK_BIP39_WORDS];

/* Index of word[0..len) in the English list, or -1. */
int ak_bip39_word_index(const char *word, size_t len);

/* Validate a mnemonic (words, count, checksum). */
AK_WUR ak_err ak_bip39_check(const char *mnemonic, size_t len);

/*
 * Validate the mnemonic, then derive its 64-byte seed with the passphrase (may be NULL when
 * pass_len is 0). seed is written only on success (wiped on failure).
 */
AK_WUR ak_err ak_bip39_to_seed(uint8_t seed[AK_BIP39_SEED_LEN], const char *mnemonic, size_t len,
                               const char *passphrase, size_t pass_len);

#endif
