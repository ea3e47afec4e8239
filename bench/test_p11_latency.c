/*
 * test_p11_latency.c - p11_latency_module (the emulated network HSM of the benchmarks) loaded by
 * p11_token like any vendor module, over a private SoftHSM2 token:
 *   - a signature made through it verifies (libsecp256k1) and the call took at least L;
 *   - with S = 2 places, 4 signatures started together on 4 sessions take at least 2 L (the cap
 *     holds), and all 4 verify;
 *   - malformed settings (L not a number, out of range, S not whole) make loading fail: a
 *     benchmark never runs with a latency it did not ask for (each in a child process, since
 *     the module reads its environment once per process).
 * Only lower bounds on time are checked: a sleep guarantees them, whatever the machine's load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ak_sig.h"
#include "ak_test.h"
#include "p11_test_util.h"
#include "p11_token.h"

#define L_MS 50.0

static int open_token(p11_token **t, p11_key **k, unsigned sessions)
{
    p11_token_config c = {0};
    p11_uri u;
    char msg[256];
    int ok = 0;
    c.module_path = P11_LATENCY_MODULE_PATH;
    c.token_label = "ltok";
    c.pin = P11_TEST_PIN;
    c.pin_len = strlen(P11_TEST_PIN);
    c.max_sessions = sessions;
    c.op_timeout_ms = 5000;
    *t = NULL;
    *k = NULL;
    if (p11_uri_parse(&u, "pkcs11:object=k1", 16, msg, sizeof(msg)) != AK_OK)
        return 0;
    if (p11_token_open(t, &c, msg, sizeof(msg)) != AK_OK ||
        p11_token_find_key(*t, k, &u, msg, sizeof(msg)) != AK_OK)
        fprintf(stderr, "open/find: %s\n", msg);
    else
        ok = 1;
    p11_uri_clear(&u);
    return ok;
}

/* In a child: loading the module with this setting must fail. 1 if it did. */
static int refused(const char *var, const char *value)
{
    pid_t pid = fork();
    int st = 0;
    if (pid == 0) {
        p11_token *t = NULL;
        p11_key *k = NULL;
        setenv(var, value, 1);
        int opened = open_token(&t, &k, 1);
        p11_token_close(t);
        _exit(opened ? 1 : 0);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_one(p11_token *t, p11_key *k)
{
    uint8_t digest[32], der[AK_DER_SIG_MAX];
    size_t len = 0;
    memset(digest, 0x5a, sizeof(digest));
    double t0 = p11_test_now_ms();
    CHECK_EQ_INT(p11_token_sign(t, k, digest, der, sizeof(der), &len), AK_OK);
    double took = p11_test_now_ms() - t0;
    if (took < L_MS)
        fprintf(stderr, "one signature took %.1f ms < L = %.0f ms\n", took, L_MS);
    CHECK(took >= L_MS);
    CHECK(p11_test_verify(der, len, digest, p11_key_pubkey(k)));
    digest[0] ^= 1; /* and not over another digest */
    CHECK(!p11_test_verify(der, len, digest, p11_key_pubkey(k)));
}

static void test_cap(p11_token *t, p11_key *k)
{
    p11_key *keys[4] = {k, k, k, k};
    uint8_t dig[4][32], der[4][AK_DER_SIG_MAX];
    size_t len[4] = {0};
    ak_err rc[4];
    for (unsigned i = 0; i < 4; i++) {
        memset(dig[i], 0x33, 32);
        dig[i][0] = (uint8_t)i;
    }
    double t0 = p11_test_now_ms();
    CHECK_EQ_INT(p11_token_sign_many(t, keys, (const uint8_t(*)[32])dig, 4, der, len, rc), AK_OK);
    double took = p11_test_now_ms() - t0;
    if (took < 2 * L_MS)
        fprintf(stderr, "4 signatures over S = 2 took %.1f ms < 2 L\n", took);
    CHECK(took >= 2 * L_MS);
    for (unsigned i = 0; i < 4; i++)
        CHECK(rc[i] == AK_OK && p11_test_verify(der[i], len[i], dig[i], p11_key_pubkey(k)));
}

int main(void)
{
    char dir[64];
    p11_token *t = NULL;
    p11_key *k = NULL;
    if (p11_test_make_token(dir, "ltok") != 0) {
        fprintf(stderr, "cannot create a SoftHSM token\n");
        return 1;
    }
    setenv("P11_LATENCY_TARGET", P11_TEST_SOFTHSM, 1);
    setenv("P11_LATENCY_MS", "50", 1);
    setenv("P11_LATENCY_SESSIONS", "2", 1);

    /* negative: malformed settings are refused (before this process loads the module) */
    CHECK(refused("P11_LATENCY_MS", "abc"));
    CHECK(refused("P11_LATENCY_MS", "-1"));
    CHECK(refused("P11_LATENCY_MS", "10001"));
    CHECK(refused("P11_LATENCY_MS", "4ms"));
    CHECK(refused("P11_LATENCY_SESSIONS", "2.5"));
    CHECK(refused("P11_LATENCY_SESSIONS", "99999"));
    CHECK(refused("P11_LATENCY_TARGET", "/nonexistent/libnothing.so"));
    /* and the good settings load (so the refusals above are about the values) */
    CHECK(!refused("P11_LATENCY_MS", "0.5"));

    CHECK(open_token(&t, &k, 4));
    if (t != NULL && k != NULL) {
        test_one(t, k);
        test_cap(t, k);
    }
    p11_token_close(t);
    p11_test_remove_dir(dir);
    return ak_test_report("test_p11_latency");
}
