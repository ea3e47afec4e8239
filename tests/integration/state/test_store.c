/*
 * test_store.c - st_store against one backend: `test_store memory` or
 * `test_store postgres` (run by test_store.sh, which starts a real PostgreSQL through
 * pg_lib.sh and passes it in AK_PG_* variables). The same semantic tests run on both; the
 * postgres run adds several handles as replicas, the database stopped and frozen mid-run,
 * migrations, TLS and passwords. Then both print p50 of one nonce allocation + one spend
 * reservation (the bench).
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ak_test.h"
#include "st_store.h"

/* ---- fixture ------------------------------------------------------------------------------ */

static _Atomic int64_t fake_wall_ms = 1760000000000; /* 2025-10-09 */

static int64_t fake_wall(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_wall_ms) * 1000000;
}

static int64_t real_mono(void *ctx)
{
    (void)ctx;
    return (int64_t)(ak_test_now_s() * 1e9);
}

static const rt_clock k_fake = {real_mono, fake_wall, NULL};

static int g_pg;          /* running against postgres */
static const char *g_dir; /* the server's directory (pg_lib.sh) */
static const char *g_lib; /* pg_lib.sh */

/* A variable test_store.sh sets (exits if it is missing). */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "test_store: %s not set: run through test_store.sh\n", name);
        exit(2);
    }
    return v;
}

static void cfg_for(st_cfg *cfg, const char *url, unsigned timeout_ms)
{
    char err[256];
    cJSON *o = cJSON_CreateObject();
    if (g_pg) {
        cJSON_AddStringToObject(o, "backend", "postgres");
        cJSON_AddStringToObject(o, "url", url ? url : env("AK_PG_URL"));
        cJSON_AddNumberToObject(o, "statement_timeout_ms", timeout_ms);
        cJSON_AddNumberToObject(o, "pool_size", 8);
    }
    ak_err rc = st_cfg_parse(cfg, o, err, sizeof(err));
    if (rc != AK_OK) {
        fprintf(stderr, "config: %s\n", err);
        exit(2);
    }
    cJSON_Delete(o);
}

static st_store *open_store(const char *url, unsigned timeout_ms, const rt_clock *clock)
{
    st_cfg cfg;
    st_store *st = NULL;
    char err[256] = "";
    cfg_for(&cfg, url, timeout_ms);
    if (st_open(&st, &cfg, clock, err, sizeof(err)) != AK_OK) {
        fprintf(stderr, "open: %s\n", err);
        exit(2);
    }
    return st;
}

static void test_acct(uint8_t a[20], unsigned n)
{
    memset(a, 0, 20);
    a[0] = 0xa0;
    a[18] = (uint8_t)(n >> 8);
    a[19] = (uint8_t)n;
}

static ak_u256 eth(uint64_t n)
{
    ak_u256 v, e, r;
    ak_u256_from_u64(&v, n);
    ak_u256_from_u64(&e, 1000000000000000000ull);
    if (ak_u256_mul(&r, &v, &e) != AK_OK)
        abort();
    return r;
}

/* pg_lib.sh WHAT DIR (stop, start, freeze, thaw the test's server): its exit status. */
static int pg_ctl(const char *what)
{
    char *const argv[] = {"bash", (char *)g_lib, (char *)what, (char *)g_dir, NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, "bash", NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#include "test_store_config.h"

/* ---- nonces ------------------------------------------------------------------------------- */

static void test_nonce_rules(st_store *st)
{
    uint8_t a[20];
    uint64_t n = 99;
    int rel = -1;
    test_acct(a, 1);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 5), AK_OK);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 5), AK_OK); /* node lags: ours wins */
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 9), AK_OK); /* node ahead: its wins */
    CHECK_EQ_INT(n, 9);
    CHECK_EQ_INT(st_nonce_next(st, &n, 2, a, 0), AK_OK); /* another chain: its own */
    CHECK_EQ_INT(n, 0);
    /* the node refused 10: given back, 10 comes again */
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 5), AK_OK);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(st_nonce_release(st, &rel, 1, a, 10), AK_OK);
    CHECK_EQ_INT(rel, 1);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 5), AK_OK);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 5), AK_OK);
    CHECK_EQ_INT(n, 11);
    /* 10 refused after 11 was given: a gap, not released ... */
    CHECK_EQ_INT(st_nonce_release(st, &rel, 1, a, 10), AK_OK);
    CHECK_EQ_INT(rel, 0);
    atomic_fetch_add(&fake_wall_ms, 1999);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 10), AK_OK); /* still inside the window */
    CHECK_EQ_INT(n, 12);
    /* ... until the trust window passes: then the node's count wins and 10 is re-used */
    atomic_fetch_add(&fake_wall_ms, 2000);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 10), AK_OK);
    CHECK_EQ_INT(n, 10);
    /* EIP-2681: 2^64 - 2 is the last nonce */
    test_acct(a, 2);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, UINT64_MAX - 1), AK_OK);
    CHECK(n == UINT64_MAX - 1);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_ERR_RANGE);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, UINT64_MAX), AK_ERR_RANGE);
    CHECK_EQ_INT(st_nonce_next(NULL, &n, 1, a, 0), AK_ERR_ARG);

    /* continuous traffic while the node's count is stuck behind a gap (0 allocated, never
     * sent): allocations every 500 ms do not keep the gap alive past the trust window */
    test_acct(a, 8);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_OK);
    CHECK_EQ_INT(n, 0);
    for (uint64_t want = 1; want <= 3; want++) {
        atomic_fetch_add(&fake_wall_ms, 500);
        CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_OK);
        CHECK_EQ_INT(n, want);
    }
    atomic_fetch_add(&fake_wall_ms, 500); /* 2000 ms with the node's count stuck at 0 */
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_OK);
    CHECK_EQ_INT(n, 0);
    atomic_fetch_add(&fake_wall_ms, 100); /* a new window: 0 is in flight again */
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 5), AK_OK); /* the node caught up */
    CHECK_EQ_INT(n, 5);

    /* continuous traffic with the node one behind, its count rising: ours keeps winning */
    test_acct(a, 9);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_OK);
    int all_ours = 1;
    for (uint64_t i = 1; i <= 10; i++) {
        atomic_fetch_add(&fake_wall_ms, 500);
        all_ours &= st_nonce_next(st, &n, 1, a, i - 1) == AK_OK && n == i;
    }
    CHECK(all_ours);
}

#define NTHREADS 32
#define PER      20

typedef struct {
    st_store *st;
    uint64_t chain;
    uint64_t got[PER];
    unsigned account;
    int errors;
} nonce_job;

static void *nonce_worker(void *arg)
{
    nonce_job *j = arg;
    uint8_t a[20];
    test_acct(a, j->account);
    for (int i = 0; i < PER; i++)
        if (st_nonce_next(j->st, &j->got[i], j->chain, a, 0) != AK_OK)
            j->errors++;
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* NTHREADS threads over the handles, PER allocations each: 0 .. NTHREADS*PER-1, each once. */
static void test_nonce_concurrent(st_store *const *h, int nh)
{
    pthread_t t[NTHREADS];
    static nonce_job jobs[NTHREADS];
    static uint64_t all[NTHREADS * PER];
    for (int i = 0; i < NTHREADS; i++) {
        jobs[i] = (nonce_job){.st = h[i % nh], .chain = 7, .account = 100 + (unsigned)nh};
        CHECK(pthread_create(&t[i], NULL, nonce_worker, &jobs[i]) == 0);
    }
    int errors = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        errors += jobs[i].errors;
        memcpy(all + i * PER, jobs[i].got, sizeof(jobs[i].got));
    }
    CHECK_EQ_INT(errors, 0);
    qsort(all, NTHREADS * PER, sizeof(*all), cmp_u64);
    int consecutive = 1;
    for (int i = 0; i < NTHREADS * PER; i++)
        consecutive &= all[i] == (uint64_t)i;
    CHECK(consecutive);
}

/* ---- spend -------------------------------------------------------------------------------- */

static void test_spend_rules(st_store *st)
{
    uint8_t a[20];
    test_acct(a, 3);
    st_spend_limit lim = {.window_s = 3600, .has_max_value = 1, .max_value = eth(3)};
    st_resv r1, r2, r3, r4;
    ak_u256 one = eth(1), two = eth(2), wei;
    ak_u256_from_u64(&wei, 1);
    CHECK_EQ_INT(st_spend_reserve(st, &r1, a, &one, &lim), AK_OK);
    CHECK_EQ_INT(r1.kind, 1);
    CHECK_EQ_INT(st_spend_reserve(st, &r2, a, &two, &lim), AK_OK);            /* exactly the cap */
    CHECK_EQ_INT(st_spend_reserve(st, &r3, a, &wei, &lim), AK_ERR_FORBIDDEN); /* +1 wei */
    CHECK_EQ_INT(r3.deny, ST_DENY_VALUE);
    CHECK_STR(st_deny_rule(r3.deny), "cumulative_over_cap");
    CHECK_EQ_INT(st_release(st, &r3), AK_OK); /* a refused one: nothing to do */
    CHECK_EQ_INT(st_release(st, &r2), AK_OK);
    CHECK_EQ_INT(st_release(st, &r2), AK_OK); /* twice: harmless */
    atomic_fetch_add(&fake_wall_ms, 4000);
    CHECK_EQ_INT(st_spend_reserve(st, &r3, a, &two, &lim), AK_OK);
    CHECK_EQ_INT(st_spend_reserve(st, &r4, a, &wei, &lim), AK_ERR_FORBIDDEN);
    /* rolling: r1 (at t0) leaves the window at t0 + 3600 s; r3 came 4 s later */
    atomic_fetch_add(&fake_wall_ms, 3600 * 1000 - 4000);
    CHECK_EQ_INT(st_spend_reserve(st, &r4, a, &wei, &lim), AK_OK);
    CHECK_EQ_INT(st_release(st, &r4), AK_OK);
    atomic_fetch_add(&fake_wall_ms, 4000 - 1);
    CHECK_EQ_INT(st_spend_reserve(st, &r4, a, &one, &lim), AK_OK);
    CHECK_EQ_INT(st_spend_reserve(st, &r4, a, &wei, &lim), AK_ERR_FORBIDDEN);
    /* another window of the same account counts apart */
    st_spend_limit day = {.window_s = 86400, .has_max_value = 1, .max_value = eth(1)};
    CHECK_EQ_INT(st_spend_reserve(st, &r4, a, &one, &day), AK_OK);
    /* a count cap, value uncapped; zero-value transactions count */
    ak_u256 zero = {{0, 0, 0, 0}};
    st_spend_limit cnt = {.window_s = 60, .max_count = 2};
    test_acct(a, 4);
    CHECK_EQ_INT(st_spend_reserve(st, &r1, a, &zero, &cnt), AK_OK);
    CHECK_EQ_INT(st_spend_reserve(st, &r2, a, &two, &cnt), AK_OK);
    CHECK_EQ_INT(st_spend_reserve(st, &r3, a, &zero, &cnt), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(r3.deny, ST_DENY_COUNT);
    /* the largest value is stored exactly */
    ak_u256 max = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};
    st_spend_limit big = {.window_s = 60, .has_max_value = 1, .max_value = max};
    test_acct(a, 5);
    CHECK_EQ_INT(st_spend_reserve(st, &r1, a, &max, &big), AK_OK);
    CHECK_EQ_INT(st_spend_reserve(st, &r2, a, &wei, &big), AK_ERR_FORBIDDEN);
    st_spend_limit bad = {.window_s = 0};
    CHECK_EQ_INT(st_spend_reserve(st, &r1, a, &wei, &bad), AK_ERR_ARG);
}

#define SPENDERS 64

typedef struct {
    st_store *st;
    unsigned account;
    int ok, denied, other;
} spend_job;

static void *spend_worker(void *arg)
{
    spend_job *j = arg;
    uint8_t a[20];
    test_acct(a, j->account);
    st_spend_limit lim = {.window_s = 86400, .has_max_value = 1, .max_value = eth(10)};
    ak_u256 one = eth(1);
    st_resv r;
    ak_err rc = st_spend_reserve(j->st, &r, a, &one, &lim);
    j->ok = rc == AK_OK;
    j->denied = rc == AK_ERR_FORBIDDEN && r.deny == ST_DENY_VALUE;
    j->other = !j->ok && !j->denied;
    return NULL;
}

/* 64 concurrent 1 ETH reservations against 10 ETH over the handles: exactly 10 pass. */
static void test_spend_concurrent(st_store *const *h, int nh)
{
    pthread_t t[SPENDERS];
    static spend_job jobs[SPENDERS];
    for (int i = 0; i < SPENDERS; i++) {
        jobs[i] = (spend_job){.st = h[i % nh], .account = 200 + (unsigned)nh};
        CHECK(pthread_create(&t[i], NULL, spend_worker, &jobs[i]) == 0);
    }
    int ok = 0, denied = 0, other = 0;
    for (int i = 0; i < SPENDERS; i++) {
        pthread_join(t[i], NULL);
        ok += jobs[i].ok;
        denied += jobs[i].denied;
        other += jobs[i].other;
    }
    CHECK_EQ_INT(ok, 10);
    CHECK_EQ_INT(denied, SPENDERS - 10);
    CHECK_EQ_INT(other, 0);
}

/* ---- paymaster ---------------------------------------------------------------------------- */

static void test_pm(st_store *st)
{
    uint8_t s1[20], s2[20];
    test_acct(s1, 6);
    test_acct(s2, 7);
    ak_u256 scap = eth(2), gcap = eth(3), one = eth(1), wei;
    ak_u256_from_u64(&wei, 1);
    st_resv r, r2;
    atomic_store(&fake_wall_ms, (int64_t)20300 * 86400000 + 1000); /* early in a UTC day */
    CHECK_EQ_INT(st_pm_reserve(st, &r, s1, &one, &scap, &gcap), AK_OK);
    CHECK_EQ_INT(r.kind, 2);
    CHECK_EQ_INT(st_pm_reserve(st, &r2, s1, &one, &scap, &gcap), AK_OK);
    CHECK_EQ_INT(st_pm_reserve(st, &r, s1, &wei, &scap, &gcap), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(r.deny, ST_DENY_SENDER);
    CHECK_EQ_INT(st_pm_reserve(st, &r, s2, &one, &scap, &gcap), AK_OK); /* global: 3 */
    CHECK_EQ_INT(st_pm_reserve(st, &r, s2, &wei, &scap, &gcap), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(r.deny, ST_DENY_GLOBAL);
    CHECK_STR(st_deny_rule(r.deny), "daily_cap_wei_global");
    CHECK_EQ_INT(st_release(st, &r2), AK_OK); /* s1's second: back to s1 and global */
    CHECK_EQ_INT(st_pm_reserve(st, &r, s2, &one, &scap, &gcap), AK_OK);
    CHECK_EQ_INT(st_pm_reserve(st, &r, s1, &wei, NULL, NULL), AK_OK); /* no caps */
    /* the next UTC day starts from zero */
    atomic_fetch_add(&fake_wall_ms, 86400000);
    CHECK_EQ_INT(st_pm_reserve(st, &r, s1, &scap, &scap, &gcap), AK_OK);
    CHECK_EQ_INT(st_release(st, &r2), AK_OK); /* yesterday's: changes nothing today */
    CHECK_EQ_INT(st_pm_reserve(st, &r, s1, &wei, &scap, &gcap), AK_ERR_FORBIDDEN);
}

/* st_pm_spent: the day's two totals, read without reserving (the paymaster's stub). */
static void test_pm_spent(st_store *st)
{
    uint8_t s1[20], s3[20];
    test_acct(s1, 6);
    test_acct(s3, 8);
    ak_u256 one = eth(1), two = eth(2), wei, got_s, got_g, want;
    ak_u256_from_u64(&wei, 1);
    st_resv r;
    atomic_store(&fake_wall_ms, (int64_t)20400 * 86400000 + 5000); /* a day of its own */
    CHECK_EQ_INT(st_pm_spent(st, &got_s, &got_g, s3), AK_OK);
    CHECK(ak_u256_is_zero(&got_s) && ak_u256_is_zero(&got_g));
    CHECK_EQ_INT(st_pm_reserve(st, &r, s3, &one, &two, NULL), AK_OK);
    CHECK_EQ_INT(st_pm_reserve(st, &r, s1, &wei, NULL, NULL), AK_OK);
    for (int i = 0; i < 3; i++) { /* reads reserve nothing */
        CHECK_EQ_INT(st_pm_spent(st, &got_s, &got_g, s3), AK_OK);
        CHECK(ak_u256_cmp(&got_s, &one) == 0);
        CHECK_EQ_INT(ak_u256_add(&want, &one, &wei), AK_OK);
        CHECK(ak_u256_cmp(&got_g, &want) == 0);
    }
    CHECK_EQ_INT(st_pm_reserve(st, &r, s3, &one, &two, NULL), AK_OK); /* exactly 2 */
    CHECK_EQ_INT(st_pm_spent(st, &got_s, &got_g, s3), AK_OK);
    CHECK(ak_u256_cmp(&got_s, &two) == 0);
    atomic_fetch_add(&fake_wall_ms, 86400000); /* the next UTC day: zero */
    CHECK_EQ_INT(st_pm_spent(st, &got_s, &got_g, s3), AK_OK);
    CHECK(ak_u256_is_zero(&got_s) && ak_u256_is_zero(&got_g));
    CHECK_EQ_INT(st_pm_spent(NULL, &got_s, &got_g, s3), AK_ERR_ARG);
}

/* Spend and nonce in one call: both or neither. */
static void test_tx_rules(st_store *st)
{
    uint8_t a[20];
    uint64_t n = 99;
    test_acct(a, 10);
    st_spend_limit lim = {.window_s = 3600, .has_max_value = 1, .max_value = eth(2)};
    ak_u256 one = eth(1), wei;
    ak_u256_from_u64(&wei, 1);
    st_resv r0, r1, r2;
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r0, 1, a, 0, &one, &lim), AK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(r0.kind, 1);
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r1, 1, a, 0, &one, &lim), AK_OK);
    CHECK_EQ_INT(n, 1);
    n = 99;
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r2, 1, a, 0, &wei, &lim), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(r2.deny, ST_DENY_VALUE);
    CHECK_EQ_INT(n, 99);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_OK); /* the refusal took no nonce */
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r2, 1, a, 0, &wei, NULL), AK_OK); /* no limit */
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(r2.kind, 0);
    CHECK_EQ_INT(st_release(st, &r0), AK_OK);
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r2, 1, a, 0, &one, &lim), AK_OK);
    CHECK_EQ_INT(n, 4);
    /* the nonce fails (EIP-2681): the reservation made in the same call is undone */
    test_acct(a, 11);
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r0, 1, a, UINT64_MAX - 1, &one, &lim), AK_OK);
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r1, 1, a, 0, &one, &lim), AK_ERR_RANGE);
    CHECK_EQ_INT(st_spend_reserve(st, &r1, a, &one, &lim), AK_OK);
    CHECK_EQ_INT(st_spend_reserve(st, &r1, a, &wei, &lim), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(st_tx_reserve(st, &n, &r1, 1, a, 0, &one, NULL), AK_ERR_RANGE);
    CHECK_EQ_INT(st_tx_reserve(NULL, &n, &r1, 1, a, 0, &one, NULL), AK_ERR_ARG);
}

typedef struct {
    st_store *st;
    int ok, denied, other;
    uint64_t nonce;
} tx_job;

static void *tx_worker(void *arg)
{
    tx_job *j = arg;
    uint8_t a[20];
    test_acct(a, 12);
    st_spend_limit lim = {.window_s = 86400, .has_max_value = 1, .max_value = eth(10)};
    ak_u256 one = eth(1);
    st_resv r;
    ak_err rc = st_tx_reserve(j->st, &j->nonce, &r, 77, a, 0, &one, &lim);
    j->ok = rc == AK_OK;
    j->denied = rc == AK_ERR_FORBIDDEN && r.deny == ST_DENY_VALUE;
    j->other = !j->ok && !j->denied;
    return NULL;
}

/* 64 concurrent 1 ETH sends against 10 ETH over the handles, in one call each: exactly 10
 * pass, and they hold the nonces 0..9. */
static void test_tx_concurrent(st_store *const *h, int nh)
{
    pthread_t t[SPENDERS];
    static tx_job jobs[SPENDERS];
    for (int i = 0; i < SPENDERS; i++) {
        jobs[i] = (tx_job){.st = h[i % nh]};
        CHECK(pthread_create(&t[i], NULL, tx_worker, &jobs[i]) == 0);
    }
    int ok = 0, denied = 0, other = 0;
    uint64_t seen = 0; /* bit i: nonce i handed out */
    for (int i = 0; i < SPENDERS; i++) {
        pthread_join(t[i], NULL);
        ok += jobs[i].ok;
        denied += jobs[i].denied;
        other += jobs[i].other;
        if (jobs[i].ok && jobs[i].nonce < 64)
            seen |= 1ull << jobs[i].nonce;
    }
    CHECK_EQ_INT(ok, 10);
    CHECK_EQ_INT(denied, SPENDERS - 10);
    CHECK_EQ_INT(other, 0);
    CHECK(seen == 0x3ffull);
}

typedef struct {
    st_store *st;
    unsigned sender;
    int global; /* 1: the global cap is the binding one */
    int ok, denied, other;
} pm_job;

static void *pm_worker(void *arg)
{
    pm_job *j = arg;
    uint8_t a[20];
    test_acct(a, j->sender);
    ak_u256 one = eth(1), scap = eth(5), gcap = eth(10);
    st_resv r;
    ak_err rc = j->global ? st_pm_reserve(j->st, &r, a, &one, NULL, &gcap)
                          : st_pm_reserve(j->st, &r, a, &one, &scap, NULL);
    st_deny want = j->global ? ST_DENY_GLOBAL : ST_DENY_SENDER;
    j->ok = rc == AK_OK;
    j->denied = rc == AK_ERR_FORBIDDEN && r.deny == want;
    j->other = !j->ok && !j->denied;
    return NULL;
}

/* 64 concurrent 1 ETH sponsorships over the handles: 64 senders against a 10 ETH global cap
 * -> exactly 10; one sender against its 5 ETH cap -> exactly 5. */
static void test_pm_concurrent(st_store *const *h, int nh)
{
    for (int global = 0; global <= 1; global++) {
        pthread_t t[SPENDERS];
        static pm_job jobs[SPENDERS];
        atomic_fetch_add(&fake_wall_ms, 86400000); /* a new UTC day: the global row is fresh */
        for (int i = 0; i < SPENDERS; i++) {
            unsigned sender = global ? 600 + (unsigned)i : 700 + (unsigned)nh;
            jobs[i] = (pm_job){.st = h[i % nh], .sender = sender, .global = global};
            CHECK(pthread_create(&t[i], NULL, pm_worker, &jobs[i]) == 0);
        }
        int ok = 0, denied = 0, other = 0;
        for (int i = 0; i < SPENDERS; i++) {
            pthread_join(t[i], NULL);
            ok += jobs[i].ok;
            denied += jobs[i].denied;
            other += jobs[i].other;
        }
        CHECK_EQ_INT(ok, global ? 10 : 5);
        CHECK_EQ_INT(denied, SPENDERS - (global ? 10 : 5));
        CHECK_EQ_INT(other, 0);
    }
}

static void test_memory_bound(void)
{
    st_cfg cfg;
    char err[128];
    cJSON *o = cJSON_Parse("{\"backend\":\"memory\",\"max_entries\":4}");
    CHECK_EQ_INT(st_cfg_parse(&cfg, o, err, sizeof(err)), AK_OK);
    cJSON_Delete(o);
    st_store *st = NULL;
    CHECK_EQ_INT(st_open(&st, &cfg, &k_fake, err, sizeof(err)), AK_OK);
    uint8_t a[20];
    uint64_t n;
    int limited = 0;
    for (unsigned i = 0; i < 8; i++) {
        test_acct(a, 300 + i);
        ak_err rc = st_nonce_next(st, &n, 1, a, 0);
        limited += rc == AK_ERR_LIMIT;
    }
    CHECK_EQ_INT(limited, 4);
    st_close(st);
}

#include "test_store_pg.h"
#include "test_store_op.h"

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "memory") != 0 && strcmp(argv[1], "postgres") != 0)) {
        fprintf(stderr, "usage: test_store memory|postgres\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_pg = strcmp(argv[1], "postgres") == 0;
    g_dir = getenv("AK_PG_DIR");
    g_lib = getenv("AK_PG_LIB");
    if (g_pg && (g_dir == NULL || g_lib == NULL || getenv("AK_PG_URL") == NULL)) {
        fprintf(stderr, "test_store postgres: run through test_store.sh\n");
        return 2;
    }
    if (!g_pg) {
        test_config();
        test_memory_bound();
    }
    st_store *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = g_pg ? open_store(NULL, 5000, &k_fake) : NULL;
    if (!g_pg)
        h[0] = h[1] = h[2] = open_store(NULL, 0, &k_fake); /* one process, one store */
    test_nonce_rules(h[0]);
    test_spend_rules(h[0]);
    test_pm(h[0]);
    test_pm_spent(h[0]);
    test_nonce_concurrent(h, 1);
    if (!g_pg)
        test_tx_concurrent(h, 1);
    test_spend_concurrent(h, 1);
    test_pm_concurrent(h, 1);
    test_tx_rules(h[0]);
    test_op_rules(h[0]);
    test_op_give_back(h[0]);
    if (g_pg) { /* three handles = three replicas on one database */
        test_tx_concurrent(h, 3);
        test_nonce_concurrent(h, 3);
        test_spend_concurrent(h, 3);
        test_pm_concurrent(h, 3);
        pg_tests(h[0]);
        pg_op_tests();
    }
    bench(h[0]);
    for (int i = 0; i < (g_pg ? 3 : 1); i++)
        st_close(h[i]);
    return ak_test_report(g_pg ? "test_store postgres" : "test_store memory");
}
