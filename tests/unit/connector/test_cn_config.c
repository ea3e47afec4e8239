/*
 * test_cn_config.c - unit tests of the connector's command line / environment parsing and the
 * JSON config settings (cn_config), and of the local signer's key handling (cn_signer_local).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_test.h"
#include "cn_config.h"
#include "cn_log.h"
#include "cn_signer_factory.h"

static ak_err parse(cn_options *o, const char *const *args, size_t n)
{
    char *argv[32];
    char err[256];
    argv[0] = "anode-connector";
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    argv[n + 1] = NULL;
    return cn_options_parse(o, (int)n + 1, argv, err, sizeof(err));
}

/* Web3Signer's flag spellings are aliases of ours (issue 10 item 5), "--flag=value" included;
 * a bad value is reported under the spelling used; the seed spellings keep working. */
static void test_web3signer_aliases(void)
{
    cn_options o;
    char err[256];
    char *a1[] = {"anode-connector",
                  "--config",
                  "c.json",
                  "--http-listen-host",
                  "0.0.0.0",
                  "--http-listen-port=9443",
                  "--downstream-http-request-timeout",
                  "4500",
                  NULL};
    CHECK_EQ_INT(cn_options_parse(&o, 8, a1, err, sizeof err), AK_OK);
    CHECK_STR(o.http_host, "0.0.0.0");
    CHECK_EQ_INT(o.http_port, 9443);
    CHECK_EQ_INT(o.ds_timeout_ms, 4500);
    /* the later flag wins, whichever spelling */
    char *a2[] = {"anode-connector",    "--config", "c.json", "--http-port", "9100",
                  "--http-listen-port", "9200",     NULL};
    CHECK_EQ_INT(cn_options_parse(&o, 7, a2, err, sizeof err), AK_OK);
    CHECK_EQ_INT(o.http_port, 9200);
    char *a3[] = {
        "anode-connector", "--config", "c.json", "--downstream-http-request-timeout", "0", NULL};
    CHECK_EQ_INT(cn_options_parse(&o, 5, a3, err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "--downstream-http-request-timeout") != NULL);
    char *a4[] = {"anode-connector", "--config", "c.json", "--http-listen-port", "x", NULL};
    CHECK_EQ_INT(cn_options_parse(&o, 5, a4, err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "--http-listen-port") != NULL);
    char *a5[] = {"anode-connector", "--config", "c.json", "--http-listen-hostx", "a", NULL};
    CHECK_EQ_INT(cn_options_parse(&o, 5, a5, err, sizeof err), AK_ERR_CONFIG);
}

static void test_options(void)
{
    cn_options o;
    const char *a1[] = {"--config", "c.json"};
    CHECK_EQ_INT(parse(&o, a1, 2), AK_OK);
    CHECK_STR(o.http_host, "127.0.0.1");
    CHECK_EQ_INT(o.http_port, 9000);
    CHECK_STR(o.ds_url, "http://127.0.0.1:8545/");
    CHECK_EQ_INT(o.ds_timeout_ms, 10000);
    CHECK_EQ_INT(o.chain_id, 0);
    CHECK_EQ_INT(o.log_json, 1);

    const char *a2[] = {"--config",
                        "c.json",
                        "--http-port",
                        "9100",
                        "--downstream-http-host",
                        "::1",
                        "--downstream-http-port",
                        "8546",
                        "--downstream-http-path",
                        "rpc",
                        "--chain-id",
                        "31337",
                        "--log-format",
                        "text",
                        "--log-level",
                        "debug",
                        "--downstream-timeout-ms",
                        "250"};
    CHECK_EQ_INT(parse(&o, a2, sizeof(a2) / sizeof(a2[0])), AK_OK);
    CHECK_EQ_INT(o.http_port, 9100);
    CHECK_STR(o.ds_url, "http://[::1]:8546/rpc");
    CHECK_EQ_INT(o.chain_id, 31337);
    CHECK_EQ_INT(o.log_json, 0);
    CHECK_EQ_INT(o.log_level, CN_LOG_DEBUG);
    CHECK_EQ_INT(o.ds_timeout_ms, 250);

    /* environment, overridden by flags */
    setenv("ANODE_HTTP_PORT", "9200", 1);
    setenv("ANODE_DOWNSTREAM_URL", "https://node.example/x", 1);
    setenv("ANODE_CONFIG", "env.json", 1);
    CHECK_EQ_INT(parse(&o, NULL, 0), AK_OK);
    CHECK_EQ_INT(o.http_port, 9200);
    CHECK_STR(o.ds_url, "https://node.example/x");
    CHECK_STR(o.config_path, "env.json");
    const char *a3[] = {"--http-port", "9300"};
    CHECK_EQ_INT(parse(&o, a3, 2), AK_OK);
    CHECK_EQ_INT(o.http_port, 9300);
    setenv("ANODE_HTTP_PORT", "nope", 1);
    CHECK_EQ_INT(parse(&o, a3, 2),
                 AK_ERR_CONFIG); /* a bad variable is an error even if overridden */
    unsetenv("ANODE_HTTP_PORT");
    unsetenv("ANODE_DOWNSTREAM_URL");
    unsetenv("ANODE_CONFIG");

    /* refusals */
    static const char *const bad[][2] = {
        {"--http-port", "65536"},
        {"--http-port", "-1"},
        {"--http-port", "12x"},
        {"--chain-id", "0"},
        {"--log-level", "loud"},
        {"--log-format", "xml"},
        {"--downstream-url", "ftp://x"},
        {"--downstream-timeout-ms", "0"},
        {"--downstream-timeout-ms", "600001"},
        {"--downstream-http-port", "0"},
        {"--chain-id", "9007199254740993"},
        {"--config", ""},
        {"--bogus", "1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *a[] = {"--config", "c.json", bad[i][0], bad[i][1]};
        CHECK_EQ_INT(parse(&o, a, 4), AK_ERR_CONFIG);
    }
    CHECK_EQ_INT(parse(&o, NULL, 0), AK_ERR_CONFIG); /* --config missing */
    const char *h[] = {"--help"};
    CHECK_EQ_INT(parse(&o, h, 1), AK_OK);
    CHECK(o.help);
    /* a value at its bound; a flag without a value; a value missing at the end */
    const char *edge[] = {"--config",   "c.json",           "--http-port",    "0",
                          "--chain-id", "9007199254740992", "--check-config", "--migrate"};
    CHECK_EQ_INT(parse(&o, edge, 8), AK_OK);
    CHECK(o.http_port == 0 && o.chain_id == 9007199254740992ULL && o.check_config && o.migrate);
    CHECK(!o.help && !o.version);
    const char *novalue[] = {"--config", "c.json", "--chain-id"};
    CHECK_EQ_INT(parse(&o, novalue, 3), AK_ERR_CONFIG);
    const char *argflag[] = {"--config", "c.json", "--help=yes"};
    CHECK_EQ_INT(parse(&o, argflag, 3), AK_ERR_CONFIG);
}

/* The settings borrow from the document: it is kept until the next call (and freed at exit). */
static cJSON *g_doc;

static ak_err settings(cn_settings *s, const char *json)
{
    char err[256];
    cJSON_Delete(g_doc);
    g_doc = cJSON_Parse(json);
    return cn_config_settings(s, g_doc, err, sizeof(err));
}

static void test_settings(void)
{
    cn_settings s;
    CHECK_EQ_INT(settings(&s, "{\"accounts\":[{\"signer\":{\"type\":\"local\"}}]}"), AK_OK);
    CHECK_EQ_INT(s.nonce_retries, 3);
    CHECK_EQ_INT(s.max_batch, 1000);
    CHECK_EQ_INT(s.http_threads, 64);
    CHECK_EQ_INT(s.max_body, 1024 * 1024);
    CHECK_EQ_INT(s.allow_unprotected_tx, 0);
    CHECK(s.tls_cert_file == NULL && s.auth == NULL);
    CHECK_EQ_INT(settings(&s, "{\"accounts\":[{\"signer\":{}}],\"http\":{\"threads\":2,"
                              "\"tls\":{\"cert_file\":\"c\",\"key_file\":\"k\"}},"
                              "\"allow_unprotected_tx\":true,\"nonce_retries\":0}"),
                 AK_OK);
    CHECK_EQ_INT(s.http_threads, 2);
    CHECK_EQ_INT(s.nonce_retries, 0);
    CHECK_EQ_INT(s.allow_unprotected_tx, 1);
    CHECK(s.tls_cert_file != NULL && strcmp(s.tls_key_file, "k") == 0);
    static const char *const bad[] = {
        "{}",
        "{\"accounts\":[]}",
        "{\"accounts\":[{}]}",
        "{\"accounts\":[{\"signer\":{}}],\"acounts\":1}",
        "{\"accounts\":[{\"signer\":{}}],\"http\":{\"thread\":1}}",
        "{\"accounts\":[{\"signer\":{}}],\"http\":{\"threads\":0}}",
        "{\"accounts\":[{\"signer\":{}}],\"http\":{\"threads\":1.5}}",
        "{\"accounts\":[{\"signer\":{}}],\"http\":{\"tls\":{\"cert_file\":\"c\"}}}",
        "{\"accounts\":[{\"signer\":{}}],\"nonce_retries\":11}",
        "{\"accounts\":[{\"signer\":{}}],\"max_batch\":\"5\"}",
        "{\"accounts\":[{\"signer\":{}}],\"allow_unprotected_tx\":1}",
        "{\"accounts\":[{\"signer\":{}}],\"auth\":[]}",
        "{\"accounts\":[{\"signer\":{}}],\"downstream\":{\"x\":1}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(settings(&s, bad[i]), AK_ERR_CONFIG);
    }
}

/* Write len bytes of text to a fresh temp file, run cn_config_load on it, remove the file. */
static ak_err load_text(const char *text, size_t len, char *err, size_t err_cap)
{
    char path[] = "/tmp/cn-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return AK_ERR_IO;
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
    cJSON *doc = NULL;
    err[0] = '\0';
    ak_err rc = cn_config_load(&doc, path, err, err_cap);
    CHECK((rc == AK_OK) == (doc != NULL));
    cJSON_Delete(doc);
    unlink(path);
    return rc;
}

#define LOAD(lit, err) load_text((lit), sizeof(lit) - 1, (err), sizeof(err))

static void test_load(void)
{
    char err[512];
    /* Accepted: a plain config, and an escaped backslash before "u0000" (not a NUL escape). */
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\"}}]}", err), AK_OK);
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\"}}],"
                      "\"comment\":\"a\\\\u0000b\"}",
                      err),
                 AK_OK);

    /* A raw NUL byte: cJSON would stop there and ignore the rest of the file. */
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\"}}]}\0{\"x\":1}", err),
                 AK_ERR_CONFIG);
    CHECK(strstr(err, "NUL") != NULL);
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"lo\0cal\"}}]}", err), AK_ERR_CONFIG);
    CHECK(strstr(err, "NUL") != NULL);
    /* A \u0000 escape (cJSON cuts the string there), in a value and in a key. */
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\\u0000x\"}}]}", err),
                 AK_ERR_CONFIG);
    CHECK(strstr(err, "\\u0000") != NULL);
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\"}}],\"a\\u0000\":1}", err),
                 AK_ERR_CONFIG);
    CHECK(strstr(err, "NUL") != NULL);

    /* Duplicate keys, at the top and nested (cJSON lookups would see only the first). */
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\"}}],"
                      "\"accounts\":[{\"signer\":{\"type\":\"keyless\"}}]}",
                      err),
                 AK_ERR_CONFIG);
    CHECK(strstr(err, "same key twice") != NULL);
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\",\"type\":\"kms\"}}]}", err),
                 AK_ERR_CONFIG);
    CHECK(strstr(err, "same key twice") != NULL);
    /* Same name in different objects is fine. */
    CHECK_EQ_INT(LOAD("{\"accounts\":[{\"signer\":{\"type\":\"local\"}},"
                      "{\"signer\":{\"type\":\"local\"}}],\"type\":1}",
                      err),
                 AK_OK);

    /* Nesting past AK_JSON_MAX_DEPTH (cJSON itself allows up to 1000 as well, so build 1001
     * levels and expect a refusal from either layer). */
    char deep[2 * 1001 + 64];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "{\"a\":");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    CHECK_EQ_INT(load_text(deep, n, err, sizeof(err)), AK_ERR_CONFIG);

    /* Not JSON, not an object, missing file. */
    CHECK_EQ_INT(LOAD("{\"accounts\":", err), AK_ERR_CONFIG);
    CHECK_EQ_INT(LOAD("[]", err), AK_ERR_CONFIG);
    cJSON *doc = NULL;
    CHECK_EQ_INT(cn_config_load(&doc, "/nonexistent/cn.json", err, sizeof(err)), AK_ERR_CONFIG);
    CHECK(doc == NULL);
}

static void test_factory_local(void)
{
    char err[256];
    cn_signer *s = NULL;
    /* Key 0x4c08... -> 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23 (ethers Wallet.address). */
    const char *key = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    uint8_t want[20];
    ak_test_unhex(want, 20, "2c7536e3605d9c16a7a3d7b1898e529396a65c23");
    setenv("CN_TEST_KEY", key, 1);
    cJSON *cfg = cJSON_Parse("{\"type\":\"local\",\"key_env\":\"CN_TEST_KEY\"}");
    CHECK_EQ_INT(cn_signer_create(&s, cfg, err, sizeof(err)), AK_OK);
    CHECK(s != NULL && memcmp(s->address, want, 20) == 0);
    CHECK(getenv("CN_TEST_KEY") == NULL); /* removed after reading */
    cn_signer_free(s);
    cJSON_Delete(cfg);

    char path[] = "/tmp/cn-test-key-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "  %s\n", key + 2);
    fclose(f);
    char json[256];
    snprintf(json, sizeof(json), "{\"type\":\"local\",\"key_file\":\"%s\"}", path);
    cfg = cJSON_Parse(json);
    CHECK_EQ_INT(cn_signer_create(&s, cfg, err, sizeof(err)), AK_OK);
    CHECK(s != NULL && memcmp(s->address, want, 20) == 0);
    cn_signer_free(s);
    cJSON_Delete(cfg);

    static const char *const bad_keys[] = {
        "", "12", "zz83a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
        "0000000000000000000000000000000000000000000000000000000000000000",
        /* n, the group order: not a valid private key */
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231800"};
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        f = fopen(path, "w");
        fputs(bad_keys[i], f);
        fclose(f);
        cfg = cJSON_Parse(json);
        s = NULL;
        CHECK(cn_signer_create(&s, cfg, err, sizeof(err)) != AK_OK);
        CHECK(s == NULL);
        CHECK(strstr(err, bad_keys[i][0] ? bad_keys[i] : "\x01") == NULL); /* key not echoed */
        cJSON_Delete(cfg);
    }
    unlink(path);
    static const char *const bad_cfg[] = {
        "{\"type\":\"local\"}",
        "{\"type\":\"local\",\"key_file\":\"/nonexistent\"}",
        "{\"type\":\"local\",\"key_env\":\"CN_TEST_UNSET\"}",
        "{\"type\":\"local\",\"key_env\":\"A\",\"key_file\":\"B\"}",
        "{\"type\":\"local\",\"key_file\":5}",
        "{\"type\":\"hsm9000\"}",
        "{\"key_file\":\"x\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad_cfg) / sizeof(bad_cfg[0]); i++) {
        cfg = cJSON_Parse(bad_cfg[i]);
        s = NULL;
        CHECK(cn_signer_create(&s, cfg, err, sizeof(err)) != AK_OK);
        CHECK(s == NULL);
        cJSON_Delete(cfg);
    }
}

int main(void)
{
    cn_log_setup(CN_LOG_ERROR, 1);
    test_options();
    test_web3signer_aliases();
    test_settings();
    test_load();
    test_factory_local();
    cJSON_Delete(g_doc);
    return ak_test_report("test_cn_config");
}
