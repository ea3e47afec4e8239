/*
 * test_bip32.c - BIP-32 derivation and the path parser.
 *
 * Vectors: BIP-32 "Test vector 1" (seed 000102..0f, chain m/0H/1/2H/2/1000000000): private keys and
 * chain codes as printed by ethers v6 HDNodeWallet.fromSeed(seed).derivePath(p)
 * .privateKey/.chainCode, whose extendedKey for each node equals the xprv in the BIP-32 text (e.g.
 * m/0H/1/2H/2/1000000000 = xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8k...). The
 * development mnemonic "test test ... junk" at m/44'/60'/0'/0/{0,1} gives the well-known
 * Hardhat/anvil accounts 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 and
 * 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 (ethers HDNodeWallet.fromMnemonic).
 */
#include <stdint.h>
#include <string.h>

#include <secp256k1.h>

#include "ak_addr.h"
#include "ak_bip32.h"
#include "ak_bip39.h"
#include "ak_test.h"

static const struct {
    const char *path, *key, *chain;
} tv1[] = {
    {"m", "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35",
     "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508"},
    {"m/0'", "edb2e14f9ee77d26dd93b4ecede8d16ed408ce149b6cd80b0715a2d911a0afea",
     "47fdacbd0f1097043b78c63c20c34ef4ed9a111d980047ad16282c7ae6236141"},
    {"m/0'/1", "3c6cb8d0f6a264c91ea8b5030fadaa8e538b020f0a387421a12de9319dc93368",
     "2a7857631386ba23dacac34180dd1983734e444fdbf774041578e9b6adb37c19"},
    {"m/0H/1/2H", "cbce0d719ecf7431d88e6a89fa1483e02e35092af60c042b1df2ff59fa424dca",
     "04466b9cc8e161e966409ca52986c584f07e9dc81f735db683c3ff6ec7b1503f"},
    {"m/0h/1/2h/2", "0f479245fb19a38a1954c5c7c0ebab2f9bdfd96a17563ef28a6a4b1a2a764ef4",
     "cfb71883f01676f587d023cc53a35bc7f88f724b1f8c2892ac1275ac822a3edd"},
    {"m/0'/1/2'/2/1000000000", "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8",
     "c783e67b921d2beb8f6b389cc646d7263b4145701dadd2161548a8b078e65e9e"},
};

static void test_vector1(void)
{
    uint8_t seed[16], key[32], chain[32];
    ak_test_unhex(seed, sizeof seed, "000102030405060708090a0b0c0d0e0f");
    for (size_t i = 0; i < sizeof tv1 / sizeof tv1[0]; i++) {
        ak_bip32_node n;
        ak_test_unhex(key, sizeof key, tv1[i].key);
        ak_test_unhex(chain, sizeof chain, tv1[i].chain);
        CHECK_EQ_INT(ak_bip32_derive_path(&n, seed, sizeof seed, tv1[i].path, strlen(tv1[i].path)),
                     AK_OK);
        CHECK_MEM(n.key, key, 32);
        CHECK_MEM(n.chain, chain, 32);
        CHECK_EQ_INT(n.depth, i);
        ak_bip32_node_wipe(&n);
    }
    /* Step by step equals the path form, including out aliasing parent. */
    ak_bip32_node m;
    CHECK_EQ_INT(ak_bip32_master(&m, seed, sizeof seed), AK_OK);
    CHECK_EQ_INT(ak_bip32_child(&m, &m, AK_BIP32_HARDENED | 0), AK_OK);
    CHECK_EQ_INT(ak_bip32_child(&m, &m, 1), AK_OK);
    ak_test_unhex(key, sizeof key, tv1[2].key);
    CHECK_MEM(m.key, key, 32);
    CHECK_EQ_INT(m.index, 1);
    ak_bip32_node_wipe(&m);
}

static void address_of(uint8_t addr[20], const uint8_t key[32])
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    secp256k1_pubkey pk;
    uint8_t pub[65];
    size_t len = sizeof pub;
    CHECK(secp256k1_ec_pubkey_create(ctx, &pk, key));
    CHECK(secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED));
    ak_addr_from_pubkey(addr, pub);
    secp256k1_context_destroy(ctx);
}

static void test_dev_mnemonic(void)
{
    const char *phrase = "test test test test test test test test test test test junk";
    const char *want[2] = {"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                           "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"};
    const char *paths[2] = {"m/44'/60'/0'/0/0", "m/44'/60'/0'/0/1"};
    uint8_t seed[64], addr[20];
    char str[AK_ADDR_STR_SIZE];
    CHECK_EQ_INT(ak_bip39_to_seed(seed, phrase, strlen(phrase), "", 0), AK_OK);
    for (int i = 0; i < 2; i++) {
        ak_bip32_node n;
        CHECK_EQ_INT(ak_bip32_derive_path(&n, seed, sizeof seed, paths[i], strlen(paths[i])),
                     AK_OK);
        address_of(addr, n.key);
        ak_addr_to_checksum(str, addr);
        CHECK_STR(str, want[i]);
        ak_bip32_node_wipe(&n);
    }
    CHECK_STR(AK_BIP32_DEFAULT_ETH_PATH, paths[0]);
}

static void test_paths(void)
{
    uint32_t idx[AK_BIP32_MAX_DEPTH + 2];
    size_t n = 99;
    const char *ok = "m/44'/60'/0'/0/0";
    CHECK_EQ_INT(ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH, &n, ok, strlen(ok)), AK_OK);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(idx[0], 0x8000002c);
    CHECK_EQ_INT(idx[1], 0x8000003c);
    CHECK_EQ_INT(idx[2], 0x80000000);
    CHECK_EQ_INT(idx[3], 0);
    CHECK_EQ_INT(idx[4], 0);
    CHECK_EQ_INT(ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH, &n, "m", 1), AK_OK);
    CHECK_EQ_INT(n, 0);
    const char *maxv = "m/2147483647'/2147483647";
    CHECK_EQ_INT(ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH, &n, maxv, strlen(maxv)), AK_OK);
    CHECK_EQ_INT(idx[0], 0xffffffffu);
    CHECK_EQ_INT(idx[1], 0x7fffffff);

    static const struct {
        const char *p;
        ak_err want;
    } bad[] = {
        {"", AK_ERR_DECIMAL},
        {"M/44'", AK_ERR_DECIMAL},
        {"/44'", AK_ERR_DECIMAL},
        {"m/", AK_ERR_DECIMAL},
        {"m//0", AK_ERR_DECIMAL},
        {"m/44'/", AK_ERR_DECIMAL},
        {"m/01", AK_ERR_DECIMAL},
        {"m/-1", AK_ERR_DECIMAL},
        {"m/+1", AK_ERR_DECIMAL},
        {"m/ 1", AK_ERR_DECIMAL},
        {"m/1 ", AK_ERR_DECIMAL},
        {"m/1''", AK_ERR_DECIMAL},
        {"m/1x", AK_ERR_DECIMAL},
        {"m/0x10", AK_ERR_DECIMAL},
        {"mm/1", AK_ERR_DECIMAL},
        {"m/2147483648", AK_ERR_RANGE},
        {"m/4294967296'", AK_ERR_RANGE},
        {"m/99999999999999999999", AK_ERR_RANGE},
        {"m/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0", AK_ERR_LIMIT}, /* 17 > AK_BIP32_MAX_DEPTH */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ak_err e = ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH + 2, &n, bad[i].p, strlen(bad[i].p));
        if (e != bad[i].want)
            fprintf(stderr, "path \"%s\": got %d\n", bad[i].p, e);
        CHECK_EQ_INT(e, bad[i].want);
    }
    const char *sixteen = "m/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0";
    CHECK_EQ_INT(ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH, &n, sixteen, strlen(sixteen)), AK_OK);
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(ak_bip32_parse_path(idx, 2, &n, ok, strlen(ok)), AK_ERR_LIMIT); /* cap */
    CHECK_EQ_INT(ak_bip32_parse_path(idx, 5, &n, "m/1\0/2", 6), AK_ERR_DECIMAL); /* embedded NUL */

    /* Derivation refuses bad seeds and bad paths; out untouched. */
    ak_bip32_node node;
    uint8_t seed[65] = {0};
    CHECK_EQ_INT(ak_bip32_derive_path(&node, seed, 15, "m", 1), AK_ERR_ARG);
    CHECK_EQ_INT(ak_bip32_derive_path(&node, seed, 65, "m", 1), AK_ERR_ARG);
    CHECK_EQ_INT(ak_bip32_derive_path(&node, seed, 16, "m/x", 3), AK_ERR_DECIMAL);
    CHECK_EQ_INT(ak_bip32_master(NULL, seed, 16), AK_ERR_ARG);
}

int main(void)
{
    test_vector1();
    test_dev_mnemonic();
    test_paths();
    return ak_test_report("test_bip32");
}
