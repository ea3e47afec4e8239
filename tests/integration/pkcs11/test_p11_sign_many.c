/*
 * test_p11_sign_many.c - p11_token_sign_many (concurrent batch signing) against SoftHSM, through
 * p11_fault_module (forwards to SoftHSM; injects CK_RVs and hangs on demand):
 *   - n = 1..256: every item signed, each signature verifies (libsecp256k1) over ITS digest
 *     (distinct digests, so order is checked), several sessions were used at once;
 *   - argument errors (n = 0, n > P11_SIGN_MANY_MAX, NULL arrays, a NULL key);
 *   - a recoverable fault on one C_Sign: the item is retried and every item succeeds;
 *   - a non-recoverable CK_RV on 3 calls: exactly 3 items AK_ERR_HSM, the rest verify;
 *   - a persistent fault: every item AK_ERR_HSM_UNAVAILABLE, then signing works again;
 *   - hung C_Sign calls: their items AK_ERR_TIMEOUT within the deadline, items that found no
 *     session AK_ERR_BUSY, the others signed; the quarantined slots come back;
 *   - inline mode: the items are signed one after another, same results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_sig.h"
#include "ak_test.h"
#include "p11_test_util.h"
#include "p11_token.h"

#define NMAX 256

static char g_dir[64];
static char g_ctl[128];
static unsigned long g_seq;

static p11_key *g_keys[NMAX];
static uint8_t g_dig[NMAX][32];
static uint8_t g_der[NMAX][AK_DER_SIG_MAX];
static size_t g_len[NMAX];
static ak_err g_rc[NMAX];

static void fault(const char *cmd)
{
    p11_test_fault(g_ctl, &g_seq, cmd);
}

/* n items with distinct digests (tag, i); returns the call's result. */
static ak_err batch(p11_token *t, p11_key *k, size_t n, uint8_t tag)
{
    for (size_t i = 0; i < n; i++) {
        g_keys[i] = k;
        memset(g_dig[i], tag, 32);
        g_dig[i][0] = (uint8_t)i;
        g_dig[i][1] = (uint8_t)(i >> 8);
        g_rc[i] = 12345; /* must be overwritten */
    }
    return p11_token_sign_many(t, g_keys, (const uint8_t(*)[32])g_dig, n, g_der, g_len, g_rc);
}

static int item_ok(p11_key *k, size_t i)
{
    return g_rc[i] == AK_OK && p11_test_verify(g_der[i], g_len[i], g_dig[i], p11_key_pubkey(k));
}

static size_t count_rc(size_t n, ak_err rc)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += g_rc[i] == rc;
    return c;
}

static void test_sizes(p11_token *t, p11_key *k)
{
    static const size_t NS[] = {1, 2, 3, 7, 8, 9, 16, 31, 64, 100, 255, 256};
    p11_token_stats st;
    for (size_t j = 0; j < sizeof(NS) / sizeof(NS[0]); j++) {
        size_t n = NS[j], good = 0;
        CHECK_EQ_INT(batch(t, k, n, (uint8_t)(0x40 + j)), AK_OK);
        for (size_t i = 0; i < n; i++)
            good += item_ok(k, i);
        if (good != n)
            fprintf(stderr, "n=%zu: %zu of %zu verify\n", n, good, n);
        CHECK_EQ_INT(good, n);
        /* a signature checked against another item's digest must fail (order kept) */
        if (n >= 2)
            CHECK(!p11_test_verify(g_der[0], g_len[0], g_dig[1], p11_key_pubkey(k)));
    }
    p11_token_stats_get(t, &st);
    fprintf(stderr, "after the batches: %u sessions open (max %u), %u in use\n", st.sessions_open,
            st.max_sessions, st.sessions_in_use);
    CHECK(st.sessions_open >= 2); /* items ran concurrently on several sessions */
    CHECK_EQ_INT(st.sessions_in_use, 0);
}

static void test_args(p11_token *t, p11_key *k)
{
    CHECK_EQ_INT(batch(t, k, 0, 1), AK_ERR_ARG);
    CHECK_EQ_INT(p11_token_sign_many(t, g_keys, (const uint8_t(*)[32])g_dig, P11_SIGN_MANY_MAX + 1,
                                     g_der, g_len, g_rc),
                 AK_ERR_ARG);
    CHECK_EQ_INT(
        p11_token_sign_many(NULL, g_keys, (const uint8_t(*)[32])g_dig, 1, g_der, g_len, g_rc),
        AK_ERR_ARG);
    CHECK_EQ_INT(p11_token_sign_many(t, g_keys, NULL, 1, g_der, g_len, g_rc), AK_ERR_ARG);
    CHECK_EQ_INT(p11_token_sign_many(t, g_keys, (const uint8_t(*)[32])g_dig, 1, NULL, g_len, g_rc),
                 AK_ERR_ARG);
    CHECK_EQ_INT(p11_token_sign_many(t, g_keys, (const uint8_t(*)[32])g_dig, 1, g_der, g_len, NULL),
                 AK_ERR_ARG);
    g_keys[1] = NULL;
    CHECK_EQ_INT(p11_token_sign_many(t, g_keys, (const uint8_t(*)[32])g_dig, 2, g_der, g_len, g_rc),
                 AK_ERR_ARG);
}

static void test_faults(p11_token *t, p11_key *k)
{
    p11_token_stats s0, s1;
    size_t good = 0;

    /* one lost session: that item is retried, all succeed */
    p11_token_stats_get(t, &s0);
    fault("sign 0xb3 1"); /* CKR_SESSION_HANDLE_INVALID */
    CHECK_EQ_INT(batch(t, k, 32, 0x51), AK_OK);
    for (size_t i = 0; i < 32; i++)
        good += item_ok(k, i);
    CHECK_EQ_INT(good, 32);
    p11_token_stats_get(t, &s1);
    CHECK_EQ_INT(s1.reconnects, s0.reconnects + 1);
    CHECK_EQ_INT(s1.sign_errors, s0.sign_errors + 1);

    /* a token-level fault on one call: recovered, retried */
    fault("sign 0x30 1"); /* CKR_DEVICE_ERROR */
    CHECK_EQ_INT(batch(t, k, 32, 0x52), AK_OK);
    good = 0;
    for (size_t i = 0; i < 32; i++)
        good += item_ok(k, i);
    CHECK_EQ_INT(good, 32);

    /* not recoverable, on 3 calls: exactly 3 items fail, the rest verify. The faulted C_Sign
     * never reached SoftHSM, so its session keeps an active operation: the next item on it gets
     * CKR_OPERATION_ACTIVE, recovers with a new session and retries - and if that retry meets
     * one of the 3 faults it is reported HSM_UNAVAILABLE (it had been retried) instead of HSM. */
    fault("sign 0x21 3"); /* CKR_DATA_LEN_RANGE */
    CHECK(batch(t, k, 40, 0x53) != AK_OK);
    CHECK(count_rc(40, AK_ERR_HSM) >= 1);
    CHECK_EQ_INT(count_rc(40, AK_ERR_HSM) + count_rc(40, AK_ERR_HSM_UNAVAILABLE), 3);
    good = 0;
    for (size_t i = 0; i < 40; i++)
        good += item_ok(k, i);
    CHECK_EQ_INT(good, 37);

    /* persistent: every item unavailable; then it works again */
    fault("all 0x32"); /* CKR_DEVICE_REMOVED */
    CHECK_EQ_INT(batch(t, k, 20, 0x54), AK_ERR_HSM_UNAVAILABLE);
    CHECK_EQ_INT(count_rc(20, AK_ERR_HSM_UNAVAILABLE), 20);
    fault("none");
    CHECK_EQ_INT(batch(t, k, 20, 0x55), AK_OK);
    good = 0;
    for (size_t i = 0; i < 20; i++)
        good += item_ok(k, i);
    CHECK_EQ_INT(good, 20);
}

/* pool of 2, deadline 300 ms */
static void test_hang(p11_token *t, p11_key *k)
{
    struct timespec back = {1, 400000000L};
    p11_token_stats st;
    double t0, dt;
    size_t good = 0;

    fault("hang 1500 1");
    t0 = p11_test_now_ms();
    CHECK_EQ_INT(batch(t, k, 8, 0x61), AK_ERR_TIMEOUT);
    dt = p11_test_now_ms() - t0;
    CHECK(dt >= 290 && dt < 800);
    CHECK_EQ_INT(count_rc(8, AK_ERR_TIMEOUT), 1);
    for (size_t i = 0; i < 8; i++)
        good += item_ok(k, i);
    CHECK_EQ_INT(good, 7); /* the other session signed the rest */
    nanosleep(&back, NULL);
    p11_token_stats_get(t, &st);
    CHECK_EQ_INT(st.sessions_in_use, 0);

    /* both sessions hang: two items time out, the others never got a session */
    fault("hang 1500 2");
    t0 = p11_test_now_ms();
    CHECK(batch(t, k, 8, 0x62) != AK_OK);
    dt = p11_test_now_ms() - t0;
    CHECK(dt >= 290 && dt < 800);
    CHECK_EQ_INT(count_rc(8, AK_ERR_TIMEOUT), 2);
    CHECK_EQ_INT(count_rc(8, AK_ERR_BUSY), 6);
    nanosleep(&back, NULL);
    p11_token_stats_get(t, &st);
    CHECK_EQ_INT(st.sessions_in_use, 0);
    fault("none");
    CHECK_EQ_INT(batch(t, k, 8, 0x63), AK_OK);
}

static void test_inline(p11_token *t, p11_key *k)
{
    size_t good = 0;
    p11_token_set_inline(t, 1);
    fault("sign 0x21 1");
    CHECK_EQ_INT(batch(t, k, 16, 0x71), AK_ERR_HSM);
    CHECK_EQ_INT(g_rc[0], AK_ERR_HSM); /* one after another: the first call got the fault */
    for (size_t i = 1; i < 16; i++)
        good += item_ok(k, i);
    CHECK_EQ_INT(good, 15);
    fault("none");
    p11_token_set_inline(t, 0);
}

static int open_token(p11_token **t, p11_key **k, p11_uri *u, unsigned sessions, unsigned ms)
{
    p11_token_config c = {0};
    char msg[256];
    c.module_path = P11_FAULT_MODULE_PATH;
    c.token_label = "mtok";
    c.pin = P11_TEST_PIN;
    c.pin_len = strlen(P11_TEST_PIN);
    c.max_sessions = sessions;
    c.op_timeout_ms = ms;
    *t = NULL;
    *k = NULL;
    if (p11_token_open(t, &c, msg, sizeof(msg)) != AK_OK ||
        p11_token_find_key(*t, k, u, msg, sizeof(msg)) != AK_OK) {
        fprintf(stderr, "open/find: %s\n", msg);
        return 0;
    }
    return 1;
}

int main(void)
{
    p11_token *t = NULL;
    p11_key *k = NULL;
    char msg[256];
    p11_uri u;

    if (p11_test_make_token(g_dir, "mtok") != 0) {
        fprintf(stderr, "cannot create a SoftHSM token\n");
        return 1;
    }
    snprintf(g_ctl, sizeof(g_ctl), "%s/fault.ctl", g_dir);
    fault("none");
    setenv("P11_FAULT_TARGET", P11_TEST_SOFTHSM, 1);
    setenv("P11_FAULT_FILE", g_ctl, 1);
    CHECK_EQ_INT(p11_uri_parse(&u, "pkcs11:object=k1", 16, msg, sizeof(msg)), AK_OK);

    CHECK(open_token(&t, &k, &u, 8, 5000));
    if (t != NULL && k != NULL) {
        test_sizes(t, k);
        test_args(t, k);
        test_faults(t, k);
        test_inline(t, k);
    }
    p11_token_close(t);

    fault("none");
    CHECK(open_token(&t, &k, &u, 2, 300));
    if (t != NULL && k != NULL)
        test_hang(t, k);
    p11_token_close(t);
    p11_uri_clear(&u);
    p11_test_remove_dir(g_dir);
    return ak_test_report("test_p11_sign_many");
}
