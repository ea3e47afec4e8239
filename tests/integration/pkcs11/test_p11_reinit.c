/*
 * test_p11_reinit.c - module re-initialisation in p11_token (issue 17), against SoftHSM2:
 *   - two tokens of one module ("ta", "tb", each with its own key k1) open at once; tb's token
 *     directory is moved away: tb fails (AK_ERR_HSM_UNAVAILABLE) while ta, whose module is
 *     re-initialised under it, goes on signing with ITS key (every signature verified against
 *     ta's public key: a stale object handle after C_Finalize + C_Initialize could name another
 *     key); tb's directory is put back: tb signs again within 5 s, with its own key, no re-open;
 *     the re-initialisations are counted in reconnects;
 *   - through p11_fault_module: CKR_CRYPTOKI_NOT_INITIALIZED on every call, then nothing: the
 *     token signs again within 5 s.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_sig.h"
#include "ak_test.h"
#include "p11_test_util.h"
#include "p11_token.h"

static int sign_verified(p11_token *t, p11_key *k, uint8_t tag)
{
    uint8_t d[32], der[AK_DER_SIG_MAX];
    size_t n = 0;
    memset(d, tag, sizeof(d));
    if (p11_token_sign(t, k, d, der, sizeof(der), &n) != AK_OK)
        return 0;
    return p11_test_verify(der, n, d, p11_key_pubkey(k));
}

static ak_err sign_rc(p11_token *t, p11_key *k)
{
    uint8_t d[32] = {7}, der[AK_DER_SIG_MAX];
    size_t n = 0;
    return p11_token_sign(t, k, d, der, sizeof(der), &n);
}

/* The token directory (a UUID) under dir/tokens that is not `other` (NULL: any). */
static int token_dir(char out[512], const char *dir, const char *other)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/tokens", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    int found = 0;
    if (d == NULL)
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (other != NULL && strstr(other, e->d_name) != NULL))
            continue;
        snprintf(out, 512, "%s/%s", path, e->d_name);
        found = 1;
    }
    closedir(d);
    return found;
}

static p11_token *open_token(const char *module, const char *label, p11_key **k)
{
    p11_token_config c = {0};
    p11_token *t = NULL;
    p11_uri u;
    char msg[256];
    c.module_path = module;
    c.token_label = label;
    c.pin = P11_TEST_PIN;
    c.pin_len = strlen(P11_TEST_PIN);
    c.max_sessions = 2;
    c.op_timeout_ms = 3000;
    *k = NULL;
    CHECK_EQ_INT(p11_token_open(&t, &c, msg, sizeof(msg)), AK_OK);
    CHECK_EQ_INT(p11_uri_parse(&u, "pkcs11:object=k1", 16, msg, sizeof(msg)), AK_OK);
    if (t != NULL)
        CHECK_EQ_INT(p11_token_find_key(t, k, &u, msg, sizeof(msg)), AK_OK);
    p11_uri_clear(&u);
    return t;
}

/* Sign with (t, k) every 100 ms until it works or 5 s pass; ms taken, or -1. */
static double resumes_within_5s(p11_token *t, p11_key *k)
{
    double t0 = p11_test_now_ms();
    while (p11_test_now_ms() - t0 < 5000) {
        if (sign_verified(t, k, 0x5a))
            return p11_test_now_ms() - t0;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void test_two_tokens(const char *dir)
{
    char cmd[512], ta_dir[512], tb_dir[512], away[128];
    p11_key *ka = NULL, *kb = NULL;
    const char *src = getenv("AK_SOURCE_DIR");

    CHECK(token_dir(ta_dir, dir, NULL));
    snprintf(cmd, sizeof(cmd), "%s/deploy/softhsm-init.sh %s tb %s %s k1 01 >/dev/null",
             src != NULL ? src : AK_SOURCE_DIR_DEFAULT, dir, P11_TEST_PIN, P11_TEST_SO_PIN);
    CHECK_EQ_INT(system(cmd), 0); /* NOLINT(cert-env33-c): a fixed test script */
    CHECK(token_dir(tb_dir, dir, ta_dir));
    snprintf(away, sizeof(away), "%s/tb-away", dir);

    p11_token *ta = open_token(P11_TEST_SOFTHSM, "ta", &ka);
    p11_token *tb = open_token(P11_TEST_SOFTHSM, "tb", &kb);
    if (ka == NULL || kb == NULL)
        goto out;
    CHECK(memcmp(p11_key_pubkey(ka), p11_key_pubkey(kb), 65) != 0); /* two different keys */
    CHECK(sign_verified(ta, ka, 1));
    CHECK(sign_verified(tb, kb, 2));
    p11_token_stats a0, b0, a1, b1;
    p11_token_stats_get(ta, &a0);
    p11_token_stats_get(tb, &b0);

    CHECK_EQ_INT(rename(tb_dir, away), 0); /* tb removed */
    for (int i = 0; i < 20; i++) {         /* ~2 s: several re-initialisations of the module */
        CHECK_EQ_INT(sign_rc(tb, kb), AK_ERR_HSM_UNAVAILABLE);
        /* ta is on the same module: it must keep signing, with its own key, throughout */
        CHECK(sign_verified(ta, ka, (uint8_t)(0x10 + i)));
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(p11_token_health(tb), AK_ERR_HSM_UNAVAILABLE);
    p11_token_stats_get(tb, &b1);
    CHECK(b1.reconnects > b0.reconnects);

    CHECK_EQ_INT(rename(away, tb_dir), 0); /* tb back */
    double ms = resumes_within_5s(tb, kb);
    fprintf(stderr, "tb signs again %.0f ms after its token's return\n", ms);
    CHECK(ms >= 0);
    CHECK(sign_verified(ta, ka, 0x30));
    CHECK(sign_verified(tb, kb, 0x31));
    CHECK_EQ_INT(p11_token_health(tb), AK_OK);
    p11_token_stats_get(ta, &a1);
    CHECK(a1.reconnects > a0.reconnects); /* ta re-found its key after each re-initialisation */
out:
    p11_token_close(tb);
    p11_token_close(ta);
}

static void test_not_initialized(const char *dir)
{
    char ctl[128];
    unsigned long seq = 0;
    p11_key *k = NULL;
    snprintf(ctl, sizeof(ctl), "%s/fault.ctl", dir);
    p11_test_fault(ctl, &seq, "none");
    setenv("P11_FAULT_TARGET", P11_TEST_SOFTHSM, 1);
    setenv("P11_FAULT_FILE", ctl, 1);
    p11_token *t = open_token(P11_FAULT_MODULE_PATH, "ta", &k);
    if (k != NULL) {
        CHECK(sign_verified(t, k, 0x40));
        p11_test_fault(ctl, &seq, "all 0x190"); /* CKR_CRYPTOKI_NOT_INITIALIZED */
        CHECK_EQ_INT(sign_rc(t, k), AK_ERR_HSM_UNAVAILABLE);
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
        CHECK_EQ_INT(sign_rc(t, k), AK_ERR_HSM_UNAVAILABLE);
        p11_test_fault(ctl, &seq, "none");
        double ms = resumes_within_5s(t, k);
        fprintf(stderr, "signs again %.0f ms after CKR_CRYPTOKI_NOT_INITIALIZED stopped\n", ms);
        CHECK(ms >= 0);
    }
    p11_token_close(t);
}

int main(void)
{
    char dir[64];
    if (p11_test_make_token(dir, "ta") != 0) {
        fprintf(stderr, "cannot create a SoftHSM token\n");
        return 1;
    }
    test_two_tokens(dir);
    test_not_initialized(dir);
    p11_test_remove_dir(dir);
    return ak_test_report("test_p11_reinit");
}
