/*
 * test_store_op.h - the reservations in two halves (st_tx_reserve_begin / st_spend_reserve_begin
 * / st_reserve_end) on both backends, and on a real PostgreSQL: an end long after the deadline,
 * every pooled connection held by begun reservations, a begin not overtaking a caller that waits
 * for a connection, the server frozen or stopped between begin and end, and what a caller's
 * failure between the halves gives back (the database's rows).
 * Included once by test_store.c after test_store_pg.h (its fixture, direct() and comes_back()).
 */

/* begin + end of a tx reservation at once. */
static ak_err op_tx(st_store *st, uint64_t *n, st_resv *r, const uint8_t a[20], uint64_t pending,
                    const ak_u256 *v, const st_spend_limit *lim)
{
    st_op *op = NULL;
    ak_err rc = st_tx_reserve_begin(st, &op, 1, a, pending, v, lim);
    return rc == AK_OK ? st_reserve_end(op, n, r) : rc;
}

/* The same answers as the one-call forms (test_tx_rules), and the misuse refused. */
static void test_op_rules(st_store *st)
{
    uint8_t a[20];
    uint64_t n = 99;
    test_acct(a, 30);
    st_spend_limit lim = {.window_s = 3600, .has_max_value = 1, .max_value = eth(2)};
    st_spend_limit cnt = {.window_s = 60, .max_count = 1};
    ak_u256 one = eth(1), wei;
    ak_u256_from_u64(&wei, 1);
    st_resv r0, r1, r2;
    st_op *op = NULL, *op2 = NULL;
    CHECK_EQ_INT(op_tx(st, &n, &r0, a, 0, &one, &lim), AK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(r0.kind, 1);
    CHECK_EQ_INT(op_tx(st, &n, &r1, a, 0, &one, &lim), AK_OK);
    CHECK_EQ_INT(n, 1);
    n = 99;
    CHECK_EQ_INT(op_tx(st, &n, &r2, a, 0, &wei, &lim), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(r2.deny, ST_DENY_VALUE);
    CHECK_EQ_INT(n, 99);
    CHECK_EQ_INT(op_tx(st, &n, &r2, a, 0, &wei, NULL), AK_OK); /* the nonce alone */
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(r2.kind, 0);
    /* two in flight at once for one account: distinct consecutive nonces */
    uint64_t m = 0;
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 1, a, 0, NULL, NULL), AK_OK);
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op2, 1, a, 0, NULL, NULL), AK_OK);
    CHECK_EQ_INT(st_reserve_end(op2, &m, &r2), AK_OK);
    CHECK_EQ_INT(st_reserve_end(op, &n, &r2), AK_OK);
    CHECK(n != m && n >= 3 && m >= 3 && n <= 4 && m <= 4);
    /* the spend alone: the count cap, then its release gives the room back */
    test_acct(a, 31);
    CHECK_EQ_INT(st_spend_reserve_begin(st, &op, a, &one, &cnt), AK_OK);
    CHECK_EQ_INT(st_reserve_end(op, NULL, &r0), AK_OK);
    CHECK_EQ_INT(r0.kind, 1);
    CHECK_EQ_INT(st_spend_reserve_begin(st, &op, a, &one, &cnt), AK_OK);
    CHECK_EQ_INT(st_reserve_end(op, NULL, &r1), AK_ERR_FORBIDDEN);
    CHECK_EQ_INT(r1.deny, ST_DENY_COUNT);
    CHECK_EQ_INT(st_release(st, &r0), AK_OK);
    CHECK_EQ_INT(st_spend_reserve_begin(st, &op, a, &one, &cnt), AK_OK);
    CHECK_EQ_INT(st_reserve_end(op, NULL, &r1), AK_OK);
    /* misuse: no op made, nothing reserved */
    op = (st_op *)&r2;
    CHECK_EQ_INT(st_tx_reserve_begin(NULL, &op, 1, a, 0, NULL, NULL), AK_ERR_ARG);
    CHECK(op == NULL);
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 1, a, UINT64_MAX, NULL, NULL), AK_ERR_RANGE);
    CHECK(op == NULL);
    lim.window_s = 0;
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 1, a, 0, &one, &lim), AK_ERR_ARG);
    CHECK_EQ_INT(st_spend_reserve_begin(st, &op, a, &one, &lim), AK_ERR_ARG);
    CHECK_EQ_INT(st_spend_reserve_begin(st, &op, a, NULL, &cnt), AK_ERR_ARG);
    CHECK(op == NULL);
    CHECK_EQ_INT(st_reserve_end(NULL, &n, &r2), AK_ERR_ARG);
}

/* What the caller gives back when its work between begin and end failed (cn_nonce_state.c): the
 * nonce comes again, the window's room is back. */
static void test_op_give_back(st_store *st)
{
    uint8_t a[20];
    uint64_t n = 0, again = 0;
    int released = 0;
    test_acct(a, 32);
    st_spend_limit lim = {.window_s = 3600, .has_max_value = 1, .max_value = eth(1)};
    ak_u256 one = eth(1);
    st_resv r, r2;
    st_op *op = NULL;
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 1, a, 7, &one, &lim), AK_OK);
    /* ... the caller's work (fill) fails here ... */
    CHECK_EQ_INT(st_reserve_end(op, &n, &r), AK_OK);
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_INT(st_nonce_release(st, &released, 1, a, n), AK_OK);
    CHECK_EQ_INT(released, 1);
    CHECK_EQ_INT(st_release(st, &r), AK_OK);
    CHECK_EQ_INT(op_tx(st, &again, &r2, a, 7, &one, &lim), AK_OK); /* the whole 1 ETH fits */
    CHECK_EQ_INT(again, 7);
}

/* ---- postgres only ------------------------------------------------------------------------ */

/* One integer from the database (direct session), -1 on error. */
static long long sql_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* The give-back above, judged by the rows themselves. */
static void test_op_rows(void)
{
    st_store *st = open_store(NULL, 5000, &k_fake);
    PGconn *c = direct("anode");
    char q[256];
    uint8_t a[20];
    uint64_t n = 0;
    test_acct(a, 33);
    st_spend_limit lim = {.window_s = 777, .has_max_value = 1, .max_value = eth(5)};
    ak_u256 one = eth(1);
    st_resv r;
    st_op *op = NULL;
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 5, a, 3, &one, &lim), AK_OK);
    CHECK_EQ_INT(st_reserve_end(op, &n, &r), AK_OK);
    snprintf(q, sizeof(q), "SELECT count(*) FROM anode.spend WHERE id = %lld", (long long)r.id);
    CHECK_EQ_INT(sql_int(c, q), 1);
    const char *next = "SELECT next_nonce FROM anode.nonce WHERE chain_id = 5 AND account = "
                       "'\\xa000000000000000000000000000000000000021'::bytea";
    CHECK_EQ_INT(sql_int(c, next), 4);
    CHECK_EQ_INT(st_nonce_release(st, NULL, 5, a, n), AK_OK);
    CHECK_EQ_INT(st_release(st, &r), AK_OK);
    CHECK_EQ_INT(sql_int(c, q), 0);
    CHECK_EQ_INT(sql_int(c, next), 3);
    PQfinish(c);
    st_close(st);
}

/* An end long after the statement timeout still reads the result that arrived meanwhile. */
static void test_op_late_end(void)
{
    st_store *st = open_store(NULL, 300, &k_fake);
    uint8_t a[20];
    uint64_t n = 0;
    st_resv r;
    st_op *op = NULL;
    test_acct(a, 34);
    CHECK_EQ_INT(op_tx(st, &n, &r, a, 0, NULL, NULL), AK_OK); /* a live connection */
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 1, a, 0, NULL, NULL), AK_OK);
    usleep(700000);
    CHECK_EQ_INT(st_reserve_end(op, &n, &r), AK_OK);
    CHECK_EQ_INT(n, 1);
    st_close(st);
}

/* Every pooled connection held by a begun reservation: one more begins without a connection and
 * its end runs the statement once one is back. */
static void test_op_pool_full(void)
{
    st_store *st = open_store(NULL, 2000, &k_fake); /* pool_size 8 (cfg_for) */
    st_op *op[9];
    uint64_t n[9], seen = 0;
    uint8_t a[20];
    st_resv r;
    test_acct(a, 35);
    for (int i = 0; i < 9; i++)
        CHECK_EQ_INT(st_tx_reserve_begin(st, &op[i], 1, a, 0, NULL, NULL), AK_OK);
    for (int i = 0; i < 9; i++) {
        CHECK_EQ_INT(st_reserve_end(op[i], &n[i], &r), AK_OK);
        if (n[i] < 64)
            seen |= 1ull << n[i];
    }
    CHECK(seen == 0x1ffull); /* nonces 0..8, each once */
    st_close(st);
}

typedef struct {
    st_store *st;
    _Atomic int done;
    ak_err rc;
} waiter_job;

static void *waiter(void *arg)
{
    waiter_job *w = arg;
    uint8_t a[20];
    uint64_t n = 0;
    test_acct(a, 37);
    w->rc = st_nonce_next(w->st, &n, 1, a, 0);
    atomic_store(&w->done, 1);
    return NULL;
}

/* One pooled connection: a caller waits for it while a reservation holds it; when it is given
 * back, a reservation begun at that moment leaves it to the waiting caller (it would otherwise
 * hold it until its own end, which comes only after the waiter is done here). */
static void test_op_no_overtaking(void)
{
    st_cfg cfg;
    st_store *st = NULL;
    char err[256] = "";
    cfg_for(&cfg, NULL, 5000);
    cfg.pool_size = 1;
    CHECK_EQ_INT(st_open(&st, &cfg, &k_fake, err, sizeof(err)), AK_OK);
    uint8_t a[20];
    uint64_t n = 0;
    st_resv r;
    st_op *op1 = NULL, *op2 = NULL;
    test_acct(a, 37);
    CHECK_EQ_INT(op_tx(st, &n, &r, a, 0, NULL, NULL), AK_OK); /* a live connection */
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op1, 1, a, 0, NULL, NULL), AK_OK);
    waiter_job w = {.st = st};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, waiter, &w) == 0);
    usleep(200000); /* the waiter is waiting for the connection (if not yet: it takes it at once) */
    CHECK_EQ_INT(st_reserve_end(op1, &n, &r), AK_OK);
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op2, 1, a, 0, NULL, NULL), AK_OK);
    for (int i = 0; i < 500 && !atomic_load(&w.done); i++)
        usleep(10000);
    CHECK(atomic_load(&w.done)); /* done while op2 is begun, not after its end */
    CHECK_EQ_INT(st_reserve_end(op2, &n, &r), AK_OK);
    pthread_join(t, NULL);
    CHECK_EQ_INT(w.rc, AK_OK);
    st_close(st);
}

/* The server frozen, then stopped, between begin and end: the error (or the result that had
 * arrived) within the deadline, and the store back by itself. */
static void test_op_down(void)
{
    st_store *st = open_store(NULL, 500, &k_fake);
    uint8_t a[20];
    uint64_t n = 0;
    int reserved = 0;
    st_resv r;
    st_op *op = NULL;
    test_acct(a, 36);
    CHECK_EQ_INT(op_tx(st, &n, &r, a, 0, NULL, NULL), AK_OK);
    CHECK_EQ_INT(pg_ctl("freeze"), 0);
    double t0 = ak_test_now_s();
    ak_err rc = st_tx_reserve_begin(st, &op, 1, a, 0, NULL, NULL);
    if (rc == AK_OK)
        rc = st_reserve_end(op, &n, &r);
    CHECK_EQ_INT(rc, AK_ERR_UNAVAILABLE);
    CHECK(within(t0, 0.5 + 2.0));
    CHECK_EQ_INT(pg_ctl("thaw"), 0);
    CHECK(comes_back(st, 470, &reserved));
    CHECK_EQ_INT(st_tx_reserve_begin(st, &op, 1, a, 0, NULL, NULL), AK_OK);
    CHECK_EQ_INT(pg_ctl("stop"), 0);
    t0 = ak_test_now_s();
    rc = st_reserve_end(op, &n, &r); /* committed before the stop, or not answered */
    CHECK(rc == AK_OK || rc == AK_ERR_UNAVAILABLE);
    CHECK(within(t0, 0.5 + 2.0));
    CHECK_EQ_INT(op_tx(st, &n, &r, a, 0, NULL, NULL), AK_ERR_UNAVAILABLE);
    CHECK_EQ_INT(pg_ctl("start"), 0);
    CHECK(comes_back(st, 470, &reserved));
    CHECK_EQ_INT(op_tx(st, &n, &r, a, 0, NULL, NULL), AK_OK);
    st_close(st);
}

static void pg_op_tests(void)
{
    test_op_rows();
    test_op_late_end();
    test_op_pool_full();
    test_op_no_overtaking();
    test_op_down();
}
