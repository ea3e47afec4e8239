/*
 * test_cn_manager.c - the signer manager (fallback, circuit breaker, health checks), the signer
 * config (profiles, ${VAR}, structure errors), and the pkcs11, custom and local-mnemonic
 * backends, against real parts: ks_node.js key servers (node https/http, @noble/curves
 * signatures) started and killed by PID, SoftHSM2 for pkcs11. Driven by run.sh, which computes
 * every expected address with ethers (independent of our code) and passes it in the
 * environment: ADDR_A, ADDR_B (keyA.hex, keyB.hex), MN_ADDR0, MN_ADDR1 (the test mnemonic at
 * m/44'/60'/0'/0/0 and /1), MN_ADDR_TREZOR (index 0 with passphrase "TREZOR"), P11_* (optional).
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ak_addr.h"
#include "ak_test.h"
#include "ak_test_net.h"
#include "cn_config.h"
#include "cn_metrics.h"
#include "cn_signer_factory.h"
#include "cn_signer_manager.h"

extern char **environ;

static const char *dir;
static uint8_t addr_a[20], addr_b[20];

static void env_addr(uint8_t out[20], const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || ak_addr_parse(out, v, strlen(v)) != AK_OK) {
        fprintf(stderr, "%s not set or not an address\n", name);
        exit(2);
    }
}

static cJSON *J(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cJSON *J(const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_Parse(text);
    if (j == NULL) {
        fprintf(stderr, "bad JSON in test: %s\n", text);
        exit(2);
    }
    return j;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static long health_status_path(int port, int https, const char *path)
{
    char url[128], f[3][512];
    long status = 0;
    CURL *h = curl_easy_init();
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", https ? "https" : "http", port, path);
    snprintf(f[0], sizeof f[0], "%s/ca.crt", dir);
    snprintf(f[1], sizeof f[1], "%s/client.crt", dir);
    snprintf(f[2], sizeof f[2], "%s/client.key", dir);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, f[0]);
    curl_easy_setopt(h, CURLOPT_SSLCERT, f[1]);
    curl_easy_setopt(h, CURLOPT_SSLKEY, f[2]);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static long health_status(int port, int https)
{
    return health_status_path(port, https, "/__stats");
}

/* node ks_node.js PORT DIR KEYFILE [opts...]; waits until it answers. */
static pid_t start_ks(int port, const char *keyfile, const char *o1, const char *o2)
{
    char ps[16], kf[512], *argv[8];
    int n = 0, https = 1;
    pid_t pid = 0;
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(kf, sizeof kf, "%s/%s", dir, keyfile);
    argv[n++] = "node";
    argv[n++] = getenv("KS_NODE");
    argv[n++] = ps;
    argv[n++] = (char *)dir;
    argv[n++] = kf;
    if (o1)
        argv[n++] = (char *)o1;
    if (o2)
        argv[n++] = (char *)o2;
    argv[n] = NULL;
    for (int i = 5; i < n; i++)
        if (strcmp(argv[i], "http") == 0)
            https = 0;
    if (posix_spawnp(&pid, "node", NULL, NULL, argv, environ) != 0)
        exit(2);
    for (int i = 0; i < 200; i++) {
        if (health_status(port, https) == 200)
            return pid;
        usleep(50000);
    }
    fprintf(stderr, "ks_node did not start on %d\n", port);
    kill(pid, SIGKILL);
    exit(2);
}

static void stop_ks(pid_t pid, int sig)
{
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

static int sign_ok(cn_signer *s, const uint8_t want[20])
{
    uint8_t d[32], got[20];
    ak_sig sig;
    if (getrandom(d, sizeof d, 0) != (ssize_t)sizeof d)
        return 0;
    cn_sign_ctx ctx = {"eth_sign", NULL, 0, time(NULL), NULL, NULL, NULL, 0};
    if (cn_signer_sign_eth(s, &sig, d, &ctx) != AK_OK)
        return 0;
    return ak_sig_check(&sig) == AK_OK && ak_sig_recover_address(got, &sig, d) == AK_OK &&
           memcmp(got, want, 20) == 0;
}

/* Build a manager from an account JSON; returns rc and leaves err. */
static ak_err mgr_from(cn_signer **out, cJSON *acc, unsigned thr, unsigned ms, char *err,
                       size_t cap)
{
    cn_manager_opts o = {.failure_threshold = thr, .health_interval_ms = ms};
    ak_err rc = cn_signer_manager_new(out, acc, &o, err, cap);
    cJSON_Delete(acc);
    return rc;
}

static void expect_err(cJSON *acc, const char *needle)
{
    char err[256] = "";
    cn_signer *s = NULL;
    ak_err rc = mgr_from(&s, acc, 3, 1000, err, sizeof err);
    CHECK(rc == AK_ERR_CONFIG);
    CHECK(s == NULL);
    if (strstr(err, needle) == NULL) {
        fprintf(stderr, "  expected \"%s\" in \"%s\"\n", needle, err);
        CHECK(0);
    }
    cn_signer_free(s);
}

/* ---- config ---------------------------------------------------------------------------- */

static void test_expand_env(void)
{
    char err[256] = "";
    setenv("M5_TEST_VAR", "abc", 1);
    cJSON *d = J("{\"a\":\"x${M5_TEST_VAR}y$${LIT}\",\"b\":[\"${M5_TEST_VAR}\",1],"
                 "\"${M5_TEST_VAR}\":\"k\"}");
    CHECK(cn_config_expand_env(d, err, sizeof err) == AK_OK);
    CHECK(strcmp(cJSON_GetObjectItem(d, "a")->valuestring, "xabcy${LIT}") == 0);
    CHECK(strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "b"), 0)->valuestring, "abc") == 0);
    CHECK(cJSON_GetObjectItem(d, "${M5_TEST_VAR}") != NULL); /* keys are not expanded */
    cJSON_Delete(d);
    unsetenv("M5_NOT_SET_VAR");
    d = J("{\"accounts\":[{\"signer\":{\"type\":\"local\",\"key_file\":\"${M5_NOT_SET_VAR}\"}}]}");
    CHECK(cn_config_expand_env(d, err, sizeof err) == AK_ERR_CONFIG);
    CHECK(strstr(err, "M5_NOT_SET_VAR") != NULL);
    CHECK(strstr(err, "accounts[0].signer.key_file") != NULL);
    cJSON_Delete(d);
    const char *bad[] = {"{\"a\":\"${M5_TEST_VAR\"}", "{\"a\":\"${}\"}", "{\"a\":\"${1X}\"}",
                         "{\"a\":\"${A-B}\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = J("%s", bad[i]);
        CHECK(cn_config_expand_env(d, err, sizeof err) == AK_ERR_CONFIG);
        CHECK(strstr(err, "config .a") != NULL);
        cJSON_Delete(d);
    }
}

static void test_profiles(void)
{
    char err[256] = "", chosen[64];
#define base                                                                                       \
    "{\"profiles\":{\"development\":{\"accounts\":[{\"signer\":{\"type\":"                         \
    "\"local\",\"key_file\":\"dev\"}}]},\"production\":{\"accounts\":[{"                           \
    "\"primary\":{\"type\":\"local\",\"key_file\":\"prod\"}}],"                                    \
    "\"signer_manager\":{\"failure_threshold\":5}}}%s}"
    cJSON *d = J(base, "");
    CHECK(cn_config_select_profile(d, "production", chosen, err, sizeof err) == AK_OK);
    CHECK(strcmp(chosen, "production") == 0);
    cn_settings s;
    CHECK(cn_config_settings(&s, d, err, sizeof err) == AK_OK);
    CHECK(s.failure_threshold == 5 && s.health_interval_ms == 30000);
    const cJSON *p = cJSON_GetObjectItem(cJSON_GetArrayItem(s.accounts, 0), "primary");
    CHECK(strcmp(cJSON_GetObjectItem(p, "key_file")->valuestring, "prod") == 0);
    cJSON_Delete(d);
    /* The file's default, overridden by the argument. */
    d = J(base, ",\"profile\":\"development\"");
    CHECK(cn_config_select_profile(d, "", chosen, err, sizeof err) == AK_OK);
    CHECK(strcmp(chosen, "development") == 0);
    CHECK(cn_config_settings(&s, d, err, sizeof err) == AK_OK);
    cJSON_Delete(d);
    d = J(base, ",\"profile\":\"development\"");
    CHECK(cn_config_select_profile(d, "production", chosen, err, sizeof err) == AK_OK);
    CHECK(strcmp(chosen, "production") == 0);
    cJSON_Delete(d);
    /* Errors. */
    struct {
        const char *doc, *profile, *needle;
    } bad[] = {
        {"{\"profiles\":{\"a\":{\"accounts\":[]}}}", "", "choose one with --profile"},
        {"{\"profiles\":{\"a\":{\"accounts\":[]}}}", "b", "profile \"b\" is not in the config"},
        {"{\"accounts\":[]}", "a", "has no \"profiles\""},
        {"{\"profile\":\"a\",\"accounts\":[]}", "", "no \"profiles\""},
        {"{\"profiles\":{\"a\":{\"accounts\":[]}},\"accounts\":[]}", "a", "inside each profile"},
        {"{\"profiles\":{\"a\":{\"accounts\":[],\"acounts\":1}}}", "a",
         "profiles.a: unknown field \"acounts\""},
        {"{\"profiles\":{\"a\":{}}}", "a", "missing required field \"accounts\""},
        {"{\"profiles\":[]}", "a", "must be an object of named profiles"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = J("%s", bad[i].doc);
        err[0] = '\0';
        CHECK(cn_config_select_profile(d, bad[i].profile, chosen, err, sizeof err) ==
              AK_ERR_CONFIG);
        if (strstr(err, bad[i].needle) == NULL) {
            fprintf(stderr, "  case %zu: expected \"%s\" in \"%s\"\n", i, bad[i].needle, err);
            CHECK(0);
        }
        cJSON_Delete(d);
    }
#undef base
}

static void test_settings_errors(void)
{
    char err[256];
    cn_settings s;
    struct {
        const char *doc, *needle;
    } bad[] = {
        {"{}", "missing required field \"accounts\""},
        {"{\"accounts\":[{\"primay\":{}}]}", "accounts[0]: unknown field \"primay\""},
        {"{\"accounts\":[{\"name\":\"x\"}]}", "accounts[0]: missing required field \"primary\""},
        {"{\"accounts\":[{\"signer\":{},\"primary\":{}}]}", "cannot be combined"},
        {"{\"accounts\":[{\"primary\":{},\"backups\":{}}]}", "backups must be an array"},
        {"{\"accounts\":[{\"primary\":{},\"backups\":[1]}]}", "backups[0] must be a signer"},
        {"{\"accounts\":[{\"primary\":1}]}", "accounts[0].primary must be a signer object"},
        {"{\"accounts\":[{\"signer\":{}}],\"signer_manager\":{\"x\":1}}",
         "signer_manager: unknown field \"x\""},
        {"{\"accounts\":[{\"signer\":{}}],\"signer_manager\":{\"failure_threshold\":0}}",
         "signer_manager.failure_threshold: must be an integer in 1..1000"},
        {"{\"accounts\":[{\"signer\":{}}],\"profiles\":{}}", "unknown field \"profiles\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *d = J("%s", bad[i].doc);
        err[0] = '\0';
        CHECK(cn_config_settings(&s, d, err, sizeof err) == AK_ERR_CONFIG);
        if (strstr(err, bad[i].needle) == NULL) {
            fprintf(stderr, "  case %zu: expected \"%s\" in \"%s\"\n", i, bad[i].needle, err);
            CHECK(0);
        }
        cJSON_Delete(d);
    }
    /* The single-profile format of issue 4 still passes unchanged. */
    cJSON *d = J("{\"accounts\":[{\"signer\":{\"type\":\"local\",\"key_file\":\"k\"}}],"
                 "\"http\":{\"threads\":2},\"comment\":\"x\"}");
    CHECK(cn_config_settings(&s, d, err, sizeof err) == AK_OK);
    CHECK(s.failure_threshold == 3 && s.health_interval_ms == 30000);
    cJSON_Delete(d);
}

/* Every signer config error names what is wrong. */
static void test_signer_errors(void)
{
    expect_err(J("{\"primary\":{\"type\":\"nope\"}}"), "primary: unknown signer type \"nope\"");
    expect_err(J("{\"primary\":{\"key_file\":\"x\"}}"), "missing required field \"type\"");
    expect_err(J("{\"signer\":{\"type\":\"local\",\"key_fil\":\"x\"}}"),
               "signer: local: unknown field \"key_fil\"");
    expect_err(J("{\"primary\":{\"type\":\"local\"}}"), "exactly one of key_file");
    expect_err(J("{\"primary\":{\"type\":\"local\",\"key_file\":\"%s/keyA.hex\"},\"backups\":["
                 "{\"type\":\"pkcs11\",\"token_label\":\"t\"}]}",
                 dir),
               "backups[0]: pkcs11: missing required field \"module\"");
    expect_err(J("{\"primary\":{\"type\":\"pkcs11\",\"module\":\"/x.so\",\"token_label\":\"t\","
                 "\"key\":\"pkcs11:object=k1\"}}"),
               "missing required field \"pin_file\" or \"pin_env\"");
    expect_err(J("{\"primary\":{\"type\":\"pkcs11\",\"module\":\"/x.so\",\"token_label\":\"t\","
                 "\"key\":\"pkcs11:object=k1?pin-value=1234\",\"pin_env\":\"X\"}}"),
               "not in the URI");
    expect_err(J("{\"primary\":{\"type\":\"custom\",\"key_id\":\"k1\"}}"), "keyless.urls");
    expect_err(J("{\"primary\":{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"ftp://x\"]}}"),
               "http:// or https://");
    expect_err(J("{\"primary\":{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"http://x\"],"
                 "\"token_env\":\"M5_NO_SUCH_TOKEN\"}}"),
               "M5_NO_SUCH_TOKEN is not set");
    expect_err(J("{\"primary\":{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"http://x\"],"
                 "\"security_level\":\"high\"}}"),
               "custom.security_level");
    expect_err(J("{\"primary\":{\"type\":\"keyless\",\"key_id\":\"k1\",\"urls\":[\"http://x\"]}}"),
               "must be an https:// base URL");
    expect_err(J("{\"primary\":{\"type\":\"local\",\"key_file\":\"%s/keyA.hex\"},\"nme\":1}", dir),
               "account: unknown field \"nme\"");
    /* Every registered type reaches its constructor (which names what is missing). */
    static const char *const types[] = {
        "local",  "keyless", "pkcs11", "custom", "aws_kms", "hashicorp_vault", "cloudflare_secrets",
        "mpc_kms"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char err[256] = "";
        cn_signer *s = NULL;
        cJSON *c = J("{\"type\":\"%s\"}", types[i]);
        CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
        CHECK(err[0] != '\0' && strstr(err, "unknown signer type") == NULL);
        CHECK(strstr(cn_signer_types(), types[i]) != NULL);
        cJSON_Delete(c);
    }
    /* A backup holding another key is refused at start-up. */
    expect_err(J("{\"primary\":{\"type\":\"local\",\"key_file\":\"%s/keyA.hex\"},\"backups\":["
                 "{\"type\":\"local\",\"key_file\":\"%s/keyA.hex\"},"
                 "{\"type\":\"local\",\"key_file\":\"%s/keyB.hex\",\"name\":\"other\"}]}",
                 dir, dir, dir),
               "backups[1] (local \"other\") holds the key of");
    expect_err(J("{\"primary\":{\"type\":\"local\",\"mnemonic_env\":\"M5_MN\",\"key_env\":\"X\"}}"),
               "exactly one of");
    expect_err(
        J("{\"primary\":{\"type\":\"local\",\"key_file\":\"%s/keyA.hex\",\"path\":\"m/0\"}}", dir),
        "go with mnemonic");
}

/* ---- local backend: mnemonics (addresses from ethers, see run.sh) ----------------------- */

static void test_mnemonic(void)
{
    static const char *mn = "test test test test test test test test test test test junk";
    char err[256] = "";
    uint8_t want[20];
    cn_signer *s = NULL;
    const char *paths[] = {NULL, "m/44'/60'/0'/0/1"};
    const char *envs[] = {"MN_ADDR0", "MN_ADDR1"};
    for (int i = 0; i < 2; i++) {
        setenv("M5_MN", mn, 1);
        env_addr(want, envs[i]);
        cJSON *c = paths[i] ? J("{\"type\":\"local\",\"mnemonic_env\":\"M5_MN\",\"path\":\"%s\"}",
                                paths[i])
                            : J("{\"type\":\"local\",\"mnemonic_env\":\"M5_MN\"}");
        CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_OK);
        cJSON_Delete(c);
        CHECK(s != NULL && memcmp(s->address, want, 20) == 0);
        CHECK(s != NULL && sign_ok(s, want));
        CHECK(getenv("M5_MN") == NULL); /* read and removed */
        cn_signer_free(s);
        s = NULL;
    }
    /* Two accounts on one mnemonic_env (cn_rcfg.h): the first read wipes and unsets the
     * variable, the second is served from the connector's locked copy. */
    setenv("M5_MN", mn, 1);
    for (int i = 0; i < 2; i++) {
        env_addr(want, envs[i]);
        cJSON *c = J("{\"type\":\"local\",\"mnemonic_env\":\"M5_MN\",\"path\":\"%s\"}",
                     i ? paths[1] : "m/44'/60'/0'/0/0");
        CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_OK);
        cJSON_Delete(c);
        CHECK(s != NULL && memcmp(s->address, want, 20) == 0);
        CHECK(getenv("M5_MN") == NULL);
        cn_signer_free(s);
        s = NULL;
    }
    /* From a file, with the passphrase "TREZOR". */
    char f[512];
    snprintf(f, sizeof f, "%s/mnemonic.txt", dir);
    FILE *fp = fopen(f, "w");
    fprintf(fp, "%s\n", mn);
    fchmod(fileno(fp), 0600); /* a secret file (cn_secfile) */
    fclose(fp);
    setenv("M5_PASS", "TREZOR", 1);
    env_addr(want, "MN_ADDR_TREZOR");
    cJSON *c = J("{\"type\":\"local\",\"mnemonic_file\":\"%s\",\"passphrase_env\":\"M5_PASS\"}", f);
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_OK);
    cJSON_Delete(c);
    CHECK(s != NULL && memcmp(s->address, want, 20) == 0);
    cn_signer_free(s);
    s = NULL;
    /* A bad checksum, a bad path: refused, the words never in the message. */
    setenv("M5_MN", "test test test test test test test test test test test test", 1);
    c = J("{\"type\":\"local\",\"mnemonic_env\":\"M5_MN\"}");
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_ERR_CONFIG);
    CHECK(strstr(err, "not a valid BIP-39") != NULL && strstr(err, "test") == NULL);
    cJSON_Delete(c);
    setenv("M5_MN", mn, 1);
    c = J("{\"type\":\"local\",\"mnemonic_env\":\"M5_MN\",\"path\":\"m/44'/x\"}");
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_ERR_CONFIG);
    CHECK(strstr(err, "local.path") != NULL);
    cJSON_Delete(c);
}

/* ---- custom backend: plain HTTP + bearer token ----------------------------------------- */

static void test_custom(void)
{
    char err[256] = "", bearer[600];
    int port = ak_test_free_port();
    snprintf(bearer, sizeof bearer, "bearer=%s/token", dir);
    pid_t pid = start_ks(port, "keyA.hex", "http", bearer);
    cn_signer *s = NULL;
    cJSON *c = J("{\"type\":\"custom\",\"name\":\"vendor\",\"key_id\":\"k1\",\"urls\":["
                 "\"http://127.0.0.1:%d\"],\"token_file\":\"%s/token\",\"retries\":0}",
                 port, dir);
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_OK);
    cJSON_Delete(c);
    CHECK(s != NULL && strcmp(s->ops->type, "custom") == 0 && s->level == CN_LEVEL_STAGING);
    CHECK(s != NULL && memcmp(s->address, addr_a, 20) == 0);
    for (int i = 0; i < 20 && s != NULL; i++)
        CHECK(sign_ok(s, addr_a));
    cn_signer_health h;
    CHECK(s != NULL && s->ops->health(s, &h) == AK_OK && h.can_sign);
    cn_signer_free(s);
    s = NULL;
    /* Wrong token and no token: the server answers 401, the signer is refused. */
    setenv("M5_TOKEN", "not-the-token", 1);
    c = J("{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"http://127.0.0.1:%d\"],"
          "\"token_env\":\"M5_TOKEN\",\"retries\":0}",
          port);
    CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
    CHECK(strstr(err, "not-the-token") == NULL);
    CHECK(getenv("M5_TOKEN") == NULL);
    cJSON_Delete(c);
    c = J(
        "{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"http://127.0.0.1:%d\"],\"retries\":0}",
        port);
    CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
    cJSON_Delete(c);
    stop_ks(pid, SIGTERM);
    /* HTTPS with mutual TLS and no token; without the client certificate it is refused. */
    port = ak_test_free_port();
    pid = start_ks(port, "keyA.hex", NULL, NULL);
    c = J("{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"https://127.0.0.1:%d\"],"
          "\"client_cert\":\"%s/client.crt\",\"client_key\":\"%s/client.key\",\"ca\":"
          "\"%s/ca.crt\",\"security_level\":\"production\"}",
          port, dir, dir, dir);
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_OK);
    cJSON_Delete(c);
    CHECK(s != NULL && s->level == CN_LEVEL_PRODUCTION && sign_ok(s, addr_a));
    cn_signer_free(s);
    s = NULL;
    c = J("{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"https://127.0.0.1:%d\"],"
          "\"ca\":\"%s/ca.crt\",\"retries\":0}",
          port, dir);
    CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
    cJSON_Delete(c);
    c = J("{\"type\":\"custom\",\"key_id\":\"k1\",\"urls\":[\"https://127.0.0.1:%d\"],"
          "\"client_cert\":\"%s/client.crt\",\"ca\":\"%s/ca.crt\"}",
          port, dir, dir);
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_ERR_CONFIG && s == NULL);
    CHECK(strstr(err, "client_key") != NULL);
    cJSON_Delete(c);
    stop_ks(pid, SIGTERM);
}

/* ---- the manager ------------------------------------------------------------------------- */

typedef struct {
    cn_signer *s;
    _Atomic int stop;
    _Atomic long ok, bad, failed;
} load;

static void *load_main(void *arg)
{
    load *l = arg;
    while (!atomic_load(&l->stop)) {
        uint8_t d[32], got[20];
        ak_sig sig;
        if (getrandom(d, sizeof d, 0) != (ssize_t)sizeof d)
            break;
        if (cn_signer_sign_eth(l->s, &sig, d, NULL) != AK_OK) {
            atomic_fetch_add(&l->failed, 1);
            continue;
        }
        if (ak_sig_check(&sig) == AK_OK && ak_sig_recover_address(got, &sig, d) == AK_OK &&
            memcmp(got, addr_a, 20) == 0)
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->bad, 1);
    }
    return NULL;
}

static void keyless_json(char *out, size_t cap, int port)
{
    snprintf(out, cap,
             "{\"type\":\"keyless\",\"name\":\"ks-primary\",\"key_id\":\"k1\",\"urls\":["
             "\"https://127.0.0.1:%d\"],\"client_cert\":\"%s/client.crt\",\"client_key\":"
             "\"%s/client.key\",\"ca\":\"%s/ca.crt\",\"retries\":0,\"timeout_ms\":2000,"
             "\"connect_timeout_ms\":500}",
             port, dir, dir, dir);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Kill the primary under load: every request still gets a correct signature; it comes back. */
static void test_fallback_under_load(void)
{
    char err[256] = "", prim[1024], bearer[600];
    int p1 = ak_test_free_port(), p2 = ak_test_free_port();
    snprintf(bearer, sizeof bearer, "bearer=%s/token", dir);
    pid_t k1 = start_ks(p1, "keyA.hex", NULL, NULL);
    pid_t k2 = start_ks(p2, "keyA.hex", "http", bearer);
    keyless_json(prim, sizeof prim, p1);
    cn_signer *m = NULL;
    CHECK(mgr_from(&m,
                   J("{\"name\":\"acct\",\"primary\":%s,\"backups\":[{\"type\":\"custom\","
                     "\"name\":\"backup-http\",\"key_id\":\"k1\",\"urls\":["
                     "\"http://127.0.0.1:%d\"],\"token_file\":\"%s/token\",\"retries\":0}]}",
                     prim, p2, dir),
                   3, 200, err, sizeof err) == AK_OK);
    if (m == NULL) {
        fprintf(stderr, "  manager: %s\n", err);
        stop_ks(k1, SIGTERM);
        stop_ks(k2, SIGTERM);
        return;
    }
    CHECK(memcmp(m->address, addr_a, 20) == 0);
    load l = {.s = m};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, load_main, &l);
    sleep_ms(800);
    cn_manager_signer_stats before, mid, after, b1;
    CHECK(cn_signer_manager_stats(m, 0, &before) == AK_OK);
    CHECK(before.ok > 0 && before.circuit == CN_CIRCUIT_CLOSED);
    stop_ks(k1, SIGKILL); /* the primary dies mid-request */
    sleep_ms(1200);
    CHECK(cn_signer_manager_stats(m, 0, &mid) == AK_OK);
    CHECK(mid.circuit == CN_CIRCUIT_OPEN);
    CHECK(mid.failed >= 3);
    CHECK(cn_signer_manager_stats(m, 1, &b1) == AK_OK);
    CHECK(b1.ok > 0);
    /* /signers shows it. */
    char *js = NULL;
    size_t jl = 0;
    CHECK(cn_signer_manager_status_json(&m, 1, &js, &jl) == AK_OK);
    CHECK(js != NULL && strstr(js, "\"circuit\":\"open\"") != NULL);
    CHECK(js != NULL && strstr(js, "\"role\":\"backup1\"") != NULL);
    free(js);
    k1 = start_ks(p1, "keyA.hex", NULL, NULL); /* recovers */
    int closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        sleep_ms(50);
        CHECK(cn_signer_manager_stats(m, 0, &after) == AK_OK);
        closed = after.circuit == CN_CIRCUIT_CLOSED && after.ok > mid.ok;
    }
    CHECK(closed);
    sleep_ms(300);
    atomic_store(&l.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(cn_signer_manager_stats(m, 0, &after) == AK_OK);
    printf("  fallback under load: %ld signatures ok, %ld failed, %ld wrong; primary ok %llu "
           "(failed %llu), backup ok %llu\n",
           l.ok, l.failed, l.bad, after.ok, after.failed, b1.ok);
    CHECK(l.failed == 0);
    CHECK(l.bad == 0);
    CHECK(l.ok > 100);
    CHECK(after.ok > mid.ok); /* the primary is used again */
    /* Metrics exposition carries the per-signer series. */
    char *text = NULL;
    size_t tl = 0;
    CHECK(cn_metrics_render(&text, &tl) == AK_OK);
    CHECK(text && strstr(text, "anode_connector_signer_signatures_total{account=\"") != NULL);
    CHECK(text && strstr(text, "role=\"backup1\",signer=\"backup-http\",type=\"custom\"") != NULL);
    free(text);
    cn_signer_free(m);
    stop_ks(k1, SIGTERM);
    stop_ks(k2, SIGTERM);
}

/* A primary that signs with another key: its signatures are never returned. */
static void test_wrong_key_falls_through(void)
{
    char err[256] = "", prim[1024], sk[600];
    int p1 = ak_test_free_port();
    snprintf(sk, sizeof sk, "signkey=%s/keyB.hex", dir);
    pid_t k1 = start_ks(p1, "keyA.hex", sk, NULL);
    keyless_json(prim, sizeof prim, p1);
    cn_signer *m = NULL;
    CHECK(mgr_from(&m,
                   J("{\"primary\":%s,\"backups\":[{\"type\":\"local\",\"key_file\":"
                     "\"%s/keyA.hex\"}]}",
                     prim, dir),
                   3, 60000, err, sizeof err) == AK_OK);
    if (m != NULL) {
        int good = 0;
        for (int i = 0; i < 20; i++)
            good += sign_ok(m, addr_a);
        CHECK(good == 20);
        cn_manager_signer_stats p, b;
        CHECK(cn_signer_manager_stats(m, 0, &p) == AK_OK);
        CHECK(cn_signer_manager_stats(m, 1, &b) == AK_OK);
        CHECK(p.ok == 0 && p.failed == 3 && p.circuit == CN_CIRCUIT_OPEN);
        CHECK(b.ok == 20);
        /* The plain signer alone also refuses it (cn_signer_sign_eth's check). */
        cn_signer *k = NULL;
        cJSON *c = J("%s", prim);
        CHECK(cn_signer_create(&k, c, err, sizeof err) == AK_OK);
        cJSON_Delete(c);
        ak_sig sig;
        uint8_t d[32] = {1};
        CHECK(k != NULL && cn_signer_sign_eth(k, &sig, d, NULL) == AK_ERR_RECOVER);
        cn_signer_free(k);
        char *text = NULL;
        size_t tl = 0;
        CHECK(cn_metrics_render(&text, &tl) == AK_OK);
        CHECK(text && strstr(text, "type=\"keyless\",reason=\"wrong_key\"} 3") != NULL);
        free(text);
    }
    cn_signer_free(m);
    stop_ks(k1, SIGTERM);
}

/*
 * A refusal is a decision, not a failure: a primary key server that answers 403 policy_denied
 * ends the signature (the backup, which holds the same key, must not overrule its policy), and
 * its circuit stays closed however many requests it refuses.
 */
static void test_refusal_not_overruled(void)
{
    char err[256] = "", prim[1024], back[1024], mf[600];
    int p1 = ak_test_free_port(), p2 = ak_test_free_port();
    pid_t k1 = start_ks(p1, "keyA.hex", NULL, NULL), k2 = start_ks(p2, "keyA.hex", NULL, NULL);
    keyless_json(prim, sizeof prim, p1);
    keyless_json(back, sizeof back, p2);
    cn_signer *m = NULL;
    CHECK(mgr_from(&m, J("{\"primary\":%s,\"backups\":[%s]}", prim, back), 2, 60000, err,
                   sizeof err) == AK_OK);
    snprintf(mf, sizeof mf, "%s/mode-%d", dir, p1);
    FILE *f = fopen(mf, "w");
    if (f != NULL) {
        fputs("deny", f);
        fclose(f);
    }
    if (m != NULL) {
        ak_sig sig;
        uint8_t d[32] = {7};
        for (int i = 0; i < 5; i++)
            CHECK(cn_signer_sign_eth(m, &sig, d, NULL) == AK_ERR_FORBIDDEN);
        cn_manager_signer_stats p, b;
        CHECK(cn_signer_manager_stats(m, 0, &p) == AK_OK && p.circuit == CN_CIRCUIT_CLOSED);
        /* the backup was never asked */
        CHECK(cn_signer_manager_stats(m, 1, &b) == AK_OK && b.ok == 0 && b.failed == 0);
        unlink(mf);
        CHECK(sign_ok(m, addr_a)); /* the primary signs again once its policy allows it */
    }
    unlink(mf);
    cn_signer_free(m);
    stop_ks(k1, SIGTERM);
    stop_ks(k2, SIGTERM);
}

/* Every signer of the account open: still tried in order (last resort), then recovers. */
static void test_last_resort(void)
{
    char err[256] = "", prim[1024];
    int p1 = ak_test_free_port();
    pid_t k1 = start_ks(p1, "keyA.hex", NULL, NULL);
    keyless_json(prim, sizeof prim, p1);
    cn_signer *m = NULL;
    CHECK(mgr_from(&m, J("{\"primary\":%s}", prim), 2, 60000, err, sizeof err) == AK_OK);
    if (m == NULL) {
        stop_ks(k1, SIGTERM);
        return;
    }
    char mf[600];
    snprintf(mf, sizeof mf, "%s/mode-%d", dir, p1);
    FILE *f = fopen(mf, "w");
    fputs("503", f);
    fclose(f);
    CHECK(!sign_ok(m, addr_a));
    CHECK(!sign_ok(m, addr_a));
    cn_manager_signer_stats st;
    CHECK(cn_signer_manager_stats(m, 0, &st) == AK_OK && st.circuit == CN_CIRCUIT_OPEN);
    cn_signer_health h;
    CHECK(m->ops->health(m, &h) == AK_OK && h.can_sign == 0);
    unlink(mf);
    CHECK(sign_ok(m, addr_a)); /* tried although open; success closes it */
    CHECK(cn_signer_manager_stats(m, 0, &st) == AK_OK && st.circuit == CN_CIRCUIT_CLOSED);
    cn_signer_free(m);
    stop_ks(k1, SIGTERM);
}

/*
 * The same with real parts: primary = keyless -> the real anode-keyserver -> SoftHSM2, backup =
 * pkcs11 straight on the same token (same key). Kill the key server under load, restart it.
 */
static pid_t start_real_ks(int port)
{
    char ps[16], *argv[] = {"sh", (char *)getenv("KS_START"), ps, NULL};
    pid_t pid = 0;
    snprintf(ps, sizeof ps, "%d", port);
    if (posix_spawnp(&pid, "sh", NULL, NULL, argv, environ) != 0)
        exit(2);
    for (int i = 0; i < 300; i++) {
        if (health_status_path(port, 1, "/health") == 200)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(100000);
    }
    fprintf(stderr, "anode-keyserver did not start on %d\n", port);
    kill(pid, SIGKILL);
    exit(2);
}

static void test_fallback_real_keyserver(void)
{
    if (getenv("KS_START") == NULL || getenv("P11_MODULE") == NULL) {
        printf("  fallback with the real key server: skipped (not built / no SoftHSM2)\n");
        return;
    }
    char err[256] = "", prim[1024];
    uint8_t want[20];
    env_addr(want, "P11_ADDRESS");
    int p1 = ak_test_free_port();
    pid_t ks = start_real_ks(p1);
    keyless_json(prim, sizeof prim, p1);
    cn_signer *m = NULL;
    CHECK(mgr_from(&m,
                   J("{\"primary\":%s,\"backups\":[{\"type\":\"pkcs11\",\"module\":\"%s\","
                     "\"token_label\":\"%s\",\"pin_file\":\"%s\",\"key\":\"pkcs11:object=k1\","
                     "\"max_sessions\":4}]}",
                     prim, getenv("P11_MODULE"), getenv("P11_TOKEN"), getenv("P11_PIN_FILE")),
                   3, 200, err, sizeof err) == AK_OK);
    if (m == NULL) {
        fprintf(stderr, "  manager: %s\n", err);
        stop_ks(ks, SIGTERM);
        return;
    }
    CHECK(memcmp(m->address, want, 20) == 0);
    memcpy(addr_a, want, 20); /* load_main checks against addr_a */
    load l = {.s = m};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, load_main, &l);
    sleep_ms(800);
    cn_manager_signer_stats before, mid, after, b1;
    CHECK(cn_signer_manager_stats(m, 0, &before) == AK_OK && before.ok > 0);
    stop_ks(ks, SIGKILL);
    sleep_ms(1200);
    CHECK(cn_signer_manager_stats(m, 0, &mid) == AK_OK && mid.circuit == CN_CIRCUIT_OPEN);
    CHECK(cn_signer_manager_stats(m, 1, &b1) == AK_OK && b1.ok > 0);
    ks = start_real_ks(p1);
    int closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        sleep_ms(50);
        CHECK(cn_signer_manager_stats(m, 0, &after) == AK_OK);
        closed = after.circuit == CN_CIRCUIT_CLOSED && after.ok > mid.ok;
    }
    CHECK(closed);
    sleep_ms(300);
    atomic_store(&l.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(cn_signer_manager_stats(m, 0, &after) == AK_OK);
    CHECK(cn_signer_manager_stats(m, 1, &b1) == AK_OK);
    printf("  real key server killed under load: %ld signatures ok, %ld failed, %ld wrong; "
           "keyserver ok %llu (failed %llu), pkcs11 backup ok %llu\n",
           l.ok, l.failed, l.bad, after.ok, after.failed, b1.ok);
    CHECK(l.failed == 0 && l.bad == 0 && l.ok > 100);
    CHECK(after.ok > mid.ok);
    cn_signer_free(m);
    stop_ks(ks, SIGTERM);
    env_addr(addr_a, "ADDR_A");
}

/* ---- pkcs11 backend against SoftHSM2 ----------------------------------------------------- */

static void test_pkcs11(void)
{
    const char *mod = getenv("P11_MODULE");
    if (mod == NULL) {
        printf("  pkcs11: skipped (no SoftHSM2 in this run)\n");
        return;
    }
    char err[256] = "";
    uint8_t want[20];
    env_addr(want, "P11_ADDRESS");
    const char *tok = getenv("P11_TOKEN"), *pinf = getenv("P11_PIN_FILE");
    cn_signer *s = NULL;
    cJSON *c = J("{\"type\":\"pkcs11\",\"module\":\"%s\",\"token_label\":\"%s\",\"pin_file\":"
                 "\"%s\",\"key\":\"pkcs11:object=k1;type=private\",\"max_sessions\":4}",
                 mod, tok, pinf);
    CHECK(cn_signer_create(&s, c, err, sizeof err) == AK_OK);
    cJSON_Delete(c);
    if (s == NULL) {
        fprintf(stderr, "  pkcs11: %s\n", err);
        return;
    }
    CHECK(memcmp(s->address, want, 20) == 0);
    CHECK(strcmp(s->ops->type, "pkcs11") == 0);
    int good = 0;
    for (int i = 0; i < 50; i++)
        good += sign_ok(s, want);
    CHECK(good == 50); /* ~half of SoftHSM's signatures are high-s: normalised */
    cn_signer_health h;
    CHECK(s->ops->health(s, &h) == AK_OK && h.can_sign && h.max_concurrency == 4);
    /* In a manager with a local backup of another key: refused. */
    cn_signer *b = NULL, *m = NULL, *pair[2];
    c = J("{\"type\":\"local\",\"key_file\":\"%s/keyB.hex\"}", dir);
    CHECK(cn_signer_create(&b, c, err, sizeof err) == AK_OK);
    cJSON_Delete(c);
    pair[0] = s;
    pair[1] = b;
    CHECK(cn_signer_manager_wrap(&m, pair, 2, NULL, NULL, err, sizeof err) == AK_ERR_CONFIG);
    CHECK(m == NULL && strstr(err, "same key") != NULL);
    /* Negative: wrong PIN, unknown key, no such token. */
    setenv("M5_PIN", "000000", 1);
    c = J("{\"type\":\"pkcs11\",\"module\":\"%s\",\"token_label\":\"%s\",\"pin_env\":\"M5_PIN\","
          "\"key\":\"pkcs11:object=k1\"}",
          mod, tok);
    CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
    CHECK(strstr(err, "000000") == NULL);
    cJSON_Delete(c);
    c = J("{\"type\":\"pkcs11\",\"module\":\"%s\",\"token_label\":\"%s\",\"pin_file\":\"%s\","
          "\"key\":\"pkcs11:object=nope\"}",
          mod, tok, pinf);
    CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
    CHECK(strstr(err, "pkcs11.key") != NULL);
    cJSON_Delete(c);
    c = J("{\"type\":\"pkcs11\",\"module\":\"%s\",\"token_label\":\"no-such\",\"pin_file\":\"%s\","
          "\"key\":\"pkcs11:object=k1\"}",
          mod, pinf);
    CHECK(cn_signer_create(&s, c, err, sizeof err) != AK_OK && s == NULL);
    CHECK(strstr(err, "no-such") != NULL);
    cJSON_Delete(c);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (see run.sh)\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    env_addr(addr_a, "ADDR_A");
    env_addr(addr_b, "ADDR_B");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    cn_log_setup(CN_LOG_ERROR, 0);
    test_expand_env();
    test_profiles();
    test_settings_errors();
    test_signer_errors();
    test_mnemonic();
    test_custom();
    test_wrong_key_falls_through();
    test_last_resort();
    test_refusal_not_overruled();
    test_fallback_under_load();
    test_pkcs11();
    test_fallback_real_keyserver();
    curl_global_cleanup();
    return ak_test_report("cn_manager");
}
