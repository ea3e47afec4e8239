/*
 * test_p11_fault.c - fault recovery of p11_token, through p11_fault_module (forwards to SoftHSM,
 * injects CK_RVs and hangs on demand; see that file for the control-file commands):
 *   - each recoverable CK_RV on C_Sign / C_SignInit, once: the signature still succeeds (one
 *     retry), counted as a reconnect, and verifies;
 *   - a fault that persists: AK_ERR_HSM_UNAVAILABLE (and health fails), then the next call
 *     succeeds once the faults stop;
 *   - a non-recoverable CK_RV: AK_ERR_HSM, no retry;
 *   - a PIN refused at re-login: HSM unavailable, and C_Login is never called again;
 *   - a hung C_Sign: AK_ERR_TIMEOUT within the deadline; the slot is quarantined (pool of one:
 *     the next caller gets AK_ERR_BUSY) until the call returns, then signing works again.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ak_sig.h"
#include "ak_test.h"
#include "p11_test_util.h"
#include "p11_token.h"

#include <p11-kit/pkcs11.h>

static char g_dir[64];
static char g_ctl[128];
static unsigned long g_seq;

static void fault(const char *cmd)
{
    p11_test_fault(g_ctl, &g_seq, cmd);
}

static int sign_ok(p11_token *t, p11_key *k, uint8_t tag)
{
    uint8_t d[32], der[AK_DER_SIG_MAX];
    size_t n = 0;
    memset(d, tag, sizeof(d));
    if (p11_token_sign(t, k, d, der, sizeof(der), &n) != AK_OK)
        return 0;
    return p11_test_verify(der, n, d, p11_key_pubkey(k));
}

static ak_err sign_err(p11_token *t, p11_key *k)
{
    uint8_t d[32] = {1}, der[AK_DER_SIG_MAX];
    size_t n = 0;
    return p11_token_sign(t, k, d, der, sizeof(der), &n);
}

static const struct {
    CK_RV rv;
    const char *name;
} RECOVERABLE[] = {
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
};

static void test_transient(p11_token *t, p11_key *k)
{
    for (size_t i = 0; i < sizeof(RECOVERABLE) / sizeof(RECOVERABLE[0]); i++) {
        for (int on_init = 0; on_init < 2; on_init++) {
            char cmd[64];
            p11_token_stats s0, s1;
            int ok;
            p11_token_stats_get(t, &s0);
            snprintf(cmd, sizeof(cmd), "%s 0x%lx 1", on_init ? "signinit" : "sign",
                     (unsigned long)RECOVERABLE[i].rv);
            fault(cmd);
            ok = sign_ok(t, k, (uint8_t)(i + 1));
            p11_token_stats_get(t, &s1);
            if (!ok || s1.reconnects != s0.reconnects + 1 || s1.sign_errors != s0.sign_errors + 1)
                fprintf(stderr, "transient %s on %s: ok=%d last %s reconnects %llu->%llu\n",
                        RECOVERABLE[i].name, on_init ? "C_SignInit" : "C_Sign", ok,
                        p11_token_rv_name(p11_token_last_rv(t)), (unsigned long long)s0.reconnects,
                        (unsigned long long)s1.reconnects);
            CHECK(ok);
            CHECK_EQ_INT(s1.reconnects, s0.reconnects + 1);
            CHECK_EQ_INT(s1.sign_errors, s0.sign_errors + 1);
            CHECK_STR(p11_token_rv_name(p11_token_last_rv(t)), RECOVERABLE[i].name);
        }
    }
    fault("none");
    CHECK(sign_ok(t, k, 0x77));
}

static void test_persistent(p11_token *t, p11_key *k)
{
    /* the fault outlasts the retry */
    fault("sign 0xb3 2"); /* CKR_SESSION_HANDLE_INVALID twice */
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    CHECK(sign_ok(t, k, 0x10)); /* the next call tries again */

    fault("all 0x32"); /* CKR_DEVICE_REMOVED on every call */
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(p11_token_health(t), AK_ERR_HSM_UNAVAILABLE);
    fault("none");
    CHECK(sign_ok(t, k, 0x11));
    CHECK_EQ_INT(p11_token_health(t), AK_OK);

    fault("all 0xe0"); /* CKR_TOKEN_NOT_PRESENT */
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    fault("none");
    CHECK(sign_ok(t, k, 0x12));

    /* not a recoverable error: no retry, plain HSM error */
    {
        p11_token_stats s0, s1;
        p11_token_stats_get(t, &s0);
        fault("sign 0x21 1"); /* CKR_DATA_LEN_RANGE */
        CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM);
        p11_token_stats_get(t, &s1);
        CHECK_EQ_INT(s1.reconnects, s0.reconnects);
        CHECK(sign_ok(t, k, 0x13));
    }
}

static void test_hang(p11_token *t, p11_key *k)
{
    p11_token_stats s0, s1;
    double t0, dt;
    p11_token_stats_get(t, &s0);
    fault("hang 1500 1");
    t0 = p11_test_now_ms();
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_TIMEOUT);
    dt = p11_test_now_ms() - t0;
    fprintf(stderr, "hung C_Sign returned AK_ERR_TIMEOUT after %.0f ms (deadline 300 ms)\n", dt);
    CHECK(dt >= 290 && dt < 700);
    /* pool of one session, quarantined: the next caller waits its deadline, then BUSY */
    t0 = p11_test_now_ms();
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_BUSY);
    dt = p11_test_now_ms() - t0;
    CHECK(dt >= 290 && dt < 700);
    p11_token_stats_get(t, &s1);
    CHECK_EQ_INT(s1.timeouts, s0.timeouts + 2);
    CHECK_EQ_INT(s1.sessions_in_use, 1);
    /* once the hung call returns (1.5 s) the slot is back */
    {
        struct timespec ts = {1, 200000000L};
        nanosleep(&ts, NULL);
    }
    p11_token_stats_get(t, &s1);
    CHECK_EQ_INT(s1.sessions_in_use, 0);
    CHECK(sign_ok(t, k, 0x20));
}

static unsigned long logins(void)
{
    char p[160];
    unsigned long n = 0;
    FILE *f;
    snprintf(p, sizeof(p), "%s.logins", g_ctl);
    f = fopen(p, "r");
    if (f != NULL) {
        if (fscanf(f, "%lu", &n) != 1)
            n = 0;
        fclose(f);
    }
    return n;
}

/* A PIN the token refuses at a re-login is not tried again (it would count towards a lock). */
static void test_pin_refused(p11_token *t, p11_key *k)
{
    unsigned long before;
    fault("sign 0xb3 1; relogin 0xa0"); /* session lost, then CKR_PIN_INCORRECT at re-login */
    before = logins();
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(logins(), before + 1);
    fault("none");
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(sign_err(t, k), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(p11_token_health(t), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(logins(), before + 1);
}

int main(void)
{
    p11_token *t = NULL;
    p11_key *k = NULL;
    p11_token_config c = {0};
    char msg[256];
    p11_uri u;

    if (p11_test_make_token(g_dir, "ftok") != 0) {
        fprintf(stderr, "cannot create a SoftHSM token\n");
        return 1;
    }
    snprintf(g_ctl, sizeof(g_ctl), "%s/fault.ctl", g_dir);
    fault("none");
    setenv("P11_FAULT_TARGET", P11_TEST_SOFTHSM, 1);
    setenv("P11_FAULT_FILE", g_ctl, 1);

    c.module_path = P11_FAULT_MODULE_PATH;
    c.token_label = "ftok";
    c.pin = P11_TEST_PIN;
    c.pin_len = strlen(P11_TEST_PIN);
    c.max_sessions = 2;
    c.op_timeout_ms = 3000;
    CHECK_EQ_INT(p11_token_open(&t, &c, msg, sizeof(msg)), AK_OK);
    CHECK_EQ_INT(p11_uri_parse(&u, "pkcs11:object=k1", 16, msg, sizeof(msg)), AK_OK);
    if (t != NULL)
        CHECK_EQ_INT(p11_token_find_key(t, &k, &u, msg, sizeof(msg)), AK_OK);
    if (t != NULL && k != NULL) {
        CHECK(sign_ok(t, k, 0x01));
        test_transient(t, k);
        test_persistent(t, k);
        p11_token_set_inline(t, 1); /* recovery is the same on the caller's thread */
        test_transient(t, k);
        test_persistent(t, k);
        p11_token_set_inline(t, 0);
    }
    p11_token_close(t);
    t = NULL;
    k = NULL;

    /* a short deadline and a single session for the hang test (the module may have been
     * unloaded and forgotten which command it applied: start from "none") */
    fault("none");
    c.max_sessions = 1;
    c.op_timeout_ms = 300;
    CHECK_EQ_INT(p11_token_open(&t, &c, msg, sizeof(msg)), AK_OK);
    if (t != NULL)
        CHECK_EQ_INT(p11_token_find_key(t, &k, &u, msg, sizeof(msg)), AK_OK);
    if (t != NULL && k != NULL)
        test_hang(t, k);
    /* close while a call hangs: waits for it, does not crash */
    if (t != NULL && k != NULL) {
        fault("hang 400 1");
        CHECK_EQ_INT(sign_err(t, k), AK_ERR_TIMEOUT);
    }
    p11_token_close(t);
    t = NULL;
    k = NULL;

    fault("none");
    c.max_sessions = 1;
    c.op_timeout_ms = 3000;
    CHECK_EQ_INT(p11_token_open(&t, &c, msg, sizeof(msg)), AK_OK);
    if (t != NULL)
        CHECK_EQ_INT(p11_token_find_key(t, &k, &u, msg, sizeof(msg)), AK_OK);
    if (t != NULL && k != NULL)
        test_pin_refused(t, k);
    p11_token_close(t);
    p11_uri_clear(&u);
    p11_test_remove_dir(g_dir);
    return ak_test_report("test_p11_fault");
}
