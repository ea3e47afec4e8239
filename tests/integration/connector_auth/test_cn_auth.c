/*
 * test_cn_auth.c - cn_auth against fixtures made by an independent tool (gen_jwts.js: node's
 * crypto signs the JWTs and exports the JWKS). Usage: test_cn_auth FIXTURE_DIR (run.sh makes it).
 * Covers: every JWT case in cases.json (valid, expired, wrong aud/iss/kid, alg none/HS256/RS512,
 * tampered, wrong signature, malformed), bearer tokens good and bad, require all/any, and
 * config errors (weak RSA key, duplicate kid, unknown fields, bad token file).
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ak_test.h"
#include "cn_auth.h"

static const char *dir;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

/* Fixture files are written 0600: the token file is a secret file (cn_secfile). */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fputs(text, f) < 0 || fchmod(fileno(f), 0600) != 0) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

/* Build cn_auth from a JSON text with "@" replaced by the fixture dir. */
static ak_err make(cn_auth **a, const char *json_tmpl, char *err, size_t cap)
{
    char text[4096], *o = text;
    for (const char *p = json_tmpl; *p; p++) {
        if (*p == '@') {
            o += snprintf(o, sizeof text - (size_t)(o - text), "%s", dir);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    cJSON *cfg = cJSON_Parse(text);
    if (cfg == NULL) {
        fprintf(stderr, "bad test config %s\n", text);
        exit(2);
    }
    err[0] = '\0';
    ak_err rc = cn_auth_new(a, cfg, err, cap);
    cJSON_Delete(cfg);
    return rc;
}

static void test_jwt_cases(void)
{
    char path[512], err[256], cfg[1024];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    char *text = slurp(path);
    CHECK(text != NULL);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    CHECK(doc != NULL);
    if (doc == NULL)
        return;
    time_t now = (time_t)cJSON_GetObjectItem(doc, "now")->valuedouble;
    snprintf(cfg, sizeof cfg,
             "{\"cf_access\":{\"jwks_file\":\"@/jwks.json\",\"audience\":\"%s\","
             "\"issuer\":\"%s\",\"leeway_s\":30}}",
             cJSON_GetObjectItem(doc, "aud")->valuestring,
             cJSON_GetObjectItem(doc, "iss")->valuestring);
    cn_auth *a = NULL;
    ak_err rc = make(&a, cfg, err, sizeof err);
    CHECK_EQ_INT(rc, AK_OK);
    if (rc != AK_OK) {
        fprintf(stderr, "cn_auth_new: %s\n", err);
        cJSON_Delete(doc);
        return;
    }
    CHECK(cn_auth_enabled(a));
    const cJSON *c;
    int n_ok = 0, n_fail = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "cases"))
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const char *jwt = cJSON_GetObjectItem(c, "jwt")->valuestring;
        int want_ok = strcmp(cJSON_GetObjectItem(c, "expect")->valuestring, "ok") == 0;
        const char *why = NULL;
        rc = cn_auth_check(a, NULL, jwt, now, &why);
        if ((rc == AK_OK) != want_ok)
            fprintf(stderr, "case '%s': got %s (%s), want %s\n", name, ak_strerror(rc),
                    why ? why : "-", want_ok ? "ok" : "refusal");
        CHECK_EQ_INT(rc, want_ok ? AK_OK : AK_ERR_AUTH);
        CHECK(why != NULL);
        want_ok ? n_ok++ : n_fail++;
    }
    CHECK(n_ok >= 5 && n_fail >= 20);
    const char *valid = cJSON_GetObjectItem(doc, "valid")->valuestring;
    const char *why = NULL;
    /* The same valid token, judged at other times. */
    CHECK_EQ_INT(cn_auth_check(a, NULL, valid, now + 600 + 31, &why), AK_ERR_AUTH);
    CHECK_STR(why, "jwt expired");
    CHECK_EQ_INT(cn_auth_check(a, NULL, valid, now - 60 - 31, &why), AK_ERR_AUTH);
    CHECK_EQ_INT(cn_auth_check(a, NULL, valid, now + 600 + 29, &why), AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, NULL, NULL, now, &why), AK_ERR_AUTH);
    CHECK_STR(why, "missing cf-access-jwt-assertion");
    cn_auth_free(a);

    /* Issuer not configured: a token from any issuer is accepted if signed and aimed at us. */
    snprintf(cfg, sizeof cfg, "{\"cf_access\":{\"jwks_file\":\"@/jwks.json\",\"audience\":\"%s\"}}",
             cJSON_GetObjectItem(doc, "aud")->valuestring);
    CHECK_EQ_INT(make(&a, cfg, err, sizeof err), AK_OK);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "cases"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, "wrong iss") == 0)
            CHECK_EQ_INT(
                cn_auth_check(a, NULL, cJSON_GetObjectItem(c, "jwt")->valuestring, now, NULL),
                AK_OK);
    }
    /* Leeway 0: "exp passed within leeway" now fails. */
    cn_auth_free(a);
    snprintf(cfg, sizeof cfg,
             "{\"cf_access\":{\"jwks_file\":\"@/jwks.json\",\"audience\":\"%s\",\"leeway_s\":0}}",
             cJSON_GetObjectItem(doc, "aud")->valuestring);
    CHECK_EQ_INT(make(&a, cfg, err, sizeof err), AK_OK);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "cases"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, "exp passed within leeway") == 0)
            CHECK_EQ_INT(
                cn_auth_check(a, NULL, cJSON_GetObjectItem(c, "jwt")->valuestring, now, NULL),
                AK_ERR_AUTH);
    }
    CHECK_EQ_INT(cn_auth_check(a, NULL, valid, now, NULL), AK_OK);

    /* Combined with bearer tokens: "all" needs both, "any" needs one. */
    cn_auth_free(a);
    snprintf(cfg, sizeof cfg,
             "{\"bearer_tokens_file\":\"@/tokens\",\"cf_access\":{\"jwks_file\":\"@/jwks.json\","
             "\"audience\":\"%s\"}}",
             cJSON_GetObjectItem(doc, "aud")->valuestring);
    CHECK_EQ_INT(make(&a, cfg, err, sizeof err), AK_OK);
    const char *good = "Bearer 0123456789abcdef-token-one";
    CHECK_EQ_INT(cn_auth_check(a, good, valid, now, NULL), AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, good, NULL, now, NULL), AK_ERR_AUTH);
    CHECK_EQ_INT(cn_auth_check(a, NULL, valid, now, &why), AK_ERR_AUTH);
    CHECK_STR(why, "missing bearer token");
    cn_auth_free(a);
    snprintf(cfg, sizeof cfg,
             "{\"require\":\"any\",\"bearer_tokens_file\":\"@/tokens\",\"cf_access\":{"
             "\"jwks_file\":\"@/jwks.json\",\"audience\":\"%s\"}}",
             cJSON_GetObjectItem(doc, "aud")->valuestring);
    CHECK_EQ_INT(make(&a, cfg, err, sizeof err), AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, good, NULL, now, NULL), AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, NULL, valid, now, NULL), AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, "Bearer wrong-token-wrong-token", "x.y.z", now, NULL),
                 AK_ERR_AUTH);
    cn_auth_free(a);
    cJSON_Delete(doc);
}

static void test_bearer(void)
{
    char err[256];
    cn_auth *a = NULL;
    const char *why = NULL;
    CHECK_EQ_INT(make(&a, "{\"bearer_tokens_file\":\"@/tokens\"}", err, sizeof err), AK_OK);
    CHECK(cn_auth_enabled(a));
    CHECK_EQ_INT(cn_auth_check(a, "Bearer 0123456789abcdef-token-one", NULL, 0, &why), AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, "bearer   second-token-AAAAAAAAAAAAAAAA  ", NULL, 0, &why),
                 AK_OK);
    CHECK_EQ_INT(cn_auth_check(a, "Bearer 0123456789abcdef-token-onE", NULL, 0, &why), AK_ERR_AUTH);
    CHECK_STR(why, "invalid bearer token");
    CHECK_EQ_INT(cn_auth_check(a, "Bearer 0123456789abcdef-token-on", NULL, 0, &why), AK_ERR_AUTH);
    CHECK_EQ_INT(cn_auth_check(a, "Bearer 0123456789abcdef-token-one1", NULL, 0, &why),
                 AK_ERR_AUTH);
    CHECK_EQ_INT(cn_auth_check(a, "Basic 0123456789abcdef-token-one", NULL, 0, &why), AK_ERR_AUTH);
    CHECK_STR(why, "authorization is not a bearer token");
    CHECK_EQ_INT(cn_auth_check(a, "0123456789abcdef-token-one", NULL, 0, &why), AK_ERR_AUTH);
    CHECK_EQ_INT(cn_auth_check(a, NULL, NULL, 0, &why), AK_ERR_AUTH);
    CHECK_STR(why, "missing bearer token");
    CHECK_EQ_INT(cn_auth_check(a, "", NULL, 0, &why), AK_ERR_AUTH);
    CHECK_EQ_INT(cn_auth_check(a, "Bearer ", NULL, 0, &why), AK_ERR_AUTH);
    /* The commented-out token is not a token. */
    CHECK_EQ_INT(cn_auth_check(a, "Bearer commented-out-token-xxxxxxxx", NULL, 0, &why),
                 AK_ERR_AUTH);
    char longtok[2000] = "Bearer ";
    memset(longtok + 7, 'a', 1500);
    CHECK_EQ_INT(cn_auth_check(a, longtok, NULL, 0, &why), AK_ERR_AUTH);
    cn_auth_free(a);

    /* Disabled auth: everything passes. */
    CHECK_EQ_INT(cn_auth_new(&a, NULL, err, sizeof err), AK_OK);
    CHECK(!cn_auth_enabled(a));
    CHECK_EQ_INT(cn_auth_check(a, NULL, NULL, 0, NULL), AK_OK);
    cn_auth_free(a);
    CHECK_EQ_INT(make(&a, "{}", err, sizeof err), AK_OK);
    CHECK(!cn_auth_enabled(a));
    cn_auth_free(a);
    cn_auth_free(NULL);
}

static void expect_config_error(const char *tmpl, ak_err want, const char *msg_part)
{
    char err[256];
    cn_auth *a = (cn_auth *)(uintptr_t)1;
    ak_err rc = make(&a, tmpl, err, sizeof err);
    CHECK_EQ_INT(rc, want);
    CHECK(a == NULL);
    if (strstr(err, msg_part) == NULL)
        fprintf(stderr, "config %s: message '%s' lacks '%s'\n", tmpl, err, msg_part);
    CHECK(strstr(err, msg_part) != NULL);
    /* Never echo token material. */
    CHECK(strstr(err, "short-token") == NULL);
}

static void test_config_errors(void)
{
    expect_config_error("[]", AK_ERR_CONFIG, "object");
    expect_config_error("{\"bogus\":1}", AK_ERR_CONFIG, "unknown field");
    expect_config_error("{\"require\":\"some\"}", AK_ERR_CONFIG, "auth.require");
    expect_config_error("{\"bearer_tokens_file\":\"@/nonexistent\"}", AK_ERR_IO, "cannot read");
    expect_config_error("{\"bearer_tokens_file\":\"@/tokens_short\"}", AK_ERR_CONFIG, "line 2");
    expect_config_error("{\"bearer_tokens_file\":\"@/tokens_empty\"}", AK_ERR_CONFIG, "no token");
    expect_config_error("{\"bearer_tokens_file\":\"@/tokens_space\"}", AK_ERR_CONFIG,
                        "invalid character");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks.json\"}}", AK_ERR_CONFIG,
                        "audience");
    expect_config_error("{\"cf_access\":{\"audience\":\"a\"}}", AK_ERR_CONFIG, "jwks_file");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks.json\",\"audience\":\"a\","
                        "\"leeway_s\":301}}",
                        AK_ERR_CONFIG, "leeway_s");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks.json\",\"audience\":\"a\","
                        "\"extra\":1}}",
                        AK_ERR_CONFIG, "unknown field");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks_weak.json\",\"audience\":\"a\"}}",
                        AK_ERR_CONFIG, "modulus");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks_dup.json\",\"audience\":\"a\"}}",
                        AK_ERR_CONFIG, "duplicate");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/tokens\",\"audience\":\"a\"}}",
                        AK_ERR_CONFIG, "not a JWKS");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks_badn.json\",\"audience\":\"a\"}}",
                        AK_ERR_CONFIG, "invalid n or e");
    expect_config_error("{\"cf_access\":{\"jwks_file\":\"@/jwks_hs.json\",\"audience\":\"a\"}}",
                        AK_ERR_CONFIG, "no RSA key");
}

int main(int argc, char **argv)
{
    char path[512];
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    snprintf(path, sizeof path, "%s/tokens", dir);
    write_file(path, "# connector client tokens\n\n0123456789abcdef-token-one\n"
                     "   second-token-AAAAAAAAAAAAAAAA\t\n# commented-out-token-xxxxxxxx\n");
    snprintf(path, sizeof path, "%s/tokens_short", dir);
    write_file(path, "0123456789abcdef-token-one\nshort-token\n");
    snprintf(path, sizeof path, "%s/tokens_empty", dir);
    write_file(path, "# nothing\n\n");
    snprintf(path, sizeof path, "%s/tokens_space", dir);
    write_file(path, "0123456789abcdef token-one\n");
    snprintf(path, sizeof path, "%s/jwks_badn.json", dir);
    write_file(path, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"AAAA\",\"e\":\"AQAB\"}]}");
    snprintf(path, sizeof path, "%s/jwks_hs.json", dir);
    write_file(path, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\",\"k\":\"c2VjcmV0\"}]}");

    test_bearer();
    test_jwt_cases();
    test_config_errors();
    return ak_test_report("test_cn_auth");
}
