/*
 * test_ks_store_cap.c - the key server's cumulative caps on the shared PostgreSQL store (an HA
 * pair: ks_policy_window with ks_window_use_store), run by test_ks_store_cap.sh against a real
 * server (pg_lib.sh). Two windows on two store handles stand for two key servers: one total per
 * key across both; a release (the HSM failed) on either gives the value back; zero values and
 * uncapped keys never ask the store; 2 x 16 threads of 1 wei never pass a 100 wei cap; the
 * database stopped -> -1 (fail closed) within the statement timeout, started again -> answers
 * with the same handles. The store id is checked against ethers' keccak256 of the same bytes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_test.h"
#include "ks_policy.h"
#include "ks_policy_window.h"

#define CAP 100

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "test_ks_store_cap: %s not set: run through test_ks_store_cap.sh\n", name);
        exit(2);
    }
    return v;
}

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

/* "capped" (CAP wei per 1000 s) and "free" (no cap). */
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

static st_store *open_store(unsigned timeout_ms)
{
    char err[256] = "";
    st_cfg cfg;
    st_store *st = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backend", "postgres");
    cJSON_AddStringToObject(o, "url", env("AK_PG_URL"));
    cJSON_AddNumberToObject(o, "statement_timeout_ms", timeout_ms);
    cJSON_AddNumberToObject(o, "pool_size", 8);
    if (st_cfg_parse(&cfg, o, err, sizeof err) != AK_OK ||
        st_open(&st, &cfg, NULL, err, sizeof err) != AK_OK) {
        fprintf(stderr, "store: %s\n", err);
        exit(2);
    }
    cJSON_Delete(o);
    return st;
}

static ks_window *window_on(const ks_config *c, st_store *st, const uint8_t *addr)
{
    ks_window *w = NULL;
    const uint8_t *addrs[2] = {addr, addr};
    CHECK_EQ_INT(ks_window_open(&w, c, NULL), AK_OK);
    ks_window_use_store(w, st, addrs);
    return w;
}

static int reserve(ks_window *w, long key, uint64_t v, ks_window_ticket *t)
{
    ak_u256 x;
    ak_policy_verdict verdict;
    memset(&verdict, 0, sizeof verdict);
    ak_u256_from_u64(&x, v);
    int ok = ks_window_reserve(w, key, &x, t, &verdict);
    if (ok == 0)
        CHECK(verdict.rule != NULL && strcmp(verdict.rule, "cumulative_over_cap") == 0 &&
              strstr(verdict.why, "cumulative_cap 100 wei") != NULL);
    return ok;
}

static void pg(const char *what)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s' %s '%s'", env("AK_PG_LIB"), what, env("AK_PG_DIR"));
    CHECK_EQ_INT(system(cmd), 0);
}

static void test_store_id(void)
{
    uint8_t a[20], id[20], want[20];
    memset(a, 0x11, sizeof a);
    ks_window_store_id(id, a);
    /* ethers: keccak256(concat([toUtf8Bytes(KS_WINDOW_STORE_TAG), address])).slice(-40) */
    ak_test_unhex(want, sizeof want, "94576dfd5cc582434d72668fde35785f3410ebf6");
    CHECK_MEM(id, want, 20);
    memset(a, 0x22, sizeof a);
    ks_window_store_id(id, a);
    ak_test_unhex(want, sizeof want, "0e6d2bba837cb9593ccc58077ab9d71f5a93a08f");
    CHECK_MEM(id, want, 20);
}

/* Two key servers, one total: reserve on either, release on either. */
static void test_pair(const ks_config *c, st_store *s1, st_store *s2)
{
    uint8_t addr[20];
    ks_window_ticket t1, t2, t3, t0;
    memset(addr, 0xa1, sizeof addr);
    ks_window *w1 = window_on(c, s1, addr), *w2 = window_on(c, s2, addr);
    CHECK_EQ_INT(reserve(w1, 0, 60, &t1), 1);
    CHECK(t1.resv.kind != 0 && t1.key == 0);
    CHECK_EQ_INT(reserve(w2, 0, 40, &t2), 1); /* exactly the cap, over both */
    CHECK_EQ_INT(reserve(w1, 0, 1, &t3), 0);  /* one wei more: refused on either */
    CHECK_EQ_INT(reserve(w2, 0, 1, &t3), 0);
    CHECK_EQ_INT(t3.resv.kind, 0);
    CHECK_EQ_INT(t3.key, -1);
    ks_window_release(w2, &t1); /* the HSM failed on the 60: given back, through the other one */
    CHECK_EQ_INT(reserve(w2, 0, 61, &t3), 0);
    CHECK_EQ_INT(reserve(w1, 0, 60, &t3), 1);
    ks_window_release(w1, &t1); /* a second release of the same reservation changes nothing */
    CHECK_EQ_INT(reserve(w1, 0, 1, &t0), 0);
    CHECK_EQ_INT(reserve(w1, 0, 0, &t0), 1); /* zero: no reservation, the store is not asked */
    CHECK_EQ_INT(t0.resv.kind, 0);
    CHECK_EQ_INT(reserve(w2, 1, 1000000, &t0), 1); /* no cap */
    CHECK_EQ_INT(t0.key, -1);
    /* another key (another address) has its own total */
    uint8_t other[20];
    memset(other, 0xa2, sizeof other);
    ks_window *w3 = window_on(c, s2, other);
    CHECK_EQ_INT(reserve(w3, 0, 100, &t0), 1);
    ks_window_free(w3);
    ks_window_free(w1);
    ks_window_free(w2);
}

typedef struct {
    ks_window *w;
    atomic_int *ok;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    ks_window_ticket t;
    for (int i = 0; i < 10; i++)
        if (reserve(r->w, 0, 1, &t) == 1)
            atomic_fetch_add(r->ok, 1);
    return NULL;
}

/* 2 key servers x 16 threads x 10 reservations of 1 wei over a 100 wei cap: exactly 100. */
static void test_race(const ks_config *c, st_store *s1, st_store *s2)
{
    uint8_t addr[20];
    atomic_int ok = 0;
    pthread_t th[32];
    racer r[32];
    memset(addr, 0xb1, sizeof addr);
    ks_window *w1 = window_on(c, s1, addr), *w2 = window_on(c, s2, addr);
    for (int i = 0; i < 32; i++) {
        r[i].w = i % 2 ? w2 : w1;
        r[i].ok = &ok;
        CHECK_EQ_INT(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 32; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(atomic_load(&ok), CAP);
    ks_window_free(w1);
    ks_window_free(w2);
}

/* The database stopped: -1 for a capped non-zero value (fail closed), others unaffected; back
 * with the same handles once it is started again. */
static void test_down(const ks_config *c, st_store *s1)
{
    uint8_t addr[20];
    ks_window_ticket t, held;
    memset(addr, 0xc1, sizeof addr);
    ks_window *w = window_on(c, s1, addr);
    CHECK_EQ_INT(reserve(w, 0, 10, &held), 1);
    pg("stop");
    double t0 = ak_test_now_s();
    CHECK_EQ_INT(reserve(w, 0, 1, &t), -1);
    CHECK(ak_test_now_s() - t0 < 10.0); /* the statement timeout is 1 s; generous bound */
    CHECK_EQ_INT(t.resv.kind, 0);
    CHECK_EQ_INT(t.key, -1);
    CHECK_EQ_INT(reserve(w, 0, 0, &t), 1); /* zero value */
    CHECK_EQ_INT(reserve(w, 1, 5, &t), 1); /* uncapped key */
    ks_window_release(w, &held);           /* cannot be given back: stays counted */
    pg("start");
    int back = -1;
    for (int i = 0; i < 50 && back < 0; i++)
        back = reserve(w, 0, 90, &t);
    CHECK_EQ_INT(back, 1); /* 10 held + 90 = the cap */
    CHECK_EQ_INT(reserve(w, 0, 1, &t), 0);
    ks_window_free(w);
}

int main(void)
{
    ks_config c;
    ks_key_cfg keys[2];
    make_config(&c, keys);
    st_store *s1 = open_store(1000), *s2 = open_store(1000);
    test_store_id();
    test_pair(&c, s1, s2);
    test_race(&c, s1, s2);
    test_down(&c, s1);
    st_close(s1);
    st_close(s2);
    ks_policy_free(keys[0].policy);
    return ak_test_report("test_ks_store_cap");
}
