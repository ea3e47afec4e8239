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

ak_err st_pg_nonce_next(st_pg *p, uint64_t *nonce, uint64_t chain_id, const uint8_t account[20],
                        uint64_t pending, int64_t now_ms, uint64_t trust_ms)
{
    char chain[24], acct[43], pend[24], now[24], trust[24];
    snprintf(chain, sizeof(chain), "%llu", (unsigned long long)chain_id);
    bytea20(acct, account);
    snprintf(pend, sizeof(pend), "%llu", (unsigned long long)pending);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    snprintf(trust, sizeof(trust), "%llu", (unsigned long long)trust_ms);
    const char *const vals[] = {chain, acct, pend, now, trust};
    PGresult *r = NULL;
    ak_err rc = st_pool_run(p, CN_ST_NONCE_NEXT, vals, &r);
    if (rc == AK_OK)
        rc = PQntuples(r) == 1 ? parse_u64(nonce, PQgetvalue(r, 0, 0)) : AK_ERR_INTERNAL;
    PQclear(r);
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

ak_err st_pg_spend_reserve(st_pg *p, st_resv *out, const uint8_t account[20], const ak_u256 *value,
                           const st_spend_limit *lim, int64_t now_ms)
{
    char acct[43], win[24], val[NUM_MAX], now[24], maxv[NUM_MAX], maxc[24];
    bytea20(acct, account);
    snprintf(win, sizeof(win), "%llu", (unsigned long long)lim->window_s);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    snprintf(maxc, sizeof(maxc), "%llu", (unsigned long long)lim->max_count);
    if (ak_u256_format_decimal(val, sizeof(val), value) != AK_OK ||
        ak_u256_format_decimal(maxv, sizeof(maxv), &lim->max_value) != AK_OK)
        return AK_ERR_INTERNAL;
    const char *const vals[] = {
        acct, win, val, now, lim->has_max_value ? maxv : NULL, lim->max_count ? maxc : NULL};
    PGresult *r = NULL;
    int64_t id = 0;
    ak_err rc = st_pool_run(p, CN_ST_SPEND_RESERVE, vals, &r);
    if (rc == AK_OK && (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
                        st_pool_i64(&id, PQgetvalue(r, 0, 0)) != AK_OK))
        rc = AK_ERR_INTERNAL;
    PQclear(r);
    if (rc != AK_OK)
        return rc;
    if (id <= 0) {
        out->deny = id == -2 ? ST_DENY_COUNT : ST_DENY_VALUE;
        return AK_ERR_FORBIDDEN;
    }
    out->kind = 1;
    out->id = id;
    memcpy(out->account, account, 20);
    out->window_s = lim->window_s;
    out->value = *value;
    return AK_OK;
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

ak_err st_pg_tx_reserve(st_pg *p, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                        const uint8_t account[20], uint64_t pending, const ak_u256 *value,
                        const st_spend_limit *lim, int64_t now_ms, uint64_t trust_ms)
{
    char chain[24], acct[43], pend[24], now[24], trust[24], win[24], val[NUM_MAX] = "0",
                                                                     maxv[NUM_MAX], maxc[24];
    snprintf(chain, sizeof(chain), "%llu", (unsigned long long)chain_id);
    bytea20(acct, account);
    snprintf(pend, sizeof(pend), "%llu", (unsigned long long)pending);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    snprintf(trust, sizeof(trust), "%llu", (unsigned long long)trust_ms);
    if (lim != NULL) {
        snprintf(win, sizeof(win), "%llu", (unsigned long long)lim->window_s);
        snprintf(maxc, sizeof(maxc), "%llu", (unsigned long long)lim->max_count);
        if (ak_u256_format_decimal(val, sizeof(val), value) != AK_OK ||
            ak_u256_format_decimal(maxv, sizeof(maxv), &lim->max_value) != AK_OK)
            return AK_ERR_INTERNAL;
    }
    const char *const vals[] = {chain,
                                acct,
                                pend,
                                now,
                                trust,
                                lim ? win : NULL,
                                val,
                                lim && lim->has_max_value ? maxv : NULL,
                                lim && lim->max_count ? maxc : NULL};
    PGresult *r = NULL;
    int64_t id = 0;
    ak_err rc = st_pool_run(p, CN_ST_TX_RESERVE, vals, &r);
    if (rc == AK_OK && (PQntuples(r) != 1 || PQgetisnull(r, 0, 1) ||
                        st_pool_i64(&id, PQgetvalue(r, 0, 1)) != AK_OK))
        rc = AK_ERR_INTERNAL;
    if (rc == AK_OK && id < 0) {
        out->deny = id == -2 ? ST_DENY_COUNT : ST_DENY_VALUE;
        rc = AK_ERR_FORBIDDEN;
    } else if (rc == AK_OK) {
        rc = PQgetisnull(r, 0, 0) ? AK_ERR_INTERNAL : parse_u64(nonce, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    if (rc != AK_OK || lim == NULL)
        return rc;
    out->kind = 1;
    out->id = id;
    memcpy(out->account, account, 20);
    out->window_s = lim->window_s;
    out->value = *value;
    return AK_OK;
}
