/*
 * test_cn_remote.c - the hashicorp_vault, cloudflare_secrets and mpc_kms signers against node
 * mocks over real TLS on 127.0.0.1 (run by run.sh, which makes DIR: certificates, keys, tokens).
 *
 * Environment: REMOTE_MOCKS (directory of the *.mjs mocks), REMOTE_ADDRESS / REMOTE_ADDRESS2
 * (addresses of DIR/key.hex and DIR/key2.hex computed by ethers). The mocks check what we send
 * (Vault token, AppRole body, KV v2 path; Cloudflare bearer and path; the MPC HMAC signature,
 * timestamp window and nonce). The test starts and stops every mock by PID.
 *
 * Per backend: many signatures that recover to the ethers address (also from 4 threads across
 * TTL expiries), bad credentials, TTL expiry and refetch (and the reaper's wipe), server down ->
 * AK_ERR_NETWORK promptly and recovery after restart, malformed answers, a key with another
 * address refused, a slow server -> AK_ERR_TIMEOUT, a foreign CA refused, config errors.
 * MPC also: the summaries of a native and an ERC-20 transfer, a replayed request and an old
 * timestamp refused by the server, a signature from another digest refused, policy refusal.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ak_addr.h"
#include "ak_secmem.h"
#include "ak_sig.h"
#include "ak_test.h"
#include "ak_test_net.h"
#include "ak_tx.h"
#include "cn_keycache.h"
#include "cn_remote_key.h"
#include "cn_signer.h"
#include "cn_signer_cfsecrets.h"
#include "cn_signer_mpc.h"
#include "cn_signer_vault.h"

extern char **environ;

static const char *dir, *mocks;
static uint8_t want_addr[20], other_addr[20];
static char other_addr_s[64];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static void set_mode(const char *backend, const char *mode)
{
    char name[64];
    snprintf(name, sizeof name, "%s.mode", backend);
    write_file(name, mode);
}

typedef struct {
    char *data;
    size_t len;
} mem;

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    mem *m = u;
    char *d = realloc(m->data, m->len + s * n + 1);
    if (d == NULL)
        return 0;
    memcpy(d + m->len, p, s * n);
    m->len += s * n;
    d[m->len] = '\0';
    m->data = d;
    return s * n;
}

/* A raw HTTPS request to a mock (CA-verified); returns the status, *out the JSON body. */
static long raw(int port, const char *method, const char *path, struct curl_slist *hdrs,
                const char *body, cJSON **out)
{
    char url[512], ca[512];
    long status = 0;
    mem m = {NULL, 0};
    CURL *h = curl_easy_init();
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", port, path);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (out != NULL)
        *out = m.data ? cJSON_Parse(m.data) : NULL;
    free(m.data);
    return status;
}

static int stat_of(int port, const char *field)
{
    cJSON *j = NULL;
    raw(port, "GET", "/__stats", NULL, NULL, &j);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
    int n = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(j);
    return n;
}

static pid_t start_mock(const char *script, int port)
{
    char path[512], portstr[16];
    pid_t pid = 0;
    snprintf(path, sizeof path, "%s/%s", mocks, script);
    snprintf(portstr, sizeof portstr, "%d", port);
    char *argv[] = {"node", path, portstr, (char *)dir, NULL};
    if (posix_spawnp(&pid, "node", NULL, NULL, argv, environ) != 0) {
        perror("posix_spawnp");
        exit(2);
    }
    for (int i = 0; i < 200; i++) { /* up to 20 s */
        if (raw(port, "GET", "/__health", NULL, NULL, NULL) == 200)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(100000);
    }
    fprintf(stderr, "mock %s did not start on port %d\n", script, port);
    kill(pid, SIGTERM);
    exit(2);
}

static void stop_mock(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

typedef ak_err (*ctor_fn)(cn_signer **, const cJSON *, char *, size_t);

/* Build a signer from a printf-style JSON config; the error text is kept in err. */
static char last_err[512];
static ak_err make(cn_signer **s, ctor_fn ctor, const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    if (cfg == NULL) {
        fprintf(stderr, "bad test config: %s\n", json);
        exit(2);
    }
    last_err[0] = '\0';
    double t0 = ak_test_now_s();
    ak_err rc = ctor(s, cfg, last_err, sizeof last_err);
    cJSON_Delete(cfg);
    if (rc != AK_OK && getenv("REMOTE_VERBOSE"))
        fprintf(stderr, "  (expected?) %.3f s %s: %s\n", ak_test_now_s() - t0, ak_errname(rc),
                last_err);
    return rc;
}

static void rand_digest(uint8_t d[32])
{
    if (getrandom(d, 32, 0) != 32)
        abort();
}

/* Sign one digest through cn_signer_sign_eth and check it recovers to the ethers address. */
static ak_err sign_check(cn_signer *s, const cn_sign_ctx *ctx, const uint8_t *digest_in)
{
    uint8_t d[32], a[20];
    ak_sig sig;
    if (digest_in)
        memcpy(d, digest_in, 32);
    else
        rand_digest(d);
    ak_err rc = cn_signer_sign_eth(s, &sig, d, ctx);
    if (rc != AK_OK)
        return rc;
    if (ak_sig_recover_address(a, &sig, d) != AK_OK || memcmp(a, want_addr, 20) != 0)
        return AK_ERR_RECOVER;
    return AK_OK;
}

static int sign_many(cn_signer *s, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ak_err rc = sign_check(s, NULL, NULL);
        ok += rc == AK_OK;
        if (rc != AK_OK)
            fprintf(stderr, "  signature %d of %s: %s\n", i, s->ops->type, ak_errname(rc));
    }
    return ok;
}

typedef struct {
    cn_signer *s;
    int n, ok;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *t = p;
    for (int i = 0; i < t->n; i++) {
        ak_err rc = sign_check(t->s, NULL, NULL);
        t->ok += rc == AK_OK;
        if (rc != AK_OK)
            fprintf(stderr, "  thread signature %d of %s: %s\n", i, t->s->ops->type,
                    ak_errname(rc));
        if (i % 50 == 49)
            usleep(100000); /* spans several 1 s TTL expiries */
    }
    return NULL;
}

/* 4 threads x n signatures; all must succeed. */
static void threads_check(cn_signer *s, int n)
{
    pthread_t th[4];
    thr_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr_arg){s, n, 0};
        pthread_create(&th[i], NULL, thr_main, &a[i]);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
    }
    CHECK_EQ_INT(ok, 4 * n);
}

static int loaded(cn_signer *s)
{
    cn_remote_key_base *b = s->impl;
    return cn_keycache_loaded(b->cache);
}

/* The secrets of DIR (keys, tokens): no error message may contain one. */
static char secrets[10][80];
static int n_secrets;

static void load_secrets(void)
{
    const char *names[] = {"key.hex",  "key2.hex",   "vault_token", "vault_secret_id",
                           "cf_token", "mpc_secret", "bad_secret",  "k8s_jwt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "r");
        if (f == NULL || fgets(secrets[n_secrets], sizeof secrets[0], f) == NULL)
            abort();
        fclose(f);
        secrets[n_secrets][strcspn(secrets[n_secrets], "\r\n")] = '\0';
        n_secrets++;
    }
}

/* Construction must fail with want and an error message that names no secret. */
static void expect_fail(ctor_fn ctor, const char *json, ak_err want, const char *needle)
{
    cn_signer *s = NULL;
    ak_err rc = make(&s, ctor, json);
    CHECK_EQ_INT(rc, want);
    CHECK(s == NULL);
    if (needle != NULL && strstr(last_err, needle) == NULL) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", last_err, needle);
        CHECK(0);
    }
    for (int i = 0; i < n_secrets; i++)
        if (strstr(last_err, secrets[i]) != NULL) {
            fprintf(stderr, "error message holds a secret: %s\n", last_err);
            CHECK(0);
        }
    cn_signer_free(s);
}

/* ---- hashicorp_vault ---------------------------------------------------------------------- */

static char *vault_cfg(int port, const char *auth, const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{%s%s\"type\":\"hashicorp_vault\",\"addr\":\"https://127.0.0.1:%d\",\"path\":"
             "\"eth/signer1\",\"ca\":\"%s/ca.crt\",\"auth\":%s,\"timeout_ms\":3000}",
             extra ? extra : "", extra ? "," : "", port, dir, auth);
    return buf;
}

static void test_vault(void)
{
    char tok_auth[600], approle[700], bad_approle[700], bad_tok[600], extra[256];
    int port = ak_test_free_port();
    pid_t pid = start_mock("vault_mock.mjs", port);
    cn_signer *s = NULL;
    snprintf(tok_auth, sizeof tok_auth, "{\"method\":\"token\",\"token_file\":\"%s/vault_token\"}",
             dir);
    snprintf(bad_tok, sizeof bad_tok, "{\"method\":\"token\",\"token_file\":\"%s/bad_secret\"}",
             dir);
    snprintf(approle, sizeof approle,
             "{\"method\":\"approle\",\"role_id\":\"role-1\",\"secret_id_file\":\"%s/"
             "vault_secret_id\"}",
             dir);
    snprintf(bad_approle, sizeof bad_approle,
             "{\"method\":\"approle\",\"role_id\":\"role-1\",\"secret_id_file\":\"%s/bad_secret\"}",
             dir);
    write_file("vault_lease", "3600");

    /* Token auth: success, many signatures from one fetch, address from ethers. */
    CHECK_EQ_INT(make(&s, cn_vault_signer_new, vault_cfg(port, tok_auth, NULL)), AK_OK);
    if (s != NULL) {
        CHECK_MEM(s->address, want_addr, 20);
        CHECK_EQ_INT(sign_many(s, 300), 300);
        CHECK_EQ_INT(stat_of(port, "kv_reads"), 1);
        cn_signer_health h;
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(h.can_sign);
        CHECK_STR(s->ops->type, "hashicorp_vault");
    }
    cn_signer_free(s);
    s = NULL;

    /* Bad credentials. */
    expect_fail(cn_vault_signer_new, vault_cfg(port, bad_tok, NULL), AK_ERR_AUTH,
                "permission denied");
    expect_fail(cn_vault_signer_new, vault_cfg(port, bad_approle, NULL), AK_ERR_AUTH,
                "login at auth/approle refused");

    /* AppRole + TTL expiry: the reaper wipes the key, the next signature refetches. */
    int logins0 = stat_of(port, "logins"), reads0 = stat_of(port, "kv_reads");
    CHECK_EQ_INT(make(&s, cn_vault_signer_new, vault_cfg(port, approle, "\"cache_ttl_s\":1")),
                 AK_OK);
    if (s != NULL) {
        CHECK_EQ_INT(stat_of(port, "logins"), logins0 + 1);
        CHECK_EQ_INT(sign_many(s, 50), 50);
        CHECK(loaded(s));
        usleep(1500000);
        CHECK(!loaded(s)); /* wiped on expiry without any signature asking */
        CHECK_EQ_INT(sign_many(s, 50), 50);
        CHECK_EQ_INT(stat_of(port, "kv_reads"), reads0 + 2);
        CHECK_EQ_INT(stat_of(port, "logins"), logins0 + 1); /* token lease still valid */
        /* Token revoked behind our back: 403, one re-login, success. */
        set_mode("vault", "revoke");
        usleep(1200000);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
        CHECK_EQ_INT(stat_of(port, "logins"), logins0 + 2);
        /* Concurrency across expiries. */
        threads_check(s, 200);
        /* Server down: the cached key still signs until the TTL, then AK_ERR_NETWORK fast. */
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
        stop_mock(pid);
        usleep(1200000);
        double t0 = ak_test_now_s();
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_NETWORK);
        CHECK(ak_test_now_s() - t0 < 1.5);
        pid = start_mock("vault_mock.mjs", port);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK); /* new server: fresh login works */
        /* Rotated secret (another key): refused, never signs with it. */
        set_mode("vault", "wrongkey");
        usleep(1200000);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_PRIVKEY);
        set_mode("vault", "ok");
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
    }
    cn_signer_free(s);
    s = NULL;

    /* AppRole lease expiry: re-login when the lease has (90%) passed. */
    write_file("vault_lease", "1");
    logins0 = stat_of(port, "logins");
    CHECK_EQ_INT(make(&s, cn_vault_signer_new, vault_cfg(port, approle, "\"cache_ttl_s\":1")),
                 AK_OK);
    if (s != NULL) {
        usleep(1300000);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
        CHECK_EQ_INT(stat_of(port, "logins"), logins0 + 2);
        CHECK_EQ_INT(stat_of(port, "denied") >= 0, 1);
    }
    cn_signer_free(s);
    s = NULL;
    write_file("vault_lease", "3600");

    /* Kubernetes auth: the service-account JWT from a file. */
    char k8s[700];
    snprintf(k8s, sizeof k8s,
             "{\"method\":\"kubernetes\",\"role\":\"signer\",\"jwt_file\":\"%s/k8s_jwt\"}", dir);
    logins0 = stat_of(port, "logins");
    CHECK_EQ_INT(make(&s, cn_vault_signer_new, vault_cfg(port, k8s, NULL)), AK_OK);
    if (s != NULL) {
        CHECK_EQ_INT(sign_many(s, 20), 20);
        CHECK_EQ_INT(stat_of(port, "logins"), logins0 + 1);
    }
    cn_signer_free(s);
    s = NULL;
    snprintf(k8s, sizeof k8s,
             "{\"method\":\"kubernetes\",\"role\":\"signer\",\"jwt_file\":\"%s/bad_secret\"}", dir);
    expect_fail(cn_vault_signer_new, vault_cfg(port, k8s, NULL), AK_ERR_AUTH,
                "login at auth/kubernetes refused");

    /* Configured address must match the stored key. */
    snprintf(extra, sizeof extra, "\"address\":\"%s\"", other_addr_s);
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, extra), AK_ERR_PRIVKEY,
                "not the configured address");
    /* Malformed answers, missing field, 503, slow server, foreign CA. */
    set_mode("vault", "garbage");
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, NULL), AK_ERR_UPSTREAM, NULL);
    set_mode("vault", "nofield");
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, NULL), AK_ERR_KEY_NOT_FOUND,
                "no field");
    set_mode("vault", "503");
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, "\"retries\":2"), AK_ERR_UNAVAILABLE,
                NULL);
    set_mode("vault", "slow");
    double t0 = ak_test_now_s();
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, "\"timeout_ms\":800,\"retries\":0"),
                AK_ERR_TIMEOUT, NULL);
    CHECK(ak_test_now_s() - t0 < 2.0);
    set_mode("vault", "ok");
    snprintf(extra, sizeof extra, "\"ca\":\"%s/otherca.crt\"", dir);
    char cfg2[4096];
    snprintf(cfg2, sizeof cfg2,
             "{\"type\":\"hashicorp_vault\",\"addr\":\"https://127.0.0.1:%d\",\"path\":"
             "\"eth/signer1\",\"auth\":%s,%s}",
             port, tok_auth, extra);
    expect_fail(cn_vault_signer_new, cfg2, AK_ERR_NETWORK, NULL);

    /* Config errors name the field. */
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, "\"bogus\":1"), AK_ERR_CONFIG,
                "bogus");
    expect_fail(cn_vault_signer_new, vault_cfg(port, "{\"method\":\"magic\"}", NULL), AK_ERR_CONFIG,
                "auth.method");
    /* Each method's own members are required, named with their path (ak_cfg). */
    expect_fail(cn_vault_signer_new,
                vault_cfg(port, "{\"method\":\"approle\",\"secret_id_env\":\"X\"}", NULL),
                AK_ERR_CONFIG, "vault.auth: missing required field \"role_id\" for method approle");
    expect_fail(cn_vault_signer_new, vault_cfg(port, "{\"method\":\"kubernetes\"}", NULL),
                AK_ERR_CONFIG, "vault.auth: missing required field \"role\" for method kubernetes");
    expect_fail(cn_vault_signer_new, vault_cfg(port, "{\"method\":\"token\"}", NULL), AK_ERR_CONFIG,
                "vault.auth: missing required field \"token_file\" or \"token_env\"");
    expect_fail(
        cn_vault_signer_new,
        vault_cfg(port, "{\"method\":\"token\",\"token_env\":\"A\",\"token_file\":\"/b\"}", NULL),
        AK_ERR_CONFIG, "vault.auth: give only one of token_file and token_env");
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, "\"version\":-1"), AK_ERR_CONFIG,
                "vault.version: must be an integer in 0..1000000000");
    expect_fail(cn_vault_signer_new, vault_cfg(port, tok_auth, "\"pool_size\":0"), AK_ERR_CONFIG,
                "vault.pool_size: must be an integer in 1..256");
    snprintf(cfg2, sizeof cfg2,
             "{\"addr\":\"http://127.0.0.1:%d\",\"path\":\"eth/signer1\",\"auth\":%s}", port,
             tok_auth);
    expect_fail(cn_vault_signer_new, cfg2, AK_ERR_CONFIG, "vault.addr");
    snprintf(cfg2, sizeof cfg2,
             "{\"addr\":\"https://127.0.0.1:%d\",\"path\":\"eth/../sys\",\"auth\":%s}", port,
             tok_auth);
    expect_fail(cn_vault_signer_new, cfg2, AK_ERR_CONFIG, "path");

    /* A static token with a 3 s TTL (renewable): looked up after the first read, renewed after
     * 2 s, so reads 4-5 s later still pass. (Last: the mock's static token expires for good.) */
    write_file("vault_static_ttl", "3");
    int lookups = stat_of(port, "lookups");
    CHECK_EQ_INT(make(&s, cn_vault_signer_new, vault_cfg(port, tok_auth, "\"cache_ttl_s\":1")),
                 AK_OK);
    CHECK_EQ_INT(stat_of(port, "lookups"), lookups + 1);
    for (int i = 0; s != NULL && i < 5; i++) {
        usleep(1100 * 1000); /* past the cache TTL: every signature reads the key again */
        CHECK_EQ_INT(sign_many(s, 1), 1);
    }
    CHECK(stat_of(port, "renewals") >= 1);
    cn_signer_free(s);
    s = NULL;
    stop_mock(pid);
}

/* ---- cloudflare_secrets ------------------------------------------------------------------- */

static char *cf_cfg(int port, const char *token_file, const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{%s%s\"type\":\"cloudflare_secrets\",\"api_base\":\"https://127.0.0.1:%d/client/v4\","
             "\"account_id\":\"acc-1\",\"secret_name\":\"ETH_KEY\",\"api_token_file\":\"%s/%s\","
             "\"ca\":\"%s/ca.crt\",\"timeout_ms\":3000}",
             extra ? extra : "", extra ? "," : "", port, dir, token_file, dir);
    return buf;
}

static void test_cf(void)
{
    char extra[256];
    int port = ak_test_free_port();
    pid_t pid = start_mock("cf_mock.mjs", port);
    cn_signer *s = NULL;
    CHECK_EQ_INT(make(&s, cn_cfsecrets_signer_new, cf_cfg(port, "cf_token", "\"cache_ttl_s\":1")),
                 AK_OK);
    if (s != NULL) {
        CHECK_MEM(s->address, want_addr, 20);
        CHECK_EQ_INT(sign_many(s, 300), 300);
        int r0 = stat_of(port, "reads");
        usleep(1500000);
        CHECK(!loaded(s));
        CHECK_EQ_INT(sign_many(s, 10), 10);
        CHECK_EQ_INT(stat_of(port, "reads"), r0 + 1);
        threads_check(s, 150);
        stop_mock(pid);
        usleep(1200000);
        double t0 = ak_test_now_s();
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_NETWORK);
        CHECK(ak_test_now_s() - t0 < 1.5);
        cn_signer_health h;
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(!h.can_sign && strstr(h.detail, "cannot fetch") != NULL);
        pid = start_mock("cf_mock.mjs", port);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
        set_mode("cf", "wrongkey");
        usleep(1200000);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_PRIVKEY);
        set_mode("cf", "ok");
    }
    cn_signer_free(s);
    expect_fail(cn_cfsecrets_signer_new, cf_cfg(port, "bad_secret", NULL), AK_ERR_AUTH,
                "API token rejected");
    snprintf(extra, sizeof extra, "\"address\":\"%s\"", other_addr_s);
    expect_fail(cn_cfsecrets_signer_new, cf_cfg(port, "cf_token", extra), AK_ERR_PRIVKEY,
                "not the configured address");
    set_mode("cf", "garbage");
    expect_fail(cn_cfsecrets_signer_new, cf_cfg(port, "cf_token", NULL), AK_ERR_UPSTREAM, NULL);
    set_mode("cf", "notsuccess");
    expect_fail(cn_cfsecrets_signer_new, cf_cfg(port, "cf_token", NULL), AK_ERR_UPSTREAM,
                "malformed");
    set_mode("cf", "slow");
    double t0 = ak_test_now_s();
    expect_fail(cn_cfsecrets_signer_new,
                cf_cfg(port, "cf_token", "\"timeout_ms\":800,\"retries\":1"), AK_ERR_TIMEOUT, NULL);
    CHECK(ak_test_now_s() - t0 < 2.0);
    set_mode("cf", "ok");
    expect_fail(cn_cfsecrets_signer_new, cf_cfg(port, "cf_token", "\"secret_name\":\"a/b\""),
                AK_ERR_CONFIG, NULL);
    stop_mock(pid);
    /* Nothing listening at all. */
    t0 = ak_test_now_s();
    expect_fail(cn_cfsecrets_signer_new, cf_cfg(port, "cf_token", NULL), AK_ERR_NETWORK, NULL);
    CHECK(ak_test_now_s() - t0 < 1.5);
}

/* ---- mpc_kms ------------------------------------------------------------------------------ */

static char *mpc_cfg(int port, const char *secret_file, const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{%s%s\"type\":\"mpc_kms\",\"endpoint\":\"https://127.0.0.1:%d\",\"access_key_id\":"
             "\"AK-test-1\",\"secret_key_file\":\"%s/%s\",\"key_id\":\"eth-hot-1\","
             "\"ca\":\"%s/ca.crt\",\"timeout_ms\":3000}",
             extra ? extra : "", extra ? "," : "", port, dir, secret_file, dir);
    return buf;
}

/* The summary the mock recorded for the last request. */
static void check_summary(int port, const char *type, const char *to, const char *amount,
                          const char *token)
{
    cJSON *j = NULL;
    raw(port, "GET", "/__last", NULL, NULL, &j);
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(j, "summary");
    const char *f[4][2] = {{"type", type}, {"to", to}, {"amount", amount}, {"token", token}};
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(sm, f[i][0]);
        if (!cJSON_IsString(v) || strcmp(v->valuestring, f[i][1]) != 0) {
            fprintf(stderr, "summary.%s: want %s\n", f[i][0], f[i][1]);
            CHECK(0);
        }
    }
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(sm, "from");
    CHECK(cJSON_IsString(from) && strcmp(from->valuestring, getenv("REMOTE_ADDRESS")) == 0);
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(sm, "remark");
    CHECK(cJSON_IsString(rm) && strstr(rm->valuestring, "chain_id=1 nonce=7") != NULL);
    cJSON_Delete(j);
}

/* Replay the mock's last authenticated request; then the same with an old timestamp. */
static void test_mpc_replay(int port)
{
    cJSON *j = NULL;
    raw(port, "GET", "/__last", NULL, NULL, &j);
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(j, "headers");
    const char *method = cJSON_GetObjectItemCaseSensitive(j, "method")->valuestring;
    const char *path = cJSON_GetObjectItemCaseSensitive(j, "path")->valuestring;
    const char *body = cJSON_GetObjectItemCaseSensitive(j, "body")->valuestring;
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    const cJSON *it;
    char line[512];
    cJSON_ArrayForEach(it, hd)
    {
        snprintf(line, sizeof line, "%s: %s", it->string, it->valuestring);
        l = curl_slist_append(l, line);
    }
    cJSON *e = NULL;
    CHECK_EQ_INT(raw(port, method, path, l, body[0] ? body : NULL, &e), 401);
    const cJSON *code =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "error"), "code");
    CHECK(cJSON_IsString(code) && strcmp(code->valuestring, "replay") == 0);
    cJSON_Delete(e);
    curl_slist_free_all(l);

    /* A correctly signed request with a timestamp 10 minutes old (window 300 s). */
    char secret[128] = "", ts[32], sig[65], dg[65], p[512];
    snprintf(p, sizeof p, "%s/mpc_secret", dir);
    FILE *f = fopen(p, "r");
    if (f == NULL || fgets(secret, sizeof secret, f) == NULL)
        abort();
    fclose(f);
    secret[strcspn(secret, "\r\n")] = '\0';
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) - 600);
    const char *nonce = "00112233445566778899aabbccddeeff";
    CHECK_EQ_INT(
        cn_mpc_sign_request(sig, dg, secret, strlen(secret), "GET", "/v1/health", ts, nonce, "", 0),
        AK_OK);
    l = NULL;
    snprintf(line, sizeof line, "Authorization: MPC-HMAC-SHA256 Credential=AK-test-1,Signature=%s",
             sig);
    l = curl_slist_append(l, line);
    snprintf(line, sizeof line, "X-MPC-Timestamp: %s", ts);
    l = curl_slist_append(l, line);
    snprintf(line, sizeof line, "X-MPC-Nonce: %s", nonce);
    l = curl_slist_append(l, line);
    snprintf(line, sizeof line, "X-MPC-Content-SHA256: %s", dg);
    l = curl_slist_append(l, line);
    e = NULL;
    CHECK_EQ_INT(raw(port, "GET", "/v1/health", l, NULL, &e), 401);
    code = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "error"), "code");
    CHECK(cJSON_IsString(code) && strcmp(code->valuestring, "timestamp_out_of_window") == 0);
    cJSON_Delete(e);
    /* The same request with a current timestamp is accepted: the signature itself was right. */
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    CHECK_EQ_INT(
        cn_mpc_sign_request(sig, dg, secret, strlen(secret), "GET", "/v1/health", ts, nonce, "", 0),
        AK_OK);
    curl_slist_free_all(l);
    l = NULL;
    snprintf(line, sizeof line, "Authorization: MPC-HMAC-SHA256 Credential=AK-test-1,Signature=%s",
             sig);
    l = curl_slist_append(l, line);
    snprintf(line, sizeof line, "X-MPC-Timestamp: %s", ts);
    l = curl_slist_append(l, line);
    snprintf(line, sizeof line, "X-MPC-Nonce: %s", nonce);
    l = curl_slist_append(l, line);
    snprintf(line, sizeof line, "X-MPC-Content-SHA256: %s", dg);
    l = curl_slist_append(l, line);
    CHECK_EQ_INT(raw(port, "GET", "/v1/health", l, NULL, NULL), 200);
    curl_slist_free_all(l);
    ak_wipe(secret, sizeof secret);
    cJSON_Delete(j);
}

/* The example of docs/mpc-kms-protocol.md section 3; the expected value was computed with
 * `openssl dgst -sha256 -hmac` and node's crypto.createHmac (both agree). */
static void test_mpc_vector(void)
{
    char sig[65], dg[65];
    CHECK_EQ_INT(cn_mpc_sign_request(sig, dg, "test-secret", 11, "GET", "/v1/health", "1700000000",
                                     "00112233445566778899aabbccddeeff", "", 0),
                 AK_OK);
    CHECK_STR(dg, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sig, "7fad0630ed557d63c3817a8ae17d65fa9ad092cb2239772700384f39484952ee");
}

static void test_mpc(void)
{
    char extra[256];
    int port = ak_test_free_port();
    pid_t pid = start_mock("mpc_mock.mjs", port);
    cn_signer *s = NULL;
    CHECK_EQ_INT(make(&s, cn_mpc_signer_new, mpc_cfg(port, "mpc_secret", NULL)), AK_OK);
    if (s != NULL) {
        CHECK_MEM(s->address, want_addr, 20);
        CHECK_EQ_INT(sign_many(s, 300), 300); /* DER, r||s and r||s||v, high and low s */
        threads_check(s, 50);
        /* A native transfer and an ERC-20 transfer with their summaries. */
        ak_tx tx;
        uint8_t d[32], data[68] = {0xa9, 0x05, 0x9c, 0xbb};
        memset(&tx, 0, sizeof tx);
        tx.type = AK_TX_EIP1559;
        tx.chain_id = 1;
        tx.nonce = 7;
        tx.gas_limit = 21000;
        tx.has_to = 1;
        CHECK_EQ_INT(ak_addr_parse(tx.to, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 42), AK_OK);
        ak_u256_from_u64(&tx.value, 1000000000000000000ull);
        cn_sign_ctx ctx = {"eth_sendTransaction", "req-1", 1, 0, &tx, NULL, NULL, 0};
        CHECK_EQ_INT(ak_tx_signing_hash(d, &tx), AK_OK);
        CHECK_EQ_INT(sign_check(s, &ctx, d), AK_OK);
        check_summary(port, "transfer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                      "1000000000000000000", "ETH");
        /* transfer(0xf39F...2266, 1000000) on the token contract 0x7099...79C8. */
        CHECK_EQ_INT(ak_addr_parse(data + 16, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 42),
                     AK_OK);
        data[65] = 0x0f;
        data[66] = 0x42;
        data[67] = 0x40;
        tx.data = data;
        tx.data_len = sizeof data;
        ak_u256_from_u64(&tx.value, 0);
        CHECK_EQ_INT(ak_tx_signing_hash(d, &tx), AK_OK);
        CHECK_EQ_INT(sign_check(s, &ctx, d), AK_OK);
        check_summary(port, "erc20_transfer", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                      "1000000", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        CHECK_EQ_INT(stat_of(port, "summaries"), 2);
        test_mpc_replay(port);
        /* Faults while signing. */
        set_mode("mpc", "badsig");
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_RECOVER);
        set_mode("mpc", "wrongrid");
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_UPSTREAM);
        set_mode("mpc", "422");
        CHECK_EQ_INT(sign_check(s, &ctx, d), AK_ERR_FORBIDDEN);
        set_mode("mpc", "garbage");
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_UPSTREAM);
        set_mode("mpc", "503");
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_UNAVAILABLE);
        set_mode("mpc", "ok");
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
        cn_signer_health h;
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(h.can_sign);
        stop_mock(pid);
        double t0 = ak_test_now_s();
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_NETWORK);
        CHECK(ak_test_now_s() - t0 < 1.5);
        pid = start_mock("mpc_mock.mjs", port);
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_OK);
    }
    cn_signer_free(s);
    s = NULL;
    /* Timeout while signing. */
    CHECK_EQ_INT(make(&s, cn_mpc_signer_new,
                      mpc_cfg(port, "mpc_secret", "\"timeout_ms\":800,\"retries\":0")),
                 AK_OK);
    if (s != NULL) {
        set_mode("mpc", "slow");
        double t0 = ak_test_now_s();
        CHECK_EQ_INT(sign_check(s, NULL, NULL), AK_ERR_TIMEOUT);
        CHECK(ak_test_now_s() - t0 < 1.5);
        set_mode("mpc", "ok");
    }
    cn_signer_free(s);
    expect_fail(cn_mpc_signer_new, mpc_cfg(port, "bad_secret", NULL), AK_ERR_AUTH, NULL);
    snprintf(extra, sizeof extra, "\"address\":\"%s\"", other_addr_s);
    expect_fail(cn_mpc_signer_new, mpc_cfg(port, "mpc_secret", extra), AK_ERR_PRIVKEY,
                "not the configured address");
    char cfg2[1024];
    snprintf(cfg2, sizeof cfg2,
             "{\"endpoint\":\"https://127.0.0.1:%d\",\"access_key_id\":\"AK-test-1\","
             "\"secret_key_file\":\"%s/mpc_secret\",\"key_id\":\"nope\",\"ca\":\"%s/ca.crt\"}",
             port, dir, dir);
    expect_fail(cn_mpc_signer_new, cfg2, AK_ERR_KEY_NOT_FOUND, "/v1/keys/nope");
    set_mode("mpc", "badaddr");
    expect_fail(cn_mpc_signer_new, mpc_cfg(port, "mpc_secret", NULL), AK_ERR_UPSTREAM,
                "mpc_kms: key address does not match keccak(public_key)");
    set_mode("mpc", "ok");
    expect_fail(cn_mpc_signer_new, mpc_cfg(port, "mpc_secret", "\"summary\":1"), AK_ERR_CONFIG,
                "summary");
    stop_mock(pid);
}

int main(int argc, char **argv)
{
    if (argc != 2 || !getenv("REMOTE_MOCKS") || !getenv("REMOTE_ADDRESS") ||
        !getenv("REMOTE_ADDRESS2")) {
        fprintf(stderr, "usage: run.sh test_cn_remote (sets REMOTE_MOCKS, REMOTE_ADDRESS*)\n");
        return 2;
    }
    dir = argv[1];
    mocks = getenv("REMOTE_MOCKS");
    const char *a1 = getenv("REMOTE_ADDRESS"), *a2 = getenv("REMOTE_ADDRESS2");
    if (a1 == NULL || a2 == NULL || ak_addr_parse(want_addr, a1, strlen(a1)) != AK_OK ||
        ak_addr_parse(other_addr, a2, strlen(a2)) != AK_OK)
        return 2;
    snprintf(other_addr_s, sizeof other_addr_s, "%s", a2);
    signal(SIGPIPE, SIG_IGN);
    load_secrets();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_mpc_vector();
    test_vault();
    test_cf();
    test_mpc();
    curl_global_cleanup();
    return ak_test_report("test_cn_remote");
}
