/*
 * test_ks_gen.c - configuration generations (ks_gen): the restart-only settings refused by name,
 * the client lookup by CN and fingerprint, the cumulative-cap totals carried into the next
 * generation (same key id and window: kept; another window or a new key: empty), and the swap
 * waiting for a request in flight on the old generation before it hands the totals over.
 * Configurations are real files read by ks_config_load (no HSM: keys are not looked up here;
 * test_ks_reload.sh does that against SoftHSM).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_test.h"
#include "ks_gen.h"

static char dir[] = "/tmp/test_ks_gen.XXXXXX";

static int64_t fake_ns = 1700000000000LL * 1000000;
static int64_t fake_wall(void *ctx)
{
    (void)ctx;
    return fake_ns;
}
static const rt_clock FAKE = {fake_wall, fake_wall, NULL};

/* A configuration file with the given "keys", "listen.port" and more top-level members (extra:
 * "" or ",\"member\":..."); loaded. */
static ks_config *load_extra(const char *keys_json, unsigned port, const char *extra)
{
    char path[256], msg[KS_MSG_MAX];
    ks_config *c = NULL;
    snprintf(path, sizeof path, "%s/ks.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f,
            "{\"listen\":{\"address\":\"127.0.0.1\",\"port\":%u},"
            "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\",\"client_ca\":\"%s\"},"
            "\"pkcs11\":{\"module\":\"%s\",\"token_label\":\"t\",\"pin_file\":\"%s\"},"
            "\"keys\":%s,"
            "\"clients\":{\"cn:alice\":\"*\",\"sha256:%s\":[\"capped\"]},"
            "\"audit\":{\"file\":\"%s/audit.log\"}%s}",
            port, path, path, path, path, path, keys_json,
            "0101010101010101010101010101010101010101010101010101010101010101", dir, extra);
    fclose(f);
    if (ks_config_load(&c, path, msg, sizeof msg) != AK_OK) {
        fprintf(stderr, "config: %s\n", msg);
        abort();
    }
    return c;
}

static ks_config *load(const char *keys_json, unsigned port)
{
    return load_extra(keys_json, port, "");
}

#define CAPPED(w)                                                                                  \
    "{\"uri\":\"pkcs11:object=a\",\"policy\":{\"raw_digest\":false,\"cumulative_cap\":{"           \
    "\"value_wei\":\"100\",\"window_s\":" #w "}}}"

/* A generation without HSM handles (cfg taken over). */
static ks_gen *gen_of(ks_config *c)
{
    ks_gen *g = calloc(1, sizeof *g);
    CHECK(g != NULL);
    g->cfg = c;
    CHECK_EQ_INT(ks_window_open(&g->window, c, &FAKE), AK_OK);
    return g;
}

static int reserve(ks_window *w, long key, uint64_t v)
{
    ak_u256 x;
    ak_policy_verdict verdict;
    ks_window_ticket t;
    ak_u256_from_u64(&x, v);
    return ks_window_reserve(w, key, &x, &t, &verdict);
}

static uint64_t used(ks_window *w, long key)
{
    ak_u256 u;
    ks_window_used(w, key, &u);
    return u.w[0];
}

static void test_restart_only(void)
{
    char msg[KS_MSG_MAX] = "";
    ks_config *base = load("{\"capped\":" CAPPED(1000) "}", 8443);
    ks_gen *g = NULL;
    /* checked before any HSM call: no token needed to be refused */
    CHECK_EQ_INT(ks_gen_build(&g, load("{\"capped\":" CAPPED(1000) "}", 8444), NULL, base, NULL,
                              msg, sizeof msg),
                 AK_ERR_CONFIG);
    CHECK(g == NULL);
    CHECK_STR(msg, "listen.port changed: it needs a restart");
    /* the HA pair's shared store is opened once: adding, removing or changing it needs a
     * restart */
#define KS_PG_STATE(db)                                                                            \
    ",\"state\":{\"backend\":\"postgres\",\"url\":\"postgresql:///" db "?host=/tmp\"}"
    CHECK_EQ_INT(ks_gen_build(&g,
                              load_extra("{\"capped\":" CAPPED(1000) "}", 8443, KS_PG_STATE("a")),
                              NULL, base, NULL, msg, sizeof msg),
                 AK_ERR_CONFIG);
    CHECK_STR(msg, "state changed: it needs a restart");
    ks_config *with = load_extra("{\"capped\":" CAPPED(1000) "}", 8443, KS_PG_STATE("a"));
    CHECK(with->has_state && with->state.backend == ST_POSTGRES);
    CHECK_EQ_INT(ks_gen_build(&g,
                              load_extra("{\"capped\":" CAPPED(1000) "}", 8443, KS_PG_STATE("b")),
                              NULL, with, NULL, msg, sizeof msg),
                 AK_ERR_CONFIG);
    CHECK_STR(msg, "state.url changed: it needs a restart");
    CHECK_EQ_INT(ks_gen_build(&g, load("{\"capped\":" CAPPED(1000) "}", 8443), NULL, with, NULL,
                              msg, sizeof msg),
                 AK_ERR_CONFIG);
    CHECK_STR(msg, "state changed: it needs a restart");
    CHECK(g == NULL);
    ks_config_free(with);
    ks_config_free(base);
}

static void test_client_lookup(void)
{
    ks_config *c = load("{\"capped\":" CAPPED(1000) "}", 0);
    uint8_t fp[32];
    long cn = 0, byfp = 0;
    memset(fp, 1, sizeof fp);
    ks_gen_client(c, "alice", fp, &cn, &byfp);
    CHECK(cn >= 0 && byfp >= 0 && cn != byfp);
    CHECK_STR(c->clients[cn].cn, "alice");
    fp[31] = 2;
    ks_gen_client(c, "bob", fp, &cn, &byfp);
    CHECK(cn == -1 && byfp == -1);
    ks_gen_client(c, "", fp, &cn, &byfp); /* no CN names no client */
    CHECK(cn == -1);
    ks_config_free(c);
}

typedef struct {
    ks_gens *s;
    ks_gen *next;
    atomic_int done;
    int quiet;
} swap_job;

static void *swapper(void *arg)
{
    swap_job *j = arg;
    j->quiet = ks_gens_swap(j->s, j->next);
    atomic_store(&j->done, 1);
    return NULL;
}

static void test_swap_carries_caps(void)
{
    ks_gens *s = NULL;
    ks_gen *g1 = gen_of(load("{\"capped\":" CAPPED(1000) ",\"other\":" CAPPED(1000) "}", 0));
    CHECK_EQ_INT(ks_gens_new(&s, g1), AK_OK);
    ks_gen *in_flight = ks_gens_acquire(s);
    CHECK(in_flight == g1 && in_flight->number == 1);
    CHECK(reserve(g1->window, 0, 60)); /* capped: 60 of 100 */
    CHECK(reserve(g1->window, 1, 30)); /* other: 30 of 100 */
    /* next: "capped" moves to index 1, "other" gets another window, "new" appears */
    ks_gen *g2 = gen_of(load(
        "{\"new\":" CAPPED(1000) ",\"capped\":" CAPPED(1000) ",\"other\":" CAPPED(2000) "}", 0));
    swap_job j = {s, g2, 0, -1};
    pthread_t t;
    pthread_create(&t, NULL, swapper, &j);
    usleep(200000);
    CHECK(!atomic_load(&j.done));             /* waits for the request in flight on generation 1 */
    CHECK(reserve(in_flight->window, 0, 10)); /* which still decides on its own generation */
    ks_gens_release(s, in_flight);
    pthread_join(t, NULL);
    CHECK_EQ_INT(j.quiet, 1);
    ks_gen *g = ks_gens_acquire(s);
    CHECK(g == g2 && g->number == 2);
    CHECK_EQ_INT((int)used(g->window, 1), 70); /* 60 + the 10 reserved while the swap waited */
    CHECK(!reserve(g->window, 1, 31));         /* the cap holds across the reload */
    CHECK(reserve(g->window, 1, 30));
    CHECK_EQ_INT((int)used(g->window, 0), 0); /* a new key starts empty */
    CHECK_EQ_INT((int)used(g->window, 2), 0); /* another window length: starts empty */
    ks_gens_release(s, g);
    ks_gens_free(s);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    test_restart_only();
    test_client_lookup();
    test_swap_carries_caps();
    char path[256];
    snprintf(path, sizeof path, "%s/ks.json", dir);
    if (unlink(path) != 0 || rmdir(dir) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return ak_test_report("test_ks_gen");
}
