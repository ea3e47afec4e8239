/*
 * test_ks_policy.c - the key server's cumulative caps (ks_policy_window) on a clock the test
 * moves by hand, and their rebuild from a real audit log written by ks_audit; the policy parser
 * (ks_policy_parse) on good and bad objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_test.h"
#include "ks_audit.h"
#include "ks_policy.h"
#include "ks_policy_window.h"

static int64_t fake_ns;
static int64_t fake_wall(void *ctx)
{
    (void)ctx;
    return fake_ns;
}
static const rt_clock FAKE = {fake_wall, fake_wall, NULL};

#define MS(x) ((int64_t)(x)*1000000)

static ak_policy *policy_of(const char *json)
{
    char msg[256];
    ak_policy *p = NULL;
    cJSON *j = cJSON_Parse(json);
    if (ks_policy_parse(&p, j, "keys.k.policy", msg, sizeof msg) != AK_OK) {
        fprintf(stderr, "%s\n", msg);
        abort();
    }
    cJSON_Delete(j);
    return p;
}

/* A configuration of two keys: "capped" (100 wei per 1000 s) and "free" (no cap). */
static void make_config(ks_config *c, ks_key_cfg keys[2])
{
    memset(c, 0, sizeof *c);
    memset(keys, 0, 2 * sizeof *keys);
    snprintf(keys[0].key_id, sizeof keys[0].key_id, "capped");
    keys[0].policy = policy_of(
        "{\"raw_digest\":false,\"cumulative_cap\":{\"value_wei\":\"100\",\"window_s\":1000}}");
    snprintf(keys[1].key_id, sizeof keys[1].key_id, "free");
    c->keys = keys;
    c->n_keys = 2;
}

static int reserve(ks_window *w, long key, uint64_t v, ks_window_ticket *t)
{
    ak_u256 x;
    ak_policy_verdict verdict;
    ak_u256_from_u64(&x, v);
    int ok = ks_window_reserve(w, key, &x, t, &verdict);
    if (!ok)
        CHECK_STR(verdict.rule, "cumulative_over_cap");
    return ok;
}

static uint64_t used(ks_window *w, long key)
{
    ak_u256 u;
    ks_window_used(w, key, &u);
    return u.w[0];
}

static void test_window(void)
{
    ks_config c;
    ks_key_cfg keys[2];
    ks_window *w = NULL;
    ks_window_ticket t, t2;
    make_config(&c, keys);
    fake_ns = MS(1700000000000LL);
    CHECK_EQ_INT(ks_window_open(&w, &c, &FAKE), AK_OK);
    CHECK(reserve(w, 0, 60, &t));
    CHECK(reserve(w, 0, 40, &t2)); /* exactly the cap */
    CHECK(!reserve(w, 0, 1, &t));  /* one wei over */
    CHECK(reserve(w, 0, 0, &t));   /* zero value always fits */
    CHECK_EQ_INT((int)used(w, 0), 100);
    ks_window_release(w, &t2); /* the HSM failed: given back */
    CHECK_EQ_INT((int)used(w, 0), 60);
    CHECK(reserve(w, 1, 1000000, &t) && t.key == -1); /* no cap */
    /* still counted at the end of the window (whatever the bucket alignment), gone two buckets
     * (2 x 977 ms) after it */
    fake_ns += MS(1000000);
    CHECK_EQ_INT((int)used(w, 0), 60);
    CHECK(!reserve(w, 0, 41, &t));
    fake_ns += MS(1955);
    CHECK_EQ_INT((int)used(w, 0), 0);
    CHECK(reserve(w, 0, 100, &t));
    /* the wall clock set back: what was signed is not forgotten */
    fake_ns -= MS(10000);
    CHECK(used(w, 0) >= 100);
    CHECK(!reserve(w, 0, 1, &t));
    ks_window_free(w);
    ks_policy_free(keys[0].policy);
}

static void append(ks_audit *a, const char *key, const char *outcome, const char *intent_json)
{
    ak_intent in;
    cJSON *j = cJSON_Parse(intent_json);
    char why[AK_INTENT_WHY_MAX];
    ks_audit_rec r;
    CHECK_EQ_INT(ak_intent_parse(&in, j, why, sizeof why), AK_OK);
    memset(&r, 0, sizeof r);
    r.key_id = key;
    r.key_id_len = strlen(key);
    r.digest = in.digest;
    r.digest_len = 32;
    r.outcome = outcome;
    r.intent = &in;
    CHECK_EQ_INT(ks_audit_append(a, &r), AK_OK);
    ak_intent_clear(&in);
    cJSON_Delete(j);
}

/* A type-2 transfer of 30 wei (ethers' unsignedSerialized of {chainId 1, to 0x35.., value 30}). */
#define TX30                                                                                       \
    "{\"kind\":\"eth_transaction\",\"payload\":\"0x02e70180843b9aca00847735940082520894"           \
    "3535353535353535353535353535353535353535"                                                     \
    "1e80c0\"}"

static void test_rebuild(void)
{
    char path[] = "/tmp/ks_policy_audit.XXXXXX", msg[256];
    int fd = mkstemp(path);
    ks_config c;
    ks_key_cfg keys[2];
    ks_audit *a = NULL;
    ks_window *w = NULL;
    uint64_t counted = 0;
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    make_config(&c, keys);
    CHECK_EQ_INT(ks_audit_open(&a, path, 0, msg, sizeof msg), AK_OK);
    append(a, "capped", "signed", TX30);
    append(a, "capped", "signed", TX30);
    append(a, "capped", "refused_policy", TX30); /* refused: not counted */
    append(a, "capped", "hsm_error", TX30);      /* not signed: not counted */
    append(a, "free", "signed", TX30);           /* no cap on that key */
    append(a, "nosuchkey", "signed", TX30);
    append(a, "capped", "signed", "{\"kind\":\"eip191_message\",\"message\":\"0x01\"}");
    ks_audit_close(a);
    fake_ns = (int64_t)time(NULL) * 1000000000;
    CHECK_EQ_INT(ks_window_open(&w, &c, &FAKE), AK_OK);
    CHECK_EQ_INT(ks_window_rebuild(w, path, &counted, msg, sizeof msg), AK_OK);
    CHECK_EQ_INT((int)counted, 2);
    CHECK_EQ_INT((int)used(w, 0), 60);
    ks_window_ticket t;
    CHECK(reserve(w, 0, 40, &t));
    CHECK(!reserve(w, 0, 1, &t));
    ks_window_free(w);
    /* a restart long after the window: nothing left */
    fake_ns += MS(3000000);
    CHECK_EQ_INT(ks_window_open(&w, &c, &FAKE), AK_OK);
    CHECK_EQ_INT(ks_window_rebuild(w, path, &counted, msg, sizeof msg), AK_OK);
    CHECK_EQ_INT((int)counted, 0);
    CHECK_EQ_INT((int)used(w, 0), 0);
    ks_window_free(w);
    /* a missing log is an empty one */
    CHECK_EQ_INT(ks_window_open(&w, &c, &FAKE), AK_OK);
    CHECK_EQ_INT(ks_window_rebuild(w, "/nonexistent/audit.log", &counted, msg, sizeof msg), AK_OK);
    ks_window_free(w);
    unlink(path);
    ks_policy_free(keys[0].policy);
}

static void bad_policy(const char *json, const char *fragment)
{
    char msg[512] = "";
    ak_policy *p = NULL;
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    CHECK_EQ_INT(ks_policy_parse(&p, j, "keys.k.policy", msg, sizeof msg), AK_ERR_CONFIG);
    CHECK(p == NULL);
    if (strstr(msg, fragment) == NULL)
        fprintf(stderr, "want '%s' in '%s'\n", fragment, msg);
    CHECK(strstr(msg, fragment) != NULL);
    cJSON_Delete(j);
}

static void test_parse(void)
{
    ak_policy *p = policy_of(
        "{\"raw_digest\":false,\"serves\":[\"eth_transaction\"],\"allowed_chain_ids\":[1,\"0x89\","
        "\"10\"],\"allowed_to\":[\"0x3535353535353535353535353535353535353535\"],"
        "\"max_value_wei\":\"0x10\",\"allowed_selectors\":{"
        "\"0x3535353535353535353535353535353535353535\":"
        "[\"0xa9059cbb\",\"0x095ea7b3\"]},\"allowed_domains\":[{\"name\":\"USD "
        "Coin\"},{\"chainId\":1}],"
        "\"allowed_delegates\":[\"0x1111111111111111111111111111111111111111\"],"
        "\"allow_chain_id_zero_authorization\":true,\"comment\":\"x\"}");
    CHECK(!p->raw_digest && p->kinds == 1u && p->n_chains == 3 && p->chains[1].w[0] == 0x89);
    CHECK(p->chains[2].w[0] == 10 && p->n_to == 1 && !p->allow_create && p->has_max_value);
    CHECK(p->n_selectors == 2 && p->n_domains == 2 && p->domains[0].has_name);
    CHECK(!p->domains[0].has_chain_id && p->domains[1].has_chain_id && p->n_delegates == 1);
    CHECK(p->allow_auth_chain_zero && !p->has_cumulative_cap);
    ks_policy_free(p);
    p = policy_of("{}");
    CHECK(p->raw_digest && p->kinds == AK_INTENT_ALL && p->allow_create);
    ks_policy_free(p);
    bad_policy("[]", "keys.k.policy: must be an object");
    bad_policy("{\"nope\":1}", "keys.k.policy.nope: unknown field");
    bad_policy("{\"raw_digest\":1}", "raw_digest: must be true or false");
    bad_policy("{\"serves\":[\"eth_tx\"]}", "serves[0]");
    bad_policy("{\"allowed_chain_ids\":[1.5]}", "allowed_chain_ids[0]");
    bad_policy("{\"allowed_chain_ids\":[]}", "allowed_chain_ids: an array of 1..");
    bad_policy("{\"allowed_to\":[\"0x1\"]}", "allowed_to[0]: not an address");
    bad_policy("{\"allowed_to\":[\"0x3535353535353535353535353535353535353535\","
               "\"0x3535353535353535353535353535353535353535\"]}",
               "allowed_to[1]: given twice");
    bad_policy("{\"max_value_wei\":\"-1\"}", "max_value_wei");
    bad_policy(
        "{\"allowed_selectors\":{\"0x3535353535353535353535353535353535353535\":[\"0xa9\"]}}",
        "[0]: \"0x\" + 8 hex digits");
    bad_policy("{\"allowed_domains\":[{}]}", "allowed_domains[0]");
    bad_policy("{\"allowed_domains\":[{\"verifyingContract\":\"0x12\"}]}",
               "allowed_domains[0].verifyingContract");
    bad_policy("{\"cumulative_cap\":{\"value_wei\":\"1\"}}", "needs both value_wei and window_s");
    bad_policy("{\"cumulative_cap\":{\"value_wei\":\"1\",\"window_s\":31622401}}", "window_s");
    bad_policy("{\"comment\":1}", "comment: must be a string");
    bad_policy("{\"raw_digest\":true,\"raw_digest\":false}", "a key is given twice");
}

int main(void)
{
    test_window();
    test_rebuild();
    test_parse();
    return ak_test_report("test_ks_policy");
}
