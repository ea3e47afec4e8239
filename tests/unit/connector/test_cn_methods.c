/*
 * test_cn_methods.c - the one method table (rpc/cn_methods): its rows are consistent, and the
 * readers it is handed to agree with it - the router's lookup, the metrics label set, policy
 * allowed_methods (names, aliases, intent kinds, error text) and the rate limit's count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_test.h"
#include "cn_log.h"
#include "cn_methods.h"
#include "cn_metrics.h"
#include "cn_paymaster.h"
#include "cn_policy.h"

static cn_policy *parse(const char *json, char *err, size_t cap)
{
    cJSON *j = cJSON_Parse(json);
    cn_policy *p = NULL;
    err[0] = '\0';
    if (cn_policy_parse(&p, j, err, cap) != AK_OK)
        p = NULL;
    cJSON_Delete(j);
    return p;
}

static void test_rows(const cn_method_table *const *tables, size_t n)
{
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < tables[t]->n; i++) {
            const cn_method *m = &tables[t]->rows[i];
            void *ctx = (void *)1;
            CHECK(m->name != NULL && m->fn != NULL);
            /* every name is found, as itself (no two rows share a name) */
            CHECK(cn_methods_find(tables, n, m->name, &ctx) == m && ctx == tables[t]->ctx);
            /* an alias points at a row of the same kind and flags */
            if (m->canonical != NULL) {
                const cn_method *c = cn_methods_find(tables, n, m->canonical, &ctx);
                CHECK(c != NULL && c->canonical == NULL && c->kind == m->kind &&
                      c->flags == m->flags);
            }
            /* a policy-named method signs */
            CHECK(!(m->flags & CN_M_POLICY) || (m->flags & CN_M_SIGNS));
        }
    }
    void *ctx = NULL;
    CHECK(cn_methods_find(tables, n, "eth_call", &ctx) == NULL);
    CHECK(cn_methods_find(tables, n, "eth_signtransaction", &ctx) == NULL); /* exact names */
}

static void test_policy(void)
{
    char err[512];
    /* Every policy-named method of the table is accepted, aliases included ... */
    cn_policy *p = parse("{\"allowed_methods\":[\"eth_sendTransaction\",\"eth_signTransaction\","
                         "\"personal_sign\",\"eth_sign\",\"eth_signTypedData_v4\","
                         "\"eth_signTypedData\",\"anode_signAuthorization\","
                         "\"opsigner_signBlockPayload\",\"opsigner_signBlockPayloadV2\"]}",
                         err, sizeof(err));
    CHECK(p != NULL);
    cn_policy_free(p);
    /* ... and nothing else; the error text lists the table's names (not its aliases). */
    static const char *const bad[] = {"eth_call", "eth_accounts", "pm_getPaymasterData",
                                      "health_status", "Eth_sign"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"allowed_methods\":[\"eth_sign\",\"%s\"]}", bad[i]);
        CHECK(parse(json, err, sizeof(err)) == NULL);
        CHECK(strstr(err, "policy.allowed_methods[1]: one of eth_sign, personal_sign, "
                          "eth_signTransaction, eth_sendTransaction, eth_signTypedData_v4, "
                          "anode_signAuthorization, opsigner_signBlockPayload") != NULL);
        CHECK(strstr(err, "eth_signTypedData,") == NULL);
    }
    /* An alias shares its method's bit: allowing eth_signTypedData_v4 allows eth_signTypedData. */
    p = parse("{\"allowed_methods\":[\"eth_signTypedData_v4\",\"opsigner_signBlockPayloadV2\"]}",
              err, sizeof(err));
    CHECK(p != NULL);
    CHECK(cn_policy_method_check(p, "eth_signTypedData", err, sizeof(err)));
    CHECK(cn_policy_method_check(p, "opsigner_signBlockPayload", err, sizeof(err)));
    CHECK(!cn_policy_method_check(p, "eth_sign", err, sizeof(err)));
    CHECK(strstr(err, "method_not_allowed") != NULL);
    cn_policy_free(p);
    /* The row's intent kind is what "serves" judges. */
    p = parse("{\"serves\":[\"eip191_message\"]}", err, sizeof(err));
    CHECK(p != NULL);
    CHECK(cn_policy_method_check(p, "personal_sign", err, sizeof(err)));
    CHECK(!cn_policy_method_check(p, "eth_sendTransaction", err, sizeof(err)));
    CHECK(!cn_policy_method_check(p, "eth_signTypedData", err, sizeof(err)));
    cn_policy_free(p);
    /* The rate limit counts the signing rows (pm_getPaymasterData too, not its stub). */
    CHECK(cn_policy_is_signing_method("eth_signTypedData"));
    CHECK(cn_policy_is_signing_method("opsigner_signBlockPayloadV2"));
    CHECK(cn_policy_is_signing_method("pm_getPaymasterData"));
    CHECK(!cn_policy_is_signing_method("pm_getPaymasterStubData"));
    CHECK(!cn_policy_is_signing_method("eth_accounts"));
    CHECK(!cn_policy_is_signing_method("eth_call"));
}

static void test_metrics(const cn_method_table *const *tables, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    cn_metrics_rpc("eth_signTypedData");
    cn_metrics_rpc("anode_signAuthorization");
    cn_metrics_rpc("eth_blockNumber");
    cn_metrics_rpc("eth_blockNumber");
    CHECK_EQ_INT(cn_metrics_render(&text, &len), AK_OK);
    CHECK(text != NULL);
    for (size_t t = 0; text && t < n; t++) {
        for (size_t i = 0; i < tables[t]->n; i++) {
            char want[128];
            snprintf(want, sizeof(want), "anode_connector_rpc_requests_total{method=\"%s\"} ",
                     tables[t]->rows[i].name);
            CHECK(strstr(text, want) != NULL);
        }
    }
    CHECK(text && strstr(text, "{method=\"eth_signTypedData\"} 1\n") != NULL);
    CHECK(text && strstr(text, "{method=\"anode_signAuthorization\"} 1\n") != NULL);
    CHECK(text && strstr(text, "{method=\"forwarded\"} 2\n") != NULL);
    CHECK(text && strstr(text, "{method=\"eth_blockNumber\"}") == NULL);
    free(text);
}

int main(void)
{
    cn_log_setup(CN_LOG_ERROR, 1);
    cn_method_table pm = cn_pm_methods(NULL);
    const cn_method_table *tables[] = {cn_methods_builtin(), &pm};
    CHECK_EQ_INT(cn_methods_publish(tables, 2), AK_OK);
    test_rows(tables, 2);
    test_policy();
    test_metrics(tables, 2);
    /* More rows than the label set holds are refused. */
    const cn_method_table *many[] = {tables[0], tables[0], tables[0]};
    CHECK_EQ_INT(cn_methods_publish(many, 3), AK_ERR_RANGE);
    return ak_test_report("test_cn_methods");
}
