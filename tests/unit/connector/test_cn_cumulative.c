/*
 * test_cn_cumulative.c - the account policy's "cumulative_cap" (issue 13): accepted shapes and
 * their values, refusals naming the member. Reserving against it in a real store (memory and
 * PostgreSQL, three replicas) is e2e_state_replicas.
 */
#include <stdio.h>
#include <string.h>

#include "ak_test.h"
#include "cn_policy.h"

static cn_policy *parse(const char *json, ak_err want, const char *err_has)
{
    char err[256] = "";
    cn_policy *p = NULL;
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    CHECK_EQ_INT(cn_policy_parse(&p, j, err, sizeof(err)), want);
    if (err_has != NULL && strstr(err, err_has) == NULL) {
        fprintf(stderr, "  %s -> \"%s\", want \"%s\"\n", json, err, err_has);
        CHECK(0);
    }
    cJSON_Delete(j);
    return p;
}

static void test_accepted(void)
{
    cn_policy_cumulative c;
    cn_policy *p = parse("{\"cumulative_cap\":{\"value_wei\":\"10000000000000000000\","
                         "\"window_s\":86400,\"comment\":\"10 ETH a day\"}}",
                         AK_OK, NULL);
    CHECK(cn_policy_cumulative_cap(p, &c));
    CHECK(c.window_s == 86400 && c.has_max_value && c.max_tx == 0);
    ak_u256 ten;
    ak_u256_from_u64(&ten, 10000000000000000000ULL);
    CHECK(ak_u256_cmp(&c.max_value, &ten) == 0);
    cn_policy_free(p);

    p = parse("{\"cumulative_cap\":{\"max_tx\":3,\"window_s\":31622400}}", AK_OK, NULL);
    CHECK(cn_policy_cumulative_cap(p, &c));
    CHECK(c.window_s == 31622400 && !c.has_max_value && c.max_tx == 3);
    cn_policy_free(p);

    p = parse("{\"cumulative_cap\":{\"value_wei\":\"0x3e8\",\"max_tx\":1,\"window_s\":1}}", AK_OK,
              NULL);
    CHECK(cn_policy_cumulative_cap(p, &c) && c.max_tx == 1 && c.has_max_value);
    cn_policy_free(p);

    /* none: no cap (a NULL policy too) */
    p = parse("{\"max_value_wei\":\"1\"}", AK_OK, NULL);
    CHECK(!cn_policy_cumulative_cap(p, &c));
    cn_policy_free(p);
    CHECK(!cn_policy_cumulative_cap(NULL, &c));
}

static void test_refused(void)
{
    static const char *const bad[][2] = {
        {"{\"cumulative_cap\":true}", "policy.cumulative_cap"},
        {"{\"cumulative_cap\":{}}", "needs window_s"},
        {"{\"cumulative_cap\":{\"value_wei\":\"1\"}}", "needs window_s"},
        {"{\"cumulative_cap\":{\"window_s\":60}}", "value_wei or max_tx"},
        {"{\"cumulative_cap\":{\"value_wei\":1,\"window_s\":60}}", "cumulative_cap.value_wei"},
        {"{\"cumulative_cap\":{\"value_wei\":\"-1\",\"window_s\":60}}", "cumulative_cap.value_wei"},
        {"{\"cumulative_cap\":{\"value_wei\":\"1\",\"window_s\":0}}", "cumulative_cap.window_s"},
        {"{\"cumulative_cap\":{\"value_wei\":\"1\",\"window_s\":31622401}}",
         "cumulative_cap.window_s"},
        {"{\"cumulative_cap\":{\"value_wei\":\"1\",\"window_s\":1.5}}", "cumulative_cap.window_s"},
        {"{\"cumulative_cap\":{\"value_wei\":\"1\",\"window_s\":\"60\"}}",
         "cumulative_cap.window_s"},
        {"{\"cumulative_cap\":{\"max_tx\":0,\"window_s\":60}}", "cumulative_cap.max_tx"},
        {"{\"cumulative_cap\":{\"max_tx\":-2,\"window_s\":60}}", "cumulative_cap.max_tx"},
        {"{\"cumulative_cap\":{\"max_tx\":2,\"window_s\":60,\"per\":\"day\"}}",
         "cumulative_cap.per"},
        {"{\"cumulative_cap\":{\"max_tx\":2,\"window_s\":60,\"comment\":1}}",
         "cumulative_cap.comment: must be a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cn_policy *p = parse(bad[i][0], AK_ERR_CONFIG, bad[i][1]);
        CHECK(p == NULL);
    }
}

int main(void)
{
    test_accepted();
    test_refused();
    return ak_test_report("test_cn_cumulative");
}
