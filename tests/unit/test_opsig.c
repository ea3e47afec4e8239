/*
 * ak_opsig: the OP Stack block-payload signing hash, the r || s || yParity result form, and the
 * V1 / V2 JSON parameter forms of opsigner_signBlockPayload(V2), strictly parsed.
 *
 * Vectors: `cd tests/tools && node ../unit/opsig_vectors.js` (ethers; the first is the case of
 * op-service/signer/blockpayload_args_test.go, whose expected hash the script asserts). The V1
 * JSON shape is that test's too (domain as 32 numbers, chainId a number, payloadHash base64,
 * senderAddress lower-case hex), as Go's encoding/json writes BlockPayloadArgs.
 */
#include <secp256k1.h>
#include <stdio.h>

#include "ak_b64.h"
#include "ak_opsig.h"
#include "ak_test.h"

typedef struct {
    const char *domain;
    uint64_t chain_id;
    const char *payload, *payload_hash, *payload_hash_b64, *signing_hash, *rsv;
} opv;

static const opv k_vec[] = {
    {"7b2a000000000000000000000000000000000000000000000000000000000000", 100u,
     "61726269747261727944617461",
     "eea6bb6591d20b52f2b6574fb20bf7279cd03d581613d8ea1e88c82b8400144b",
     "7qa7ZZHSC1LytldPsgv3J5zQPVgWE9jqHojIK4QAFEs=",
     "c724de7aefa316a12cbbd5edc39d512830598cce5d6ac81d1b518ef69450ad77",
     "5922dbec11ea4112eeca83fa209db87f042547fa2c132884977967107c8cbf036d0d0415b17cd4c169ed5d611ca6a"
     "19526d5cc51ffbc6037c493d89f889d261800"},
    {"0000000000000000000000000000000000000000000000000000000000000000", 901u,
     "616e20657865637574696f6e207061796c6f6164",
     "a922976010f531c7659b09794e318d915ecff473fd4a10ef546737b46580ba28",
     "qSKXYBD1Mcdlmwl5TjGNkV7P9HP9ShDvVGc3tGWAuig=",
     "3b49720b372eba60b1986b3b161b8bd56c0899643782106a5ebe9ffe6d1c241b",
     "c55e4d2c22b493d1a61643b8cd4dfd51c612e6ee8031341201a33e3b583e95405e128895032539daae2baee532580"
     "491283521c9a603b6a09bf7713376a97ba900"},
    {"0000000000000000000000000000000000000000000000000000000000000000", 11155420u, "",
     "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
     "xdJGAYb3IzySfn2y3McDwOUAtlPKgic7e/rYBF2FpHA=",
     "126ad94066e371becd78a4ce35f5eb6db189133cf2094c69c2a2518dc0676481",
     "d985bd990e86aa26ee429550e58f968c06cff91678dbbb44e198e773ff5c0ce1524c447e699d9fabfe123e48e8bfa"
     "c825be4d6c52bf7e84f53a70a2e236ff49301"},
};

static secp256k1_context *g_ctx;
static uint8_t g_key[32], g_pub[65];

static void block_from(ak_opsig_block *b, const opv *v)
{
    memset(b, 0, sizeof *b);
    ak_test_unhex(b->domain, 32, v->domain);
    ak_u256_from_u64(&b->chain_id, v->chain_id);
    ak_test_unhex(b->payload_hash, 32, v->payload_hash);
}

/* The V1 params object as Go writes it for v (optionally with the old PayloadBytes). */
static cJSON *v1_json(const opv *v, int with_bytes, const char *sender)
{
    uint8_t d[32] = {0}, payload[64] = {0};
    char num[8], buf[2048], *p = buf;
    size_t n = ak_test_unhex(payload, sizeof payload, v->payload);
    ak_test_unhex(d, 32, v->domain);
    p += snprintf(p, sizeof buf, "{\"domain\":[");
    for (size_t i = 0; i < 32; i++) {
        snprintf(num, sizeof num, "%s%u", i ? "," : "", d[i]);
        p += snprintf(p, (size_t)(buf + sizeof buf - p), "%s", num);
    }
    p += snprintf(p, (size_t)(buf + sizeof buf - p),
                  "],\"chainId\":%llu,\"payloadHash\":\"%s\",\"senderAddress\":%s",
                  (unsigned long long)v->chain_id, v->payload_hash_b64, sender);
    if (with_bytes) {
        char b64[128];
        if (ak_b64_encode(b64, sizeof b64, payload, n) != AK_OK)
            abort();
        p += snprintf(p, (size_t)(buf + sizeof buf - p), ",\"PayloadBytes\":\"%s\"", b64);
    }
    snprintf(p, (size_t)(buf + sizeof buf - p), "}");
    return cJSON_Parse(buf);
}

static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof k_vec / sizeof k_vec[0]; i++) {
        const opv *v = &k_vec[i];
        ak_opsig_block b, got;
        uint8_t h[32], want[32], payload[64], ph[32], rsv[65], want_rsv[65], compact[64];
        char why[128], json[512];
        size_t n = ak_test_unhex(payload, sizeof payload, v->payload);
        secp256k1_ecdsa_signature s;
        ak_sig sig;
        block_from(&b, v);
        ak_opsig_payload_hash(ph, payload, n);
        CHECK_MEM(ph, b.payload_hash, 32);
        ak_opsig_signing_hash(h, &b);
        ak_test_unhex(want, 32, v->signing_hash);
        CHECK_MEM(h, want, 32);
        CHECK_EQ_INT(ak_opsig_domain_is_blocks_v1(b.domain), i != 0);
        /* r || s || yParity: libsecp256k1 (RFC 6979) gives ethers' signature */
        CHECK(secp256k1_ecdsa_sign(g_ctx, &s, h, g_key, NULL, NULL) == 1);
        CHECK(secp256k1_ecdsa_signature_serialize_compact(g_ctx, compact, &s) == 1);
        CHECK_EQ_INT(ak_sig_from_raw64(&sig, compact, h, g_pub), AK_OK);
        ak_opsig_signature65(rsv, &sig);
        ak_test_unhex(want_rsv, 65, v->rsv);
        CHECK_MEM(rsv, want_rsv, 65);
        /* V1 JSON, with and without the old PayloadBytes, sender null or an address */
        for (int with_bytes = 0; with_bytes < 2; with_bytes++) {
            cJSON *j = v1_json(v, with_bytes, "\"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266\"");
            CHECK_EQ_INT(ak_opsig_block_v1_from_json(&got, j, why, sizeof why), AK_OK);
            CHECK_MEM(got.domain, b.domain, 32);
            CHECK_EQ_INT(ak_u256_cmp(&got.chain_id, &b.chain_id), 0);
            CHECK_MEM(got.payload_hash, b.payload_hash, 32);
            CHECK(got.has_sender && got.sender[0] == 0xf3 && got.sender[19] == 0x66);
            cJSON_Delete(j);
        }
        cJSON *j = v1_json(v, 0, "null");
        CHECK_EQ_INT(ak_opsig_block_v1_from_json(&got, j, why, sizeof why), AK_OK);
        CHECK(!got.has_sender);
        cJSON_Delete(j);
        /* V2 JSON: chainId as Go writes it (decimal) and as it also reads it (0x) */
        for (int hex = 0; hex < 2; hex++) {
            snprintf(json, sizeof json,
                     hex ? "{\"domain\":\"0x%s\",\"chainId\":\"0x%llx\",\"payloadHash\":\"0x%s\","
                           "\"senderAddress\":null}"
                         : "{\"domain\":\"0x%s\",\"chainId\":\"%llu\",\"payloadHash\":\"0x%s\","
                           "\"senderAddress\":null}",
                     v->domain, (unsigned long long)v->chain_id, v->payload_hash);
            j = cJSON_Parse(json);
            CHECK_EQ_INT(ak_opsig_block_v2_from_json(&got, j, why, sizeof why), AK_OK);
            CHECK(memcmp(&got.chain_id, &b.chain_id, sizeof b.chain_id) == 0 &&
                  memcmp(got.payload_hash, b.payload_hash, 32) == 0 &&
                  memcmp(got.domain, b.domain, 32) == 0 && !got.has_sender);
            ak_opsig_signing_hash(h, &got);
            CHECK_MEM(h, want, 32);
            cJSON_Delete(j);
        }
    }
}

/* Each bad params object is refused and why starts with the member named. */
static void expect_bad(int v2, const char *json, const char *why_prefix)
{
    ak_opsig_block b;
    char why[128];
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    ak_err err = v2 ? ak_opsig_block_v2_from_json(&b, j, why, sizeof why)
                    : ak_opsig_block_v1_from_json(&b, j, why, sizeof why);
    CHECK(err != AK_OK);
    CHECK(strncmp(why, why_prefix, strlen(why_prefix)) == 0);
    if (err == AK_OK || strncmp(why, why_prefix, strlen(why_prefix)) != 0)
        fprintf(stderr, "  %s -> %d \"%s\"\n", json, err, why);
    CHECK(ak_u256_is_zero(&b.chain_id) && !b.has_sender);
    cJSON_Delete(j);
}

#define Z32 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
#define PH  "\"qSKXYBD1Mcdlmwl5TjGNkV7P9HP9ShDvVGc3tGWAuig=\""
#define H64 "a922976010f531c7659b09794e318d915ecff473fd4a10ef546737b46580ba28"

static void test_refusals(void)
{
    /* V1 */
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":" PH ",\"extra\":1}",
               "extra: unknown member");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":" PH ",\"chainid\":1}",
               "chainid: unknown member");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":" PH ",\"chainId\":902}",
               "chainId: repeated");
    expect_bad(0, "{\"domain\":[" Z32 ",0],\"chainId\":901,\"payloadHash\":" PH "}", "domain:");
    expect_bad(0,
               "{\"domain\":[256,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"
               "\"chainId\":901,\"payloadHash\":" PH "}",
               "domain:");
    expect_bad(0, "{\"domain\":\"0x00\",\"chainId\":901,\"payloadHash\":" PH "}", "domain:");
    expect_bad(0, "{\"chainId\":901,\"payloadHash\":" PH "}", "domain:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":\"901\",\"payloadHash\":" PH "}", "chainId:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":0,\"payloadHash\":" PH "}", "chainId:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":1.5,\"payloadHash\":" PH "}", "chainId:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":9007199254740993,\"payloadHash\":" PH "}",
               "chainId:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":null,\"payloadHash\":" PH "}", "chainId:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":\"0x" H64 "\"}",
               "payloadHash:");
    expect_bad(0, "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":\"qSKX\"}",
               "payloadHash:");
    expect_bad(0,
               "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":" PH
               ",\"PayloadBytes\":\"YXJiaXRyYXJ5RGF0YQ==\"}",
               "PayloadBytes: its keccak256 is not payloadHash");
    expect_bad(0,
               "{\"domain\":[" Z32 "],\"chainId\":901,\"payloadHash\":" PH
               ",\"senderAddress\":\"0x12\"}",
               "senderAddress:");
    expect_bad(0, "[1]", "params[0]: must be an object");
    /* V2 */
    expect_bad(1,
               "{\"domain\":\"0x" H64 "\",\"chainId\":\"901\",\"payloadHash\":\"0x" H64
               "\",\"PayloadBytes\":null}",
               "PayloadBytes: unknown member");
    expect_bad(1, "{\"domain\":[" Z32 "],\"chainId\":\"901\",\"payloadHash\":\"0x" H64 "\"}",
               "domain:");
    expect_bad(1, "{\"domain\":\"0x" H64 "\",\"chainId\":901,\"payloadHash\":\"0x" H64 "\"}",
               "chainId:");
    expect_bad(1, "{\"domain\":\"0x" H64 "\",\"chainId\":\"0\",\"payloadHash\":\"0x" H64 "\"}",
               "chainId:");
    expect_bad(1, "{\"domain\":\"0x" H64 "\",\"chainId\":\"0901\",\"payloadHash\":\"0x" H64 "\"}",
               "chainId:");
    expect_bad(1, "{\"domain\":\"0x" H64 "\",\"chainId\":\"901\",\"payloadHash\":\"0x" H64 "00\"}",
               "payloadHash:");
    expect_bad(1,
               "{\"domain\":\"0x" H64 "\",\"chainId\":\"901\",\"payloadHash\":\"0x0000000000000000"
               "000000000000000000000000000000000000000000000000\"}",
               "payloadHash:");
    expect_bad(1, "{\"domain\":\"0x" H64 "\",\"chainId\":\"901\"}", "payloadHash:");
    {
        ak_opsig_block b;
        CHECK_EQ_INT(ak_opsig_block_v1_from_json(NULL, NULL, NULL, 0), AK_ERR_ARG);
        CHECK_EQ_INT(ak_opsig_block_v2_from_json(&b, NULL, NULL, 0), AK_ERR_ARG);
    }
}

int main(void)
{
    secp256k1_pubkey pk;
    size_t n = 65;
    memset(g_key, 0x46, sizeof g_key);
    g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    CHECK(secp256k1_ec_pubkey_create(g_ctx, &pk, g_key) == 1);
    CHECK(secp256k1_ec_pubkey_serialize(g_ctx, g_pub, &n, &pk, SECP256K1_EC_UNCOMPRESSED) == 1);
    test_vectors();
    test_refusals();
    secp256k1_context_destroy(g_ctx);
    return ak_test_report("test_opsig");
}
