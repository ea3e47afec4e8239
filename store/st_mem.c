/*
 * st_mem.c - the in-process backend of st_store: one mutex, one chained hash table of
 * rows (nonce per (chain, account), reservation list per (account, window), paymaster spend
 * per (day, sender) and per day), at most max_entries rows + reservations in all (AK_ERR_LIMIT
 * beyond; expired reservations and past days are dropped as they are met).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "st_impl.h"

#define BUCKETS  16384u
#define KEY_MAX  29 /* kind + 8 + 20 */
#define RESV_MIN 8

enum { ROW_NONCE = 'N', ROW_SPEND = 'S', ROW_PM = 'P', ROW_PM_GLOBAL = 'G' };

typedef struct {
    int64_t id, at_ms;
    ak_u256 value;
} resv;

typedef struct row {
    struct row *next;
    uint8_t key[KEY_MAX];
    size_t klen;
    int64_t day; /* ROW_PM, ROW_PM_GLOBAL */
    uint64_t next_nonce;
    uint64_t seen_pending; /* the highest node count seen */
    int64_t seen_ms;       /* when it last rose, or the node's count was last taken */
    ak_u256 spent;
    resv *rs; /* ROW_SPEND */
    size_t n_rs, cap_rs;
} row;

struct st_mem {
    pthread_mutex_t lock;
    row **buckets;
    size_t used, max_entries;
    int64_t next_id;
    int64_t pm_day;
};

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static size_t make_key(uint8_t key[KEY_MAX], int kind, uint64_t n, const uint8_t *addr)
{
    key[0] = (uint8_t)kind;
    put_u64(key + 1, n);
    if (addr == NULL)
        return 9;
    memcpy(key + 9, addr, 20);
    return KEY_MAX;
}

static size_t hash_key(const uint8_t *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h % BUCKETS);
}

static row *find(st_mem *m, const uint8_t *key, size_t len)
{
    for (row *r = m->buckets[hash_key(key, len)]; r != NULL; r = r->next)
        if (r->klen == len && memcmp(r->key, key, len) == 0)
            return r;
    return NULL;
}

/* The row for key, created if absent (NULL: no room or no memory, *rc says which). */
static row *find_or_add(st_mem *m, const uint8_t *key, size_t len, ak_err *rc)
{
    row *r = find(m, key, len);
    if (r != NULL)
        return r;
    if (m->used >= m->max_entries) {
        *rc = AK_ERR_LIMIT;
        return NULL;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        *rc = AK_ERR_NOMEM;
        return NULL;
    }
    memcpy(r->key, key, len);
    r->klen = len;
    size_t b = hash_key(key, len);
    r->next = m->buckets[b];
    m->buckets[b] = r;
    m->used++;
    return r;
}

static void row_free(row *r)
{
    free(r->rs);
    free(r);
}

ak_err st_mem_new(st_mem **out, size_t max_entries)
{
    *out = NULL;
    st_mem *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return AK_ERR_NOMEM;
    if ((m->buckets = calloc(BUCKETS, sizeof(row *))) == NULL ||
        pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m->buckets);
        free(m);
        return AK_ERR_NOMEM;
    }
    m->max_entries = max_entries;
    m->next_id = 1;
    m->pm_day = INT64_MIN;
    *out = m;
    return AK_OK;
}

void st_mem_free(st_mem *m)
{
    if (m == NULL)
        return;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (row *r = m->buckets[b], *n; r != NULL; r = n) {
            n = r->next;
            row_free(r);
        }
    }
    free(m->buckets);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* st_mem_nonce_next with the lock held. */
static ak_err nonce_locked(st_mem *m, uint64_t *nonce, uint64_t chain_id, const uint8_t account[20],
                           uint64_t pending, int64_t now_ms, uint64_t trust_ms)
{
    ak_err rc = AK_OK;
    uint8_t key[KEY_MAX];
    size_t len = make_key(key, ROW_NONCE, chain_id, account);
    row *r = find(m, key, len);
    /* the rule of st_store.h; the same expressions as CN_ST_NONCE_NEXT */
    int rose = r != NULL && pending > r->seen_pending;
    int64_t since = r == NULL || rose ? now_ms : r->seen_ms;
    int stored = r != NULL && r->next_nonce > pending && now_ms - since < (int64_t)trust_ms;
    uint64_t n = stored ? r->next_nonce : pending;
    if (n >= ST_NONCE_LIMIT) {
        rc = AK_ERR_RANGE;
        goto out;
    }
    if (r == NULL && (r = find_or_add(m, key, len, &rc)) == NULL)
        goto out;
    r->seen_ms = rose || !stored ? now_ms : r->seen_ms;
    r->seen_pending = pending > r->seen_pending ? pending : r->seen_pending;
    r->next_nonce = n + 1;
    *nonce = n;
out:
    return rc;
}

ak_err st_mem_nonce_next(st_mem *m, uint64_t *nonce, uint64_t chain_id, const uint8_t account[20],
                         uint64_t pending, int64_t now_ms, uint64_t trust_ms)
{
    pthread_mutex_lock(&m->lock);
    ak_err rc = nonce_locked(m, nonce, chain_id, account, pending, now_ms, trust_ms);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

ak_err st_mem_nonce_release(st_mem *m, int *released, uint64_t chain_id, const uint8_t account[20],
                            uint64_t nonce)
{
    uint8_t key[KEY_MAX];
    size_t len = make_key(key, ROW_NONCE, chain_id, account);
    pthread_mutex_lock(&m->lock);
    row *r = find(m, key, len);
    if (r != NULL && r->next_nonce == nonce + 1) {
        r->next_nonce = nonce;
        *released = 1;
    }
    pthread_mutex_unlock(&m->lock);
    return AK_OK;
}

/* Drop the reservations of r that are window_ms old or older at now_ms. */
static void prune(st_mem *m, row *r, int64_t now_ms, int64_t window_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n_rs; i++) {
        if (r->rs[i].at_ms > now_ms - window_ms)
            r->rs[k++] = r->rs[i];
        else
            m->used--;
    }
    r->n_rs = k;
}

/* st_mem_spend_reserve with the lock held. */
static ak_err spend_locked(st_mem *m, st_resv *out, const uint8_t account[20], const ak_u256 *value,
                           const st_spend_limit *lim, int64_t now_ms)
{
    ak_err rc = AK_OK;
    uint8_t key[KEY_MAX];
    size_t len = make_key(key, ROW_SPEND, lim->window_s, account);
    ak_u256 sum = {{0, 0, 0, 0}};
    row *r = find_or_add(m, key, len, &rc);
    if (r == NULL)
        goto out;
    prune(m, r, now_ms, (int64_t)lim->window_s * 1000);
    for (size_t i = 0; i < r->n_rs; i++)
        if ((rc = ak_u256_add(&sum, &sum, &r->rs[i].value)) != AK_OK)
            goto out;
    if (lim->max_count != 0 && r->n_rs + 1 > lim->max_count) {
        out->deny = ST_DENY_COUNT;
        rc = AK_ERR_FORBIDDEN;
        goto out;
    }
    if ((rc = ak_u256_add(&sum, &sum, value)) != AK_OK) {
        if (lim->has_max_value) { /* past 2^256 is past any cap */
            out->deny = ST_DENY_VALUE;
            rc = AK_ERR_FORBIDDEN;
        }
        goto out;
    }
    if (lim->has_max_value && ak_u256_cmp(&sum, &lim->max_value) > 0) {
        out->deny = ST_DENY_VALUE;
        rc = AK_ERR_FORBIDDEN;
        goto out;
    }
    if (m->used >= m->max_entries) {
        rc = AK_ERR_LIMIT;
        goto out;
    }
    if (r->n_rs == r->cap_rs) {
        size_t cap = r->cap_rs ? r->cap_rs * 2 : RESV_MIN;
        resv *n = realloc(r->rs, cap * sizeof(*n));
        if (n == NULL) {
            rc = AK_ERR_NOMEM;
            goto out;
        }
        r->rs = n;
        r->cap_rs = cap;
    }
    resv *nr = &r->rs[r->n_rs++];
    nr->id = m->next_id++;
    nr->at_ms = now_ms;
    nr->value = *value;
    m->used++;
    out->kind = 1;
    out->id = nr->id;
    memcpy(out->account, account, 20);
    out->window_s = lim->window_s;
    out->value = *value;
out:
    return rc;
}

ak_err st_mem_spend_reserve(st_mem *m, st_resv *out, const uint8_t account[20],
                            const ak_u256 *value, const st_spend_limit *lim, int64_t now_ms)
{
    pthread_mutex_lock(&m->lock);
    ak_err rc = spend_locked(m, out, account, value, lim, now_ms);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* A new UTC day: drop the paymaster rows of earlier days. */
static void pm_new_day(st_mem *m, int64_t day)
{
    if (day <= m->pm_day)
        return;
    m->pm_day = day;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (row **pp = &m->buckets[b]; *pp != NULL;) {
            row *r = *pp;
            if ((r->key[0] == ROW_PM || r->key[0] == ROW_PM_GLOBAL) && r->day < day) {
                *pp = r->next;
                row_free(r);
                m->used--;
            } else {
                pp = &r->next;
            }
        }
    }
}

ak_err st_mem_pm_reserve(st_mem *m, st_resv *out, const uint8_t sender[20], const ak_u256 *cost,
                         const ak_u256 *sender_cap, const ak_u256 *global_cap, int64_t day)
{
    ak_err rc = AK_OK;
    uint8_t gkey[KEY_MAX], skey[KEY_MAX];
    size_t glen = make_key(gkey, ROW_PM_GLOBAL, (uint64_t)day, NULL);
    size_t slen = make_key(skey, ROW_PM, (uint64_t)day, sender);
    ak_u256 g, s;
    pthread_mutex_lock(&m->lock);
    pm_new_day(m, day);
    row *gr = find_or_add(m, gkey, glen, &rc);
    row *sr = gr != NULL ? find_or_add(m, skey, slen, &rc) : NULL;
    if (sr == NULL)
        goto out;
    gr->day = sr->day = day;
    int s_over = ak_u256_add(&s, &sr->spent, cost) != AK_OK;
    int g_over = ak_u256_add(&g, &gr->spent, cost) != AK_OK;
    if (sender_cap != NULL && (s_over || ak_u256_cmp(&s, sender_cap) > 0)) {
        out->deny = ST_DENY_SENDER;
        rc = AK_ERR_FORBIDDEN;
        goto out;
    }
    if (global_cap != NULL && (g_over || ak_u256_cmp(&g, global_cap) > 0)) {
        out->deny = ST_DENY_GLOBAL;
        rc = AK_ERR_FORBIDDEN;
        goto out;
    }
    if (s_over || g_over) {
        rc = AK_ERR_RANGE;
        goto out;
    }
    sr->spent = s;
    gr->spent = g;
    out->kind = 2;
    memcpy(out->account, sender, 20);
    out->day = day;
    out->value = *cost;
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

ak_err st_mem_pm_spent(st_mem *m, ak_u256 *sender_spent, ak_u256 *global_spent,
                       const uint8_t sender[20], int64_t day)
{
    uint8_t key[KEY_MAX];
    pthread_mutex_lock(&m->lock);
    const row *sr = find(m, key, make_key(key, ROW_PM, (uint64_t)day, sender));
    if (sr != NULL && sr->day == day)
        *sender_spent = sr->spent;
    const row *gr = find(m, key, make_key(key, ROW_PM_GLOBAL, (uint64_t)day, NULL));
    if (gr != NULL && gr->day == day)
        *global_spent = gr->spent;
    pthread_mutex_unlock(&m->lock);
    return AK_OK;
}

/* spent -= v, floored at zero. */
static void sub_floor(ak_u256 *spent, const ak_u256 *v)
{
    if (ak_u256_sub(spent, spent, v) != AK_OK)
        memset(spent, 0, sizeof(*spent));
}

/* st_mem_release with the lock held. */
static void release_locked(st_mem *m, const st_resv *r)
{
    uint8_t key[KEY_MAX];
    if (r->kind == 1) {
        row *sr = find(m, key, make_key(key, ROW_SPEND, r->window_s, r->account));
        for (size_t i = 0; sr != NULL && i < sr->n_rs; i++) {
            if (sr->rs[i].id == r->id) {
                sr->rs[i] = sr->rs[--sr->n_rs];
                m->used--;
                break;
            }
        }
    } else {
        row *sr = find(m, key, make_key(key, ROW_PM, (uint64_t)r->day, r->account));
        if (sr != NULL) {
            sub_floor(&sr->spent, &r->value);
            row *gr = find(m, key, make_key(key, ROW_PM_GLOBAL, (uint64_t)r->day, NULL));
            if (gr != NULL)
                sub_floor(&gr->spent, &r->value);
        }
    }
}

ak_err st_mem_release(st_mem *m, const st_resv *r)
{
    pthread_mutex_lock(&m->lock);
    release_locked(m, r);
    pthread_mutex_unlock(&m->lock);
    return AK_OK;
}

ak_err st_mem_tx_reserve(st_mem *m, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                         const uint8_t account[20], uint64_t pending, const ak_u256 *value,
                         const st_spend_limit *lim, int64_t now_ms, uint64_t trust_ms)
{
    ak_err rc = AK_OK;
    pthread_mutex_lock(&m->lock);
    if (lim != NULL && (rc = spend_locked(m, out, account, value, lim, now_ms)) != AK_OK)
        goto out;
    if ((rc = nonce_locked(m, nonce, chain_id, account, pending, now_ms, trust_ms)) != AK_OK &&
        out->kind != 0) {
        release_locked(m, out); /* both or neither */
        out->kind = 0;
    }
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}
