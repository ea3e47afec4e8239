/*
 * test_cn_rate.c - the per-client signing rate limit (accounts/cn_rate) on a fake clock: burst,
 * refill, one bucket per client, all-or-none for a batch, the per-batch bound, and which calls
 * count (the method table's signing rows). No sleeping.
 */
#include <stdio.h>
#include <string.h>

#include "ak_test.h"
#include "cn_log.h"
#include "cn_methods.h"
#include "cn_paymaster.h"
#include "cn_rate.h"

static int64_t g_now_ns = 7000000000;

static int64_t fake_mono(void *ctx)
{
    (void)ctx;
    return g_now_ns;
}

static const rt_clock k_fake = {fake_mono, fake_mono, NULL};

static cn_rate *make(const char *json)
{
    char err[128] = "";
    cn_rate *r = NULL;
    cJSON *j = cJSON_Parse(json);
    CHECK_EQ_INT(cn_rate_new(&r, j, err, sizeof(err)), AK_OK);
    cJSON_Delete(j);
    if (r != NULL)
        cn_rate_set_clock(r, &k_fake);
    return r;
}

static void test_bucket(void)
{
    cn_rate *r = make("{\"per_second\": 2, \"burst\": 4}");
    if (r == NULL)
        return;
    CHECK(cn_rate_take(r, "token:1", 4));
    CHECK(!cn_rate_take(r, "token:1", 1));
    CHECK(cn_rate_take(r, "token:2", 4)); /* another client has its own bucket */
    CHECK(cn_rate_take(r, NULL, 3));      /* "anonymous" too */
    CHECK(cn_rate_take(r, "anonymous", 1));
    CHECK(!cn_rate_take(r, "anonymous", 1));
    g_now_ns += 499000000; /* 0.499 s at 2/s: not yet one token */
    CHECK(!cn_rate_take(r, "token:1", 1));
    g_now_ns += 1000000; /* 0.5 s: one */
    CHECK(cn_rate_take(r, "token:1", 1));
    CHECK(!cn_rate_take(r, "token:1", 1));
    g_now_ns += 60LL * 1000000000; /* a minute: back to the burst, not more */
    CHECK(!cn_rate_take(r, "token:1", 5));
    CHECK(cn_rate_take(r, "token:1", 4)); /* a refused take took nothing */
    CHECK(cn_rate_take(r, "token:1", 0));
    CHECK(cn_rate_take(NULL, "x", 1000)); /* no limit configured */
    cn_rate_free(r);
}

static void test_admit(void)
{
    cn_rate *r = make("{\"per_second\": 1, \"burst\": 3}");
    char msg[160];
    int code = 0;
    if (r == NULL)
        return;
    /* A batch of three signing calls and two that are not (forwarded, accounts, the stub). */
    cJSON *batch = cJSON_Parse(
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sign\",\"params\":[]},"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_signTypedData\",\"params\":[]},"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"pm_getPaymasterData\",\"params\":[]},"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"pm_getPaymasterStubData\",\"params\":[]},"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"eth_accounts\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"eth_blockNumber\"}]");
    CHECK(!cn_rate_admit(r, "c", batch, 2, &code, msg, sizeof(msg)));
    CHECK(code == CN_RATE_E_BATCH && strstr(msg, "3 signing calls, more than 2") != NULL);
    CHECK(cn_rate_admit(r, "c", batch, 3, &code, msg, sizeof(msg))); /* takes all three */
    code = 0;
    CHECK(!cn_rate_admit(r, "c", batch, 3, &code, msg, sizeof(msg)));
    CHECK(code == CN_RATE_E_LIMIT);
    g_now_ns += 2LL * 1000000000; /* two tokens back: still not three, all or none */
    CHECK(!cn_rate_admit(r, "c", batch, 3, &code, msg, sizeof(msg)));
    cJSON *one = cJSON_Parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"personal_sign\"}");
    CHECK(cn_rate_admit(r, "c", one, 3, &code, msg, sizeof(msg)));
    CHECK(cn_rate_admit(r, "c", one, 3, &code, msg, sizeof(msg)));
    CHECK(!cn_rate_admit(r, "c", one, 3, &code, msg, sizeof(msg)));
    cJSON *fwd = cJSON_Parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}");
    CHECK(cn_rate_admit(r, "c", fwd, 3, &code, msg, sizeof(msg))); /* takes nothing */
    cJSON_Delete(batch);
    cJSON_Delete(one);
    cJSON_Delete(fwd);
    cn_rate_free(r);
}

static void test_config(void)
{
    static const char *const bad[] = {"[]", "{}", "{\"per_second\": 0}",
                                      "{\"per_second\": 1, \"burst\": 0.5}",
                                      "{\"per_second\": 1, \"bursts\": 2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        cn_rate *r = NULL;
        cJSON *j = cJSON_Parse(bad[i]);
        CHECK_EQ_INT(cn_rate_new(&r, j, err, sizeof(err)), AK_ERR_CONFIG);
        CHECK(r == NULL && strncmp(err, "signing_rate_limit", 18) == 0);
        cJSON_Delete(j);
    }
}

int main(void)
{
    cn_log_setup(CN_LOG_ERROR + 1, 1);
    cn_method_table pm = cn_pm_methods(NULL);
    const cn_method_table *tables[] = {cn_methods_builtin(), &pm};
    CHECK_EQ_INT(cn_methods_publish(tables, 2), AK_OK);
    test_bucket();
    test_admit();
    test_config();
    return ak_test_report("test_cn_rate");
}
