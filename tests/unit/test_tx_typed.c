/*
 * EIP-4844 (type 3) and EIP-7702 (type 4) transactions, EIP-7702 authorizations and EIP-4844
 * versioned hashes: signing payloads, hashes, signed serializations, strict decoding, and the
 * refusals (missing `to`, no blob hash, wrong version byte, empty or malformed authorization
 * list, bad tuple signatures, non-canonical RLP, bounds).
 *
 * Vectors: printed by `cd tests/tools && node ../unit/tx_typed_vectors.js`, which computes each
 * with ethers v6 and with viem and fails unless both agree (unsigned bytes, hash, signed bytes,
 * parse round trip, hashAuthorization, commitmentToVersionedHash). Sender key 0x46..46 (as in
 * test_tx.c), authority key 0x47..47; signatures by libsecp256k1 (RFC 6979, like ethers).
 */
#include <secp256k1.h>

#include "ak_addr.h"
#include "ak_auth.h"
#include "ak_blob.h"
#include "ak_keccak.h"
#include "ak_rlp.h"
#include "ak_test.h"
#include "ak_tx.h"

#define MAXRAW 4096

typedef struct {
    const char *name;
    int type;
    uint64_t chain_id, nonce;
    const char *tip, *fee;
    uint64_t gas;
    const char *to, *value, *data, *access_list, *blob_fee, *blob_hashes, *auth_list;
    const char *unsigned_hex, *hash_hex, *signed_hex;
} txv;

static const txv k_txs[] = {
    {"blob_min", 3, 1u, 0u, "1", "2", 21000u, "3535353535353535353535353535353535353535", "0", "",
     "c0", "1", "01aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "",
     "03f842018001028252089435353535353535353535353535353535353535358080c001e1a001aaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "68e3bc25ceffc6aef9b8feb3add67badbe6a1911afc35e102a7112acf1a6e875",
     "03f885018001028252089435353535353535353535353535353535353535358080c001e1a001aaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa80a07a07275898430771218f79c698b8d5a74a0ea4c40725"
     "459a47a66c23da8d8e35a020774d4c773eafb103ef3c9ca755102ea2646501d371bf88e6840f504456500f"},
    {"blob_full", 3, 11155111u, 9u, "77359400", "6fc23ac00", 100000u,
     "3535353535353535353535353535353535353535", "de0b6b3a7640000", "deadbeef",
     "f838f7941111111111111111111111111111111111111111e1a000000000000000000000000000000000000000000"
     "00000000000000000000001",
     "18ee90ff6c373e0ee4e3f0ad2",
     "01bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb01ccccccccccccccccccccccccccc"
     "ccccccccccccccccccccccccccccccccccc01dddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
     "dddddd",
     "",
     "03f8e483aa36a70984773594008506fc23ac00830186a0943535353535353535353535353535353535353535880de"
     "0b6b3a764000084deadbeeff838f7941111111111111111111111111111111111111111e1a0000000000000000000"
     "00000000000000000000000000000000000000000000018d018ee90ff6c373e0ee4e3f0ad2f863a001bbbbbbbbbbb"
     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbba001cccccccccccccccccccccccccccccccccccccc"
     "cccccccccccccccccccccccca001dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
     "a0f2ef50ea660c2ce16e3ab95ecc3ead4c746e2a6aa41ec355d99ed9d98a47b8",
     "03f9012783aa36a70984773594008506fc23ac00830186a0943535353535353535353535353535353535353535880"
     "de0b6b3a764000084deadbeeff838f7941111111111111111111111111111111111111111e1a00000000000000000"
     "0000000000000000000000000000000000000000000000018d018ee90ff6c373e0ee4e3f0ad2f863a001bbbbbbbbb"
     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbba001cccccccccccccccccccccccccccccccccccc"
     "cccccccccccccccccccccccccca001dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd0"
     "1a02afe79bf7e3d1e6dc1cdd4b4c72ed24cf8898f60ea4b5b2aea8389a7a9c70bbba02dba00258fe9ecf21da70d0e"
     "40b34aa7b5f0b1dcf959df46160e49994439f63f"},
    {"setcode_one", 4, 1u, 3u, "3b9aca00", "4a817c800", 60000u,
     "3535353535353535353535353535353535353535", "0", "", "c0", "0", "",
     "f85cf85a019411111111111111111111111111111111111111118001a0eeabf1b7b75c4fb626bb455968ca74b5711"
     "b71fec7434c018bc7dcf3f0049f19a021d6be9d56d8f71fadf4f9ac43ec8cbf9895fdaebd80dd813cf4ddbf598cc4"
     "92",
     "04f8860103843b9aca008504a817c80082ea609435353535353535353535353535353535353535358080c0f85cf85"
     "a019411111111111111111111111111111111111111118001a0eeabf1b7b75c4fb626bb455968ca74b5711b71fec7"
     "434c018bc7dcf3f0049f19a021d6be9d56d8f71fadf4f9ac43ec8cbf9895fdaebd80dd813cf4ddbf598cc492",
     "20d98958c67b717f2fa702d58f7155c424878a2e7d3a3482f7d47825c917a093",
     "04f8c90103843b9aca008504a817c80082ea609435353535353535353535353535353535353535358080c0f85cf85"
     "a019411111111111111111111111111111111111111118001a0eeabf1b7b75c4fb626bb455968ca74b5711b71fec7"
     "434c018bc7dcf3f0049f19a021d6be9d56d8f71fadf4f9ac43ec8cbf9895fdaebd80dd813cf4ddbf598cc49280a0f"
     "19a8de64611a144e57c7af5a425b7b3718d0adb8a4d22d82522644174f0187aa04c51757684cbf1c759e142d3ce90"
     "005d3e1363fc02998b9bc5035d87325cdb3b"},
    {"setcode_three", 4, 31337u, 0u, "0", "7", 1000000u, "1111111111111111111111111111111111111111",
     "5", "0102", "d7d6943535353535353535353535353535353535353535c0", "0", "",
     "f9013cf85a019411111111111111111111111111111111111111118001a0eeabf1b7b75c4fb626bb455968ca74b57"
     "11b71fec7434c018bc7dcf3f0049f19a021d6be9d56d8f71fadf4f9ac43ec8cbf9895fdaebd80dd813cf4ddbf598c"
     "c492f8628094353535353535353535353535353535353535353588ffffffffffffffff80a0dd6c3fb0760c54e01c5"
     "56e0a881f156ce83a18ec7d31d9214538616b01003349a04f02856a58c728e00972eb72ad4877e1fead8399812c22"
     "872126c16ed8700d20f87aa0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff94111"
     "11111111111111111111111111111111111110580a0cba7d96308b01301d16899771e76afed252b0ae8a0b6e745dc"
     "14d3b47506c7eea0137fc7ba6dcfe851d8a5a4e2fd276879c27b3279414a75a3c7429a528604ecf5",
     "04f9017a827a69808007830f424094111111111111111111111111111111111111111105820102d7d694353535353"
     "5353535353535353535353535353535c0f9013cf85a019411111111111111111111111111111111111111118001a0"
     "eeabf1b7b75c4fb626bb455968ca74b5711b71fec7434c018bc7dcf3f0049f19a021d6be9d56d8f71fadf4f9ac43e"
     "c8cbf9895fdaebd80dd813cf4ddbf598cc492f8628094353535353535353535353535353535353535353588ffffff"
     "ffffffffff80a0dd6c3fb0760c54e01c556e0a881f156ce83a18ec7d31d9214538616b01003349a04f02856a58c72"
     "8e00972eb72ad4877e1fead8399812c22872126c16ed8700d20f87aa0ffffffffffffffffffffffffffffffffffff"
     "ffffffffffffffffffffffffffff9411111111111111111111111111111111111111110580a0cba7d96308b01301d"
     "16899771e76afed252b0ae8a0b6e745dc14d3b47506c7eea0137fc7ba6dcfe851d8a5a4e2fd276879c27b3279414a"
     "75a3c7429a528604ecf5",
     "fc9514e8538c2380b5f480a9457a773847e5af0cd74b4376032ed931648da41c",
     "04f901bd827a69808007830f424094111111111111111111111111111111111111111105820102d7d694353535353"
     "5353535353535353535353535353535c0f9013cf85a019411111111111111111111111111111111111111118001a0"
     "eeabf1b7b75c4fb626bb455968ca74b5711b71fec7434c018bc7dcf3f0049f19a021d6be9d56d8f71fadf4f9ac43e"
     "c8cbf9895fdaebd80dd813cf4ddbf598cc492f8628094353535353535353535353535353535353535353588ffffff"
     "ffffffffff80a0dd6c3fb0760c54e01c556e0a881f156ce83a18ec7d31d9214538616b01003349a04f02856a58c72"
     "8e00972eb72ad4877e1fead8399812c22872126c16ed8700d20f87aa0ffffffffffffffffffffffffffffffffffff"
     "ffffffffffffffffffffffffffff9411111111111111111111111111111111111111110580a0cba7d96308b01301d"
     "16899771e76afed252b0ae8a0b6e745dc14d3b47506c7eea0137fc7ba6dcfe851d8a5a4e2fd276879c27b3279414a"
     "75a3c7429a528604ecf580a0d54ed7c7cbc3fe51de5ea5aaf8a064f8f40ac734f1cb3e036af8e3aca1b19f26a0631"
     "ea89b6d32923020567f17290e7412c9abfe033c92e5833fc263118f5945cf"},
};

typedef struct {
    const char *chain_id, *address;
    uint64_t nonce;
    const char *digest;
    int y_parity;
    const char *r, *s;
} authv;

static const authv k_auths[] = {
    {"1", "1111111111111111111111111111111111111111", 0u,
     "d35655e0048045ff05a91979004fc1afa8325086bbab53c2498ecfcfe431d99f", 1,
     "eeabf1b7b75c4fb626bb455968ca74b5711b71fec7434c018bc7dcf3f0049f19",
     "21d6be9d56d8f71fadf4f9ac43ec8cbf9895fdaebd80dd813cf4ddbf598cc492"},
    {"0", "3535353535353535353535353535353535353535", 18446744073709551615u,
     "1b882fba8279d6e8c1b36c217712bcbc02e75cbbdffa5d0bf9b0aebff77f1b34", 0,
     "dd6c3fb0760c54e01c556e0a881f156ce83a18ec7d31d9214538616b01003349",
     "4f02856a58c728e00972eb72ad4877e1fead8399812c22872126c16ed8700d20"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "1111111111111111111111111111111111111111", 5u,
     "9e51de475ef478b247e492f54d57dcd23eed6763adcf983b0670d0085cf6fd6b", 0,
     "cba7d96308b01301d16899771e76afed252b0ae8a0b6e745dc14d3b47506c7ee",
     "137fc7ba6dcfe851d8a5a4e2fd276879c27b3279414a75a3c7429a528604ecf5"},
};

static const struct {
    const char *commitment, *hash;
} k_vhashes[] = {
    {"c00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000",
     "010657f37554c781402a22917dee2f75def7ab966d7b770905398eba3c444014"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2"
     "e2f",
     "01bdc2b2b62cb00749785bc84202236dbc3777d74660611b8e58812f0cfde6c3"},
};

static const char *k_sender = "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F";
static const char *k_authority = "0xb595B18c88b1f651cA387489067f855b5C8E6720";

static secp256k1_context *g_ctx;
static uint8_t g_key[32];
static uint8_t g_pub[65];

/* Storage the ak_tx of a vector borrows. */
typedef struct {
    uint8_t data[64], al[256], auth[MAXRAW];
} parts;

static void qty(ak_u256 *v, const char *hex)
{
    char buf[80];
    snprintf(buf, sizeof buf, "0x%s", hex);
    if (ak_u256_parse_quantity(v, buf, strlen(buf)) != AK_OK)
        abort();
}

static void build(ak_tx *tx, parts *p, const txv *v)
{
    uint8_t hashes[AK_TX_MAX_BLOB_HASHES * 32];
    memset(tx, 0, sizeof *tx);
    tx->type = (ak_tx_type)v->type;
    tx->chain_id = v->chain_id;
    tx->nonce = v->nonce;
    qty(&tx->max_priority_fee_per_gas, v->tip);
    qty(&tx->max_fee_per_gas, v->fee);
    tx->gas_limit = v->gas;
    tx->has_to = 1;
    CHECK_EQ_INT(ak_test_unhex(tx->to, 20, v->to), 20);
    qty(&tx->value, v->value);
    tx->data_len = ak_test_unhex(p->data, sizeof p->data, v->data);
    tx->data = tx->data_len ? p->data : NULL;
    tx->access_list_rlp_len = ak_test_unhex(p->al, sizeof p->al, v->access_list);
    tx->access_list_rlp = p->al;
    qty(&tx->max_fee_per_blob_gas, v->blob_fee);
    tx->n_blob_hashes = ak_test_unhex(hashes, sizeof hashes, v->blob_hashes) / 32;
    memcpy(tx->blob_hashes, hashes, tx->n_blob_hashes * 32);
    tx->auth_list_rlp_len = ak_test_unhex(p->auth, sizeof p->auth, v->auth_list);
    tx->auth_list_rlp = tx->auth_list_rlp_len ? p->auth : NULL;
}

static void sign_hash(ak_sig *sig, const uint8_t h[32])
{
    secp256k1_ecdsa_signature s;
    uint8_t compact[64];
    CHECK(secp256k1_ecdsa_sign(g_ctx, &s, h, g_key, NULL, NULL) == 1);
    CHECK(secp256k1_ecdsa_signature_serialize_compact(g_ctx, compact, &s) == 1);
    CHECK_EQ_INT(ak_sig_from_raw64(sig, compact, h, g_pub), AK_OK);
}

static void auth_from_vector(ak_auth_signed *sa, const authv *a)
{
    memset(sa, 0, sizeof *sa);
    qty(&sa->auth.chain_id, a->chain_id);
    CHECK_EQ_INT(ak_test_unhex(sa->auth.address, 20, a->address), 20);
    sa->auth.nonce = a->nonce;
    sa->sig.recid = (uint8_t)a->y_parity;
    CHECK_EQ_INT(ak_test_unhex(sa->sig.r, 32, a->r), 32);
    CHECK_EQ_INT(ak_test_unhex(sa->sig.s, 32, a->s), 32);
}

static void check_vector(const txv *v)
{
    static uint8_t want[MAXRAW], got[MAXRAW];
    static parts p;
    uint8_t h[32], want_h[32], addr[20];
    char addr_s[AK_ADDR_STR_SIZE];
    ak_tx tx, back;
    ak_sig sig, sig2;
    size_t n, len = 0;
    build(&tx, &p, v);
    n = ak_test_unhex(want, sizeof want, v->unsigned_hex);
    CHECK_EQ_INT(ak_tx_signing_payload(got, sizeof got, &len, &tx), AK_OK);
    CHECK_EQ_INT(len, n);
    CHECK_MEM(got, want, n);
    ak_test_unhex(want_h, 32, v->hash_hex);
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_OK);
    CHECK_MEM(h, want_h, 32);
    sign_hash(&sig, h);
    n = ak_test_unhex(want, sizeof want, v->signed_hex);
    CHECK_EQ_INT(ak_tx_encode_signed(got, sizeof got, &len, &tx, &sig), AK_OK);
    CHECK_EQ_INT(len, n);
    CHECK_MEM(got, want, n);
    /* decode round trip: same fields, same hash, same sender */
    CHECK_EQ_INT(ak_tx_decode_signed(&back, &sig2, want, n), AK_OK);
    CHECK_EQ_INT(back.type, tx.type);
    CHECK_EQ_INT(back.chain_id, tx.chain_id);
    CHECK_EQ_INT(back.nonce, tx.nonce);
    CHECK_EQ_INT(ak_u256_cmp(&back.max_fee_per_blob_gas, &tx.max_fee_per_blob_gas), 0);
    CHECK_EQ_INT(back.n_blob_hashes, tx.n_blob_hashes);
    CHECK_MEM(back.blob_hashes, tx.blob_hashes, tx.n_blob_hashes * 32);
    CHECK_EQ_INT(back.auth_list_rlp_len, tx.auth_list_rlp_len);
    if (tx.auth_list_rlp_len)
        CHECK_MEM(back.auth_list_rlp, tx.auth_list_rlp, tx.auth_list_rlp_len);
    CHECK_EQ_INT(ak_tx_signing_hash(h, &back), AK_OK);
    CHECK_MEM(h, want_h, 32);
    CHECK_EQ_INT(ak_tx_recover_sender(addr, &back, &sig2), AK_OK);
    ak_addr_to_checksum(addr_s, addr);
    CHECK_STR(addr_s, k_sender);
    /* every strict prefix and one trailing byte are refused */
    for (size_t cut = 0; cut < n; cut++)
        CHECK(ak_tx_decode_signed(&back, &sig2, want, cut) != AK_OK);
    want[n] = 0x00;
    CHECK(ak_tx_decode_signed(&back, &sig2, want, n + 1) != AK_OK);
}

/* The authorization lists of the type-4 vectors, rebuilt from the tuples with ak_auth_list_*. */
static void test_auth_list_builder(void)
{
    static uint8_t mem[MAXRAW], want[MAXRAW], big[AK_AUTH_MAX_LIST_RLP * 2];
    ak_auth_signed sa, back;
    ak_buf b = ak_buf_init(mem, sizeof mem);
    size_t mark = ak_auth_list_begin(&b), n, count = 0;
    for (size_t i = 0; i < sizeof k_auths / sizeof k_auths[0]; i++) {
        auth_from_vector(&sa, &k_auths[i]);
        CHECK_EQ_INT(ak_auth_list_add(&b, &sa), AK_OK);
    }
    CHECK_EQ_INT(ak_auth_list_end(&b, mark), AK_OK);
    n = ak_test_unhex(want, sizeof want, k_txs[3].auth_list);
    CHECK_EQ_INT(b.len, n);
    CHECK_MEM(b.data, want, n);
    CHECK_EQ_INT(ak_auth_list_check(&count, b.data, b.len), AK_OK);
    CHECK_EQ_INT(count, 3);
    for (size_t i = 0; i < 3; i++) {
        auth_from_vector(&sa, &k_auths[i]);
        CHECK_EQ_INT(ak_auth_list_get(&back, b.data, b.len, i), AK_OK);
        CHECK_MEM(&back.auth.chain_id, &sa.auth.chain_id, sizeof sa.auth.chain_id);
        CHECK_MEM(back.auth.address, sa.auth.address, 20);
        CHECK_EQ_INT(back.auth.nonce, sa.auth.nonce);
        CHECK_MEM(back.sig.r, sa.sig.r, 32);
        CHECK_MEM(back.sig.s, sa.sig.s, 32);
        CHECK_EQ_INT(back.sig.recid, sa.sig.recid);
    }
    CHECK_EQ_INT(ak_auth_list_get(&back, b.data, b.len, 3), AK_ERR_ARG);
    /* empty list: refused by the builder and the checker */
    b = ak_buf_init(mem, sizeof mem);
    mark = ak_auth_list_begin(&b);
    CHECK_EQ_INT(ak_auth_list_end(&b, mark), AK_ERR_TX);
    CHECK_EQ_INT(b.len, 0);
    /* a high-s tuple is refused by the builder */
    auth_from_vector(&sa, &k_auths[0]);
    sa.sig.s[0] = 0xff;
    b = ak_buf_init(mem, sizeof mem);
    mark = ak_auth_list_begin(&b);
    CHECK_EQ_INT(ak_auth_list_add(&b, &sa), AK_ERR_SIG);
    CHECK_EQ_INT(b.len, mark);
    auth_from_vector(&sa, &k_auths[0]);
    sa.sig.recid = 2;
    CHECK_EQ_INT(ak_auth_list_add(&b, &sa), AK_ERR_SIG);
    /* more than AK_AUTH_MAX_LIST tuples */
    auth_from_vector(&sa, &k_auths[0]);
    b = ak_buf_init(big, sizeof big);
    mark = ak_auth_list_begin(&b);
    for (size_t i = 0; i <= AK_AUTH_MAX_LIST; i++)
        CHECK_EQ_INT(ak_auth_list_add(&b, &sa), AK_OK);
    CHECK_EQ_INT(ak_auth_list_end(&b, mark), AK_ERR_LIMIT);
}

static void test_auth_digests(void)
{
    ak_auth_signed sa;
    uint8_t d[32], want[32], addr[20];
    char s[AK_ADDR_STR_SIZE];
    for (size_t i = 0; i < sizeof k_auths / sizeof k_auths[0]; i++) {
        auth_from_vector(&sa, &k_auths[i]);
        ak_test_unhex(want, 32, k_auths[i].digest);
        CHECK_EQ_INT(ak_auth_digest(d, &sa.auth), AK_OK);
        CHECK_MEM(d, want, 32);
        CHECK_EQ_INT(ak_auth_recover_authority(addr, &sa), AK_OK);
        ak_addr_to_checksum(s, addr);
        CHECK_STR(s, k_authority);
    }
    CHECK_EQ_INT(ak_auth_digest(NULL, &sa.auth), AK_ERR_ARG);
    CHECK_EQ_INT(ak_auth_digest(d, NULL), AK_ERR_ARG);
}

/* The network form: ethers' and viem's bytes for one zero blob (see tx_typed_vectors.js); the
 * EIP-7594 form checked by its shape; mismatches refused. */
static void test_blob_network(void)
{
    static const char *k_signed =
        "03f885018001028252089435353535353535353535353535353535353535358080c001e1a0010657f37554c781"
        "402a22917dee2f75def7ab966d7b770905398eba3c44401480a005575cbc129ffff1adda5ec36968070a8219ee"
        "6863f4ab5600018bc7c9f49c79a066a65b971490068ee2fc5a4f82c0120f0b758c65f47e7390ba6e4e7846124b"
        "f6";
    static const char *k_net_keccak =
        "b1ee1eb95380beac5a39eb7639e74989a005e44ab02860fb1f9697ff0035e6c8";
    static uint8_t blob[AK_BLOB_SIZE], proofs[AK_BLOB_CELLS_PER_BLOB * AK_BLOB_PROOF_SIZE];
    uint8_t raw[256], c[AK_BLOB_COMMITMENT_SIZE] = {0xc0}, want[32], h[32];
    size_t n = ak_test_unhex(raw, sizeof raw, k_signed), cap, len = 0, count = 0;
    uint8_t *out;
    ak_rlp_item list, item;
    ak_rlp_iter it;
    ak_err err = AK_OK;
    for (size_t i = 0; i < AK_BLOB_CELLS_PER_BLOB; i++)
        proofs[i * AK_BLOB_PROOF_SIZE] = 0xc0;
    cap = ak_blob_network_size(n, 1, AK_BLOB_WRAPPER_7594);
    out = malloc(cap);
    CHECK(out != NULL);
    if (out == NULL)
        return;
    CHECK_EQ_INT(
        ak_blob_network_encode(out, cap, &len, raw, n, blob, c, proofs, 1, AK_BLOB_WRAPPER_4844),
        AK_OK);
    CHECK_EQ_INT(len, 131320);
    ak_test_unhex(want, 32, k_net_keccak);
    ak_keccak256(h, out, len);
    CHECK_MEM(h, want, 32);
    /* EIP-7594: [tx_payload_body, 1, blobs, commitments, cell_proofs(128)] */
    CHECK_EQ_INT(
        ak_blob_network_encode(out, cap, &len, raw, n, blob, c, proofs, 1, AK_BLOB_WRAPPER_7594),
        AK_OK);
    CHECK_EQ_INT(out[0], 0x03);
    CHECK_EQ_INT(ak_rlp_decode_all(&list, out + 1, len - 1), AK_OK);
    ak_rlp_iter_init(&it, &list);
    while (ak_rlp_iter_next(&it, &item, &err) == 1) {
        if (count == 0)
            CHECK(item.encoded_len == n - 1 && memcmp(item.encoded, raw + 1, n - 1) == 0);
        if (count == 1)
            CHECK(!item.is_list && item.payload_len == 1 && item.payload[0] == 1);
        if (count == 4)
            CHECK(ak_rlp_list_count(&item, &n) == AK_OK && n == AK_BLOB_CELLS_PER_BLOB);
        count++;
    }
    CHECK_EQ_INT(count, 5);
    n = ak_test_unhex(raw, sizeof raw, k_signed);
    /* wrong commitment, wrong count, not a blob tx, too small a buffer */
    c[47] = 1;
    CHECK_EQ_INT(
        ak_blob_network_encode(out, cap, &len, raw, n, blob, c, proofs, 1, AK_BLOB_WRAPPER_4844),
        AK_ERR_TX);
    c[47] = 0;
    CHECK_EQ_INT(
        ak_blob_network_encode(out, cap, &len, raw, n, blob, c, proofs, 0, AK_BLOB_WRAPPER_4844),
        AK_ERR_TX);
    CHECK_EQ_INT(
        ak_blob_network_encode(out, 1000, &len, raw, n, blob, c, proofs, 1, AK_BLOB_WRAPPER_4844),
        AK_ERR_BUFFER);
    CHECK_EQ_INT(
        ak_blob_network_encode(out, cap, &len, raw, n, blob, c, proofs, 1, (ak_blob_wrapper)2),
        AK_ERR_ARG);
    n = ak_test_unhex(raw, sizeof raw, k_txs[2].signed_hex);
    CHECK_EQ_INT(
        ak_blob_network_encode(out, cap, &len, raw, n, blob, c, proofs, 1, AK_BLOB_WRAPPER_4844),
        AK_ERR_TX);
    free(out);
}

static void test_versioned_hash(void)
{
    uint8_t c[48], want[32], got[32];
    for (size_t i = 0; i < sizeof k_vhashes / sizeof k_vhashes[0]; i++) {
        CHECK_EQ_INT(ak_test_unhex(c, sizeof c, k_vhashes[i].commitment), 48);
        ak_test_unhex(want, 32, k_vhashes[i].hash);
        ak_blob_versioned_hash(got, c);
        CHECK_MEM(got, want, 32);
    }
}

/* Encodes tx's signing payload: the result code only. */
static ak_err payload_rc(const ak_tx *tx)
{
    static uint8_t out[MAXRAW];
    size_t len = 0;
    return ak_tx_signing_payload(out, sizeof out, &len, tx);
}

static void test_field_refusals(void)
{
    static parts p;
    ak_tx tx;
    uint8_t bad_list[] = {0xc0};
    /* type 3 */
    build(&tx, &p, &k_txs[1]);
    CHECK_EQ_INT(payload_rc(&tx), AK_OK);
    tx.has_to = 0;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* no contract creation */
    build(&tx, &p, &k_txs[1]);
    tx.n_blob_hashes = 0;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* at least one hash */
    build(&tx, &p, &k_txs[1]);
    tx.blob_hashes[2][0] = 0x02;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* version byte */
    build(&tx, &p, &k_txs[1]);
    tx.n_blob_hashes = AK_TX_MAX_BLOB_HASHES + 1;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_LIMIT);
    build(&tx, &p, &k_txs[1]);
    tx.auth_list_rlp = p.auth;
    tx.auth_list_rlp_len = 1;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* an authorization list on a blob tx */
    /* blob fields on type 2 */
    build(&tx, &p, &k_txs[1]);
    tx.type = AK_TX_EIP1559;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX);
    tx.n_blob_hashes = 0;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* the blob fee alone */
    ak_u256_from_u64(&tx.max_fee_per_blob_gas, 0);
    CHECK_EQ_INT(payload_rc(&tx), AK_OK);
    /* type 4 */
    build(&tx, &p, &k_txs[3]);
    CHECK_EQ_INT(payload_rc(&tx), AK_OK);
    tx.has_to = 0;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX);
    build(&tx, &p, &k_txs[3]);
    tx.auth_list_rlp = NULL;
    tx.auth_list_rlp_len = 0;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* the list may not be empty */
    tx.auth_list_rlp = bad_list;
    tx.auth_list_rlp_len = 1;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX);
    build(&tx, &p, &k_txs[3]);
    tx.n_blob_hashes = 1;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* blob hashes on a set-code tx */
    build(&tx, &p, &k_txs[3]);
    tx.type = AK_TX_EIP1559;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX); /* authorization list on type 2 */
    tx.type = (ak_tx_type)5;
    CHECK_EQ_INT(payload_rc(&tx), AK_ERR_TX_TYPE);
}

/* Re-encode a decoded vector with one field replaced by raw RLP, then decode it. */
static ak_err decode_with_field(size_t vec, size_t field, const uint8_t *rlp, size_t rlp_len)
{
    static uint8_t raw[MAXRAW], out[MAXRAW];
    ak_rlp_item list, f;
    ak_rlp_iter it;
    ak_buf b = ak_buf_init(out, sizeof out);
    size_t n = ak_test_unhex(raw, sizeof raw, k_txs[vec].signed_hex), mark, i = 0;
    ak_err err = AK_OK;
    ak_tx tx;
    ak_sig sig;
    if (ak_rlp_decode_all(&list, raw + 1, n - 1) != AK_OK ||
        ak_buf_append_byte(&b, raw[0]) != AK_OK)
        abort();
    mark = ak_rlp_list_begin(&b);
    ak_rlp_iter_init(&it, &list);
    while (ak_rlp_iter_next(&it, &f, &err) == 1) {
        if (i++ == field)
            err = ak_rlp_put_raw(&b, rlp, rlp_len);
        else
            err = ak_rlp_put_raw(&b, f.encoded, f.encoded_len);
        if (err != AK_OK)
            abort();
    }
    if (ak_rlp_list_end(&b, mark) != AK_OK)
        abort();
    return ak_tx_decode_signed(&tx, &sig, b.data, b.len);
}

static void test_decode_refusals(void)
{
    static uint8_t mem[MAXRAW];
    uint8_t h31[33] = {0x9f, 0x01}, h32v2[34] = {0xa0, 0x02}, empty[1] = {0xc0},
            zero_to[1] = {0x80};
    uint8_t lead0[3] = {0x82, 0x00, 0x01};
    uint8_t list1[34] = {0xe1, 0xa0, 0x01};
    ak_auth_signed sa;
    ak_buf b;
    size_t mark;
    /* sanity: the unchanged field decodes */
    CHECK_EQ_INT(decode_with_field(1, 10, list1, sizeof list1), AK_OK);
    /* type 3: field 10 is blobVersionedHashes, 9 maxFeePerBlobGas, 5 to */
    CHECK_EQ_INT(decode_with_field(1, 10, empty, 1), AK_ERR_TX);
    list1[2] = 0x02;
    CHECK_EQ_INT(decode_with_field(1, 10, list1, sizeof list1), AK_ERR_TX);
    CHECK(decode_with_field(1, 10, h31, sizeof h31) != AK_OK); /* not a list */
    CHECK(decode_with_field(1, 10, h32v2, sizeof h32v2) != AK_OK);
    CHECK_EQ_INT(decode_with_field(1, 9, lead0, sizeof lead0), AK_ERR_RLP);
    CHECK_EQ_INT(decode_with_field(1, 5, zero_to, 1), AK_ERR_TX);
    /* type 4: field 9 is the authorization list, 5 to */
    CHECK_EQ_INT(decode_with_field(2, 9, empty, 1), AK_ERR_TX);
    CHECK_EQ_INT(decode_with_field(2, 5, zero_to, 1), AK_ERR_TX);
    /* a tuple with y_parity 2, a high s, a 5-item tuple, a non-canonical nonce */
    auth_from_vector(&sa, &k_auths[0]);
    {
        /* hand-encoded tuple lists */
        uint8_t t[160];
        ak_buf tb = ak_buf_init(t, sizeof t);
        size_t outer = ak_rlp_list_begin(&tb), inner = ak_rlp_list_begin(&tb);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 1), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.auth.address, 20), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 0), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 2), AK_OK); /* y_parity 2 */
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.sig.r, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.sig.s, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&tb, inner), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&tb, outer), AK_OK);
        CHECK_EQ_INT(decode_with_field(2, 9, tb.data, tb.len), AK_ERR_SIG);
        tb = ak_buf_init(t, sizeof t);
        outer = ak_rlp_list_begin(&tb);
        inner = ak_rlp_list_begin(&tb);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 1), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.auth.address, 20), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 0), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 1), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.sig.r, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&tb, inner), AK_OK); /* five items */
        CHECK_EQ_INT(ak_rlp_list_end(&tb, outer), AK_OK);
        CHECK_EQ_INT(decode_with_field(2, 9, tb.data, tb.len), AK_ERR_TX);
        tb = ak_buf_init(t, sizeof t);
        outer = ak_rlp_list_begin(&tb);
        inner = ak_rlp_list_begin(&tb);
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 1), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.auth.address, 20), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_raw(&tb, lead0, sizeof lead0), AK_OK); /* nonce 0x0001 */
        CHECK_EQ_INT(ak_rlp_put_u64(&tb, 1), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.sig.r, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&tb, sa.sig.s, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&tb, inner), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&tb, outer), AK_OK);
        CHECK_EQ_INT(decode_with_field(2, 9, tb.data, tb.len), AK_ERR_RLP);
    }
    /* the high-s form of a valid tuple (s' = n - s) */
    {
        static const uint8_t n_order[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
                                            0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
                                            0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
        uint8_t hs[32];
        unsigned borrow = 0;
        for (int i = 31; i >= 0; i--) {
            unsigned d = (unsigned)n_order[i] - sa.sig.s[i] - borrow;
            hs[i] = (uint8_t)d;
            borrow = (d >> 8) & 1u;
        }
        b = ak_buf_init(mem, sizeof mem);
        mark = ak_rlp_list_begin(&b);
        size_t inner = ak_rlp_list_begin(&b);
        CHECK_EQ_INT(ak_rlp_put_u64(&b, 1), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&b, sa.auth.address, 20), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_u64(&b, 0), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_u64(&b, (uint64_t)(1 - sa.sig.recid)), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&b, sa.sig.r, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_put_bytes(&b, hs, 32), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&b, inner), AK_OK);
        CHECK_EQ_INT(ak_rlp_list_end(&b, mark), AK_OK);
        CHECK_EQ_INT(decode_with_field(2, 9, b.data, b.len), AK_ERR_SIG);
    }
    /* an unknown type byte and a blob tx with 15 fields */
    {
        uint8_t raw[4] = {0x05, 0xc1, 0x80};
        ak_tx tx;
        ak_sig sig;
        CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, 3), AK_ERR_TX_TYPE);
        CHECK_EQ_INT(decode_with_field(1, 13, (const uint8_t *)"\xc2\x80\x80", 3), AK_ERR_RLP);
    }
}

int main(void)
{
    memset(g_key, 0x46, sizeof g_key);
    g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    {
        secp256k1_pubkey pk;
        size_t n = 65;
        CHECK(secp256k1_ec_pubkey_create(g_ctx, &pk, g_key) == 1);
        CHECK(secp256k1_ec_pubkey_serialize(g_ctx, g_pub, &n, &pk, SECP256K1_EC_UNCOMPRESSED) == 1);
    }
    for (size_t i = 0; i < sizeof k_txs / sizeof k_txs[0]; i++)
        check_vector(&k_txs[i]);
    test_auth_digests();
    test_auth_list_builder();
    test_versioned_hash();
    test_blob_network();
    test_field_refusals();
    test_decode_refusals();
    secp256k1_context_destroy(g_ctx);
    return ak_test_report("test_tx_typed");
}
