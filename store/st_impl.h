/*
 * st_impl.h - the two backends behind st_store.h (private to store/).
 *
 * st_front.c reads the clock and passes the current wall time (now_ms, UTC day) to the
 * backends, so both apply the rules of st_store.h to the same inputs. st_mem.c keeps
 * the state in this process; st_pg.c (pool, deadlines) and st_schema.c (SQL, the
 * migrations) keep it in PostgreSQL.
 */
#ifndef ST_IMPL_H
#define ST_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "st_store.h"

/* EIP-2681: a nonce is below 2^64 - 1, so next = nonce + 1 <= 2^64 - 1. */
#define ST_NONCE_LIMIT UINT64_MAX

/* ---- memory ------------------------------------------------------------------------------- */
typedef struct st_mem st_mem;

AK_WUR ak_err st_mem_new(st_mem **out, size_t max_entries);
void st_mem_free(st_mem *m);
AK_WUR ak_err st_mem_nonce_next(st_mem *m, uint64_t *nonce, uint64_t chain_id,
                                const uint8_t account[20], uint64_t pending, int64_t now_ms,
                                uint64_t trust_ms);
AK_WUR ak_err st_mem_nonce_release(st_mem *m, int *released, uint64_t chain_id,
                                   const uint8_t account[20], uint64_t nonce);
AK_WUR ak_err st_mem_spend_reserve(st_mem *m, st_resv *out, const uint8_t account[20],
                                   const ak_u256 *value, const st_spend_limit *lim, int64_t now_ms);
AK_WUR ak_err st_mem_pm_reserve(st_mem *m, st_resv *out, const uint8_t sender[20],
                                const ak_u256 *cost, const ak_u256 *sender_cap,
                                const ak_u256 *global_cap, int64_t day);
AK_WUR ak_err st_mem_pm_spent(st_mem *m, ak_u256 *sender_spent, ak_u256 *global_spent,
                              const uint8_t sender[20], int64_t day);
AK_WUR ak_err st_mem_release(st_mem *m, const st_resv *r);
/* lim NULL: the nonce only. */
AK_WUR ak_err st_mem_tx_reserve(st_mem *m, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                                const uint8_t account[20], uint64_t pending, const ak_u256 *value,
                                const st_spend_limit *lim, int64_t now_ms, uint64_t trust_ms);

/* ---- postgres ----------------------------------------------------------------------------- */
typedef struct st_pg st_pg;

/* password: NULL or a NUL-terminated secret, copied into locked memory (the caller wipes its
 * own copy). Connects lazily. */
AK_WUR ak_err st_pg_new(st_pg **out, const st_cfg *cfg, const char *password, char *err,
                        size_t err_cap);
void st_pg_free(st_pg *p);
AK_WUR ak_err st_pg_migrate_now(st_pg *p, char *msg, size_t msg_cap);
AK_WUR ak_err st_pg_ready(st_pg *p, char *what, size_t what_cap);
AK_WUR ak_err st_pg_nonce_next(st_pg *p, uint64_t *nonce, uint64_t chain_id,
                               const uint8_t account[20], uint64_t pending, int64_t now_ms,
                               uint64_t trust_ms);
AK_WUR ak_err st_pg_nonce_release(st_pg *p, int *released, uint64_t chain_id,
                                  const uint8_t account[20], uint64_t nonce);
AK_WUR ak_err st_pg_spend_reserve(st_pg *p, st_resv *out, const uint8_t account[20],
                                  const ak_u256 *value, const st_spend_limit *lim, int64_t now_ms);
AK_WUR ak_err st_pg_pm_reserve(st_pg *p, st_resv *out, const uint8_t sender[20],
                               const ak_u256 *cost, const ak_u256 *sender_cap,
                               const ak_u256 *global_cap, int64_t day);
AK_WUR ak_err st_pg_pm_spent(st_pg *p, ak_u256 *sender_spent, ak_u256 *global_spent,
                             const uint8_t sender[20], int64_t day);
AK_WUR ak_err st_pg_release(st_pg *p, const st_resv *r);
AK_WUR ak_err st_pg_tx_reserve(st_pg *p, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                               const uint8_t account[20], uint64_t pending, const ak_u256 *value,
                               const st_spend_limit *lim, int64_t now_ms, uint64_t trust_ms);

/* st_pg_tx_reserve (lim NULL: st_pg_nonce_next) and st_pg_spend_reserve in two halves: begin
 * sends the statement on a free pooled connection and returns (if none is free, nothing is sent
 * and end runs it as the one-call form would); end waits for the result - until the deadline, or
 * statement_timeout_ms after end is called if that is later - gives the connection back and
 * frees op. AK_OK from begin: end exactly once. nonce NULL for a spend op. */
typedef struct st_pg_op st_pg_op;
AK_WUR ak_err st_pg_tx_begin(st_pg *p, st_pg_op **op, uint64_t chain_id, const uint8_t account[20],
                             uint64_t pending, const ak_u256 *value, const st_spend_limit *lim,
                             int64_t now_ms, uint64_t trust_ms);
AK_WUR ak_err st_pg_spend_begin(st_pg *p, st_pg_op **op, const uint8_t account[20],
                                const ak_u256 *value, const st_spend_limit *lim, int64_t now_ms);
AK_WUR ak_err st_pg_op_end(st_pg_op *op, uint64_t *nonce, st_resv *out);

/* ---- schema (st_schema.c) ----------------------------------------------------------- */

/* Prepared statements every pooled connection has (names "cn_st_<i>"). */
typedef enum {
    CN_ST_NONCE_NEXT = 0,
    CN_ST_NONCE_RELEASE,
    CN_ST_SPEND_RESERVE,
    CN_ST_SPEND_RELEASE,
    CN_ST_PM_RESERVE,
    CN_ST_PM_RELEASE,
    CN_ST_TX_RESERVE,
    CN_ST_PING,
    CN_ST_PM_SPENT,
    CN_ST_COUNT
} st_stmt;

typedef struct {
    const char *sql;
    int nparams;
} st_stmt_def;

const st_stmt_def *st_schema_stmt(st_stmt s);

/* The migrations: steps[i] takes the schema from version i to i + 1. */
typedef struct {
    const char *const *sql; /* statements, NULL-terminated */
} st_migration;

size_t st_schema_steps(const st_migration **steps);

/* The advisory lock key every migrator takes (pg_advisory_xact_lock). */
#define ST_MIGRATE_LOCK "7021956273447790958"

/* ---- postgres internals (st_pg.c, st_pool.c) ---------------------------------- */
#include <pthread.h>

#include <libpq-fe.h>

#define ST_ERR_MAX 256

typedef struct {
    PGconn *conn;
    int busy;
    int overlap;       /* held by a reservation begun without waiting (st_pg.overlapped) */
    unsigned prepared; /* bit i: statement i is prepared on conn */
} st_slot;

struct st_pg {
    st_cfg cfg;
    char *password; /* ak_secure_alloc(pw_len + 1), or NULL */
    size_t pw_len;
    char options[160]; /* server settings sent at connect */
    char what[200];    /* "postgres <db> on <host>" */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    st_slot *slots;
    unsigned waiters;          /* under lock: callers waiting for a free slot */
    unsigned overlapped;       /* under lock: slots held by reservations begun without waiting */
    int schema_ok;             /* under lock: some connection saw the schema at its version */
    char last_err[ST_ERR_MAX]; /* under lock: why the last failure failed */
};

/* Monotonic milliseconds (deadlines). */
int64_t st_pool_mono_ms(void);
/* Record why the last failure failed (what: detail), for st_ready. */
void st_pool_err(st_pg *p, const char *what, const char *detail);
/* A whole decimal integer as PostgreSQL prints one; AK_ERR_INTERNAL otherwise. */
AK_WUR ak_err st_pool_i64(int64_t *out, const char *s);
/* One statement in flight on a pooled connection, from st_pool_send to st_pool_recv. */
typedef struct {
    st_stmt st;
    const char *const *vals; /* borrowed: must stay valid until st_pool_recv returns */
    int64_t deadline;        /* statement_timeout_ms after st_pool_send (the caller may move it) */
    int wait_slot;           /* wait for a free slot (else AK_ERR_BUSY at once) */
    st_slot *s;              /* the slot held while the statement is in flight */
    int reused, attempt;
} st_call;

/* Send prepared statement st with text vals on a pooled connection, not waiting for the result.
 * AK_OK: c holds a connection; st_pool_recv must follow, exactly once.
 * wait_slot 0: AK_ERR_BUSY at once if no connection is free (nothing sent, nothing held). */
AK_WUR ak_err st_pool_send(st_pg *p, st_call *c, st_stmt st, const char *const *vals,
                           int wait_slot);
/* Wait (until c->deadline; what has arrived by then counts even later) for the result of what
 * st_pool_send sent and give the connection back: as st_pool_run. */
AK_WUR ak_err st_pool_recv(st_pg *p, st_call *c, PGresult **res);
/* Run prepared statement st with text vals (NULL = SQL NULL) under one statement_timeout_ms
 * deadline; *res its result (caller PQclear()s). AK_ERR_UNAVAILABLE when the database is not
 * there in time, AK_ERR_RANGE on a CHECK or numeric overflow. */
AK_WUR ak_err st_pool_run(st_pg *p, st_stmt st, const char *const *vals, PGresult **res);
/* Connect once, create or migrate the schema, disconnect; *from: the version found. */
AK_WUR ak_err st_pool_migrate(st_pg *p, int *from);

#endif
