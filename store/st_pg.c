/*
 * st_pg.c - the PostgreSQL backend of st_store: each operation as one prepared statement
 * (st_schema.c) run through the pool (st_pool.c), its text parameters and result.
 * The password is kept in locked memory and given to libpq at each connect.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_secmem.h"
#include "st_impl.h"

#define NUM_MAX 80 /* a decimal u256 + NUL, or "\x" + 40 hex digits + NUL */

/* "\x" + 40 hex digits: an address as a bytea parameter. */
static void bytea20(char out[43], const uint8_t a[20])
{
    static const char hx[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (int i = 0; i < 20; i++) {
        out[2 + 2 * i] = hx[a[i] >> 4];
        out[3 + 2 * i] = hx[a[i] & 15];
    }
    out[42] = '\0';
}

static ak_err parse_u64(uint64_t *out, const char *s)
{
    char *end = NULL;
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return AK_ERR_INTERNAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0')
        return AK_ERR_INTERNAL;
    *out = (uint64_t)v;
    return AK_OK;
}

ak_err st_pg_new(st_pg **out, const st_cfg *cfg, const char *password, char *err, size_t err_cap)
{
    (void)err;
    (void)err_cap;
    *out = NULL;
    st_pg *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return AK_ERR_NOMEM;
    p->cfg = *cfg;
    pthread_condattr_t ca;
    int cond_ok = pthread_condattr_init(&ca) == 0;
    cond_ok = cond_ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&p->freed, &ca) == 0;
    if (!cond_ok || pthread_mutex_init(&p->lock, NULL) != 0 ||
        (p->slots = calloc(cfg->pool_size, sizeof(*p->slots))) == NULL) {
        free(p->slots);
        free(p);
        return AK_ERR_NOMEM;
    }
    pthread_condattr_destroy(&ca);
    if (password != NULL) {
        p->pw_len = strlen(password);
        if ((p->password = ak_secure_alloc(p->pw_len + 1)) == NULL) {
            st_pg_free(p);
            return AK_ERR_NOMEM;
        }
        memcpy(p->password, password, p->pw_len + 1);
    }
    unsigned t = cfg->statement_timeout_ms;
    snprintf(p->options, sizeof(p->options),
             "-c statement_timeout=%u -c lock_timeout=%u -c idle_in_transaction_session_timeout=%u",
             t, t, t < 30000 ? 30000 : t);
    const char *db = "", *host = "(default socket)", *port = "";
    PQconninfoOption *o = PQconninfoParse(cfg->url, NULL);
    for (const PQconninfoOption *i = o; i != NULL && i->keyword != NULL; i++) {
        if (i->val != NULL && strcmp(i->keyword, "dbname") == 0)
            db = i->val;
        else if (i->val != NULL && strcmp(i->keyword, "host") == 0)
            host = i->val;
        else if (i->val != NULL && strcmp(i->keyword, "port") == 0)
            port = i->val;
    }
    snprintf(p->what, sizeof(p->what), "postgres %.60s on %.100s%s%.8s", db, host,
             port[0] ? ":" : "", port);
    PQconninfoFree(o);
    *out = p;
    return AK_OK;
}

void st_pg_free(st_pg *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; p->slots != NULL && i < p->cfg.pool_size; i++)
        PQfinish(p->slots[i].conn);
    free(p->slots);
    if (p->password != NULL)
        ak_secure_free(p->password, p->pw_len + 1);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

ak_err st_pg_migrate_now(st_pg *p, char *msg, size_t msg_cap)
{
    int from = 0;
    ak_err rc = st_pool_migrate(p, &from);
    if (msg != NULL && msg_cap > 0) {
        if (rc == AK_OK) {
            snprintf(msg, msg_cap, "%s: schema version %d (was %d)", p->what, st_schema_version(),
                     from);
        } else {
            pthread_mutex_lock(&p->lock);
            snprintf(msg, msg_cap, "%s: %s", p->what, p->last_err);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return rc;
}

ak_err st_pg_ready(st_pg *p, char *what, size_t what_cap)
{
    PGresult *r = NULL;
    ak_err rc = st_pool_run(p, CN_ST_PING, NULL, &r);
    PQclear(r);
    if (what != NULL && what_cap > 0) {
        pthread_mutex_lock(&p->lock);
        snprintf(what, what_cap, "%s%s%s", p->what, rc == AK_OK ? "" : ": ",
                 rc == AK_OK ? "" : p->last_err);
        pthread_mutex_unlock(&p->lock);
    }
    return rc;
}

ak_err st_pg_nonce_release(st_pg *p, int *released, uint64_t chain_id, const uint8_t account[20],
                           uint64_t nonce)
{
    char chain[24], acct[43], n[24];
    snprintf(chain, sizeof(chain), "%llu", (unsigned long long)chain_id);
    bytea20(acct, account);
    snprintf(n, sizeof(n), "%llu", (unsigned long long)nonce);
    const char *const vals[] = {chain, acct, n};
    PGresult *r = NULL;
    ak_err rc = st_pool_run(p, CN_ST_NONCE_RELEASE, vals, &r);
    if (rc == AK_OK)
        *released = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return rc;
}

ak_err st_pg_pm_reserve(st_pg *p, st_resv *out, const uint8_t sender[20], const ak_u256 *cost,
                        const ak_u256 *sender_cap, const ak_u256 *global_cap, int64_t day)
{
    char d[24], acct[43], c[NUM_MAX], sc[NUM_MAX], gc[NUM_MAX];
    snprintf(d, sizeof(d), "%lld", (long long)day);
    bytea20(acct, sender);
    if (ak_u256_format_decimal(c, sizeof(c), cost) != AK_OK ||
        (sender_cap && ak_u256_format_decimal(sc, sizeof(sc), sender_cap) != AK_OK) ||
        (global_cap && ak_u256_format_decimal(gc, sizeof(gc), global_cap) != AK_OK))
        return AK_ERR_INTERNAL;
    const char *const vals[] = {d, acct, c, sender_cap ? sc : NULL, global_cap ? gc : NULL};
    PGresult *r = NULL;
    ak_err rc = st_pool_run(p, CN_ST_PM_RESERVE, vals, &r);
    int64_t v = 0;
    if (rc == AK_OK && (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
                        st_pool_i64(&v, PQgetvalue(r, 0, 0)) != AK_OK))
        rc = AK_ERR_INTERNAL;
    PQclear(r);
    if (rc != AK_OK)
        return rc;
    if (v != 0) {
        out->deny = v == -1 ? ST_DENY_SENDER : ST_DENY_GLOBAL;
        return AK_ERR_FORBIDDEN;
    }
    out->kind = 2;
    memcpy(out->account, sender, 20);
    out->day = day;
    out->value = *cost;
    return AK_OK;
}

ak_err st_pg_pm_spent(st_pg *p, ak_u256 *sender_spent, ak_u256 *global_spent,
                      const uint8_t sender[20], int64_t day)
{
    char d[24], acct[43];
    snprintf(d, sizeof(d), "%lld", (long long)day);
    bytea20(acct, sender);
    const char *const vals[] = {d, acct};
    PGresult *r = NULL;
    ak_err rc = st_pool_run(p, CN_ST_PM_SPENT, vals, &r);
    if (rc == AK_OK &&
        (PQntuples(r) != 1 || PQnfields(r) != 2 || PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1) ||
         ak_u256_parse_decimal(sender_spent, PQgetvalue(r, 0, 0), strlen(PQgetvalue(r, 0, 0))) !=
             AK_OK ||
         ak_u256_parse_decimal(global_spent, PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1))) !=
             AK_OK))
        rc = AK_ERR_INTERNAL;
    PQclear(r);
    return rc;
}

ak_err st_pg_release(st_pg *p, const st_resv *r)
{
    char a[24], acct[43], v[NUM_MAX];
    PGresult *res = NULL;
    ak_err rc;
    if (r->kind == 1) {
        snprintf(a, sizeof(a), "%lld", (long long)r->id);
        const char *const vals[] = {a};
        rc = st_pool_run(p, CN_ST_SPEND_RELEASE, vals, &res);
    } else {
        snprintf(a, sizeof(a), "%lld", (long long)r->day);
        bytea20(acct, r->account);
        if (ak_u256_format_decimal(v, sizeof(v), &r->value) != AK_OK)
            return AK_ERR_INTERNAL;
        const char *const vals[] = {a, acct, v};
        rc = st_pool_run(p, CN_ST_PM_RELEASE, vals, &res);
    }
    PQclear(res);
    return rc;
}

/* ---- the reservations, in two halves ------------------------------------------------------ */

typedef enum { OP_NONCE, OP_TX, OP_SPEND } op_kind;

struct st_pg_op {
    st_pg *p;
    op_kind kind;
    st_stmt stmt;
    int sent; /* 1: in flight on call.s; 0: no connection was free at begin, end runs it */
    st_call call;
    uint8_t account[20];
    uint64_t window_s;
    ak_u256 value;
    char chain[24], acct[43], pend[24], now[24], trust[24], win[24], val[NUM_MAX], maxv[NUM_MAX],
        maxc[24];
    const char *vals[9]; /* the statement's parameters, pointing into the buffers above */
};

/* Send o's statement if a pooled connection is free now (else leave it to end). */
static ak_err op_send(st_pg_op **op, st_pg_op *o)
{
    ak_err rc = st_pool_send(o->p, &o->call, o->stmt, o->vals, 0);
    if (rc == AK_OK || rc == AK_ERR_BUSY) {
        o->sent = rc == AK_OK;
        *op = o;
        return AK_OK;
    }
    free(o);
    return rc;
}

/* The spend limit's text parameters (window, value, caps) into o. */
static ak_err op_limit(st_pg_op *o, const ak_u256 *value, const st_spend_limit *lim)
{
    snprintf(o->win, sizeof(o->win), "%llu", (unsigned long long)lim->window_s);
    snprintf(o->maxc, sizeof(o->maxc), "%llu", (unsigned long long)lim->max_count);
    if (ak_u256_format_decimal(o->val, sizeof(o->val), value) != AK_OK ||
        ak_u256_format_decimal(o->maxv, sizeof(o->maxv), &lim->max_value) != AK_OK)
        return AK_ERR_INTERNAL;
    o->window_s = lim->window_s;
    o->value = *value;
    return AK_OK;
}

ak_err st_pg_tx_begin(st_pg *p, st_pg_op **op, uint64_t chain_id, const uint8_t account[20],
                      uint64_t pending, const ak_u256 *value, const st_spend_limit *lim,
                      int64_t now_ms, uint64_t trust_ms)
{
    *op = NULL;
    st_pg_op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return AK_ERR_NOMEM;
    o->p = p;
    o->kind = lim != NULL ? OP_TX : OP_NONCE;
    o->stmt = lim != NULL ? CN_ST_TX_RESERVE : CN_ST_NONCE_NEXT;
    memcpy(o->account, account, 20);
    snprintf(o->chain, sizeof(o->chain), "%llu", (unsigned long long)chain_id);
    bytea20(o->acct, account);
    snprintf(o->pend, sizeof(o->pend), "%llu", (unsigned long long)pending);
    snprintf(o->now, sizeof(o->now), "%lld", (long long)now_ms);
    snprintf(o->trust, sizeof(o->trust), "%llu", (unsigned long long)trust_ms);
    const char *const nonce_vals[] = {o->chain, o->acct, o->pend, o->now, o->trust};
    if (lim == NULL) { /* the nonce alone: the plain upsert, no PL/pgSQL call */
        memcpy(o->vals, nonce_vals, sizeof(nonce_vals));
        return op_send(op, o);
    }
    if (op_limit(o, value, lim) != AK_OK) {
        free(o);
        return AK_ERR_INTERNAL;
    }
    const char *const vals[] = {o->chain,
                                o->acct,
                                o->pend,
                                o->now,
                                o->trust,
                                o->win,
                                o->val,
                                lim->has_max_value ? o->maxv : NULL,
                                lim->max_count ? o->maxc : NULL};
    memcpy(o->vals, vals, sizeof(vals));
    return op_send(op, o);
}

ak_err st_pg_spend_begin(st_pg *p, st_pg_op **op, const uint8_t account[20], const ak_u256 *value,
                         const st_spend_limit *lim, int64_t now_ms)
{
    *op = NULL;
    st_pg_op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return AK_ERR_NOMEM;
    o->p = p;
    o->kind = OP_SPEND;
    o->stmt = CN_ST_SPEND_RESERVE;
    memcpy(o->account, account, 20);
    bytea20(o->acct, account);
    snprintf(o->now, sizeof(o->now), "%lld", (long long)now_ms);
    if (op_limit(o, value, lim) != AK_OK) {
        free(o);
        return AK_ERR_INTERNAL;
    }
    const char *const vals[] = {o->acct,
                                o->win,
                                o->val,
                                o->now,
                                lim->has_max_value ? o->maxv : NULL,
                                lim->max_count ? o->maxc : NULL};
    memcpy(o->vals, vals, sizeof(vals));
    return op_send(op, o);
}

/* The result row of o's statement: the nonce (NONCE_NEXT: one column; TX_RESERVE: o_nonce,
 * o_resv) and the reservation's id (TX_RESERVE, SPEND_RESERVE: < 0 refused, -2 by the count). */
static ak_err op_result(const st_pg_op *o, const PGresult *r, uint64_t *nonce, st_resv *out)
{
    int64_t id = 0;
    int id_col = o->kind == OP_TX ? 1 : 0;
    if (PQntuples(r) != 1)
        return AK_ERR_INTERNAL;
    if (o->kind != OP_NONCE &&
        (PQgetisnull(r, 0, id_col) || st_pool_i64(&id, PQgetvalue(r, 0, id_col)) != AK_OK))
        return AK_ERR_INTERNAL;
    if (id < 0 || (o->kind == OP_SPEND && id == 0)) {
        out->deny = id == -2 ? ST_DENY_COUNT : ST_DENY_VALUE;
        return AK_ERR_FORBIDDEN;
    }
    if (o->kind != OP_SPEND &&
        (PQgetisnull(r, 0, 0) || parse_u64(nonce, PQgetvalue(r, 0, 0)) != AK_OK))
        return AK_ERR_INTERNAL;
    if (o->kind == OP_NONCE)
        return AK_OK;
    out->kind = 1;
    out->id = id;
    memcpy(out->account, o->account, 20);
    out->window_s = o->window_s;
    out->value = o->value;
    return AK_OK;
}

/* End o: its result (sent), or its statement run now (deferred); o freed. */
static ak_err op_finish(st_pg_op *o, uint64_t *nonce, st_resv *out)
{
    PGresult *r = NULL;
    ak_err rc =
        o->sent ? st_pool_recv(o->p, &o->call, &r) : st_pool_run(o->p, o->stmt, o->vals, &r);
    if (rc == AK_OK)
        rc = op_result(o, r, nonce, out);
    PQclear(r);
    free(o);
    return rc;
}

ak_err st_pg_op_end(st_pg_op *o, uint64_t *nonce, st_resv *out)
{
    /* The caller's work between begin and end does not eat the database's time: wait at least
     * statement_timeout_ms from now, as the one-call form called now would. */
    int64_t later = st_pool_mono_ms() + o->p->cfg.statement_timeout_ms;
    if (o->sent && o->call.deadline < later)
        o->call.deadline = later;
    return op_finish(o, nonce, out);
}

/* The one-call forms: begin and end at once (no connection free at begin: end waits for one
 * within the deadline, as every statement does). */
ak_err st_pg_nonce_next(st_pg *p, uint64_t *nonce, uint64_t chain_id, const uint8_t account[20],
                        uint64_t pending, int64_t now_ms, uint64_t trust_ms)
{
    st_pg_op *o = NULL;
    st_resv unused = {0};
    ak_err rc = st_pg_tx_begin(p, &o, chain_id, account, pending, NULL, NULL, now_ms, trust_ms);
    return rc == AK_OK ? op_finish(o, nonce, &unused) : rc;
}

ak_err st_pg_tx_reserve(st_pg *p, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                        const uint8_t account[20], uint64_t pending, const ak_u256 *value,
                        const st_spend_limit *lim, int64_t now_ms, uint64_t trust_ms)
{
    st_pg_op *o = NULL;
    ak_err rc = st_pg_tx_begin(p, &o, chain_id, account, pending, value, lim, now_ms, trust_ms);
    return rc == AK_OK ? op_finish(o, nonce, out) : rc;
}

ak_err st_pg_spend_reserve(st_pg *p, st_resv *out, const uint8_t account[20], const ak_u256 *value,
                           const st_spend_limit *lim, int64_t now_ms)
{
    st_pg_op *o = NULL;
    uint64_t unused = 0;
    ak_err rc = st_pg_spend_begin(p, &o, account, value, lim, now_ms);
    return rc == AK_OK ? op_finish(o, &unused, out) : rc;
}
