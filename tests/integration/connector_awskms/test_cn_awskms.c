/*
 * test_cn_awskms.c - the aws_kms signer (cn_signer_awskms.c) against kms_server.mjs, a local KMS
 * stand-in on 127.0.0.1 that checks our SigV4 with @smithy/signature-v4 and signs with a real
 * secp256k1 key (see kms_server.mjs for the key ids and their behaviour).
 *
 * Usage: test_cn_awskms KMS_SERVER_MJS. The server is started here (port 0; it prints its port and,
 * computed by ethers, the address of its key) and stopped by PID at the end. Every signature is
 * checked independently: libsecp256k1 recovers the public key from (r, s, recid) and the digest,
 * and its address must be the one ethers printed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_test.h"
#include "cn_signer.h"
#include "cn_signer_awskms.h"

#define SECRET  "kms-test-secret/+EXAMPLEKEY0123456789abcd"
#define SECRET2 "temp-secret-EXAMPLE/+9876543210"
#define TOKEN   "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN//+=="

static pid_t server_pid = -1;
static int port;
static uint8_t want_addr[20];
static secp256k1_context *vctx;

static int start_server(const char *script)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        setenv("KMS_SECRET", SECRET, 1);
        setenv("KMS_SECRET2", SECRET2, 1);
        setenv("KMS_TOKEN", TOKEN, 1);
        setenv("CRED_TTL_S", "302", 1); /* issued credentials are due for refresh after ~2 s */
        execlp("node", "node", script, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[512];
    size_t len = 0;
    int got = 0;
    /* Read "PORT n\nADDRESS 0x..\n" within 20 s. */
    while (got < 2 && len < sizeof buf - 1) {
        struct pollfd p = {.fd = fd[0], .events = POLLIN};
        if (poll(&p, 1, 20000) <= 0)
            break;
        ssize_t n = read(fd[0], buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *a = strstr(buf, "ADDRESS ");
        got = (strncmp(buf, "PORT ", 5) == 0 && (port = (int)strtol(buf + 5, NULL, 10)) > 0) +
              (a != NULL && strchr(a, '\n') != NULL);
        if (got == 2 && ak_addr_parse(want_addr, a + 8, 42) != AK_OK)
            got = 0;
    }
    close(fd[0]);
    return got == 2 ? 0 : -1;
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    char *b = ud;
    size_t have = strlen(b), add = sz * n;
    if (have + add >= 4096)
        return 0;
    memcpy(b + have, p, add);
    b[have + add] = '\0';
    return add;
}

/* One number from the server's /__stats (attempts: per key id). */
static long stat_of(const char *name, const char *key_id)
{
    char url[64], body[4096] = "";
    long v = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/__stats", port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY,
                     ""); /* a test sets http_proxy to prove the signer ignores it */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(h) == CURLE_OK) {
        cJSON *j = cJSON_Parse(body);
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, name);
        if (key_id != NULL)
            x = cJSON_GetObjectItemCaseSensitive(x, key_id);
        if (cJSON_IsNumber(x))
            v = (long)x->valuedouble;
        cJSON_Delete(j);
    }
    curl_easy_cleanup(h);
    return v;
}

/* A config for key_id against the local server, with the plain test credentials. */
static cJSON *cfg_for(const char *key_id)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", "aws_kms");
    cJSON_AddStringToObject(c, "key_id", key_id);
    cJSON_AddStringToObject(c, "region", "us-east-1");
    cJSON_AddStringToObject(c, "endpoint", ep);
    cJSON_AddStringToObject(c, "access_key_id", "AKIDPLAIN");
    cJSON_AddStringToObject(c, "secret_access_key", SECRET);
    cJSON_AddNumberToObject(c, "timeout_ms", 5000);
    return c;
}

static ak_err make(cn_signer **s, cJSON *cfg, char *err, size_t cap)
{
    ak_err rc = cn_awskms_signer_new(s, cfg, err, cap);
    cJSON_Delete(cfg);
    return rc;
}

/* Sign a random digest through cn_signer_sign_eth and check it independently.
 */
static int sign_and_check(cn_signer *s)
{
    uint8_t digest[32], rs[64], pub[65], addr[20];
    ak_sig sig;
    secp256k1_ecdsa_recoverable_signature rsig;
    secp256k1_pubkey pk;
    size_t len = sizeof pub;
    if (RAND_bytes(digest, 32) != 1 || cn_signer_sign_eth(s, &sig, digest, NULL) != AK_OK)
        return 0;
    memcpy(rs, sig.r, 32);
    memcpy(rs + 32, sig.s, 32);
    /* low s: s <= n/2 (EIP-2) */
    static const uint8_t half[32] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d,
                                     0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
    if (memcmp(sig.s, half, 32) > 0 || sig.recid > 1)
        return 0;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(vctx, &rsig, rs, sig.recid) ||
        !secp256k1_ecdsa_recover(vctx, &pk, &rsig, digest) ||
        !secp256k1_ec_pubkey_serialize(vctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED))
        return 0;
    ak_addr_from_pubkey(addr, pub);
    return memcmp(addr, want_addr, 20) == 0;
}

static void *sign_thread(void *arg)
{
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += sign_and_check(arg);
    return (void *)(long)ok;
}

static void test_success(void)
{
    cn_signer *s = NULL;
    char err[256] = "";
    cn_signer_health h;
    CHECK_EQ_INT(make(&s, cfg_for("alias/good"), err, sizeof err), AK_OK);
    if (s == NULL) {
        fprintf(stderr, "construct: %s\n", err);
        return;
    }
    CHECK_MEM(s->address, want_addr, 20);
    CHECK_STR(s->ops->type, "aws_kms");
    CHECK_STR(s->name, "alias/good");
    long conns = stat_of("connections", NULL);
    int ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += sign_and_check(s);
    CHECK_EQ_INT(ok, 1000);
    /* One kept-alive connection served them all (+1 for our own /__stats request). */
    CHECK(stat_of("connections", NULL) - conns <= 2);
    pthread_t t[4];
    long total = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sign_thread, s);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (long)r;
    }
    CHECK_EQ_INT(total, 400);
    CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
    CHECK_EQ_INT(h.can_sign, 1);
    CHECK_EQ_INT(h.max_concurrency, 16);
    cn_signer_free(s);
}

static void test_credentials(void)
{
    cn_signer *s = NULL;
    char err[256] = "";
    /* Temporary credentials: the session token is sent and signed. */
    cJSON *c = cfg_for("alias/good");
    cJSON_ReplaceItemInObject(c, "access_key_id", cJSON_CreateString("ASIATEMP"));
    cJSON_ReplaceItemInObject(c, "secret_access_key", cJSON_CreateString(SECRET2));
    cJSON_AddStringToObject(c, "session_token", TOKEN);
    cJSON_AddBoolToObject(c, "sign_content_sha256", 1);
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_OK);
    CHECK(s != NULL && sign_and_check(s));
    cn_signer_free(s);
    s = NULL;
    /* From the environment. */
    c = cfg_for("alias/good");
    cJSON_DeleteItemFromObject(c, "access_key_id");
    cJSON_DeleteItemFromObject(c, "secret_access_key");
    setenv("AWS_ACCESS_KEY_ID", "ASIATEMP", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET2, 1);
    setenv("AWS_SESSION_TOKEN", TOKEN, 1);
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_OK);
    CHECK(s != NULL && sign_and_check(s));
    cn_signer_free(s);
    s = NULL;
    /* A missing token is refused by the server. */
    unsetenv("AWS_SESSION_TOKEN");
    c = cfg_for("alias/good");
    cJSON_DeleteItemFromObject(c, "access_key_id");
    cJSON_DeleteItemFromObject(c, "secret_access_key");
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_AUTH);
    CHECK(strstr(err, "UnrecognizedClientException") != NULL);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    /* A wrong secret: 403 from the SigV4 check; the message names the error, not the secret. */
    c = cfg_for("alias/good");
    cJSON_ReplaceItemInObject(c, "secret_access_key", cJSON_CreateString("wrong-secret-value"));
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_AUTH);
    CHECK(s == NULL);
    CHECK(strstr(err, "InvalidSignatureException") != NULL);
    CHECK(strstr(err, "wrong-secret") == NULL && strstr(err, SECRET) == NULL);
    /* An unknown access key id. */
    c = cfg_for("alias/good");
    cJSON_ReplaceItemInObject(c, "access_key_id", cJSON_CreateString("AKIDUNKNOWN"));
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_AUTH);
}

/* No keys in the config or the environment: temporary credentials from EC2 instance metadata
 * (IMDSv2) or a container credentials endpoint (both served by kms_server.mjs, which issues new
 * keys each time and accepts them for KMS), refreshed before they expire. */
static void test_workload_credentials(void)
{
    cn_signer *s = NULL;
    char err[512] = "", url[96];
    cJSON *c;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
#define NO_KEYS()                                                                                  \
    (c = cfg_for("alias/good"), cJSON_DeleteItemFromObject(c, "access_key_id"),                    \
     cJSON_DeleteItemFromObject(c, "secret_access_key"), c)

    /* instance metadata; a proxy in the environment (a closed port here) is not used */
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    long issued = stat_of("issued", NULL);
    if (issued < 0)
        issued = 0; /* none issued yet: the counter is not there */
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_OK);
    CHECK_EQ_INT(stat_of("issued", NULL), issued + 1);
    CHECK(s != NULL && sign_and_check(s));
    /* they expire in 302 s and are refreshed 300 s early: after 2.5 s the next signature
     * fetches new ones (a new key id) and still verifies */
    usleep(2500 * 1000);
    CHECK(s != NULL && sign_and_check(s));
    CHECK_EQ_INT(stat_of("issued", NULL), issued + 2);
    cn_signer_free(s);
    s = NULL;
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    /* web identity (IRSA) would come first in the SDKs: refused rather than using the
     * instance's role */
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks.amazonaws.com/token", 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "AWS_WEB_IDENTITY_TOKEN_FILE is set") != NULL);
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    /* IMDS disabled: a clear error naming every source */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "AWS_EC2_METADATA_DISABLED") != NULL && strstr(err, "AWS_ACCESS_KEY_ID"));
    unsetenv("AWS_EC2_METADATA_DISABLED");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");

    /* container credentials endpoint (takes precedence over instance metadata) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ecs/creds", port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-test-auth", 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_OK);
    CHECK(s != NULL && sign_and_check(s));
    cn_signer_free(s);
    s = NULL;
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong", 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "container credentials endpoint: HTTP 403") != NULL);
    CHECK(strstr(err, "wrong") == NULL);
    /* the token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (before the variable), its newline
     * dropped; an empty file is refused */
    char tf[] = "/tmp/ak_awstok_XXXXXX";
    int fd = mkstemp(tf);
    CHECK(fd >= 0 && write(fd, "ecs-test-auth\n", 14) == 14);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_OK);
    CHECK(s != NULL && sign_and_check(s));
    cn_signer_free(s);
    s = NULL;
    CHECK(fd >= 0 && ftruncate(fd, 0) == 0);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: cannot read it") != NULL);
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (fd >= 0)
        close(fd);
    unlink(tf);
    /* plain http only to loopback or the ECS/EKS addresses: refused before any request */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "plain http only") != NULL);
    /* ... also when a loopback address is only the userinfo of another host */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:80@example.com/creds", 1);
    CHECK_EQ_INT(make(&s, NO_KEYS(), err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "plain http only") != NULL);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
#undef NO_KEYS
}

static void test_failures(void)
{
    cn_signer *s = NULL;
    char err[256] = "";
    ak_sig sig;
    uint8_t digest[32] = {1};

    /* Throttling then success: GetPublicKey once, each Sign twice (400 Throttling, 429). */
    long throttled = stat_of("throttled", NULL);
    CHECK_EQ_INT(make(&s, cfg_for("alias/throttle"), err, sizeof err), AK_OK);
    int ok = 0;
    for (int i = 0; s != NULL && i < 20; i++)
        ok += sign_and_check(s);
    CHECK_EQ_INT(ok, 20);
    CHECK_EQ_INT(stat_of("throttled", NULL) - throttled, 1 + 2 * 20);
    cn_signer_free(s);
    s = NULL;

    /* Throttled for ever: bounded attempts (1 + retries), then AK_ERR_UNAVAILABLE. */
    cJSON *c = cfg_for("alias/always-throttle");
    cJSON_AddNumberToObject(c, "retries", 2);
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_UNAVAILABLE);
    CHECK_EQ_INT(stat_of("attempts", "alias/always-throttle"), 3);
    CHECK(strstr(err, "ThrottlingException") != NULL);

    /* Malformed DER: refused, never turned into a signature (AK_ERR_UPSTREAM when the answer
     * is longer than any DER signature, e.g. a 72-byte one with a trailing byte). */
    CHECK_EQ_INT(make(&s, cfg_for("alias/bad-der"), err, sizeof err), AK_OK);
    for (int i = 0; s != NULL && i < 5; i++) {
        ak_err e = cn_signer_sign_eth(s, &sig, digest, NULL);
        CHECK(e == AK_ERR_DER || e == AK_ERR_SIG || e == AK_ERR_UPSTREAM);
    }
    cn_signer_free(s);
    s = NULL;

    /* A valid signature by another key: AK_ERR_RECOVER. */
    CHECK_EQ_INT(make(&s, cfg_for("alias/wrong-key"), err, sizeof err), AK_OK);
    for (int i = 0; s != NULL && i < 4; i++)
        CHECK_EQ_INT(cn_signer_sign_eth(s, &sig, digest, NULL), AK_ERR_RECOVER);
    cn_signer_free(s);
    s = NULL;

    /* Timeout: the server answers after 2 s, the signer gives up at 300 ms. */
    c = cfg_for("alias/slow");
    cJSON_ReplaceItemInObject(c, "timeout_ms", cJSON_CreateNumber(300));
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(s ? cn_signer_sign_eth(s, &sig, digest, NULL) : AK_ERR_ARG, AK_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 250 && ms < 1500);
    cn_signer_free(s);
    s = NULL;

    /* Unknown key, wrong key type. */
    CHECK_EQ_INT(make(&s, cfg_for("alias/missing"), err, sizeof err), AK_ERR_KEY_NOT_FOUND);
    CHECK_EQ_INT(make(&s, cfg_for("alias/p256"), err, sizeof err), AK_ERR_KEY_TYPE);
}

static void test_config(void)
{
    cn_signer *s = NULL;
    char err[256] = "";
    cJSON *c = cfg_for("alias/good");
    cJSON_AddStringToObject(c, "colour", "blue");
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "colour") != NULL);
    c = cfg_for("alias/good");
    cJSON_DeleteItemFromObject(c, "key_id");
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    CHECK_EQ_INT(make(&s, cfg_for("alias/\"x"), err, sizeof err), AK_ERR_CONFIG);
    c = cfg_for("alias/good");
    cJSON_ReplaceItemInObject(c, "endpoint", cJSON_CreateString("http://kms.example.com"));
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    c = cfg_for("alias/good");
    cJSON_ReplaceItemInObject(c, "endpoint", cJSON_CreateString("https://h/path"));
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    c = cfg_for("alias/good");
    cJSON_ReplaceItemInObject(c, "region", cJSON_CreateString("US-EAST-1"));
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    c = cfg_for("alias/good");
    cJSON_DeleteItemFromObject(c, "secret_access_key");
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    c = cfg_for("alias/good");
    cJSON_AddNumberToObject(c, "retries", 11);
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    c = cfg_for("alias/good");
    cJSON_AddStringToObject(c, "session_token", "bad token");
    CHECK_EQ_INT(make(&s, c, err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "bad token") == NULL);
    CHECK_EQ_INT(cn_awskms_signer_new(&s, NULL, err, sizeof err), AK_ERR_CONFIG);
    CHECK(s == NULL);
}

static void test_server_gone(void)
{
    cn_signer *s = NULL;
    char err[256] = "";
    ak_sig sig;
    uint8_t digest[32] = {2};
    CHECK_EQ_INT(make(&s, cfg_for("alias/good"), err, sizeof err), AK_OK);
    stop_server();
    CHECK_EQ_INT(s ? cn_signer_sign_eth(s, &sig, digest, NULL) : AK_ERR_ARG, AK_ERR_NETWORK);
    cn_signer_health h = {.can_sign = -1};
    CHECK_EQ_INT(s ? s->ops->health(s, &h) : AK_ERR_ARG, AK_OK);
    CHECK_EQ_INT(h.can_sign, 0);
    cn_signer_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s kms_server.mjs\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    vctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (start_server(argv[1]) != 0) {
        fprintf(stderr, "kms_server.mjs did not start\n");
        stop_server();
        return 1;
    }
    test_success();
    test_credentials();
    test_workload_credentials();
    test_failures();
    test_config();
    test_server_gone();
    stop_server();
    secp256k1_context_destroy(vctx);
    curl_global_cleanup();
    return ak_test_report("test_cn_awskms");
}
