/*
 * test_store_pg.h - the part of test_store.c that needs a real PostgreSQL (the database
 * stopped and frozen mid-run, lock waits, migrations, TLS and passwords) and the bench. Included
 * once by test_store.c (it shares ak_test.h's counters and the fixture).
 */
#include <sys/stat.h>

#include <libpq-fe.h>

static int within(double t0, double limit_s)
{
    return ak_test_now_s() - t0 <= limit_s;
}

/* A plain libpq session on database db over the test's socket. */
static PGconn *direct(const char *db)
{
    char url[512];
    snprintf(url, sizeof(url), "postgresql://anode@/%s%s", db, strchr(env("AK_PG_URL"), '?'));
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "direct connection: %s", PQerrorMessage(c));
        exit(2);
    }
    return c;
}

static int sql_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

/* Reserve 1 ETH of a 10 ETH window for account n; the error. */
static ak_err reserve_eth(st_store *st, unsigned n)
{
    uint8_t a[20];
    test_acct(a, n);
    st_spend_limit lim = {.window_s = 86400, .has_max_value = 1, .max_value = eth(10)};
    ak_u256 one = eth(1);
    st_resv r;
    return st_spend_reserve(st, &r, a, &one, &lim);
}

/* Retry until the store answers again (20 s): 1 if it did, with no reopen. */
static int comes_back(st_store *st, unsigned account, int *reserved)
{
    for (int i = 0; i < 200; i++) {
        ak_err rc = reserve_eth(st, account);
        if (rc == AK_OK) {
            (*reserved)++;
            return 1;
        }
        usleep(100000);
    }
    return 0;
}

/* The database stopped, then started again: clear errors within the timeout, nothing
 * reserved meanwhile, back by itself. */
static void test_stopped(st_store *shared)
{
    st_store *st = open_store(NULL, 500, &k_fake);
    char what[256];
    int reserved = 0;
    for (int i = 0; i < 3; i++)
        reserved += reserve_eth(st, 400) == AK_OK;
    CHECK_EQ_INT(reserved, 3);
    CHECK_EQ_INT(pg_ctl("stop"), 0);
    int unavailable = 0, fast = 1;
    for (int i = 0; i < 10; i++) {
        double t0 = ak_test_now_s();
        unavailable += reserve_eth(st, 400) == AK_ERR_UNAVAILABLE;
        fast &= within(t0, 0.5 + 2.0);
    }
    CHECK_EQ_INT(unavailable, 10);
    CHECK(fast);
    uint8_t a[20];
    uint64_t n;
    test_acct(a, 401);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_ERR_UNAVAILABLE);
    CHECK_EQ_INT(st_ready(st, what, sizeof(what)), AK_ERR_UNAVAILABLE);
    CHECK(strstr(what, "postgres anode on ") != NULL);
    printf("  ready while stopped: %s\n", what);
    CHECK_EQ_INT(pg_ctl("start"), 0);
    CHECK(comes_back(st, 400, &reserved));
    while (reserve_eth(st, 400) == AK_OK && reserved < 20)
        reserved++;
    CHECK_EQ_INT(reserved, 10); /* the failed attempts reserved nothing */
    CHECK_EQ_INT(st_ready(st, what, sizeof(what)), AK_OK);
    /* a handle whose pooled connections all died with the old server: its first call works */
    CHECK_EQ_INT(st_nonce_next(shared, &n, 1, a, 0), AK_OK);
    st_close(st);
}

#define CHURNERS 8

typedef struct {
    st_store *st;
    unsigned account;
    _Atomic int *phase; /* 0 before the stop, 1 stopped or restarting, 2 restarted */
    int ok, unavailable, other, slow, ok_after;
} churn_job;

/* Reserve in a loop through the stop and the restart, until a reservation passes after it. */
static void *churn_worker(void *arg)
{
    churn_job *j = arg;
    double end = ak_test_now_s() + 30;
    while (ak_test_now_s() < end) {
        int phase = atomic_load(j->phase);
        double t0 = ak_test_now_s();
        uint8_t a[20];
        test_acct(a, j->account);
        st_spend_limit lim = {.window_s = 86400, .max_count = 1000000};
        ak_u256 one = eth(1);
        st_resv r;
        ak_err rc = st_spend_reserve(j->st, &r, a, &one, &lim);
        j->slow += !within(t0, 0.5 + 2.0);
        j->ok += rc == AK_OK;
        j->unavailable += rc == AK_ERR_UNAVAILABLE;
        j->other += rc != AK_OK && rc != AK_ERR_UNAVAILABLE;
        if (rc == AK_OK && phase == 2) {
            j->ok_after = 1;
            break;
        }
        usleep(rc == AK_OK ? 2000 : 20000);
    }
    return NULL;
}

/* The database stopped and restarted under 8 threads reserving on one handle: every call is
 * answered in time, with a reservation or AK_ERR_UNAVAILABLE, and each thread gets through
 * again after the restart; the database holds at least every reservation a thread was told of
 * (more only if a commit's answer was lost with the connection). */
static void test_stopped_under_load(void)
{
    st_store *st = open_store(NULL, 500, &k_fake);
    _Atomic int phase = 0;
    churn_job jobs[CHURNERS];
    pthread_t t[CHURNERS];
    for (int i = 0; i < CHURNERS; i++) {
        jobs[i] = (churn_job){.st = st, .account = 450 + (unsigned)i, .phase = &phase};
        CHECK(pthread_create(&t[i], NULL, churn_worker, &jobs[i]) == 0);
    }
    usleep(300000);
    atomic_store(&phase, 1);
    CHECK_EQ_INT(pg_ctl("stop"), 0);
    usleep(1000000);
    CHECK_EQ_INT(pg_ctl("start"), 0);
    atomic_store(&phase, 2);
    int ok = 0, unavailable = 0, other = 0, slow = 0, after = 0;
    for (int i = 0; i < CHURNERS; i++) {
        pthread_join(t[i], NULL);
        ok += jobs[i].ok;
        unavailable += jobs[i].unavailable;
        other += jobs[i].other;
        slow += jobs[i].slow;
        after += jobs[i].ok_after;
    }
    printf("  stopped under load: %d reserved, %d unavailable\n", ok, unavailable);
    CHECK(unavailable > 0);
    CHECK_EQ_INT(other, 0);
    CHECK_EQ_INT(slow, 0);
    CHECK_EQ_INT(after, CHURNERS);
    PGconn *c = direct("anode");
    PGresult *r = PQexec(c, "SELECT count(*) FROM anode.spend WHERE window_s = 86400 AND "
                            "get_byte(account, 19) BETWEEN 194 AND 201 AND "
                            "get_byte(account, 18) = 1");
    long in_db = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    CHECK(in_db >= ok);
    if (in_db != ok)
        printf("  %ld reservations in the database, %d answered (lost answers)\n", in_db, ok);
    st_close(st);
}

/* The server frozen (SIGSTOP: it accepts but never answers): the client's own deadline. */
static void test_frozen(void)
{
    st_store *st = open_store(NULL, 500, &k_fake);
    int reserved = 0;
    CHECK_EQ_INT(reserve_eth(st, 410), AK_OK);
    CHECK_EQ_INT(pg_ctl("freeze"), 0);
    double t0 = ak_test_now_s();
    CHECK_EQ_INT(reserve_eth(st, 410), AK_ERR_UNAVAILABLE);
    CHECK(within(t0, 0.5 + 2.0));
    t0 = ak_test_now_s();
    CHECK_EQ_INT(st_ready(st, NULL, 0), AK_ERR_UNAVAILABLE);
    CHECK(within(t0, 0.5 + 2.0));
    CHECK_EQ_INT(pg_ctl("thaw"), 0);
    CHECK(comes_back(st, 410, &reserved));
    st_close(st);
}

static void *blocked_reserve(void *st)
{
    (void)reserve_eth(st, 420); /* waits on the lock, then fails: not what is checked here */
    return NULL;
}

/* Another session holds the (account, window) row lock: the server's lock_timeout ends the
 * wait within the statement timeout; once it lets go, reservations pass again. */
static void test_lock_wait(void)
{
    st_store *st = open_store(NULL, 500, &k_fake);
    CHECK_EQ_INT(reserve_eth(st, 420), AK_OK);
    PGconn *c = direct("anode");
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT 1 FROM anode.spend_lock WHERE account = '\\xa0%034d01a4'"
             " AND window_s = 86400 FOR UPDATE",
             0);
    CHECK(sql_ok(c, "BEGIN"));
    CHECK(sql_ok(c, sql));
    double t0 = ak_test_now_s();
    CHECK_EQ_INT(reserve_eth(st, 420), AK_ERR_UNAVAILABLE);
    CHECK(within(t0, 0.5 + 2.0));
    CHECK(sql_ok(c, "ROLLBACK"));
    CHECK_EQ_INT(reserve_eth(st, 420), AK_OK);

    /* a pool of one, its connection held by a call waiting on that lock: the next caller waits
     * for the pool at most until its own deadline (here the holder lets go first: its deadline
     * is the earlier one, so the wait is bounded by the holders' deadlines) */
    st_cfg cfg;
    st_store *one = NULL;
    char err[128];
    cfg_for(&cfg, NULL, 500);
    cfg.pool_size = 1;
    CHECK_EQ_INT(st_open(&one, &cfg, &k_fake, err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(reserve_eth(one, 420), AK_OK);
    CHECK(sql_ok(c, "BEGIN"));
    CHECK(sql_ok(c, sql));
    pthread_t holder;
    CHECK(pthread_create(&holder, NULL, blocked_reserve, one) == 0);
    usleep(100000);
    t0 = ak_test_now_s();
    ak_err rc = st_ready(one, err, sizeof(err));
    CHECK(rc == AK_OK || rc == AK_ERR_UNAVAILABLE);
    CHECK(within(t0, 0.5 + 2.0));
    pthread_join(holder, NULL);
    CHECK(sql_ok(c, "ROLLBACK"));
    CHECK_EQ_INT(st_ready(one, err, sizeof(err)), AK_OK);
    st_close(one);
    PQfinish(c);
    st_close(st);
}

typedef struct {
    st_cfg cfg;
    ak_err rc;
} mig_job;

static void *mig_worker(void *arg)
{
    mig_job *j = arg;
    char msg[256];
    j->rc = st_migrate(&j->cfg, msg, sizeof(msg));
    return NULL;
}

static void test_migrations(void)
{
    char url[512], msg[256];
    const char *base = env("AK_PG_URL");
    snprintf(url, sizeof(url), "postgresql://anode@/anode_mig%s", strchr(base, '?'));
    mig_job jobs[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        cfg_for(&jobs[i].cfg, url, 5000);
        CHECK(pthread_create(&t[i], NULL, mig_worker, &jobs[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += jobs[i].rc == AK_OK;
    }
    CHECK_EQ_INT(ok, 8); /* concurrent migrators: all succeed, one did the work */
    CHECK_EQ_INT(st_migrate(&jobs[0].cfg, msg, sizeof(msg)), AK_OK);
    CHECK(strstr(msg, "schema version 1 (was 1)") != NULL); /* idempotent */
    PGconn *c = direct("anode_mig");
    PGresult *r = PQexec(c, "SELECT count(*), max(version) FROM anode.schema_version");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0 &&
          strcmp(PQgetvalue(r, 0, 1), "1") == 0);
    PQclear(r);
    PQfinish(c);

    /* migrate: false on an empty database: operations refused until --migrate ran */
    st_cfg cfg;
    st_store *st = NULL;
    snprintf(url, sizeof(url), "postgresql://anode@/anode_nomig%s", strchr(base, '?'));
    cfg_for(&cfg, url, 2000);
    cfg.migrate = 0;
    CHECK_EQ_INT(st_open(&st, &cfg, &k_fake, msg, sizeof(msg)), AK_OK);
    uint8_t a[20];
    uint64_t n;
    test_acct(a, 430);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 0), AK_ERR_UNAVAILABLE);
    CHECK_EQ_INT(st_ready(st, msg, sizeof(msg)), AK_ERR_UNAVAILABLE);
    printf("  not migrated: %s\n", msg);
    CHECK_EQ_INT(st_migrate(&cfg, msg, sizeof(msg)), AK_OK);
    CHECK(strstr(msg, "(was 0)") != NULL);
    CHECK_EQ_INT(st_nonce_next(st, &n, 1, a, 3), AK_OK);
    CHECK_EQ_INT(n, 3);
    st_close(st);
}

/* A store over TCP with TLS: url on host, root_cert, password file. */
static st_store *tls_store(const char *host, const char *ca, const char *pwfile, int verify)
{
    char json[2048], err[256];
    snprintf(json, sizeof(json),
             "{\"backend\":\"postgres\",\"url\":\"postgresql://anode@%s:%s/anode\","
             "\"statement_timeout_ms\":2000,\"tls\":{\"mode\":\"%s\",\"root_cert\":\"%s\"}%s%s%s}",
             host, env("AK_PG_PORT"), verify ? "verify-full" : "verify-ca", ca,
             pwfile ? ",\"password_file\":\"" : "", pwfile ? pwfile : "", pwfile ? "\"" : "");
    st_cfg cfg;
    cJSON *o = cJSON_Parse(json);
    st_store *st = NULL;
    if (st_cfg_parse(&cfg, o, err, sizeof(err)) != AK_OK ||
        st_open(&st, &cfg, &k_fake, err, sizeof(err)) != AK_OK) {
        fprintf(stderr, "tls store: %s\n", err);
        exit(2);
    }
    cJSON_Delete(o);
    return st;
}

static void test_tls(void)
{
    char what[512], badpw[600];
    const char *ca = env("AK_PG_CA"), *badca = env("AK_PG_BADCA");
    const char *pw = env("AK_PG_PWFILE");
    st_store *st = tls_store("localhost", ca, pw, 1);
    CHECK_EQ_INT(st_ready(st, what, sizeof(what)), AK_OK);
    CHECK_EQ_INT(reserve_eth(st, 440), AK_OK);
    st_close(st);
    st = tls_store("127.0.0.1", ca, pw, 1); /* the certificate names the address too */
    CHECK_EQ_INT(st_ready(st, what, sizeof(what)), AK_OK);
    st_close(st);
    st = tls_store("localhost", badca, pw, 0); /* a server our CA did not sign */
    CHECK_EQ_INT(st_ready(st, what, sizeof(what)), AK_ERR_UNAVAILABLE);
    printf("  wrong CA: %s\n", what);
    st_close(st);
    snprintf(badpw, sizeof(badpw), "%s/badpw", g_dir);
    FILE *f = fopen(badpw, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("not-the-password\n", f);
        fclose(f);
    }
    CHECK(chmod(badpw, 0600) == 0);
    st = tls_store("localhost", ca, badpw, 1);
    CHECK_EQ_INT(st_ready(st, what, sizeof(what)), AK_ERR_UNAVAILABLE);
    CHECK(strstr(what, "not-the-password") == NULL);
    printf("  wrong password: %s\n", what);
    st_close(st);
    CHECK(chmod(badpw, 0644) == 0); /* a password file others can read is refused */
    st_cfg cfg;
    char err[256];
    st_store *none = NULL;
    CHECK_EQ_INT(st_cfg_parse(&cfg, NULL, err, sizeof(err)), AK_OK);
    cfg.backend = ST_POSTGRES;
    snprintf(cfg.url, sizeof(cfg.url), "postgresql://anode@/anode?host=/nonexistent");
    snprintf(cfg.password_file, sizeof(cfg.password_file), "%s", badpw);
    CHECK_EQ_INT(st_open(&none, &cfg, NULL, err, sizeof(err)), AK_ERR_CONFIG);
    CHECK(strstr(err, "chmod 600") != NULL);
}

static void pg_tests(st_store *shared)
{
    test_lock_wait();
    test_migrations();
    test_tls();
    test_frozen();
    test_stopped(shared);
    test_stopped_under_load();
}

/* ---- bench -------------------------------------------------------------------------------- */

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* p50 in microseconds of one nonce allocation + one spend reservation (system clock, a 1 s
 * window so the reservations stay few): two calls, or one st_tx_reserve (combined). */
static double bench_one(st_store *st, const char *label, int iters, int combined)
{
    static double t[2000];
    uint8_t a[20];
    test_acct(a, 500);
    st_spend_limit lim = {.window_s = 1, .has_max_value = 1, .max_value = eth(1000000)};
    ak_u256 one = eth(1);
    int errors = 0;
    for (int i = 0; i < iters; i++) {
        uint64_t n;
        st_resv r;
        double t0 = ak_test_now_s();
        if (combined) {
            errors += st_tx_reserve(st, &n, &r, 1, a, 0, &one, &lim) != AK_OK;
        } else {
            errors += st_nonce_next(st, &n, 1, a, 0) != AK_OK;
            errors += st_spend_reserve(st, &r, a, &one, &lim) != AK_OK;
        }
        t[i] = (ak_test_now_s() - t0) * 1e6;
    }
    CHECK_EQ_INT(errors, 0);
    qsort(t, (size_t)iters, sizeof(*t), cmp_d);
    printf("bench: %-28s nonce + reservation%s p50 %8.1f us  p99 %8.1f us  (%d runs)\n", label,
           combined ? " (1 call) " : " (2 calls)", t[iters / 2], t[iters * 99 / 100], iters);
    return t[iters / 2];
}

static void bench(st_store *unused)
{
    (void)unused;
    st_cfg cfg;
    char err[64];
    st_store *mem = NULL;
    CHECK_EQ_INT(st_cfg_parse(&cfg, NULL, err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(st_open(&mem, &cfg, NULL, err, sizeof(err)), AK_OK);
    double m = bench_one(mem, "memory", 2000, 0);
    st_close(mem);
    if (!g_pg)
        return;
    st_store *pg = open_store(NULL, 5000, NULL);
    double s2 = bench_one(pg, "postgres (unix socket)", 1000, 0);
    double s1 = bench_one(pg, "postgres (unix socket)", 1000, 1);
    st_close(pg);
    pg = tls_store("127.0.0.1", env("AK_PG_CA"), env("AK_PG_PWFILE"), 1);
    double t2 = bench_one(pg, "postgres (127.0.0.1, TLS)", 1000, 0);
    double t1 = bench_one(pg, "postgres (127.0.0.1, TLS)", 1000, 1);
    st_close(pg);
    printf("bench: added by the database at p50: unix socket %.1f us (2 calls) %.1f us (1 call); "
           "TCP+TLS %.1f us (2 calls) %.1f us (1 call)\n",
           s2 - m, s1 - m, t2 - m, t1 - m);
}
