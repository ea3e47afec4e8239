/*
 * test_cfg.c - unit tests of ak_cfg, the configuration-schema walker: every field type and
 * flag, defaults, nested and inline tables, and each error path with the field's path named.
 */
#include <stdint.h>

#include "ak_cfg.h"
#include "ak_test.h"

typedef struct {
    char url[64];
    long timeout_ms;
    int retries;
} http_part;

typedef struct {
    char addr[64];
    char mount[16];
    char id[16];
    const char *file;
    int64_t big;
    unsigned small;
    int neg;
    int flag;
    const cJSON *list;
    char method[16];
    char role[16];
    ak_cfg_secret_src token;
    http_part http;
} conf;

static const ak_cfg_field k_http[] = {
    AK_CFG_INT("timeout_ms", 0, http_part, timeout_ms, 1, 600000, 5000),
    AK_CFG_INT("retries", 0, http_part, retries, 0, 10, 2),
};

static const ak_cfg_field k_auth[] = {
    AK_CFG_STR("method", AK_CFG_REQUIRED, conf, method, NULL),
    AK_CFG_STR("mount", 0, conf, role, "approle"),
    AK_CFG_SECRET("token", 0, conf, token),
};

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_STR("addr", AK_CFG_REQUIRED | AK_CFG_URL, conf, addr, NULL),
    AK_CFG_STR("mount", 0, conf, mount, "secret"),
    AK_CFG_STR("id", AK_CFG_ID, conf, id, NULL),
    AK_CFG_REF("file", AK_CFG_PATH, conf, file, 100),
    AK_CFG_INT("big", 0, conf, big, 0, 64LL * 1024 * 1024 * 1024, 7),
    AK_CFG_INT("small", 0, conf, small, 1, 4000000000LL, 3),
    AK_CFG_INT("neg", 0, conf, neg, -5, 5, -1),
    AK_CFG_BOOL("flag", 0, conf, flag, 1),
    AK_CFG_JSON("list", 0, conf, list, cJSON_Array),
    AK_CFG_OBJ("auth", 0, k_auth),
    AK_CFG_INLINE(k_http, AK_CFG_COUNT(k_http), conf, http),
};

static char err[256];

/* Parse text and walk it; returns the result, err holds the message. */
static ak_err run(conf *c, const char *text)
{
    cJSON *j = cJSON_Parse(text);
    memset(c, 0xA5, sizeof *c);
    err[0] = '\0';
    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", text);
        abort();
    }
    ak_err rc = ak_cfg_read(c, k_fields, AK_CFG_COUNT(k_fields), j, "vault", err, sizeof err);
    /* pointers borrowed from the tree are not looked at after this */
    cJSON_Delete(j);
    return rc;
}

static void expect_err(const char *text, const char *want)
{
    conf c;
    CHECK_EQ_INT(run(&c, text), AK_ERR_CONFIG);
    if (strstr(err, want) == NULL)
        fprintf(stderr, "for %s\n  got  \"%s\"\n  want \"%s\"\n", text, err, want);
    CHECK(strstr(err, want) != NULL);
}

static void test_defaults(void)
{
    conf c;
    CHECK_EQ_INT(run(&c, "{\"addr\":\"https://v.example/\"}"), AK_OK);
    CHECK_STR(c.addr, "https://v.example"); /* one trailing '/' dropped */
    CHECK_STR(c.mount, "secret");
    CHECK_STR(c.id, "");
    CHECK(c.file == NULL);
    CHECK_EQ_INT(c.big, 7);
    CHECK_EQ_INT(c.small, 3);
    CHECK_EQ_INT(c.neg, -1);
    CHECK_EQ_INT(c.flag, 1);
    CHECK(c.list == NULL);
    CHECK_STR(c.method, ""); /* the object is absent: its REQUIRED member is not asked for */
    CHECK_STR(c.role, "approle");
    CHECK(c.token.file == NULL && c.token.env == NULL);
    CHECK_EQ_INT(c.http.timeout_ms, 5000);
    CHECK_EQ_INT(c.http.retries, 2);
}

static void test_values(void)
{
    conf c;
    cJSON *j = cJSON_Parse("{\"type\":\"x\",\"addr\":\"https://v:8200\",\"mount\":\"kv\","
                           "\"id\":\"a.b:c-d_e\",\"file\":\"/etc/x\",\"big\":68719476736,"
                           "\"small\":4000000000,\"neg\":-5,\"flag\":false,\"list\":[1],"
                           "\"auth\":{\"method\":\"token\",\"token_env\":\"VT\"},"
                           "\"timeout_ms\":1,\"retries\":10}");
    CHECK_EQ_INT(ak_cfg_read(&c, k_fields, AK_CFG_COUNT(k_fields), j, "vault", err, sizeof err),
                 AK_OK);
    CHECK_STR(c.addr, "https://v:8200");
    CHECK_STR(c.mount, "kv");
    CHECK_STR(c.id, "a.b:c-d_e");
    CHECK(c.file != NULL && strcmp(c.file, "/etc/x") == 0);
    CHECK_EQ_INT(c.big, 68719476736LL);
    CHECK(c.small == 4000000000u);
    CHECK_EQ_INT(c.neg, -5);
    CHECK_EQ_INT(c.flag, 0);
    CHECK(cJSON_IsArray(c.list));
    CHECK_STR(c.method, "token");
    CHECK(c.token.env != NULL && strcmp(c.token.env, "VT") == 0 && c.token.file == NULL);
    CHECK_STR(c.token.key, "token_env");
    CHECK_EQ_INT(c.http.timeout_ms, 1);
    CHECK_EQ_INT(c.http.retries, 10);
    cJSON_Delete(j);
}

static void test_errors(void)
{
    expect_err("{}", "vault: missing required field \"addr\"");
    expect_err("{\"addr\":\"https://v\",\"bogus\":1}", "vault: unknown field \"bogus\"");
    expect_err("{\"addr\":\"https://v\",\"auth\":{\"method\":\"t\",\"x\":1}}",
               "vault.auth: unknown field \"x\"");
    expect_err("{\"addr\":\"https://v\",\"auth\":{}}", "vault.auth: missing required field");
    expect_err("{\"addr\":\"https://v\",\"auth\":[]}", "vault.auth: must be an object");
    expect_err("{\"addr\":\"http://v\"}", "vault.addr: must be an https:// base URL");
    expect_err("{\"addr\":\"https://u@v\"}", "vault.addr: must be an https:// base URL");
    expect_err("{\"addr\":\"https://v?q\"}", "vault.addr: must be an https:// base URL");
    expect_err("{\"addr\":1}", "vault.addr: must be a string of 1..63 chars");
    expect_err("{\"addr\":\"https://v\",\"mount\":\"\"}", "vault.mount: must be a string of 1..15");
    expect_err("{\"addr\":\"https://v\",\"mount\":\"0123456789abcdef\"}",
               "vault.mount: must be a string of 1..15");
    expect_err("{\"addr\":\"https://v\",\"id\":\"a/b\"}", "vault.id: only the characters");
    expect_err("{\"addr\":\"https://v\",\"file\":\"a\\nb\"}", "vault.file: a file path");
    expect_err("{\"addr\":\"https://v\",\"big\":68719476737}",
               "vault.big: must be an integer in 0..");
    expect_err("{\"addr\":\"https://v\",\"big\":1.5}", "vault.big: must be an integer");
    expect_err("{\"addr\":\"https://v\",\"big\":1e300}", "vault.big: must be an integer");
    expect_err("{\"addr\":\"https://v\",\"big\":\"1\"}", "vault.big: must be an integer");
    expect_err("{\"addr\":\"https://v\",\"neg\":-6}", "vault.neg: must be an integer in -5..5");
    expect_err("{\"addr\":\"https://v\",\"small\":0}", "vault.small: must be an integer in 1..");
    expect_err("{\"addr\":\"https://v\",\"flag\":1}", "vault.flag: must be true or false");
    expect_err("{\"addr\":\"https://v\",\"list\":{}}", "vault.list: must be an array");
    expect_err("{\"addr\":\"https://v\",\"retries\":11}",
               "vault.retries: must be an integer in 0..10");
    expect_err("{\"addr\":\"https://v\",\"auth\":{\"method\":\"t\",\"token_file\":\"/a\","
               "\"token_env\":\"B\"}}",
               "vault.auth: give only one of token_file and token_env");
    expect_err("{\"addr\":\"https://v\",\"auth\":{\"method\":\"t\",\"token_env\":\"\"}}",
               "vault.auth.token_env: must be a non-empty string");
    expect_err("{\"addr\":\"https://v\",\"auth\":{\"method\":\"t\",\"token_x\":\"\"}}",
               "vault.auth: unknown field \"token_x\"");
    /* A value is never quoted back (a secret in the wrong field stays out of logs). */
    expect_err("{\"addr\":\"https://v\",\"mount\":\"s3cr3t-value-here-long\"}", "vault.mount");
    CHECK(strstr(err, "s3cr3t") == NULL);
}

static void test_top_level_and_secret(void)
{
    static const ak_cfg_field one[] = {AK_CFG_INT("n", AK_CFG_REQUIRED, conf, neg, 0, 1, 0)};
    conf c;
    cJSON *j = cJSON_Parse("{\"m\":1}");
    CHECK_EQ_INT(ak_cfg_read(&c, one, 1, j, "", err, sizeof err), AK_ERR_CONFIG);
    CHECK_STR(err, "unknown field \"m\"");
    cJSON_Delete(j);
    CHECK_EQ_INT(ak_cfg_read(&c, one, 1, NULL, "", err, sizeof err), AK_ERR_CONFIG);
    CHECK_STR(err, "missing required field \"n\"");
    j = cJSON_Parse("[1]");
    CHECK_EQ_INT(ak_cfg_read(&c, one, 1, j, "x", err, sizeof err), AK_ERR_CONFIG);
    CHECK_STR(err, "x: must be an object");
    cJSON_Delete(j);

    /* A table whose range does not fit its member is a programming error, not a config one. */
    static const ak_cfg_field wide[] = {AK_CFG_INT("n", 0, conf, small, 0, 1LL << 40, 0)};
    CHECK_EQ_INT(ak_cfg_read(&c, wide, 1, NULL, "x", err, sizeof err), AK_ERR_ARG);

    ak_cfg_secret_src src;
    j = cJSON_Parse("{\"pin_file\":\"/p\",\"other\":1}");
    CHECK_EQ_INT(ak_cfg_secret(&src, j, "pin", AK_CFG_REQUIRED, "pkcs11", err, sizeof err), AK_OK);
    CHECK(src.file != NULL && strcmp(src.file, "/p") == 0 && src.env == NULL);
    CHECK_STR(src.key, "pin_file");
    CHECK_EQ_INT(ak_cfg_secret(&src, j, "tok", 0, "x", err, sizeof err), AK_OK);
    CHECK(src.file == NULL && src.env == NULL);
    CHECK_EQ_INT(ak_cfg_secret(&src, j, "tok", AK_CFG_REQUIRED, "x", err, sizeof err),
                 AK_ERR_CONFIG);
    CHECK_STR(err, "x: missing required field \"tok_file\" or \"tok_env\"");
    cJSON_Delete(j);
}

static void test_helpers(void)
{
    CHECK(ak_cfg_visible("tok~!\"en", 8) && ak_cfg_visible("", 0));
    CHECK(!ak_cfg_visible("a b", 3) && !ak_cfg_visible("a\tb", 3) && !ak_cfg_visible("a\x7f", 2));
    CHECK(!ak_cfg_visible("\xc3\xa9", 2) && !ak_cfg_visible("a\r\nX: y", 7));
    CHECK(ak_cfg_safe_id("a-b.c:d_e", 16, 0));
    CHECK(!ak_cfg_safe_id("", 16, 0));
    CHECK(!ak_cfg_safe_id("a/b", 16, 0));
    CHECK(ak_cfg_safe_id("a/b", 16, 1));
    CHECK(!ak_cfg_safe_id("abcdef", 5, 0));
    CHECK(ak_cfg_https_url("https://h", 64));
    CHECK(!ak_cfg_https_url("https://", 64));
    CHECK(!ak_cfg_https_url("https://h x", 64));
    CHECK(!ak_cfg_https_url("https://h\"", 64));
    CHECK(!ak_cfg_https_url("https://hhhh", 10));
}

int main(void)
{
    test_defaults();
    test_values();
    test_errors();
    test_top_level_and_secret();
    test_helpers();
    printf("test_cfg: %d passed, %d failed\n", ak_test_passed, ak_test_failed);
    return ak_test_failed ? 1 : 0;
}
