/*
 * st_pool.c - the libpq mechanics of the postgres backend: a bounded pool of connections,
 * one deadline per operation, the schema check or migration on a connection's first use, the
 * prepared statements of st_schema.c.
 *
 * Everything runs on libpq's non-blocking API (PQconnectStartParams/PQconnectPoll,
 * PQsendQueryPrepared, poll()), so a dead or unreachable server costs at most
 * statement_timeout_ms: the connection is then dropped (the server's own statement_timeout
 * ends the statement there) and the next call reconnects. A call on a reused connection that
 * finds it broken (the server restarted meanwhile) reconnects and retries once within its
 * deadline. Host names are resolved by libpq before the deadline applies (use an address or a
 * local resolver).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_impl.h"

int64_t st_pool_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A whole decimal integer (as PostgreSQL prints one) into *out. */
ak_err st_pool_i64(int64_t *out, const char *s)
{
    char *end = NULL;
    if (s == NULL || s[0] == '\0')
        return AK_ERR_INTERNAL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return AK_ERR_INTERNAL;
    *out = (int64_t)v;
    return AK_OK;
}

void st_pool_err(st_pg *p, const char *what, const char *detail)
{
    char buf[ST_ERR_MAX];
    snprintf(buf, sizeof(buf), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    size_t n = strlen(buf); /* libpq's messages end with a newline */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    pthread_mutex_lock(&p->lock);
    memcpy(p->last_err, buf, n + 1);
    pthread_mutex_unlock(&p->lock);
}

/* ---- pool --------------------------------------------------------------------------------- */

/* A free slot (one with a live connection first) within the deadline; deadline 0: only one free
 * now and wanted by no caller already waiting, and only while reservations begun without waiting
 * hold less than half the pool (AK_ERR_BUSY otherwise, not recorded as a failure): a reservation
 * begun without waiting never overtakes one that waits, and those held across the node's fee
 * calls (bounded by the node's timeout, not the statement's) leave the other half to one-shot
 * statements: releases, /ready, the paymaster. */
static ak_err acquire(st_pg *p, int64_t deadline, st_slot **out)
{
    ak_err rc = AK_OK;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        st_slot *best = NULL;
        for (unsigned i = 0; i < p->cfg.pool_size; i++) {
            if (!p->slots[i].busy && (best == NULL || (best->conn == NULL && p->slots[i].conn)))
                best = &p->slots[i]; /* prefer a slot with a live connection */
        }
        int may_overlap = p->waiters == 0 && p->overlapped < p->cfg.pool_size / 2;
        if (best != NULL && (deadline != 0 || may_overlap)) {
            best->busy = 1;
            best->overlap = deadline == 0;
            p->overlapped += deadline == 0;
            *out = best;
            break;
        }
        if (deadline == 0) {
            rc = AK_ERR_BUSY;
            break;
        }
        int64_t left = deadline - st_pool_mono_ms();
        if (left <= 0) {
            rc = AK_ERR_UNAVAILABLE;
            snprintf(p->last_err, sizeof(p->last_err), "no free connection in the pool");
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        p->waiters++;
        pthread_cond_timedwait(&p->freed, &p->lock, &ts);
        p->waiters--;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void give_back(st_pg *p, st_slot *s, int broken)
{
    if (broken && s->conn != NULL) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    pthread_mutex_lock(&p->lock);
    s->busy = 0;
    p->overlapped -= s->overlap != 0;
    s->overlap = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* ---- one connection ----------------------------------------------------------------------- */

/* Wait until fd is ready for ev or the deadline passes: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
    if (fd < 0)
        return -1;
    for (;;) {
        int64_t left = deadline - st_pool_mono_ms();
        if (left < 0) /* past the deadline: what has already arrived still counts */
            left = 0;
        struct pollfd pfd = {fd, ev, 0};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static ak_err connect_conn(st_pg *p, PGconn **out, int64_t deadline)
{
    static const char *const modes[] = {"disable", "disable", "require", "verify-ca",
                                        "verify-full"};
    const char *kw[16], *val[16];
    size_t n = 0;
#define KV(k, v) (kw[n] = (k), val[n] = (v), n++)
    KV("dbname", p->cfg.url);
    KV("sslmode", modes[p->cfg.tls_mode]);
    if (p->cfg.root_cert[0])
        KV("sslrootcert", p->cfg.root_cert);
    if (p->cfg.cert[0]) {
        KV("sslcert", p->cfg.cert);
        KV("sslkey", p->cfg.key);
    }
    if (p->password != NULL)
        KV("password", p->password);
    KV("options", p->options);
    KV("fallback_application_name", "anode-connector");
    KV("keepalives", "1");
    KV("gssencmode", "disable");
    kw[n] = NULL;
    val[n] = NULL;
#undef KV
    ak_err rc = AK_ERR_UNAVAILABLE;
    PGconn *c = PQconnectStartParams(kw, val, 1);
    if (c == NULL)
        return AK_ERR_NOMEM;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED)
            break;
        int r = wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (r <= 0) {
            st_pool_err(p, "connect", r == 0 ? "timed out" : "poll failed");
            goto out;
        }
        st = PQconnectPoll(c);
    }
    if (st != PGRES_POLLING_OK || PQstatus(c) != CONNECTION_OK) {
        st_pool_err(p, "connect", PQerrorMessage(c));
        goto out;
    }
    PQsetNoticeProcessor(c, quiet, NULL); /* "already exists, skipping" and the like */
    if (PQsetnonblocking(c, 1) != 0) {
        st_pool_err(p, "connect", PQerrorMessage(c));
        goto out;
    }
    *out = c;
    c = NULL;
    rc = AK_OK;
out:
    PQfinish(c);
    return rc;
}

/* Map a failed result to an error (and whether the connection must go). */
static ak_err result_err(st_pg *p, PGconn *c, const PGresult *r, int *broken)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    st_pool_err(p, "statement", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    if (PQstatus(c) != CONNECTION_OK || state == NULL)
        *broken = 1;
    if (state != NULL && (strcmp(state, "23514") == 0 || strcmp(state, "22003") == 0))
        return AK_ERR_RANGE; /* a CHECK (nonce limit) or numeric overflow */
    if (state != NULL && strncmp(state, "42", 2) == 0) {
        pthread_mutex_lock(&p->lock);
        p->schema_ok = 0; /* the schema changed under us: check it again */
        pthread_mutex_unlock(&p->lock);
        *broken = 1;
    }
    return AK_ERR_UNAVAILABLE; /* timeouts, lock waits, shutdowns, lost connections, ... */
}

/* Wait for the last result of what was sent on c. *res: that result if it is TUPLES_OK or
 * COMMAND_OK (caller PQclear()s). */
static ak_err wait_last(st_pg *p, PGconn *c, int64_t deadline, PGresult **res, int *broken)
{
    PGresult *last = NULL;
    ak_err rc = AK_ERR_UNAVAILABLE;
    *res = NULL;
    for (;;) {
        int f;
        while ((f = PQflush(c)) != 0 || PQisBusy(c)) {
            if (f < 0) {
                *broken = 1;
                st_pool_err(p, "send", PQerrorMessage(c));
                goto out;
            }
            int w = wait_fd(PQsocket(c), (short)(POLLIN | (f == 1 ? POLLOUT : 0)), deadline);
            if (w <= 0 || !PQconsumeInput(c)) {
                *broken = 1;
                st_pool_err(p, "statement", w == 0 ? "timed out" : PQerrorMessage(c));
                goto out;
            }
        }
        PGresult *r = PQgetResult(c);
        if (r == NULL)
            break;
        PQclear(last);
        last = r;
    }
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        rc = result_err(p, c, last, broken);
        goto out;
    }
    *res = last;
    last = NULL;
    rc = AK_OK;
out:
    PQclear(last);
    return rc;
}

/* Send a prepared statement (name) or plain sql with text params and wait for its result. */
static ak_err exec(st_pg *p, PGconn *c, int64_t deadline, const char *name, const char *sql,
                   int nparams, const char *const *vals, PGresult **res, int *broken)
{
    *res = NULL;
    int ok = name != NULL ? PQsendQueryPrepared(c, name, nparams, vals, NULL, NULL, 0)
                          : PQsendQueryParams(c, sql, nparams, NULL, vals, NULL, NULL, 0);
    if (!ok) {
        *broken = 1;
        st_pool_err(p, "send", PQerrorMessage(c));
        return AK_ERR_UNAVAILABLE;
    }
    return wait_last(p, c, deadline, res, broken);
}

/* A statement whose result does not matter. */
static ak_err exec_plain(st_pg *p, PGconn *c, int64_t deadline, const char *sql, int *broken)
{
    PGresult *r = NULL;
    ak_err rc = exec(p, c, deadline, NULL, sql, 0, NULL, &r, broken);
    PQclear(r);
    return rc;
}

/* The schema's version on c (0: no schema yet). */
static ak_err read_version(st_pg *p, PGconn *c, int64_t deadline, int *version, int *broken)
{
    PGresult *r = NULL;
    ak_err rc =
        exec(p, c, deadline, NULL, "SELECT coalesce(max(version), 0) FROM anode.schema_version", 0,
             NULL, &r, broken);
    int64_t v = 0;
    if (rc == AK_OK && (PQntuples(r) != 1 || st_pool_i64(&v, PQgetvalue(r, 0, 0)) != AK_OK ||
                        v < 0 || v > INT32_MAX))
        rc = AK_ERR_INTERNAL;
    *version = (int)v;
    PQclear(r);
    return rc;
}

/* Create or migrate the schema in one transaction, behind the advisory lock every migrator
 * takes, so concurrent migrators run one after the other and the later ones find nothing to do.
 */
static ak_err migrate(st_pg *p, PGconn *c, int64_t deadline, int *from, int *broken)
{
    const st_migration *steps = NULL;
    int latest = (int)st_schema_steps(&steps), v = 0;
    char ins[96];
    ak_err rc = exec_plain(p, c, deadline, "BEGIN", broken);
    if (rc != AK_OK)
        return rc;
    if ((rc = exec_plain(p, c, deadline, "SELECT pg_advisory_xact_lock(" ST_MIGRATE_LOCK ")",
                         broken)) != AK_OK ||
        (rc = exec_plain(p, c, deadline, "CREATE SCHEMA IF NOT EXISTS anode", broken)) != AK_OK ||
        (rc = exec_plain(p, c, deadline,
                         "CREATE TABLE IF NOT EXISTS anode.schema_version (version integer "
                         "PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                         broken)) != AK_OK ||
        (rc = read_version(p, c, deadline, &v, broken)) != AK_OK)
        goto out;
    *from = v;
    if (v > latest) {
        snprintf(ins, sizeof(ins), "%d", v);
        st_pool_err(p, "schema version is newer than this connector's", ins);
        rc = AK_ERR_UNAVAILABLE;
        goto out;
    }
    for (; v < latest; v++) {
        for (const char *const *s = steps[v].sql; *s != NULL; s++)
            if ((rc = exec_plain(p, c, deadline, *s, broken)) != AK_OK)
                goto out;
        snprintf(ins, sizeof(ins), "INSERT INTO anode.schema_version (version) VALUES (%d)", v + 1);
        if ((rc = exec_plain(p, c, deadline, ins, broken)) != AK_OK)
            goto out;
    }
    rc = exec_plain(p, c, deadline, "COMMIT", broken);
out:
    if (rc != AK_OK && !*broken && exec_plain(p, c, deadline, "ROLLBACK", broken) != AK_OK)
        *broken = 1;
    return rc;
}

/* A new connection: the schema (migrated, or checked) once per store, the statements. */
static ak_err setup(st_pg *p, st_slot *s, int64_t deadline, int *broken)
{
    s->prepared = 0;
    ak_err rc = connect_conn(p, &s->conn, deadline);
    if (rc != AK_OK)
        return rc;
    pthread_mutex_lock(&p->lock);
    int known = p->schema_ok;
    pthread_mutex_unlock(&p->lock);
    int v = 0, from = 0, latest = st_schema_version();
    if (!known) {
        /* one round trip when the schema is there; the locked migration only when it is not */
        rc = read_version(p, s->conn, deadline, &v, broken);
        if (PQstatus(s->conn) != CONNECTION_OK)
            rc = AK_ERR_UNAVAILABLE;
        else if ((rc != AK_OK || v < latest) && p->cfg.migrate)
            rc = migrate(p, s->conn, deadline, &from, broken);
        else if (rc != AK_OK || v != latest) {
            st_pool_err(p,
                        v > latest ? "schema newer than this connector's"
                                   : "schema missing or not at this connector's version "
                                     "(migrate is off): run anode-connector --migrate",
                        NULL);
            rc = AK_ERR_UNAVAILABLE;
        }
    }
    if (rc != AK_OK) {
        *broken = 1;
        return rc;
    }
    pthread_mutex_lock(&p->lock);
    p->schema_ok = 1;
    pthread_mutex_unlock(&p->lock);
    return AK_OK;
}

/* Prepare st on s's connection the first time it is used there (named "cn_st_<st>"). */
static ak_err prepare(st_pg *p, st_slot *s, int64_t deadline, st_stmt st, const char *name,
                      int *broken)
{
    if (s->prepared & (1u << st))
        return AK_OK;
    const st_stmt_def *d = st_schema_stmt(st);
    if (!PQsendPrepare(s->conn, name, d->sql, d->nparams, NULL)) {
        *broken = 1;
        st_pool_err(p, "prepare", PQerrorMessage(s->conn));
        return AK_ERR_UNAVAILABLE;
    }
    PGresult *r = NULL;
    ak_err rc = wait_last(p, s->conn, deadline, &r, broken);
    PQclear(r);
    if (rc == AK_OK)
        s->prepared |= 1u << st;
    return rc;
}

/* One attempt at sending c's statement: a slot (waiting for one only if c->wait_slot), its
 * connection set up, the statement prepared there, then sent without waiting for the result.
 * AK_OK: c->s is held until st_pool_recv. AK_ERR_BUSY: no free slot and c->wait_slot is 0. */
static ak_err send_once(st_pg *p, st_call *c, int *broken)
{
    const st_stmt_def *d = st_schema_stmt(c->st);
    char name[16];
    snprintf(name, sizeof(name), "cn_st_%d", (int)c->st);
    st_slot *s = NULL;
    ak_err rc = acquire(p, c->wait_slot ? c->deadline : 0, &s);
    if (rc != AK_OK)
        return rc;
    c->reused = 0;
    if (c->attempt > 0 && s->conn != NULL) {
        /* the server went away under the last one: its pool mates are suspect too */
        PQfinish(s->conn);
        s->conn = NULL;
    }
    if (s->conn == NULL)
        rc = setup(p, s, c->deadline, broken);
    else
        c->reused = 1;
    if (rc == AK_OK)
        rc = prepare(p, s, c->deadline, c->st, name, broken);
    if (rc == AK_OK && !PQsendQueryPrepared(s->conn, name, d->nparams, c->vals, NULL, NULL, 0)) {
        *broken = 1;
        st_pool_err(p, "send", PQerrorMessage(s->conn));
        rc = AK_ERR_UNAVAILABLE;
    }
    if (rc == AK_OK && PQflush(s->conn) < 0) {
        *broken = 1;
        st_pool_err(p, "send", PQerrorMessage(s->conn));
        rc = AK_ERR_UNAVAILABLE;
    }
    if (rc != AK_OK)
        give_back(p, s, *broken);
    else
        c->s = s;
    return rc;
}

/* A failure worth the one retry: a reused connection found broken, time left. */
static int retry(const st_call *c, ak_err rc, int broken)
{
    return rc != AK_OK && rc != AK_ERR_BUSY && broken && c->reused && c->attempt == 0 &&
           st_pool_mono_ms() < c->deadline;
}

ak_err st_pool_send(st_pg *p, st_call *c, st_stmt st, const char *const *vals, int wait_slot)
{
    *c = (st_call){.st = st,
                   .vals = vals,
                   .deadline = st_pool_mono_ms() + p->cfg.statement_timeout_ms,
                   .wait_slot = wait_slot};
    for (;;) {
        int broken = 0;
        ak_err rc = send_once(p, c, &broken);
        if (!retry(c, rc, broken))
            return rc;
        c->attempt++;
    }
}

ak_err st_pool_recv(st_pg *p, st_call *c, PGresult **res)
{
    *res = NULL;
    for (;;) {
        int broken = 0;
        ak_err rc = wait_last(p, c->s->conn, c->deadline, res, &broken);
        give_back(p, c->s, broken);
        c->s = NULL;
        if (!retry(c, rc, broken))
            return rc;
        c->attempt++;
        c->wait_slot = 1;
        broken = 0;
        if ((rc = send_once(p, c, &broken)) != AK_OK) /* the retry: its send failed too */
            return rc;
    }
}

/*
 * Run statement st with vals under one deadline; *res its result (caller PQclear()s). One
 * round trip (a prepared statement; preparing it costs one more, once per connection). A
 * reused connection found broken is replaced and the statement tried once more.
 */
ak_err st_pool_run(st_pg *p, st_stmt st, const char *const *vals, PGresult **res)
{
    st_call c;
    *res = NULL;
    ak_err rc = st_pool_send(p, &c, st, vals, 1);
    return rc == AK_OK ? st_pool_recv(p, &c, res) : rc;
}

ak_err st_pool_migrate(st_pg *p, int *from)
{
    PGconn *c = NULL;
    int broken = 0;
    int64_t deadline = st_pool_mono_ms() + p->cfg.statement_timeout_ms;
    ak_err rc = connect_conn(p, &c, deadline);
    if (rc == AK_OK)
        rc = migrate(p, c, deadline, from, &broken);
    PQfinish(c);
    return rc;
}
