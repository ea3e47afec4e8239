/*
 * test_bip39.c - BIP-39 wordlist, validation and seed derivation.
 *
 * Vectors: trezor/python-mnemonic vectors.json (the BIP-39 reference vectors, passphrase
 * "TREZOR"), each seed recomputed with ethers v6:
 *   node -e 'const e=require("ethers");
 *            console.log(e.Mnemonic.fromPhrase(PHRASE, "TREZOR").computeSeed())'
 * and the Hardhat/anvil development mnemonic "test ... junk" (empty passphrase), seed from
 * ethers Mnemonic.fromPhrase(phrase).computeSeed(). Wordlist checksum: ethers lang-en.js.
 */
#include <stdint.h>
#include <string.h>

#include "ak_bip39.h"
#include "ak_keccak.h"
#include "ak_test.h"

static void test_wordlist(void)
{
    /* keccak256(words joined by "\n" + "\n") as shipped by ethers for its English list. */
    uint8_t want[32], got[32];
    ak_keccak_ctx ctx;
    ak_test_unhex(want, sizeof want,
                  "3c8acc1e7b08d8e76f9fda015ef48dc8c710a73cb7e0f77b2c18a9b5a7adde60");
    ak_keccak256_init(&ctx);
    for (int i = 0; i < AK_BIP39_WORDS; i++) {
        ak_keccak256_update(&ctx, (const uint8_t *)ak_bip39_english[i],
                            strlen(ak_bip39_english[i]));
        ak_keccak256_update(&ctx, (const uint8_t *)"\n", 1);
    }
    ak_keccak256_final(&ctx, got);
    CHECK_MEM(got, want, 32);
    for (int i = 1; i < AK_BIP39_WORDS; i++)
        CHECK(strcmp(ak_bip39_english[i - 1], ak_bip39_english[i]) < 0);
    CHECK_EQ_INT(ak_bip39_word_index("abandon", 7), 0);
    CHECK_EQ_INT(ak_bip39_word_index("zoo", 3), 2047);
    CHECK_EQ_INT(ak_bip39_word_index("laptop", 6), 1000);
    CHECK_EQ_INT(ak_bip39_word_index("abando", 6), -1);
    CHECK_EQ_INT(ak_bip39_word_index("abandons", 8), -1);
    CHECK_EQ_INT(ak_bip39_word_index("", 0), -1);
    CHECK_EQ_INT(ak_bip39_word_index("Zoo", 3), -1);
}

static const struct {
    const char *phrase, *pass, *seed;
} vectors[] = {
    {"abandon abandon abandon abandon abandon abandon abandon abandon abandon "
     "abandon abandon "
     "about",
     "TREZOR",
     "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987"
     "599d18264c1e1c92f"
     "2cf141630c7a3c4ab7c81b2f001698e7463b04"},
    {"legal winner thank year wave sausage worth useful legal winner thank "
     "yellow",
     "TREZOR",
     "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe129"
     "6106559a3c80937a1"
     "c1069be3a3a5bd381ee6260e8d9739fce1f607"},
    {"number winter peanut video stool magic banana corn melt lion surround "
     "shuffle grape plunge "
     "seven trend hover dwarf",
     "TREZOR",
     "cea1b18f030507fa368ee1bdad8142a1e877cd0f91149fe2f8d7a2a3f58b21afe43bf3542"
     "6275d5042dffc03ca"
     "70354a735f58cb232d101b495378b81246e3fc"},
    {"zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo "
     "zoo zoo zoo zoo zoo "
     "vote",
     "TREZOR",
     "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5"
     "b694407be899ffd31"
     "ed3992c456cdf60f5d4564b8ba3f05a69890ad"},
    {"test test test test test test test test test test test junk", "",
     "9dfc3c64c2f8bede1533b6a79f8570e5943e0b8fd1cf77107adf7b72cef42185d564a3aee"
     "24cab43f80e3c4538"
     "087d70fc824eabbad596a23c97b6ee8322ccc0"},
};

static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t want[64], seed[64];
        ak_test_unhex(want, sizeof want, vectors[i].seed);
        CHECK_EQ_INT(ak_bip39_check(vectors[i].phrase, strlen(vectors[i].phrase)), AK_OK);
        CHECK_EQ_INT(ak_bip39_to_seed(seed, vectors[i].phrase, strlen(vectors[i].phrase),
                                      vectors[i].pass, strlen(vectors[i].pass)),
                     AK_OK);
        CHECK_MEM(seed, want, 64);
    }
    /* Whitespace around and between words (a file) gives the same seed. */
    const char *spaced = "  test test\ttest test test test test test test test\n\ntest junk\n";
    uint8_t want[64], seed[64];
    ak_test_unhex(want, sizeof want, vectors[4].seed);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, spaced, strlen(spaced), NULL, 0), AK_OK);
    CHECK_MEM(seed, want, 64);
}

static void test_negative(void)
{
    uint8_t seed[64];
    const char *bad_checksum = "abandon abandon abandon abandon abandon abandon abandon abandon "
                               "abandon abandon abandon abandon";
    const char *bad_word = "abandon abandon abandon abandon abandon abandon abandon abandon "
                           "abandon abandon abandon abuot";
    const char *eleven = "abandon abandon abandon abandon abandon abandon abandon abandon "
                         "abandon abandon about";
    const char *thirteen = "abandon abandon abandon abandon abandon abandon abandon abandon "
                           "abandon abandon abandon abandon about";
    const char *upper = "Test test test test test test test test test test test junk";
    const char *junk_last = "test test test test test test test test test test test test";
    const char *non_ascii = "test test test test test test test test test test test j\xc3\xbcnk";
    const char *ok = "test test test test test test test test test test test junk";
    char many[27 * 4 + 1];
    for (size_t i = 0; i < 27; i++)
        memcpy(many + 4 * i, "zoo ", 4);
    many[sizeof many - 1] = '\0';

    CHECK_EQ_INT(ak_bip39_check(bad_checksum, strlen(bad_checksum)), AK_ERR_CHECKSUM);
    CHECK_EQ_INT(ak_bip39_check(junk_last, strlen(junk_last)), AK_ERR_CHECKSUM);
    CHECK_EQ_INT(ak_bip39_check(bad_word, strlen(bad_word)), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check(eleven, strlen(eleven)), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check(thirteen, strlen(thirteen)), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check(many, strlen(many)), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check(upper, strlen(upper)), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check(non_ascii, strlen(non_ascii)), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check("", 0), AK_ERR_PRIVKEY);
    CHECK_EQ_INT(ak_bip39_check("   \n", 4), AK_ERR_PRIVKEY);
    /* A NUL inside the given length is not a separator. */
    CHECK_EQ_INT(ak_bip39_check("test\0test", 9), AK_ERR_PRIVKEY);
    char big[AK_BIP39_MNEMONIC_MAX + 2];
    memset(big, ' ', sizeof big);
    CHECK_EQ_INT(ak_bip39_check(big, sizeof big), AK_ERR_LIMIT);

    /* Seeds: the same errors, and the passphrase rules; seed untouched-or-wiped on failure. */
    memset(seed, 0xAA, sizeof seed);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, bad_checksum, strlen(bad_checksum), "", 0),
                 AK_ERR_CHECKSUM);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, ok, strlen(ok), "p\xc3\xa4ss", 5), AK_ERR_RANGE);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, ok, strlen(ok), "a\nb", 3), AK_ERR_RANGE);
    char long_pass[AK_BIP39_PASSPHRASE_MAX + 1];
    memset(long_pass, 'a', sizeof long_pass);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, ok, strlen(ok), long_pass, sizeof long_pass), AK_ERR_LIMIT);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, ok, strlen(ok), long_pass, sizeof long_pass - 1), AK_OK);
    CHECK_EQ_INT(ak_bip39_to_seed(seed, ok, strlen(ok), NULL, 3), AK_ERR_ARG);
    CHECK_EQ_INT(ak_bip39_to_seed(NULL, ok, strlen(ok), NULL, 0), AK_ERR_ARG);
}

int main(void)
{
    test_wordlist();
    test_vectors();
    test_negative();
    return ak_test_report("test_bip39");
}
