/*
 * Transactions: legacy EIP-155 (the EIP's own example, byte for byte), pre-155, EIP-2930 and
 * EIP-1559 signing payloads, hashes, signed serializations and strict decoding.
 *
 * Vectors: the EIP-155 example is from the EIP text; everything else was produced by ethers v6
 * (tests/tools/node_modules, ethers 6.17.0) with the EIP-155 example key 0x4646..46:
 *   const key = new SigningKey("0x" + "46".repeat(32));
 *   const tx = Transaction.from({...fields...});   // fields as in each vector below
 *   tx.unsignedSerialized, tx.unsignedHash; tx.signature = key.sign(tx.unsignedHash);
 *   tx.serialized, tx.from
 * Our signatures come from libsecp256k1 (RFC 6979 nonces, as ethers/noble), so the signed
 * bytes must match ethers' exactly.
 */
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_rlp.h"
#include "ak_test.h"
#include "ak_tx.h"

#define MAXRAW 1024

static secp256k1_context *g_ctx;
static uint8_t g_key[32];
static uint8_t g_pub[65];
/* ethers: new Wallet("0x4646..46").address (also the sender in EIP-155's example). */
static const char *k_sender = "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F";

typedef struct {
    const char *name;
    ak_tx tx;
    const char *unsigned_hex; /* ethers unsignedSerialized */
    const char *hash_hex;     /* ethers unsignedHash */
    const char *signed_hex;   /* ethers serialized */
} vector;

static void u256_hex(ak_u256 *v, const char *hex)
{
    uint8_t be[32];
    size_t n = ak_test_unhex(be, sizeof be, hex);
    if (ak_u256_from_be(v, be, n) != AK_OK)
        abort();
}

static void sign_hash(ak_sig *sig, const uint8_t h[32])
{
    secp256k1_ecdsa_signature s;
    uint8_t compact[64];
    CHECK(secp256k1_ecdsa_sign(g_ctx, &s, h, g_key, NULL, NULL) == 1);
    CHECK(secp256k1_ecdsa_signature_serialize_compact(g_ctx, compact, &s) == 1);
    CHECK_EQ_INT(ak_sig_from_raw64(sig, compact, h, g_pub), AK_OK);
}

static void check_vector(const vector *v)
{
    static uint8_t want_u[MAXRAW], want_s[MAXRAW], got[MAXRAW];
    uint8_t want_h[32], h[32], addr[20];
    char addr_s[AK_ADDR_STR_SIZE];
    size_t nu = ak_test_unhex(want_u, sizeof want_u, v->unsigned_hex);
    size_t ns = ak_test_unhex(want_s, sizeof want_s, v->signed_hex);
    size_t n = 0;
    ak_sig sig, dsig;
    ak_tx dtx;
    ak_err err;
    ak_test_unhex(want_h, sizeof want_h, v->hash_hex);

    CHECK_EQ_INT(ak_tx_signing_payload(got, sizeof got, &n, &v->tx), AK_OK);
    CHECK_EQ_INT(n, nu);
    CHECK_MEM(got, want_u, nu);
    CHECK_EQ_INT(ak_tx_signing_hash(h, &v->tx), AK_OK);
    CHECK_MEM(h, want_h, 32);

    sign_hash(&sig, h);
    CHECK_EQ_INT(ak_tx_encode_signed(got, sizeof got, &n, &v->tx, &sig), AK_OK);
    CHECK_EQ_INT(n, ns);
    CHECK_MEM(got, want_s, ns);
    /* One byte short of room is a clean AK_ERR_BUFFER. */
    CHECK_EQ_INT(ak_tx_encode_signed(got, ns - 1, &n, &v->tx, &sig), AK_ERR_BUFFER);

    /* Decode ethers' bytes, compare fields, recover the sender, re-encode to the same bytes. */
    err = ak_tx_decode_signed(&dtx, &dsig, want_s, ns);
    CHECK_EQ_INT(err, AK_OK);
    if (err != AK_OK) {
        fprintf(stderr, "  (decode of vector %s failed)\n", v->name);
        return;
    }
    CHECK_EQ_INT(dtx.type, v->tx.type);
    CHECK_EQ_INT(dtx.pre155, v->tx.pre155);
    if (!v->tx.pre155)
        CHECK_EQ_INT(dtx.chain_id, v->tx.chain_id);
    CHECK(dtx.nonce == v->tx.nonce);
    CHECK(dtx.gas_limit == v->tx.gas_limit);
    CHECK(ak_u256_cmp(&dtx.gas_price, &v->tx.gas_price) == 0);
    CHECK(ak_u256_cmp(&dtx.max_fee_per_gas, &v->tx.max_fee_per_gas) == 0);
    CHECK(ak_u256_cmp(&dtx.max_priority_fee_per_gas, &v->tx.max_priority_fee_per_gas) == 0);
    CHECK(ak_u256_cmp(&dtx.value, &v->tx.value) == 0);
    CHECK_EQ_INT(dtx.has_to, v->tx.has_to);
    if (v->tx.has_to)
        CHECK_MEM(dtx.to, v->tx.to, 20);
    CHECK_EQ_INT(dtx.data_len, v->tx.data_len);
    if (v->tx.data_len)
        CHECK_MEM(dtx.data, v->tx.data, v->tx.data_len);
    if (v->tx.type != AK_TX_LEGACY && v->tx.access_list_rlp != NULL) {
        CHECK_EQ_INT(dtx.access_list_rlp_len, v->tx.access_list_rlp_len);
        CHECK_MEM(dtx.access_list_rlp, v->tx.access_list_rlp, v->tx.access_list_rlp_len);
    }
    CHECK_MEM(&dsig, &sig, sizeof sig);
    CHECK_EQ_INT(ak_tx_recover_sender(addr, &dtx, &dsig), AK_OK);
    ak_addr_to_checksum(addr_s, addr);
    CHECK_STR(addr_s, k_sender);
    CHECK_EQ_INT(ak_tx_encode_signed(got, sizeof got, &n, &dtx, &dsig), AK_OK);
    CHECK_EQ_INT(n, ns);
    CHECK_MEM(got, want_s, ns);
    if (ak_test_failed)
        fprintf(stderr, "  (after vector %s)\n", v->name);
}

static const uint8_t k_to35[20] = {0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35,
                                   0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35};

/* EIP-155's example, and ethers' serialization of it (identical to the EIP's signed tx). */
static const char *k_eip155_signed =
    "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000802"
    "5a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aec"
    "b703304b3800ccf555c9f3dc64214b297fb1966a3b6d83";

static void eip155_tx(ak_tx *tx)
{
    memset(tx, 0, sizeof *tx);
    tx->type = AK_TX_LEGACY;
    tx->chain_id = 1;
    tx->nonce = 9;
    u256_hex(&tx->gas_price, "04a817c800"); /* 20 gwei */
    tx->gas_limit = 21000;
    tx->has_to = 1;
    memcpy(tx->to, k_to35, 20);
    u256_hex(&tx->value, "0de0b6b3a7640000"); /* 10^18 */
}

static void vectors(void)
{
    static const uint8_t create_code[] = {0x60, 0x80, 0x60, 0x40, 0x52};
    static const uint8_t deadbeef[] = {0xde, 0xad, 0xbe, 0xef};
    static uint8_t ab100[100], al1[256], al2[64];
    size_t al1_len, al2_len;
    vector v;
    memset(ab100, 0xab, sizeof ab100);
    /* ethers' encodings of the access lists of t1_al and t2_create_big (inside unsignedSerialized)
     */
    al1_len = ak_test_unhex(al1, sizeof al1,
                            "f872f859941111111111111111111111111111111111111111f842a000000000000000"
                            "00000000000000000000000000000000000000000000000001a0222222222222222222"
                            "2222222222222222222222222222222222222222222222d69433333333333333333333"
                            "33333333333333333333c0");
    al2_len = ak_test_unhex(al2, sizeof al2,
                            "f838f7944444444444444444444444444444444444444444e1a0555555555555555555"
                            "5555555555555555555555555555555555555555555555");

    /* EIP-155 example: signing data and signing hash as printed in the EIP. */
    memset(&v, 0, sizeof v);
    v.name = "eip155";
    eip155_tx(&v.tx);
    v.unsigned_hex = "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76"
                     "4000080018080";
    v.hash_hex = "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53";
    v.signed_hex = k_eip155_signed;
    check_vector(&v);

    /* ethers {type:0, nonce:0, gasPrice:1, gasLimit:21000, to:0x35.., value:1, chainId:0} */
    memset(&v, 0, sizeof v);
    v.name = "pre155";
    v.tx.type = AK_TX_LEGACY;
    v.tx.pre155 = 1;
    u256_hex(&v.tx.gas_price, "01");
    v.tx.gas_limit = 21000;
    v.tx.has_to = 1;
    memcpy(v.tx.to, k_to35, 20);
    u256_hex(&v.tx.value, "01");
    v.unsigned_hex = "dc80018252089435353535353535353535353535353535353535350180";
    v.hash_hex = "1ce093f97436024d3e93ac98eed4c0e73c5c6848fa57c756c4b8052ee5995a1b";
    v.signed_hex = "f85f800182520894353535353535353535353535353535353535353501801ca0cabffd5343e6615"
                   "57127d6096390ccaec4f6e6e89ae3560d5fd2d58f98d652baa07cc12865dfb6e7e0b83b17a6ac81"
                   "1c36ecc580d060481662e32456b99b496199";
    check_vector(&v);

    /* ethers {type:0, nonce:255, gasPrice:123456789, gasLimit:3000000, to:null, value:0,
     * data:0x6080604052, chainId:11155111} (contract creation, multi-byte v) */
    memset(&v, 0, sizeof v);
    v.name = "legacy_create_sepolia";
    v.tx.type = AK_TX_LEGACY;
    v.tx.chain_id = 11155111;
    v.tx.nonce = 255;
    u256_hex(&v.tx.gas_price, "075bcd15");
    v.tx.gas_limit = 3000000;
    v.tx.data = create_code;
    v.tx.data_len = sizeof create_code;
    v.unsigned_hex = "d981ff84075bcd15832dc6c0808085608060405283aa36a78080";
    v.hash_hex = "f0716b60db061af82a9c24144ebcd8f10536bd317f0a82b6de437f62bd30738e";
    v.signed_hex = "f85a81ff84075bcd15832dc6c080808560806040528401546d72a046eac23f4422a394ff9b1f46b"
                   "c1c7beb967709dcec8b31a1d6f09fe1d6fd2276a04ed2033791ef0d45df08c6c3161236238b8f6d"
                   "e7318656315f0f053e43b59105";
    check_vector(&v);

    /* ethers {type:1, nonce:1, gasPrice:30 gwei, gasLimit:50000, to:0x35.., value:1,
     * data:0xdeadbeef, chainId:1, accessList:[{0x11..,[0x..01, 0x22..]}, {0x33.., []}]} */
    memset(&v, 0, sizeof v);
    v.name = "eip2930_access_list";
    v.tx.type = AK_TX_EIP2930;
    v.tx.chain_id = 1;
    v.tx.nonce = 1;
    u256_hex(&v.tx.gas_price, "06fc23ac00");
    v.tx.gas_limit = 50000;
    v.tx.has_to = 1;
    memcpy(v.tx.to, k_to35, 20);
    u256_hex(&v.tx.value, "01");
    v.tx.data = deadbeef;
    v.tx.data_len = sizeof deadbeef;
    v.tx.access_list_rlp = al1;
    v.tx.access_list_rlp_len = al1_len;
    v.unsigned_hex =
        "01f89a01018506fc23ac0082c3509435353535353535353535353535353535353535350184dea"
        "dbeeff872f859941111111111111111111111111111111111111111f842a000000000000000000"
        "00000000000000000000000000000000000000000000001a0222222222222222222222222222222"
        "2222222222222222222222222222222222d6943333333333333333333333333333333333333333"
        "c0";
    v.hash_hex = "cc55b3a2868bee6387a0000e5129654f3c0fd7a4b1436ef8a308e3576f764d00";
    v.signed_hex =
        "01f8dd01018506fc23ac0082c3509435353535353535353535353535353535353535350184deadb"
        "eeff872f859941111111111111111111111111111111111111111f842a0000000000000000000000"
        "0000000000000000000000000000000000000000001a02222222222222222222222222222222222"
        "222222222222222222222222222222d6943333333333333333333333333333333333333333c080a"
        "0c8b089015ae5cd420c72381be06c7dfd23e74703c9ff948fd8c4c3137c6048a1a04f44d209f61c"
        "c3698febc99e6c487aaba02254d020e2a574342264d4de38a5de";
    check_vector(&v);

    /* ethers {type:1, nonce:0, gasPrice:0, gasLimit:21000, to:0x35.., value:0, chainId:5,
     * accessList:[]} (NULL access list = empty list) */
    memset(&v, 0, sizeof v);
    v.name = "eip2930_empty";
    v.tx.type = AK_TX_EIP2930;
    v.tx.chain_id = 5;
    v.tx.gas_limit = 21000;
    v.tx.has_to = 1;
    memcpy(v.tx.to, k_to35, 20);
    v.unsigned_hex = "01de0580808252089435353535353535353535353535353535353535358080c0";
    v.hash_hex = "bfc0bc5e7535307effa5f626a79cb73accef28b6dbf6a3976cf5238bb07519c1";
    v.signed_hex =
        "01f8610580808252089435353535353535353535353535353535353535358080c001a05c1c2def21"
        "46de646e81e9d7ea480d92699ad08c7fb840261383b81c73ec0b20a002bec841f9452fa6d553eeaf"
        "2bcfd596ec1a536b9b8021da028267c33216a2bf";
    check_vector(&v);

    /* ethers {type:2, nonce:7, maxPriorityFeePerGas:1.5 gwei, maxFeePerGas:30 gwei,
     * gasLimit:21000, to:0x35.., value:10^18, chainId:1, accessList:[]} */
    memset(&v, 0, sizeof v);
    v.name = "eip1559_simple";
    v.tx.type = AK_TX_EIP1559;
    v.tx.chain_id = 1;
    v.tx.nonce = 7;
    u256_hex(&v.tx.max_priority_fee_per_gas, "59682f00");
    u256_hex(&v.tx.max_fee_per_gas, "06fc23ac00");
    v.tx.gas_limit = 21000;
    v.tx.has_to = 1;
    memcpy(v.tx.to, k_to35, 20);
    u256_hex(&v.tx.value, "0de0b6b3a7640000");
    v.unsigned_hex =
        "02f001078459682f008506fc23ac00825208943535353535353535353535353535353535353535"
        "880de0b6b3a764000080c0";
    v.hash_hex = "b0f7fd996f8d04a3aab8ffddd315e9982cc3897f06be4b1e708d4fc15525fa4b";
    v.signed_hex =
        "02f87301078459682f008506fc23ac0082520894353535353535353535353535353535353535353588"
        "0de0b6b3a764000080c001a06778a12848602551b01cbff54d91c73badfff90962db4b93a96ba724"
        "024c92fca02577d156ff794ba87bd4dc9fe08aec3124133b4dc78219c9806db862e46a3e5f";
    check_vector(&v);

    /* ethers {type:2, nonce:2^53-1, maxPriorityFeePerGas:2^256-1, maxFeePerGas:2^256-1,
     * gasLimit:2^64-1, to:null, value:2^256-1, data:0xab*100, chainId:137,
     * accessList:[{0x44.., [0x55..]}]} (contract creation, largest values) */
    memset(&v, 0, sizeof v);
    v.name = "eip1559_create_big";
    v.tx.type = AK_TX_EIP1559;
    v.tx.chain_id = 137;
    v.tx.nonce = 9007199254740991ull;
    u256_hex(&v.tx.max_priority_fee_per_gas,
             "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    v.tx.max_fee_per_gas = v.tx.max_priority_fee_per_gas;
    v.tx.value = v.tx.max_priority_fee_per_gas;
    v.tx.gas_limit = UINT64_MAX;
    v.tx.data = ab100;
    v.tx.data_len = sizeof ab100;
    v.tx.access_list_rlp = al2;
    v.tx.access_list_rlp_len = al2_len;
    v.unsigned_hex =
        "02f901178189871fffffffffffffa0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "ffffffa0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff88ffffffffffffff"
        "ff80a0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffb864ababababababab"
        "abababababababababababababababababababababababababababababababababababababababababababab"
        "abababababababababababababababababababababababababababababababababababababababababababab"
        "abababababf838f7944444444444444444444444444444444444444444e1a055555555555555555555555555"
        "55555555555555555555555555555555555555";
    v.hash_hex = "0f8da873a87b3a13ebf58d0da0ef8a01d2b0d62284d1cd9f8e6dae641607660a";
    v.signed_hex =
        "02f9015a8189871fffffffffffffa0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "ffffffa0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff88ffffffffffffff"
        "ff80a0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffb864ababababababab"
        "abababababababababababababababababababababababababababababababababababababababababababab"
        "abababababababababababababababababababababababababababababababababababababababababababab"
        "abababababf838f7944444444444444444444444444444444444444444e1a055555555555555555555555555"
        "5555555555555555555555555555555555555501a0576939b0b8e2e5ddae7ec0b2e34d45939453d0df743b7b"
        "9dea6d0487657f632fa05fd36edf7866301a6cf8e4812c4fbac4e2f64ce6ed7455b4c89e5898f6a777e0";
    check_vector(&v);
}

/* The access list builder reproduces ethers' encodings used above. */
static void access_list_builder(void)
{
    uint8_t store[512], want[256], keys[2][32], addr[20], tiny[30];
    size_t want_len, mark;
    ak_buf b = ak_buf_init(store, sizeof store);
    want_len = ak_test_unhex(want, sizeof want,
                             "f872f859941111111111111111111111111111111111111111f842a0000000000000"
                             "0000000000000000000000000000000000000000000000000001a022222222222222"
                             "22222222222222222222222222222222222222222222222222d69433333333333333"
                             "33333333333333333333333333c0");
    memset(keys, 0, sizeof keys);
    keys[0][31] = 1;
    memset(keys[1], 0x22, 32);
    mark = ak_tx_access_list_begin(&b);
    memset(addr, 0x11, 20);
    CHECK_EQ_INT(ak_tx_access_list_add(&b, addr, (const uint8_t(*)[32])keys, 2), AK_OK);
    memset(addr, 0x33, 20);
    CHECK_EQ_INT(ak_tx_access_list_add(&b, addr, NULL, 0), AK_OK);
    CHECK_EQ_INT(ak_tx_access_list_end(&b, mark), AK_OK);
    CHECK_EQ_INT(b.len, want_len);
    CHECK_MEM(b.data, want, want_len);

    /* Empty list -> c0. */
    b = ak_buf_init(store, sizeof store);
    mark = ak_tx_access_list_begin(&b);
    CHECK_EQ_INT(ak_tx_access_list_end(&b, mark), AK_OK);
    CHECK_EQ_INT(b.len, 1);
    CHECK_EQ_INT(store[0], 0xc0);

    /* A failed add leaves the buffer as it was. */
    b = ak_buf_init(tiny, sizeof tiny);
    mark = ak_tx_access_list_begin(&b);
    CHECK_EQ_INT(mark, 0);
    CHECK_EQ_INT(ak_tx_access_list_add(&b, addr, (const uint8_t(*)[32])keys, 1), AK_ERR_BUFFER);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(ak_tx_access_list_add(&b, addr, NULL, 1), AK_ERR_ARG);
    CHECK_EQ_INT(ak_tx_access_list_end(&b, 5), AK_ERR_ARG);
}

/* Parse the EIP-155 signed tx into bytes; returns its length. */
static size_t eip155_raw(uint8_t *raw, size_t cap)
{
    return ak_test_unhex(raw, cap, k_eip155_signed);
}

static void decode_negative(void)
{
    /* secp256k1 n */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    uint8_t raw[MAXRAW], raw2[MAXRAW];
    size_t len = eip155_raw(raw, sizeof raw), len2;
    ak_tx tx;
    ak_sig sig;
    /* offsets in the EIP-155 signed tx: v at len-67, s payload at len-32 */
    const size_t v_off = len - 67;
    CHECK_EQ_INT(raw[v_off], 0x25);

    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, 0), AK_ERR_TX);
    /* trailing byte */
    memcpy(raw2, raw, len);
    raw2[len] = 0x00;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len + 1), AK_ERR_RLP);
    /* truncated */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len - 1), AK_ERR_RLP);
    /* unknown type bytes: 0x05, 0x00, 0x7f; 0x80..0xbf is no transaction */
    raw2[0] = 0x05;
    memcpy(raw2 + 1, raw, len);
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len + 1), AK_ERR_TX_TYPE);
    raw2[0] = 0x00;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len + 1), AK_ERR_TX_TYPE);
    raw2[0] = 0x7f;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len + 1), AK_ERR_TX_TYPE);
    raw2[0] = 0x85;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, 6), AK_ERR_TX);
    /* a legacy list behind a type-2 byte: 9 fields where 12 are required */
    raw2[0] = 0x02;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len + 1), AK_ERR_TX);

    /* wrong field counts: drop s (8 fields), add a 10th field */
    {
        uint8_t body[MAXRAW];
        size_t blen = len - 2 - 33; /* fields without s */
        memcpy(body, raw + 2, blen);
        raw2[0] = 0xf8;
        raw2[1] = (uint8_t)blen;
        memcpy(raw2 + 2, body, blen);
        CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, blen + 2), AK_ERR_TX);
        blen = len - 2;
        memcpy(body, raw + 2, blen);
        body[blen++] = 0x80;
        raw2[0] = 0xf8;
        raw2[1] = (uint8_t)blen;
        memcpy(raw2 + 2, body, blen);
        CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, blen + 2), AK_ERR_TX);
    }

    /* high s: s' = n - s with the other recovery id is the same signature, but EIP-2 forbids it */
    memcpy(raw2, raw, len);
    {
        unsigned borrow = 0;
        for (size_t i = 32; i-- > 0;) {
            unsigned d = (unsigned)n[i] - raw[len - 32 + i] - borrow;
            raw2[len - 32 + i] = (uint8_t)d;
            borrow = (d >> 8) & 1u;
        }
    }
    CHECK(raw2[len - 32] >= 0x80); /* still 32 bytes long */
    raw2[v_off] = 0x26;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len), AK_ERR_SIG);

    /* v values: 29..34 are nothing, 35/36 would be chain id 0, 0 and 1 are typed-only */
    static const uint8_t bad_v[] = {0x1d, 0x22, 0x01};
    for (size_t i = 0; i < sizeof bad_v; i++) {
        memcpy(raw2, raw, len);
        raw2[v_off] = bad_v[i];
        CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len), AK_ERR_TX);
    }
    memcpy(raw2, raw, len);
    raw2[v_off] = 0x23;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len), AK_ERR_CHAIN_ID);
    raw2[v_off] = 0x80; /* v = 0 */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len), AK_ERR_TX);
    /* v = 0x1b (27): a well-formed pre-155 tx, recovering to some other address */
    raw2[v_off] = 0x1b;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len), AK_OK);
    CHECK_EQ_INT(tx.pre155, 1);
    /* v = 38 is chain 1 recid 1: decodes (it is a different signer) */
    raw2[v_off] = 0x26;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len), AK_OK);
    CHECK_EQ_INT(tx.chain_id, 1);
    CHECK_EQ_INT(sig.recid, 1);

    /* r = 0 (a0 <32 bytes> replaced by 80, list shortened by 32) */
    {
        size_t r_off = len - 66; /* a0 header of r */
        len2 = 0;
        raw2[len2++] = 0xf8;
        raw2[len2++] = (uint8_t)(raw[1] - 32);
        memcpy(raw2 + len2, raw + 2, r_off - 2);
        len2 += r_off - 2;
        raw2[len2++] = 0x80;
        memcpy(raw2 + len2, raw + len - 33, 33);
        len2 += 33;
        CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len2), AK_ERR_SIG);
    }

    /* nonce with a leading zero byte: 82 00 09 instead of 09 */
    len2 = 0;
    raw2[len2++] = 0xf8;
    raw2[len2++] = (uint8_t)(raw[1] + 2);
    raw2[len2++] = 0x82;
    raw2[len2++] = 0x00;
    raw2[len2++] = 0x09;
    memcpy(raw2 + len2, raw + 3, len - 3);
    len2 += len - 3;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len2), AK_ERR_RLP);
    /* non-canonical list header: f9 006c */
    raw2[0] = 0xf9;
    raw2[1] = 0x00;
    raw2[2] = 0x6c;
    memcpy(raw2 + 3, raw + 2, len - 2);
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len + 1), AK_ERR_RLP);
    /* a 19-byte "to" (93 instead of 94, one byte less, list shorter) */
    len2 = 0;
    raw2[len2++] = 0xf8;
    raw2[len2++] = (uint8_t)(raw[1] - 1);
    memcpy(raw2 + len2, raw + 2, 10); /* nonce, gasPrice, gas */
    len2 += 10;
    CHECK_EQ_INT(raw[12], 0x94);
    raw2[len2++] = 0x93;
    memcpy(raw2 + len2, raw + 13, 19);
    len2 += 19;
    memcpy(raw2 + len2, raw + 33, len - 33);
    len2 += len - 33;
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, len2), AK_ERR_TX);
    /* not a list */
    raw2[0] = 0xb8;
    raw2[1] = 0x40;
    memset(raw2 + 2, 0x11, 0x40);
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw2, 0x42), AK_ERR_TX);
    CHECK_EQ_INT(ak_tx_decode_signed(NULL, &sig, raw, len), AK_ERR_ARG);
}

/* Typed-transaction specific decode failures, built from the EIP-1559 ethers vector. */
static void decode_negative_typed(void)
{
    uint8_t raw[MAXRAW];
    size_t len = ak_test_unhex(
        raw, sizeof raw,
        "02f87301078459682f008506fc23ac0082520894353535353535353535353535353535353535353588"
        "0de0b6b3a764000080c001a06778a12848602551b01cbff54d91c73badfff90962db4b93a96ba724"
        "024c92fca02577d156ff794ba87bd4dc9fe08aec3124133b4dc78219c9806db862e46a3e5f");
    ak_tx tx;
    ak_sig sig;
    const size_t y_off = len - 67;
    CHECK_EQ_INT(raw[y_off], 0x01);
    CHECK_EQ_INT(raw[y_off - 1], 0xc0);
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len), AK_OK);
    raw[y_off] = 0x02; /* yParity 2 */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len), AK_ERR_TX);
    raw[y_off] = 0x1b; /* a legacy v in a typed tx */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len), AK_ERR_TX);
    raw[y_off] = 0x01;
    raw[y_off - 1] = 0x80; /* access list as a string */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len), AK_ERR_TX);
    raw[y_off - 1] = 0xc0;
    raw[3] = 0x80; /* chain id 0 */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len), AK_ERR_CHAIN_ID);
    raw[3] = 0x01;
    raw[0] = 0x01; /* type 1 needs 11 fields, this has 12 */
    CHECK_EQ_INT(ak_tx_decode_signed(&tx, &sig, raw, len), AK_ERR_TX);
}

static void encode_negative(void)
{
    static const uint8_t bad_al[] = {0xc1, 0x01};              /* [0x01]: entry not a list */
    static const uint8_t bad_al2[] = {0xc3, 0xc2, 0x80, 0xc0}; /* address of 0 bytes */
    static const uint8_t not_list[] = {0x80};
    uint8_t out[MAXRAW], h[32];
    size_t n;
    ak_tx tx;
    ak_sig sig;
    eip155_tx(&tx);
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_OK);
    sign_hash(&sig, h);

    tx.chain_id = 0;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_CHAIN_ID);
    tx.chain_id = AK_TX_MAX_CHAIN_ID + 1;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_CHAIN_ID);
    tx.chain_id = AK_TX_MAX_CHAIN_ID; /* the largest allowed: v still fits 64 bits */
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, &tx, &sig), AK_OK);
    tx.chain_id = 1;
    tx.type = (ak_tx_type)5;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_TX_TYPE);
    tx.type = AK_TX_EIP1559;
    tx.pre155 = 1;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_TX);
    tx.pre155 = 0;
    tx.data_len = AK_TX_MAX_DATA + 1;
    tx.data = out; /* never read: the length is refused first */
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_LIMIT);
    tx.data = NULL;
    tx.data_len = 1;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_ARG);
    tx.data_len = 0;
    tx.access_list_rlp = bad_al;
    tx.access_list_rlp_len = sizeof bad_al;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_TX);
    tx.access_list_rlp = bad_al2;
    tx.access_list_rlp_len = sizeof bad_al2;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_TX);
    tx.access_list_rlp = not_list;
    tx.access_list_rlp_len = sizeof not_list;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_TX);
    tx.access_list_rlp_len = 0; /* truncated RLP */
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_RLP);
    tx.type = AK_TX_LEGACY; /* a legacy tx cannot carry an access list */
    tx.access_list_rlp = bad_al;
    tx.access_list_rlp_len = sizeof bad_al;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_ERR_TX);
    eip155_tx(&tx);

    /* signatures the serializer refuses */
    ak_sig bad = sig;
    bad.recid = 2;
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, &tx, &bad), AK_ERR_SIG);
    bad = sig;
    memset(bad.s, 0xff, 32); /* >= n */
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, &tx, &bad), AK_ERR_SIG);
    bad = sig;
    bad.s[0] = 0x80; /* high s */
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, &tx, &bad), AK_ERR_SIG);
    bad = sig;
    memset(bad.r, 0, 32);
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, &tx, &bad), AK_ERR_SIG);
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, NULL, &sig), AK_ERR_ARG);
}

/* Largest data: encodes, decodes, round-trips; the hash uses a heap buffer. */
static void large_data(void)
{
    static uint8_t data[AK_TX_MAX_DATA], out[AK_TX_MAX_ENCODED];
    uint8_t h[32], addr[20];
    char addr_s[AK_ADDR_STR_SIZE];
    size_t n;
    ak_tx tx, dtx;
    ak_sig sig, dsig;
    memset(data, 0x5a, sizeof data);
    eip155_tx(&tx);
    tx.type = AK_TX_EIP1559;
    tx.nonce = UINT64_MAX;
    tx.data = data;
    tx.data_len = sizeof data;
    CHECK_EQ_INT(ak_tx_signing_hash(h, &tx), AK_OK);
    sign_hash(&sig, h);
    CHECK_EQ_INT(ak_tx_encode_signed(out, sizeof out, &n, &tx, &sig), AK_OK);
    CHECK_EQ_INT(ak_tx_decode_signed(&dtx, &dsig, out, n), AK_OK);
    CHECK(dtx.nonce == UINT64_MAX);
    CHECK_EQ_INT(dtx.data_len, sizeof data);
    CHECK_EQ_INT(ak_tx_recover_sender(addr, &dtx, &dsig), AK_OK);
    ak_addr_to_checksum(addr_s, addr);
    CHECK_STR(addr_s, k_sender);
}

int main(void)
{
    uint8_t hash[32], want[32], raw[MAXRAW];
    size_t len;
    size_t pub_len = 65;
    secp256k1_pubkey pk;
    g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    memset(g_key, 0x46, sizeof g_key);
    CHECK(secp256k1_ec_pubkey_create(g_ctx, &pk, g_key) == 1);
    CHECK(secp256k1_ec_pubkey_serialize(g_ctx, g_pub, &pub_len, &pk, SECP256K1_EC_UNCOMPRESSED));

    vectors();
    access_list_builder();
    decode_negative();
    decode_negative_typed();
    encode_negative();
    large_data();

    /* transaction hash of the EIP-155 example (ethers Transaction.from(raw).hash) */
    len = eip155_raw(raw, sizeof raw);
    ak_tx_hash(hash, raw, len);
    ak_test_unhex(want, sizeof want,
                  "33469b22e9f636356c4160a87eb19df52b7412e8eac32a4a55ffe88ea8350788");
    CHECK_MEM(hash, want, 32);

    secp256k1_context_destroy(g_ctx);
    return ak_test_report("test_tx");
}
