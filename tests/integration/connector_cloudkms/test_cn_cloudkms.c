/*
 * test_cn_cloudkms.c - the gcp_kms and azure_key_vault signers (built through the signer
 * factory, as the connector builds them) against gcp_server.mjs and azure_server.mjs over real
 * TLS on 127.0.0.1 (run by run.sh, which makes DIR: certificates, keys, secrets).
 *
 * Environment: CLOUD_MOCKS (directory of the stand-ins), CLOUD_ADDRESS / CLOUD_ADDRESS2 (the
 * ethers addresses of DIR/key.hex and DIR/key2.hex). The stand-ins check what we send (the JWT
 * assertions with jose, the form bodies, CRC32C of the digest, the exact sign bodies, bearer
 * tokens) and answer with signatures by the test's key, high-s about half the time (always in
 * mode highs). Every signature returned is written to DIR/sigs.json for verify_sigs.mjs (ethers).
 *
 * Per backend: many signatures (also from 4 threads), high-s answers normalised, each credential
 * source, token refresh before expiry and after a revocation, and the refusals: corrupted CRC32C,
 * unverified digest, another key's signature, another algorithm/curve, disabled key, wrong
 * credentials, unsupported credential types, a foreign CA, a server that is down, config errors.
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ak_addr.h"
#include "ak_crc32c.h"
#include "ak_sig.h"
#include "ak_test.h"
#include "ak_test_net.h"
#include "cn_rcfg.h"
#include "cn_signer.h"
#include "cn_signer_factory.h"

extern char **environ;

#define KV "projects/p1/locations/global/keyRings/r1/cryptoKeys/k1/cryptoKeyVersions/1"

static const char *dir, *mocks;
static uint8_t want_addr[20];
static int gport, aport;
static FILE *sigs_out;
static int n_sigs;
static pthread_mutex_t sigs_mu = PTHREAD_MUTEX_INITIALIZER;

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

static char *read_all(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    static char buf[16384];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
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

static long raw_get(int port, const char *path, cJSON **out)
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
    raw_get(port, "/__stats", &j);
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
    for (int i = 0; i < 200; i++) {
        if (raw_get(port, "/__health", NULL) == 200)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(100000);
    }
    fprintf(stderr, "stand-in %s did not start on port %d\n", script, port);
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

static char last_err[512];
static ak_err make(cn_signer **s, const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    if (cfg == NULL) {
        fprintf(stderr, "bad test config: %s\n", json);
        exit(2);
    }
    last_err[0] = '\0';
    ak_err rc = cn_signer_create(s, cfg, last_err, sizeof last_err);
    cJSON_Delete(cfg);
    if (rc != AK_OK && getenv("CLOUD_VERBOSE"))
        fprintf(stderr, "  (expected?) %s: %s\n", ak_errname(rc), last_err);
    return rc;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", b[i]);
}

/* Sign a random digest: must recover to the ethers address; recorded for verify_sigs.mjs. */
static ak_err sign_check(cn_signer *s)
{
    uint8_t d[32], a[20];
    ak_sig sig;
    if (getrandom(d, 32, 0) != 32)
        abort();
    ak_err rc = cn_signer_sign_eth(s, &sig, d, NULL);
    if (rc != AK_OK)
        return rc;
    if (ak_sig_recover_address(a, &sig, d) != AK_OK || memcmp(a, want_addr, 20) != 0)
        return AK_ERR_RECOVER;
    char hd[67], hr[67], hs[67];
    hex(hd, d, 32);
    hex(hr, sig.r, 32);
    hex(hs, sig.s, 32);
    pthread_mutex_lock(&sigs_mu);
    fprintf(sigs_out, "%s{\"digest\":\"%s\",\"r\":\"%s\",\"s\":\"%s\",\"v\":%d}\n",
            n_sigs++ ? "," : "", hd, hr, hs, 27 + sig.recid);
    pthread_mutex_unlock(&sigs_mu);
    return AK_OK;
}

static int sign_many(cn_signer *s, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ak_err rc = sign_check(s);
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
    t->ok = sign_many(t->s, t->n);
    return NULL;
}

static void threads_check(cn_signer *s, int n)
{
    pthread_t th[4];
    thr_arg a[4];
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        a[i] = (thr_arg){s, n, 0};
        pthread_create(&th[i], NULL, thr_main, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
    }
    CHECK_EQ_INT(ok, 4 * n);
}

/* A signature the backend refuses to return: rc expected, nothing recorded. */
static void sign_refused(cn_signer *s, ak_err want)
{
    uint8_t d[32] = {1, 2, 3};
    ak_sig sig;
    ak_err rc = cn_signer_sign_eth(s, &sig, d, NULL);
    if (rc != want)
        fprintf(stderr, "  wanted %s, got %s\n", ak_errname(want), ak_errname(rc));
    CHECK_EQ_INT(rc, want);
}

/* ---- Google Cloud KMS -------------------------------------------------------------------- */

/* A service-account key file named name, with the private key of pem_file. */
static void write_sa(const char *name, const char *pem_file, const char *type)
{
    cJSON *j = cJSON_CreateObject();
    char uri[128], path[512];
    snprintf(uri, sizeof uri, "https://127.0.0.1:%d/token", gport);
    cJSON_AddStringToObject(j, "type", type);
    cJSON_AddStringToObject(j, "project_id", "proj");
    cJSON_AddStringToObject(j, "private_key_id", "kid-1");
    cJSON_AddStringToObject(j, "private_key", read_all(pem_file));
    cJSON_AddStringToObject(j, "client_email", "signer@proj.iam.gserviceaccount.com");
    cJSON_AddStringToObject(j, "client_id", "1234567890");
    cJSON_AddStringToObject(j, "auth_uri", "https://accounts.google.com/o/oauth2/auth");
    cJSON_AddStringToObject(j, "token_uri", uri);
    char *text = cJSON_Print(j);
    write_file(name, text);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    chmod(path, 0600);
    free(text);
    cJSON_Delete(j);
}

static ak_err gcp_make(cn_signer **s, const char *sa_file, const char *extra)
{
    char json[2048], cred[600] = "";
    if (sa_file != NULL)
        snprintf(cred, sizeof cred, "\"credentials_file\": \"%s/%s\",", dir, sa_file);
    snprintf(json, sizeof json,
             "{\"type\":\"gcp_kms\",\"key_version\":\"" KV "\",\"endpoint\":\"https://"
             "127.0.0.1:%d\",%s\"ca\":\"%s/ca.crt\",\"timeout_ms\":3000,\"retries\":1%s}",
             gport, cred, dir, extra ? extra : "");
    return make(s, json);
}

static void test_gcp(void)
{
    cn_signer *s = NULL;
    char json[1024];
    gport = ak_test_free_port();
    write_sa("gcp_sa.json", "gcp_sa.pem", "service_account");
    write_sa("gcp_sa_other.json", "gcp_sa_other.pem", "service_account");
    write_sa("gcp_ext.json", "gcp_sa.pem", "external_account");
    set_mode("gcp", "ok");
    pid_t pid = start_mock("gcp_server.mjs", gport);

    /* Service account: the assertion is verified by jose, the CRC32C of every digest checked. */
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa.json", NULL), AK_OK);
    CHECK(s != NULL && memcmp(s->address, want_addr, 20) == 0);
    CHECK_STR(s != NULL ? s->ops->type : "", "gcp_kms");
    if (s != NULL) {
        CHECK_EQ_INT(sign_many(s, 40), 40);
        threads_check(s, 10);
        set_mode("gcp", "highs");
        CHECK_EQ_INT(sign_many(s, 10), 10); /* every answer high-s: normalised */
        set_mode("gcp", "revoke");          /* 401 -> a new token, same call succeeds */
        CHECK_EQ_INT(sign_many(s, 1), 1);
        set_mode("gcp", "ok");
        cn_signer_health h;
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(h.can_sign);
        set_mode("gcp", "badsigcrc");
        sign_refused(s, AK_ERR_UPSTREAM);
        set_mode("gcp", "noverify");
        sign_refused(s, AK_ERR_UPSTREAM);
        set_mode("gcp", "wrongname");
        sign_refused(s, AK_ERR_UPSTREAM);
        set_mode("gcp", "wrongkey");
        sign_refused(s, AK_ERR_RECOVER);
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(!h.can_sign); /* the key changed */
        set_mode("gcp", "disabled");
        sign_refused(s, AK_ERR_UNAVAILABLE);
        set_mode("gcp", "garbage");
        sign_refused(s, AK_ERR_UPSTREAM);
        set_mode("gcp", "ok");
    }
    CHECK(stat_of(gport, "tokens") >= 2);
    CHECK(stat_of(gport, "highs") >= 10);
    CHECK_EQ_INT(stat_of(gport, "badcrc"), 0);
    CHECK_EQ_INT(stat_of(gport, "badreq"), 0);
    CHECK_EQ_INT(stat_of(gport, "bad_assertions"), 0);
    cn_signer_free(s);
    s = NULL;

    /* Tokens refreshed before expiry: a 4 s token is replaced after 2 s, no call fails. */
    write_file("gcp_ttl", "4");
    int before = stat_of(gport, "tokens");
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa.json", NULL), AK_OK);
    if (s != NULL) {
        int ok = 0;
        for (int i = 0; i < 12; i++) {
            ok += sign_many(s, 1);
            usleep(500000);
        }
        CHECK_EQ_INT(ok, 12);
    }
    CHECK(stat_of(gport, "tokens") - before >= 3);
    CHECK_EQ_INT(stat_of(gport, "unauth"), 1); /* only the revoked one */
    cn_signer_free(s);
    s = NULL;
    snprintf(json, sizeof json, "%s/gcp_ttl", dir);
    unlink(json);

    /* The metadata server ($GCE_METADATA_HOST), when no credentials file is named. */
    snprintf(json, sizeof json, "127.0.0.1:%d", gport + 1);
    setenv("GCE_METADATA_HOST", json, 1);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    CHECK_EQ_INT(gcp_make(&s, NULL, NULL), AK_OK);
    if (s != NULL)
        CHECK_EQ_INT(sign_many(s, 10), 10);
    CHECK(stat_of(gport, "md_tokens") >= 1);
    cn_signer_free(s);
    s = NULL;
    /* $GOOGLE_APPLICATION_CREDENTIALS comes before the metadata server. */
    snprintf(json, sizeof json, "%s/gcp_sa.json", dir);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", json, 1);
    before = stat_of(gport, "tokens");
    CHECK_EQ_INT(gcp_make(&s, NULL, NULL), AK_OK);
    CHECK_EQ_INT(stat_of(gport, "tokens"), before + 1);
    cn_signer_free(s);
    s = NULL;
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");

    /* Refusals at start-up. */
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa_other.json", NULL), AK_ERR_AUTH); /* assertion rejected */
    CHECK(stat_of(gport, "bad_assertions") == 1);
    CHECK_EQ_INT(gcp_make(&s, "gcp_ext.json", NULL), AK_ERR_CONFIG);
    CHECK(strstr(last_err, "external_account") != NULL);
    set_mode("gcp", "wrongalg");
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa.json", NULL), AK_ERR_KEY_TYPE);
    set_mode("gcp", "badpemcrc");
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa.json", NULL), AK_ERR_UPSTREAM);
    set_mode("gcp", "ok");
    CHECK_EQ_INT(
        gcp_make(&s, "gcp_sa.json", ",\"address\":\"0x0000000000000000000000000000000000000001\""),
        AK_ERR_PUBKEY);
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa.json", ",\"colour\":1"), AK_ERR_CONFIG);
    CHECK(strstr(last_err, "colour") != NULL);
    CHECK_EQ_INT(make(&s, "{\"type\":\"gcp_kms\",\"key_version\":\"projects/p1/keyRings/r1\"}"),
                 AK_ERR_CONFIG);
    snprintf(json, sizeof json,
             "{\"type\":\"gcp_kms\",\"key_version\":\"" KV
             "\",\"endpoint\":\"http://127.0.0.1:%d\"}",
             gport);
    CHECK_EQ_INT(make(&s, json), AK_ERR_CONFIG); /* https only */
    snprintf(json, sizeof json,
             "{\"type\":\"gcp_kms\",\"key_version\":\"" KV
             "\",\"endpoint\":\"https://127.0.0.1:%d\","
             "\"credentials_file\":\"%s/gcp_sa.json\",\"ca\":\"%s/otherca.crt\"}",
             gport, dir, dir);
    CHECK_EQ_INT(make(&s, json), AK_ERR_NETWORK); /* the token_uri's certificate is refused */
    /* A key file readable by others is refused (issue 18). */
    snprintf(json, sizeof json, "%s/gcp_sa.json", dir);
    chmod(json, 0644);
    CHECK_EQ_INT(gcp_make(&s, "gcp_sa.json", NULL), AK_ERR_CONFIG);
    chmod(json, 0600);
    CHECK(s == NULL);
    stop_mock(pid);
    /* Server down: start-up fails promptly with a network error. */
    CHECK(gcp_make(&s, "gcp_sa.json", NULL) != AK_OK);
    unsetenv("GCE_METADATA_HOST");
}

/* ---- Azure Key Vault --------------------------------------------------------------------- */

static ak_err az_make(cn_signer **s, const char *cred, const char *extra)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"type\":\"azure_key_vault\",\"vault_url\":\"https://127.0.0.1:%d\","
             "\"key_name\":\"eth-key\",\"authority_host\":\"https://127.0.0.1:%d\","
             "\"ca\":\"%s/ca.crt\",\"timeout_ms\":3000,\"retries\":1%s%s%s}",
             aport, aport, dir, cred[0] ? "," : "", cred, extra ? extra : "");
    return make(s, json);
}

static void test_azure(void)
{
    cn_signer *s = NULL;
    char cred[1024], path[600];
    aport = ak_test_free_port();
    set_mode("azure", "ok");
    pid_t pid = start_mock("azure_server.mjs", aport);
    unsetenv("AZURE_CLIENT_SECRET");
    unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
    unsetenv("AZURE_TENANT_ID");
    unsetenv("AZURE_CLIENT_ID");
    unsetenv("IDENTITY_ENDPOINT");
    unsetenv("IDENTITY_HEADER");
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");

    /* Client secret. */
    snprintf(cred, sizeof cred,
             "\"tenant_id\":\"tenant-1\",\"client_id\":\"client-1\",\"client_secret_file\":"
             "\"%s/az_secret\"",
             dir);
    CHECK_EQ_INT(az_make(&s, cred, NULL), AK_OK);
    CHECK(s != NULL && memcmp(s->address, want_addr, 20) == 0);
    if (s != NULL) {
        CHECK_EQ_INT(sign_many(s, 30), 30);
        threads_check(s, 10);
        set_mode("azure", "highs");
        CHECK_EQ_INT(sign_many(s, 10), 10);
        set_mode("azure", "revoke");
        CHECK_EQ_INT(sign_many(s, 1), 1);
        set_mode("azure", "ok");
        cn_signer_health h;
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(h.can_sign);
        set_mode("azure", "wrongkey");
        sign_refused(s, AK_ERR_RECOVER);
        set_mode("azure", "wrongkid");
        sign_refused(s, AK_ERR_UPSTREAM);
        set_mode("azure", "shortsig");
        sign_refused(s, AK_ERR_UPSTREAM);
        set_mode("azure", "disabled");
        sign_refused(s, AK_ERR_FORBIDDEN);
        CHECK_EQ_INT(s->ops->health(s, &h), AK_OK);
        CHECK(!h.can_sign);
        set_mode("azure", "ok");
    }
    CHECK(stat_of(aport, "secrets") >= 2);
    CHECK(stat_of(aport, "highs") >= 10);
    CHECK_EQ_INT(stat_of(aport, "badreq"), 0);
    cn_signer_free(s);
    s = NULL;

    /* Client certificate: the assertion verified by jose (x5t, aud, iss/sub, fresh jti). */
    snprintf(cred, sizeof cred,
             "\"tenant_id\":\"tenant-1\",\"client_id\":\"client-1\",\"certificate_file\":"
             "\"%s/az_combined.pem\"",
             dir);
    write_file("az_ttl", "4");
    CHECK_EQ_INT(az_make(&s, cred, ",\"key_version\":\"0123456789abcdef0123456789abcdef\""), AK_OK);
    if (s != NULL) {
        int ok = 0;
        for (int i = 0; i < 12; i++) { /* 4 s tokens: refreshed every ~2 s */
            ok += sign_many(s, 1);
            usleep(500000);
        }
        CHECK_EQ_INT(ok, 12);
    }
    CHECK(stat_of(aport, "assertions") >= 3);
    CHECK_EQ_INT(stat_of(aport, "bad_client"), 0);
    cn_signer_free(s);
    s = NULL;
    snprintf(path, sizeof path, "%s/az_ttl", dir);
    unlink(path);

    /* The environment, as Azure's SDKs read it. */
    setenv("AZURE_TENANT_ID", "tenant-1", 1);
    setenv("AZURE_CLIENT_ID", "client-1", 1);
    snprintf(path, sizeof path, "%s/az_combined.pem", dir);
    setenv("AZURE_CLIENT_CERTIFICATE_PATH", path, 1);
    CHECK_EQ_INT(az_make(&s, "", NULL), AK_OK);
    cn_signer_free(s);
    s = NULL;
    unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
    /* $AZURE_CLIENT_SECRET (the one env-secret policy): consumed from the environment by the
     * first signer, its kept copy serves a second one (two accounts, one principal). */
    setenv("AZURE_CLIENT_SECRET", read_all("az_secret"), 1);
    int secrets = stat_of(aport, "secrets");
    cn_signer *s2 = NULL;
    CHECK_EQ_INT(az_make(&s, "", NULL), AK_OK);
    CHECK(getenv("AZURE_CLIENT_SECRET") == NULL);
    CHECK_EQ_INT(az_make(&s2, "", NULL), AK_OK);
    CHECK(s != NULL && s2 != NULL && sign_many(s2, 1) == 1);
    CHECK_EQ_INT(stat_of(aport, "secrets"), secrets + 2);
    cn_signer_free(s2);
    cn_signer_free(s);
    s = NULL;
    cn_rcfg_env_forget();
    unsetenv("AZURE_TENANT_ID");
    unsetenv("AZURE_CLIENT_ID");

    /* Managed identity: IMDS, then the App Service endpoint (which comes first when set). */
    snprintf(path, sizeof path, "http://127.0.0.1:%d", aport + 1);
    setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", path, 1);
    CHECK_EQ_INT(az_make(&s, "", NULL), AK_OK);
    if (s != NULL)
        CHECK_EQ_INT(sign_many(s, 5), 5);
    CHECK_EQ_INT(stat_of(aport, "imds"), 1);
    cn_signer_free(s);
    s = NULL;
    snprintf(path, sizeof path, "http://127.0.0.1:%d/msi/token", aport + 1);
    setenv("IDENTITY_ENDPOINT", path, 1);
    { /* the header file ends in a newline */
        char hdr[128];
        snprintf(hdr, sizeof hdr, "%s", read_all("az_identity_header"));
        hdr[strcspn(hdr, "\n")] = '\0';
        setenv("IDENTITY_HEADER", hdr, 1);
    }
    CHECK_EQ_INT(az_make(&s, "", ",\"managed_hsm\":true"), AK_OK);
    if (s != NULL)
        CHECK_EQ_INT(sign_many(s, 5), 5);
    CHECK_EQ_INT(stat_of(aport, "appservice"), 1);
    CHECK_EQ_INT(stat_of(aport, "hsm_scope"), 1); /* managed_hsm: the Managed HSM resource */
    cn_signer_free(s);
    s = NULL;
    setenv("IDENTITY_HEADER", "wrong", 1);
    CHECK_EQ_INT(az_make(&s, "", NULL), AK_ERR_AUTH);
    unsetenv("IDENTITY_ENDPOINT");
    unsetenv("IDENTITY_HEADER");
    unsetenv("AZURE_POD_IDENTITY_AUTHORITY_HOST");
    setenv("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent", 1);
    CHECK_EQ_INT(az_make(&s, "", NULL), AK_ERR_CONFIG); /* workload identity: not supported */
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");

    /* Refusals at start-up. */
    snprintf(cred, sizeof cred,
             "\"tenant_id\":\"tenant-1\",\"client_id\":\"client-1\",\"client_secret_file\":"
             "\"%s/bad_secret\"",
             dir);
    write_file("bad_secret", "not-the-secret");
    snprintf(path, sizeof path, "%s/bad_secret", dir);
    chmod(path, 0600);
    CHECK_EQ_INT(az_make(&s, cred, NULL), AK_ERR_AUTH);
    snprintf(cred, sizeof cred,
             "\"tenant_id\":\"tenant-1\",\"client_id\":\"client-1\",\"certificate_file\":"
             "\"%s/az_mismatch.pem\"",
             dir);
    CHECK_EQ_INT(az_make(&s, cred, NULL), AK_ERR_CONFIG);
    snprintf(cred, sizeof cred,
             "\"tenant_id\":\"tenant-1\",\"client_id\":\"client-1\",\"client_secret_file\":"
             "\"%s/az_secret\"",
             dir);
    set_mode("azure", "wrongcrv");
    CHECK_EQ_INT(az_make(&s, cred, NULL), AK_ERR_KEY_TYPE);
    set_mode("azure", "nosign");
    CHECK_EQ_INT(az_make(&s, cred, NULL), AK_ERR_KEY_TYPE);
    set_mode("azure", "disabled");
    CHECK_EQ_INT(az_make(&s, cred, NULL), AK_ERR_UNAVAILABLE);
    set_mode("azure", "ok");
    CHECK_EQ_INT(az_make(&s, cred, ",\"key_version\":\"00000000000000000000000000000000\""),
                 AK_ERR_KEY_NOT_FOUND);
    CHECK_EQ_INT(az_make(&s, cred, ",\"key_version\":\"../../x\""), AK_ERR_CONFIG);
    CHECK_EQ_INT(az_make(&s, cred, ",\"tint\":1"), AK_ERR_CONFIG);
    CHECK_EQ_INT(az_make(&s, cred, ",\"address\":\"0x0000000000000000000000000000000000000001\""),
                 AK_ERR_PUBKEY);
    CHECK_EQ_INT(
        az_make(&s, "\"tenant_id\":\"tenant-1\",\"client_secret_env\":\"NOPE_UNSET\"", NULL),
        AK_ERR_CONFIG); /* no client_id */
    CHECK_EQ_INT(az_make(&s, "\"tenant_id\":\"tenant-1\",\"client_id\":\"client-1\"", NULL),
                 AK_ERR_CONFIG); /* a principal without its secret: not the managed identity */
    CHECK(s == NULL);
    stop_mock(pid);
    CHECK(az_make(&s, cred, NULL) != AK_OK); /* server down */
    CHECK(s == NULL);
}

int main(int argc, char **argv)
{
    char path[600];
    const char *a = getenv("CLOUD_ADDRESS");
    mocks = getenv("CLOUD_MOCKS");
    if (argc < 2 || mocks == NULL || a == NULL) {
        fprintf(stderr, "usage: run.sh test_cn_cloudkms (sets DIR, CLOUD_MOCKS, CLOUD_ADDRESS)\n");
        return 2;
    }
    dir = argv[1];
    if (ak_addr_parse(want_addr, a, strlen(a)) != AK_OK)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    snprintf(path, sizeof path, "%s/sigs.json", dir);
    sigs_out = fopen(path, "w");
    if (sigs_out == NULL)
        return 2;
    fputs("[\n", sigs_out);

    /* CRC-32C check value (RFC 3720 B.4 / iSCSI). */
    CHECK(ak_crc32c((const uint8_t *)"123456789", 9) == 0xE3069283u);
    test_gcp();
    test_azure();

    fputs("]\n", sigs_out);
    fclose(sigs_out);
    curl_global_cleanup();
    return ak_test_report("test_cn_cloudkms");
}
