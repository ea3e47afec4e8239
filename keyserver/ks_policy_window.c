/* ks_policy_window.c - cumulative value caps per rolling window (see ks_policy_window.h). */
#include "ks_policy_window.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_keccak.h"
#include "rt_audit.h"

/* A value counts while its epoch is at most KS_WINDOW_BUCKETS epochs old: KS_WINDOW_BUCKETS + 1
 * epochs live at once, one slot each. */
#define SLOTS (KS_WINDOW_BUCKETS + 1)

typedef struct {
    int on;
    pthread_mutex_t mu;
    ak_u256 cap;
    uint64_t bucket_ms;
    uint64_t epoch[SLOTS]; /* epoch (time / bucket_ms) the slot holds, +1 (0: empty) */
    ak_u256 sum[SLOTS];
    uint8_t sid[20]; /* the key's id in the store (ks_window_use_store) */
} key_window;

struct ks_window {
    const ks_config *cfg;
    const rt_clock *clock;
    st_store *store; /* borrowed; NULL: the in-process windows below */
    size_t n;
    key_window *k; /* n of them; only those with .on are used */
};

static uint64_t now_ms(const ks_window *w)
{
    int64_t ns = w->clock->wall_ns(w->clock->ctx);
    return ns > 0 ? (uint64_t)ns / 1000000u : 0;
}

ak_err ks_window_open(ks_window **out, const ks_config *c, const rt_clock *clock)
{
    ks_window *w = calloc(1, sizeof *w);
    *out = NULL;
    if (w == NULL)
        return AK_ERR_NOMEM;
    w->cfg = c;
    w->clock = clock != NULL ? clock : rt_clock_system();
    w->n = c->n_keys;
    w->k = calloc(c->n_keys ? c->n_keys : 1, sizeof *w->k);
    if (w->k == NULL) {
        free(w);
        return AK_ERR_NOMEM;
    }
    for (size_t i = 0; i < c->n_keys; i++) {
        const ak_policy *p = c->keys[i].policy;
        if (p == NULL || !p->has_cumulative_cap)
            continue;
        key_window *k = &w->k[i];
        k->on = 1;
        k->cap = p->cumulative_cap;
        k->bucket_ms = (p->cumulative_window_s * 1000u + KS_WINDOW_BUCKETS - 1) / KS_WINDOW_BUCKETS;
        pthread_mutex_init(&k->mu, NULL);
    }
    *out = w;
    return AK_OK;
}

void ks_window_free(ks_window *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (w->k[i].on)
            pthread_mutex_destroy(&w->k[i].mu);
    free(w->k);
    free(w);
}

/* Total of the live buckets at epoch e (under k->mu). */
static void used_at(const key_window *k, uint64_t e, ak_u256 *out)
{
    ak_u256_from_u64(out, 0);
    for (size_t i = 0; i < SLOTS; i++) {
        uint64_t be = k->epoch[i];
        /* live: at most KS_WINDOW_BUCKETS epochs old (so never less than the window whatever
         * the alignment), or ahead of now (the wall clock was set back: still counted) */
        if (be == 0 || (be - 1 <= e && e - (be - 1) > KS_WINDOW_BUCKETS))
            continue;
        if (ak_u256_add(out, out, &k->sum[i]) != AK_OK) {
            memset(out, 0xff, sizeof *out); /* saturate: over any cap */
            return;
        }
    }
}

/* Add value at epoch e (under k->mu); a sum that would overflow saturates. */
static void add_at(key_window *k, uint64_t e, const ak_u256 *value)
{
    size_t i = (size_t)(e % SLOTS);
    if (k->epoch[i] < e + 1) { /* an older epoch's slot is recycled; a newer one kept */
        k->epoch[i] = e + 1;
        ak_u256_from_u64(&k->sum[i], 0);
    }
    if (ak_u256_add(&k->sum[i], &k->sum[i], value) != AK_OK)
        memset(&k->sum[i], 0xff, sizeof k->sum[i]);
}

void ks_window_store_id(uint8_t id[20], const uint8_t address[20])
{
    uint8_t h[32];
    ak_keccak_ctx kc;
    ak_keccak256_init(&kc);
    ak_keccak256_update(&kc, (const uint8_t *)KS_WINDOW_STORE_TAG, strlen(KS_WINDOW_STORE_TAG));
    ak_keccak256_update(&kc, address, 20);
    ak_keccak256_final(&kc, h);
    memcpy(id, h + 12, 20);
}

void ks_window_use_store(ks_window *w, st_store *st, const uint8_t *const *addresses)
{
    static const uint8_t zero[20];
    if (w == NULL || st == NULL || addresses == NULL)
        return;
    w->store = st;
    for (size_t i = 0; i < w->n; i++)
        if (w->k[i].on)
            ks_window_store_id(w->k[i].sid, addresses[i] != NULL ? addresses[i] : zero);
}

/* The store's reservation (see the header): 1, 0 (over the cap) or -1 (no answer). */
static int store_reserve(ks_window *w, long key, const ak_u256 *value, ks_window_ticket *t,
                         ak_policy_verdict *v)
{
    char x[AK_U256_DECIMAL_MAX], c[AK_U256_DECIMAL_MAX];
    const ak_policy *p = w->cfg->keys[key].policy;
    st_spend_limit lim;
    memset(&lim, 0, sizeof lim);
    lim.window_s = p->cumulative_window_s;
    lim.has_max_value = 1;
    lim.max_value = p->cumulative_cap;
    ak_err e = st_spend_reserve(w->store, &t->resv, w->k[key].sid, value, &lim);
    if (e == AK_OK) {
        t->key = key;
        t->value = *value;
        return 1;
    }
    memset(&t->resv, 0, sizeof t->resv);
    if (e != AK_ERR_FORBIDDEN)
        return -1; /* unavailable, or anything else the store could not do: fail closed */
    if (ak_u256_format_decimal(x, sizeof x, value) != AK_OK ||
        ak_u256_format_decimal(c, sizeof c, &p->cumulative_cap) != AK_OK)
        x[0] = c[0] = '\0';
    v->rule = "cumulative_over_cap";
    /* two 78-digit values could pass the buffer: the text is then cut (the rule names it) */
    if (snprintf(v->why, sizeof v->why,
                 "value %s wei on top of what the key signed in the last %llu s (shared state "
                 "store) is over the key's cumulative_cap %s wei",
                 x, (unsigned long long)p->cumulative_window_s, c) >= (int)sizeof v->why)
        v->why[sizeof v->why - 1] = '\0';
    return 0;
}

int ks_window_reserve(ks_window *w, long key, const ak_u256 *value, ks_window_ticket *t,
                      ak_policy_verdict *v)
{
    ak_u256 used, zero;
    int ok;
    t->key = -1;
    memset(&t->resv, 0, sizeof t->resv);
    if (w == NULL || key < 0 || (size_t)key >= w->n || !w->k[key].on)
        return 1;
    key_window *k = &w->k[key];
    const ak_policy *p = w->cfg->keys[key].policy;
    if (w->store != NULL) {
        ak_u256_from_u64(&zero, 0);
        return ak_u256_cmp(value, &zero) == 0 ? 1 : store_reserve(w, key, value, t, v);
    }
    uint64_t e = now_ms(w) / k->bucket_ms;
    pthread_mutex_lock(&k->mu);
    used_at(k, e, &used);
    ok = ak_policy_cumulative_ok(p, &used, value, v);
    if (ok) {
        add_at(k, e, value);
        t->key = key;
        t->epoch = e;
        t->value = *value;
    }
    pthread_mutex_unlock(&k->mu);
    return ok;
}

void ks_window_release(ks_window *w, const ks_window_ticket *t)
{
    if (w == NULL || t->key < 0 || (size_t)t->key >= w->n || !w->k[t->key].on)
        return;
    if (t->resv.kind != 0) {
        /* not answered: the reservation stays counted until its window passes (refuses more,
         * never signs more) */
        if (w->store != NULL && st_release(w->store, &t->resv) != AK_OK)
            fprintf(stderr, "anode-keyserver: a cumulative-cap reservation could not be given "
                            "back to the state store (it counts until its window passes)\n");
        return;
    }
    if (w->store != NULL)
        return;
    key_window *k = &w->k[t->key];
    size_t i = (size_t)(t->epoch % SLOTS);
    pthread_mutex_lock(&k->mu);
    /* the bucket may have been recycled since: then the value has expired anyway */
    if (k->epoch[i] == t->epoch + 1 && ak_u256_sub(&k->sum[i], &k->sum[i], &t->value) != AK_OK)
        ak_u256_from_u64(&k->sum[i], 0);
    pthread_mutex_unlock(&k->mu);
}

void ks_window_used(ks_window *w, long key, ak_u256 *out)
{
    ak_u256_from_u64(out, 0);
    if (w == NULL || key < 0 || (size_t)key >= w->n || !w->k[key].on)
        return;
    key_window *k = &w->k[key];
    pthread_mutex_lock(&k->mu);
    used_at(k, now_ms(w) / k->bucket_ms, out);
    pthread_mutex_unlock(&k->mu);
}

/* n decimal digits at s (no sign); -1 if any is not a digit. */
static long digits(const char *s, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (rt_audit's form) -> ms since the epoch; 0 if it does not read. */
static uint64_t record_ms(const char *s)
{
    struct tm tm;
    if (strlen(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != '.' || s[23] != 'Z')
        return 0;
    long y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2);
    long mi = digits(s + 14, 2), se = digits(s + 17, 2), ms = digits(s + 20, 3);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60 || ms < 0)
        return 0;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = (int)(y - 1900);
    tm.tm_mon = (int)(mo - 1);
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)se;
    time_t t = timegm(&tm);
    return t > 0 ? (uint64_t)t * 1000u + (uint64_t)ms : 0;
}

/*
 * One audit line: a "signed" record (a batch item) or an "allowed" record (a single /sign's
 * decision, durable before its HSM call; its result record carries no intent) of a capped key
 * with an intent value is added. An "allowed" whose HSM call then failed still counts: after a
 * crash, a value is counted once too often rather than once too few.
 */
static int replay_line(ks_window *w, const char *line, size_t len, uint64_t now)
{
    int counted = 0;
    ak_u256 value;
    cJSON *j = cJSON_ParseWithLength(line, len);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key_id");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "outcome");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "time");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "intent");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(in, "value");
    if (!cJSON_IsString(key) || !cJSON_IsString(out) ||
        (strcmp(out->valuestring, "signed") != 0 && strcmp(out->valuestring, "allowed") != 0) ||
        !cJSON_IsString(tm) || !cJSON_IsString(val))
        goto out;
    long k = ks_config_key_index(w->cfg, key->valuestring, strlen(key->valuestring));
    if (k < 0 || !w->k[k].on ||
        ak_u256_parse_decimal(&value, val->valuestring, strlen(val->valuestring)) != AK_OK)
        goto out;
    uint64_t t = record_ms(tm->valuestring);
    if (t == 0)
        goto out;
    if (t > now)
        t = now;
    key_window *kw = &w->k[k];
    uint64_t e = t / kw->bucket_ms, en = now / kw->bucket_ms;
    if (en - e > KS_WINDOW_BUCKETS)
        goto out; /* already out of the window */
    pthread_mutex_lock(&kw->mu);
    add_at(kw, e, &value);
    pthread_mutex_unlock(&kw->mu);
    counted = 1;
out:
    cJSON_Delete(j);
    return counted;
}

ak_err ks_window_rebuild(ks_window *w, const char *path, uint64_t *counted, char *msg,
                         size_t msg_cap)
{
    ak_err err = AK_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int any = 0;
    *counted = 0;
    for (size_t i = 0; i < w->n; i++)
        any |= w->k[i].on;
    if (!any)
        return AK_OK;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return AK_OK;
        snprintf(msg, msg_cap, "audit file \"%s\": %s", path, strerror(errno));
        return AK_ERR_IO;
    }
    uint64_t now = now_ms(w);
    while ((n = getline(&line, &cap, f)) > 0) {
        if ((size_t)n > RT_AUDIT_LINE_MAX + 1) {
            snprintf(msg, msg_cap, "audit file \"%s\": a line longer than %d bytes", path,
                     RT_AUDIT_LINE_MAX);
            err = AK_ERR_AUDIT;
            break;
        }
        *counted += (uint64_t)replay_line(w, line, (size_t)n, now);
    }
    if (err == AK_OK && ferror(f)) {
        snprintf(msg, msg_cap, "audit file \"%s\": read error", path);
        err = AK_ERR_IO;
    }
    free(line);
    fclose(f);
    return err;
}

ak_err ks_window_start(ks_window **out, const ks_config *c, char *msg, size_t msg_cap)
{
    uint64_t counted = 0;
    ak_err err = ks_window_open(out, c, NULL);
    if (err != AK_OK) {
        snprintf(msg, msg_cap, "out of memory");
        return err;
    }
    err = ks_window_rebuild(*out, c->audit_file, &counted, msg, msg_cap);
    if (err != AK_OK) {
        ks_window_free(*out);
        *out = NULL;
    }
    return err;
}

/* Copy the running totals of from into to for each key id with a cap in both and the same
 * bucket length (a hot reload, ks_gen.h); to must not be in use yet. */
void ks_window_carry(ks_window *to, ks_window *from)
{
    if (to == NULL || from == NULL)
        return;
    for (size_t i = 0; i < to->n; i++) {
        key_window *d = &to->k[i];
        long j = ks_config_key_index(from->cfg, to->cfg->keys[i].key_id,
                                     strlen(to->cfg->keys[i].key_id));
        if (!d->on || j < 0 || (size_t)j >= from->n || !from->k[j].on ||
            from->k[j].bucket_ms != d->bucket_ms)
            continue;
        key_window *s = &from->k[j];
        pthread_mutex_lock(&s->mu);
        memcpy(d->epoch, s->epoch, sizeof d->epoch);
        memcpy(d->sum, s->sum, sizeof d->sum);
        pthread_mutex_unlock(&s->mu);
    }
}
