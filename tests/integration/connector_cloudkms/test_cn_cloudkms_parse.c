/*
 * test_cn_cloudkms_parse.c - the pure pieces under gcp_kms and azure_key_vault, no network:
 * CRC-32C against RFC 3720 B.4's vectors; the OAuth token-answer parser (expires_in as a number or
 * a string, expires_on, refusals); form encoding (RFC 3986 unreserved set); https URL splitting;
 * base64url; the Cloud KMS getPublicKey / asymmetricSign and Key Vault key / sign answer parsers
 * on well-formed and broken answers (public key from openssl's documented secp256k1 SPKI layout,
 * RFC 5480). Vectors come from the RFCs, never from our own output. Config refusals of both
 * signers (the ak_cfg walker's and the backends' own checks): each is AK_ERR_CONFIG before any
 * network call, names the field, and never quotes a secret.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_crc32c.h"
#include "ak_test.h"
#include "cn_jwt.h"
#include "cn_oauth.h"
#include "cn_rcfg.h"
#include "cn_signer_factory.h"
#include "cn_signer_azkv.h"
#include "cn_signer_gcpkms.h"

#define KV "projects/p1/locations/global/keyRings/r1/cryptoKeys/k1/cryptoKeyVersions/1"

static ak_err tok(const char *json, long *ttl)
{
    char t[CN_OAUTH_TOKEN_MAX + 1];
    size_t n = 0;
    return cn_oauth_parse_token(t, sizeof t, &n, ttl, json, strlen(json), 1700000000);
}

static void test_crc32c(void)
{
    uint8_t b[32];
    CHECK(ak_crc32c((const uint8_t *)"123456789", 9) == 0xE3069283u); /* check value */
    memset(b, 0, 32);
    CHECK(ak_crc32c(b, 32) == 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
    memset(b, 0xff, 32);
    CHECK(ak_crc32c(b, 32) == 0x62A8AB43u); /* 32 bytes of ones */
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    CHECK(ak_crc32c(b, 32) == 0x46DD794Eu); /* incrementing */
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    CHECK(ak_crc32c(b, 32) == 0x113FDB5Cu); /* decrementing */
    CHECK(ak_crc32c(b, 0) == 0);
}

static void test_tokens(void)
{
    long ttl = 0;
    CHECK_EQ_INT(
        tok("{\"access_token\":\"ya29.a\",\"expires_in\":3599,\"token_type\":\"Bearer\"}", &ttl),
        AK_OK);
    CHECK_EQ_INT(ttl, 3599);
    CHECK_EQ_INT(
        tok("{\"access_token\":\"a\",\"expires_in\":\"86400\",\"token_type\":\"bearer\"}", &ttl),
        AK_OK);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_on\":\"1700000600\"}", &ttl), AK_OK);
    CHECK_EQ_INT(ttl, 600);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_on\":1700000060}", &ttl), AK_OK);
    CHECK_EQ_INT(ttl, 60);
    /* refused: no expiry, expired, too long, bad type, bad token, not JSON */
    CHECK_EQ_INT(tok("{\"access_token\":\"a\"}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_on\":\"1699999999\"}", &ttl),
                 AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_in\":86401}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_in\":0}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_in\":1.5}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_in\":\"-5\"}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\",\"expires_in\":60,\"token_type\":\"MAC\"}", &ttl),
                 AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a b\",\"expires_in\":60}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"a\\r\\nX: y\",\"expires_in\":60}", &ttl),
                 AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":\"\",\"expires_in\":60}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"access_token\":1,\"expires_in\":60}", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("[\"access_token\"]", &ttl), AK_ERR_UPSTREAM);
    CHECK_EQ_INT(tok("{\"error\":\"invalid_grant\"}", &ttl), AK_ERR_UPSTREAM);
}

static void test_form_url(void)
{
    char f[64] = "", base[64], path[64], out[64];
    CHECK_EQ_INT(cn_oauth_form_add(f, sizeof f, "a", "x y&z=~._-"), AK_OK);
    CHECK_EQ_INT(cn_oauth_form_add(f, sizeof f, "b", "https://v/.default"), AK_OK);
    CHECK_STR(f, "a=x%20y%26z%3D~._-&b=https%3A%2F%2Fv%2F.default");
    CHECK_EQ_INT(cn_oauth_form_add(f, sizeof f, "c", "0123456789012345678901234567"), AK_ERR_LIMIT);
    CHECK_EQ_INT(cn_oauth_split_url(base, path, sizeof base, "https://h:1/t/oauth2/v2.0/token"),
                 AK_OK);
    CHECK_STR(base, "https://h:1");
    CHECK_STR(path, "/t/oauth2/v2.0/token");
    CHECK_EQ_INT(cn_oauth_split_url(base, path, sizeof base, "http://h/token"), AK_ERR_CONFIG);
    CHECK_EQ_INT(cn_oauth_split_url(base, path, sizeof base, "https://u@h/token"), AK_ERR_CONFIG);
    CHECK_EQ_INT(cn_oauth_split_url(base, path, sizeof base, "https:///token"), AK_ERR_CONFIG);
    /* base64url, RFC 4648 section 10 test vectors ("foobar" family), unpadded */
    CHECK_EQ_INT(cn_jwt_b64url(out, sizeof out, (const uint8_t *)"fo", 2), AK_OK);
    CHECK_STR(out, "Zm8");
    CHECK_EQ_INT(cn_jwt_b64url(out, sizeof out, (const uint8_t *)"foobar", 6), AK_OK);
    CHECK_STR(out, "Zm9vYmFy");
    CHECK_EQ_INT(cn_jwt_b64url(out, sizeof out, (const uint8_t *)"\xfb\xff", 2), AK_OK);
    CHECK_STR(out, "-_8");
}

/* The secp256k1 generator G as the public key: x = 79BE667E..., y = 483ADA77... (SEC 2). */
#define GX "79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798"
#define GY "483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8"
/* SPKI = 3056 3010 06072a8648ce3d0201 06052b8104000a 034200 04|X|Y (RFC 5480), base64: */
#define G_PEM                                                                                      \
    "-----BEGIN PUBLIC "                                                                           \
    "KEY-----\\nMFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEeb5mfvncu6xVoGKVzocLBwKb/NstzijZ\\n"               \
    "WfKBWxb4F5hIOtp3JqPEZV2k+/wOEQio/Re0SKaFVBmcR9CP+xDUuA==\\n-----END PUBLIC KEY-----\\n"

static void test_gcp_answers(void)
{
    uint8_t pub[65], want[65], der[72];
    size_t n = 0;
    char body[1024];
    want[0] = 4;
    ak_test_unhex(want + 1, 64, GX GY);
    /* pemCrc32c omitted (optional in the answer) and with a wrong value */
    snprintf(body, sizeof body,
             "{\"pem\":\"" G_PEM "\",\"algorithm\":\"EC_SIGN_SECP256K1_SHA256\",\"name\":\"" KV
             "\"}");
    CHECK_EQ_INT(cn_gcpkms_parse_pubkey(pub, body, strlen(body), KV), AK_OK);
    CHECK_MEM(pub, want, 65);
    snprintf(body, sizeof body,
             "{\"pem\":\"" G_PEM
             "\",\"algorithm\":\"EC_SIGN_SECP256K1_SHA256\",\"pemCrc32c\":\"7\"}");
    CHECK_EQ_INT(cn_gcpkms_parse_pubkey(pub, body, strlen(body), KV), AK_ERR_UPSTREAM);
    snprintf(body, sizeof body, "{\"pem\":\"" G_PEM "\",\"algorithm\":\"EC_SIGN_P256_SHA256\"}");
    CHECK_EQ_INT(cn_gcpkms_parse_pubkey(pub, body, strlen(body), KV), AK_ERR_KEY_TYPE);
    snprintf(body, sizeof body,
             "{\"pem\":\"" G_PEM "\",\"algorithm\":\"EC_SIGN_SECP256K1_SHA256\",\"name\":\"x\"}");
    CHECK_EQ_INT(cn_gcpkms_parse_pubkey(pub, body, strlen(body), KV), AK_ERR_UPSTREAM);
    /* asymmetricSign: DER 30 06 02 01 01 02 01 01 = base64 "MAYCAQECAQE=", CRC32C computed by
     * the spec'd function over those 8 bytes; a wrong CRC, a false verifiedDigestCrc32c and a
     * missing name are refused */
    const uint8_t d8[8] = {0x30, 6, 2, 1, 1, 2, 1, 1};
    snprintf(body, sizeof body,
             "{\"signature\":\"MAYCAQECAQE=\",\"signatureCrc32c\":\"%u\","
             "\"verifiedDigestCrc32c\":true,\"name\":\"" KV "\"}",
             (unsigned)ak_crc32c(d8, 8));
    CHECK_EQ_INT(cn_gcpkms_parse_sign(der, &n, body, strlen(body), KV), AK_OK);
    CHECK(n == 8 && memcmp(der, d8, 8) == 0);
    snprintf(body, sizeof body,
             "{\"signature\":\"MAYCAQECAQE=\",\"signatureCrc32c\":\"%u\","
             "\"verifiedDigestCrc32c\":true,\"name\":\"" KV "\"}",
             (unsigned)ak_crc32c(d8, 8) ^ 1u);
    CHECK_EQ_INT(cn_gcpkms_parse_sign(der, &n, body, strlen(body), KV), AK_ERR_UPSTREAM);
    snprintf(body, sizeof body,
             "{\"signature\":\"MAYCAQECAQE=\",\"signatureCrc32c\":\"%u\","
             "\"verifiedDigestCrc32c\":false,\"name\":\"" KV "\"}",
             (unsigned)ak_crc32c(d8, 8));
    CHECK_EQ_INT(cn_gcpkms_parse_sign(der, &n, body, strlen(body), KV), AK_ERR_UPSTREAM);
    snprintf(body, sizeof body,
             "{\"signature\":\"MAYCAQECAQE=\",\"signatureCrc32c\":\"%u\","
             "\"verifiedDigestCrc32c\":true}",
             (unsigned)ak_crc32c(d8, 8));
    CHECK_EQ_INT(cn_gcpkms_parse_sign(der, &n, body, strlen(body), KV), AK_ERR_UPSTREAM);
}

static void test_azure_answers(void)
{
    uint8_t pub[65], want[65], rs[64];
    char v[CN_AZKV_VERSION_MAX + 1], body[1024];
    /* G's x/y in base64url (RFC 7518 section 6.2.1.2: 32 bytes each) */
    const char *x = "eb5mfvncu6xVoGKVzocLBwKb_NstzijZWfKBWxb4F5g";
    const char *y = "SDradyajxGVdpPv8DhEIqP0XtEimhVQZnEfQj_sQ1Lg";
    want[0] = 4;
    ak_test_unhex(want + 1, 64, GX GY);
#define KEYJ(kty, crv, ops, en)                                                                    \
    snprintf(body, sizeof body,                                                                    \
             "{\"key\":{\"kid\":\"https://v.vault.azure.net/keys/k/abc123\",\"kty\":\"%s\","       \
             "\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s},\"attributes\":{\"enabled\":%s}}",       \
             kty, crv, x, y, ops, en)
    KEYJ("EC-HSM", "P-256K", ",\"key_ops\":[\"sign\",\"verify\"]", "true");
    CHECK_EQ_INT(cn_azkv_parse_key(pub, v, body, strlen(body), "k"), AK_OK);
    CHECK_MEM(pub, want, 65);
    CHECK_STR(v, "abc123");
    CHECK_EQ_INT(cn_azkv_parse_key(pub, v, body, strlen(body), "other"), AK_ERR_UPSTREAM);
    KEYJ("EC", "P-256", "", "true");
    CHECK_EQ_INT(cn_azkv_parse_key(pub, v, body, strlen(body), "k"), AK_ERR_KEY_TYPE);
    KEYJ("RSA", "P-256K", "", "true");
    CHECK_EQ_INT(cn_azkv_parse_key(pub, v, body, strlen(body), "k"), AK_ERR_KEY_TYPE);
    KEYJ("EC", "P-256K", ",\"key_ops\":[\"verify\"]", "true");
    CHECK_EQ_INT(cn_azkv_parse_key(pub, v, body, strlen(body), "k"), AK_ERR_KEY_TYPE);
    KEYJ("EC", "P-256K", "", "false");
    CHECK_EQ_INT(cn_azkv_parse_key(pub, v, body, strlen(body), "k"), AK_ERR_UNAVAILABLE);
    y = "SDradyajxGVdpPv8DhEIqP0XtEimhVQZnEfQj_sQ1Lk"; /* not on the curve */
    KEYJ("EC", "P-256K", "", "true");
    CHECK(cn_azkv_parse_key(pub, v, body, strlen(body), "k") != AK_OK);
    /* sign: 64 bytes r||s of 0x01.. in base64url; 63 bytes or another version refused */
    const char *ok = "{\"kid\":\"https://v.vault.azure.net/keys/k/abc123\",\"value\":"
                     "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"
                     "AQEBAQEBAQEBAQEBAQEBAQEBAQ\"}";
    CHECK_EQ_INT(cn_azkv_parse_sign(rs, ok, strlen(ok), "k", "abc123"), AK_OK);
    CHECK(rs[0] == 1 && rs[63] == 1);
    CHECK_EQ_INT(cn_azkv_parse_sign(rs, ok, strlen(ok), "k", "abc124"), AK_ERR_UPSTREAM);
    const char *shrt = "{\"kid\":\"https://v.vault.azure.net/keys/k/abc123\",\"value\":\"AQEB\"}";
    CHECK_EQ_INT(cn_azkv_parse_sign(rs, shrt, strlen(shrt), "k", "abc123"), AK_ERR_UPSTREAM);
}

/* cn_signer_create(json) must be AK_ERR_CONFIG, no signer, err containing want (and no secret). */
static void refused(const char *json, const char *want)
{
    char err[512] = "";
    cn_signer *s = NULL;
    cJSON *cfg = cJSON_Parse(json);
    CHECK(cfg != NULL);
    ak_err rc = cn_signer_create(&s, cfg, err, sizeof err);
    cJSON_Delete(cfg);
    CHECK_EQ_INT(rc, AK_ERR_CONFIG);
    CHECK(s == NULL);
    if (strstr(err, want) == NULL || strstr(err, "s3cr3t") != NULL)
        fprintf(stderr, "  wanted \"%s\" in \"%s\"\n", want, err);
    CHECK(strstr(err, want) != NULL && strstr(err, "s3cr3t") == NULL);
    cn_signer_free(s);
}

#define GKV "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
#define G   "{\"type\":\"gcp_kms\",\"key_version\":\"" GKV "\","
#define AZ  "{\"type\":\"azure_key_vault\",\"vault_url\":\"https://v.vault.azure.net\","
#define AZK AZ "\"key_name\":\"k\","
#define SP  "\"tenant_id\":\"t\",\"client_id\":\"c\","

static void test_config_refusals(void)
{
    /* No credentials anywhere but the managed identity (no network until start). */
    unsetenv("AZURE_CLIENT_SECRET");
    unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
    unsetenv("AZURE_TENANT_ID");
    unsetenv("AZURE_CLIENT_ID");
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    setenv("CLOUDKMS_TEST_SECRET", "s3cr3t", 1);

    refused(G "\"colour\":1}", "gcp_kms: unknown field \"colour\"");
    refused("{\"type\":\"gcp_kms\"}", "gcp_kms: missing required field \"key_version\"");
    refused("{\"type\":\"gcp_kms\",\"key_version\":\"projects/p1/keyRings/r1\"}",
            "gcp_kms.key_version: projects/P/locations/L");
    refused("{\"type\":\"gcp_kms\",\"key_version\":\"" GKV "/../x\"}", "gcp_kms.key_version");
    refused("{\"type\":\"gcp_kms\",\"key_version\":7}", "gcp_kms.key_version: must be a string");
    refused(G "\"endpoint\":\"http://127.0.0.1:1\"}", "gcp_kms.endpoint: must be an https://");
    refused(G "\"endpoint\":\"https://h/?q\"}", "gcp_kms.endpoint");
    refused(G "\"credentials_file\":\"\"}", "gcp_kms.credentials_file");
    refused(G "\"timeout_ms\":0}", "gcp_kms.timeout_ms: must be an integer in 1..600000");
    refused(G "\"retries\":11}", "gcp_kms.retries");
    refused(G "\"pool_size\":1.5}", "gcp_kms.pool_size");
    refused(G "\"ca\":\"/nonexistent/ca.pem\"}", "gcp_kms.ca: cannot read");
    refused(G "\"address\":\"0x12\"}", "gcp_kms.address");
    refused(G "\"name\":\"\"}", "gcp_kms.name");

    refused("{\"type\":\"azure_key_vault\",\"key_name\":\"k\"}",
            "azure_key_vault: missing required field \"vault_url\"");
    refused("{\"type\":\"azure_key_vault\",\"vault_url\":\"http://v\",\"key_name\":\"k\"}",
            "azure_key_vault.vault_url: must be an https://");
    refused(AZ "\"key_name\":\"a_b\"}", "azure_key_vault.key_name: 1..127 characters");
    refused(AZK "\"key_version\":\"../../x\"}", "azure_key_vault.key_version: hex digits");
    refused(AZK "\"key_version\":\"\"}", "azure_key_vault.key_version: must be a string");
    refused(AZK "\"managed_hsm\":\"yes\"}", "azure_key_vault.managed_hsm: must be true or false");
    refused(AZK "\"tint\":1}", "azure_key_vault: unknown field \"tint\"");
    refused(AZK "\"client_secret\":\"s3cr3t\"}", "unknown field \"client_secret\"");
    refused(AZK SP "\"authority_host\":\"http://login\",\"client_secret_env\":\"X\"}",
            "azure_key_vault.authority_host: must be an https://");
    refused(AZK "\"tenant_id\":\"bad id\"}", "azure_key_vault.tenant_id: 1..64 characters");
    refused(AZK SP "\"client_secret_file\":\"/f\",\"client_secret_env\":\"V\"}",
            "give only one of client_secret_file and client_secret_env");
    refused(AZK SP "\"client_secret_env\":\"CLOUDKMS_TEST_SECRET\",\"certificate_file\":\"/f\"}",
            "not both");
    refused(AZK SP "\"client_secret_env\":\"NOPE_UNSET\"}",
            "azure_key_vault.client_secret_env: environment variable NOPE_UNSET is not set");
    refused(AZK "\"tenant_id\":\"t\",\"client_secret_env\":\"CLOUDKMS_TEST_SECRET\"}",
            "needs tenant_id and client_id");
    refused(AZK "\"tenant_id\":\"t\",\"client_id\":\"c\"}", "neither is configured");
    refused(AZK SP "\"certificate_file\":\"/nonexistent/sp.pem\"}", "/nonexistent/sp.pem");
    refused(AZK "\"address\":\"0xzz\"}", "azure_key_vault.address");
    refused(AZK "\"name\":7}", "azure_key_vault.name");
    /* The environment: a malformed AZURE_TENANT_ID is named as coming from there. */
    setenv("AZURE_TENANT_ID", "bad id", 1);
    refused(AZK "\"client_id\":\"c\"}", "tenant_id: 1..64 characters of [A-Za-z0-9.-] (from");
    unsetenv("AZURE_TENANT_ID");
    cn_rcfg_env_forget();
}

int main(void)
{
    test_crc32c();
    test_tokens();
    test_form_url();
    test_gcp_answers();
    test_azure_answers();
    test_config_refusals();
    return ak_test_report("test_cn_cloudkms_parse");
}
