/*
 * cn_signer_manager.c - primary/backup fallback, circuit breakers and health checks for one
 * account, as a cn_signer (see cn_signer_manager.h).
 *
 * Owns: the member signers, the health thread, the cached health of each member (under mu).
 * Hot path: atomics only (circuit, counters); no lock is taken to sign.
 */
#include "cn_signer_manager.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_addr.h"
#include "ak_cfg.h"
#include "ak_hex.h"
#include "cn_audit.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_signer_factory.h"
#include "rt_ticker.h"

#define MAX_MEMBERS (1 + CN_MGR_MAX_BACKUPS)

typedef struct {
    cn_signer *s;
    char role[16]; /* "primary", "backup1", ... */
    int metrics_idx;
    _Atomic int circuit; /* cn_circuit */
    _Atomic unsigned consecutive;
    _Atomic int trial; /* a half-open trial is in flight */
    _Atomic unsigned long long ok, failed;
    cn_signer_health health; /* cached, under mgr.mu */
    int health_rc;           /* ak_err of the last ops->health */
    time_t health_at;
} member;

typedef struct {
    member m[MAX_MEMBERS];
    size_t n;
    unsigned threshold;
    unsigned interval_ms;
    const rt_clock *clock;
    char account[AK_ADDR_STR_SIZE];
    pthread_mutex_t mu; /* guards cached health */
    rt_ticker *health;  /* every interval_ms: health_tick */
} mgr;

static double now_s(const mgr *g)
{
    return (double)g->clock->mono_ns(g->clock->ctx) / 1e9;
}

static void set_circuit(mgr *g, member *m, cn_circuit c)
{
    int old = atomic_exchange(&m->circuit, (int)c);
    if (old == (int)c)
        return;
    cn_metrics_signer_circuit(m->metrics_idx, c);
    cn_log(c == CN_CIRCUIT_OPEN ? CN_LOG_WARN : CN_LOG_INFO, "signer circuit changed", "account",
           g->account, "role", m->role, "signer", m->s->name, "from",
           cn_circuit_name((cn_circuit)old), "to", cn_circuit_name(c), (char *)NULL);
}

/* One attempt on one member: sign, convert, check against the account's key. */
static ak_err try_member(mgr *g, member *m, ak_sig *sig, const uint8_t digest[32],
                         const cn_sign_ctx *ctx, const uint8_t pub[65])
{
    cn_raw_sig raw;
    memset(&raw, 0, sizeof raw);
    double t0 = now_s(g);
    cn_audit_note_signer(m->s); /* the audit record names the last signer tried */
    ak_err e = m->s->ops->sign(m->s, &raw, digest, ctx);
    if (e == AK_OK)
        e = cn_raw_sig_to_eth(sig, &raw, digest, pub);
    double dt = now_s(g) - t0;
    cn_sign_failure why = cn_sign_failure_of(e);
    cn_metrics_signer_sign(m->metrics_idx, e == AK_OK, why, dt);
    int was_trial = atomic_exchange(&m->trial, 0);
    if (e == AK_OK || e == AK_ERR_FORBIDDEN) { /* it answered: a refusal is not a failure */
        if (e == AK_OK)
            atomic_fetch_add_explicit(&m->ok, 1, memory_order_relaxed);
        atomic_store_explicit(&m->consecutive, 0, memory_order_relaxed);
        if (atomic_load_explicit(&m->circuit, memory_order_relaxed) != CN_CIRCUIT_CLOSED)
            set_circuit(g, m, CN_CIRCUIT_CLOSED);
        return e;
    }
    atomic_fetch_add_explicit(&m->failed, 1, memory_order_relaxed);
    unsigned c = atomic_fetch_add(&m->consecutive, 1) + 1;
    cn_log(CN_LOG_DEBUG, "signer failed, trying the next one", "account", g->account, "role",
           m->role, "signer", m->s->name, "reason", cn_sign_failure_name(why), "error",
           ak_strerror(e), (char *)NULL);
    if (was_trial || c >= g->threshold)
        set_circuit(g, m, CN_CIRCUIT_OPEN);
    return e;
}

/* 1: try it; 0: skip it (circuit open, or a half-open trial already running). */
static int admit(member *m)
{
    int c = atomic_load_explicit(&m->circuit, memory_order_relaxed);
    if (c == CN_CIRCUIT_CLOSED)
        return 1;
    if (c == CN_CIRCUIT_HALF_OPEN) {
        int expect = 0;
        return atomic_compare_exchange_strong(&m->trial, &expect, 1);
    }
    return 0;
}

static ak_err mgr_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                       const cn_sign_ctx *ctx)
{
    mgr *g = s->impl;
    ak_sig sig;
    ak_err last = AK_ERR_UNAVAILABLE;
    int skipped[MAX_MEMBERS] = {0}, any_skipped = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (!admit(&g->m[i])) {
            skipped[i] = any_skipped = 1;
            continue;
        }
        last = try_member(g, &g->m[i], &sig, digest, ctx, s->pubkey);
        if (last == AK_OK)
            goto done;
        if (last == AK_ERR_FORBIDDEN)
            return last; /* a signer refused (policy): no other signer may overrule it */
    }
    /* Last resort: every admitted signer failed; try the skipped ones rather than give up. */
    for (size_t i = 0; i < g->n && any_skipped; i++) {
        if (!skipped[i])
            continue;
        last = try_member(g, &g->m[i], &sig, digest, ctx, s->pubkey);
        if (last == AK_OK)
            goto done;
        if (last == AK_ERR_FORBIDDEN)
            return last;
    }
    return last;
done:
    out->form = CN_SIG_RS;
    memcpy(out->bytes, sig.r, 32);
    memcpy(out->bytes + 32, sig.s, 32);
    out->len = 64;
    out->has_recid = 1; /* checked against the account's key just now */
    out->recid = sig.recid;
    return AK_OK;
}

static void refresh_health(mgr *g, member *m)
{
    cn_signer_health h;
    memset(&h, 0, sizeof h);
    ak_err e = m->s->ops->health(m->s, &h);
    pthread_mutex_lock(&g->mu);
    m->health = h;
    m->health_rc = (int)e;
    m->health_at = (time_t)rt_clock_wall_s(g->clock);
    pthread_mutex_unlock(&g->mu);
    if (e == AK_OK && h.can_sign && atomic_load(&m->circuit) == CN_CIRCUIT_OPEN) {
        atomic_store(&m->trial, 0);
        set_circuit(g, m, CN_CIRCUIT_HALF_OPEN);
    }
}

static void health_tick(void *arg)
{
    mgr *g = arg;
    for (size_t i = 0; i < g->n; i++)
        refresh_health(g, &g->m[i]);
}

/*
 * The account can sign if one member can. Live: every member's ops->health is called now (as
 * GET /ready expects), which also refreshes the cache and half-opens a recovered circuit.
 */
static ak_err mgr_health(cn_signer *s, cn_signer_health *out)
{
    mgr *g = s->impl;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < g->n; i++)
        refresh_health(g, &g->m[i]);
    pthread_mutex_lock(&g->mu);
    out->expected_latency_ms = g->m[0].health.expected_latency_ms;
    for (size_t i = 0; i < g->n; i++) {
        member *m = &g->m[i];
        out->max_concurrency += m->health.max_concurrency;
        if (m->health_rc == AK_OK && m->health.can_sign &&
            atomic_load(&m->circuit) != CN_CIRCUIT_OPEN && !out->can_sign) {
            out->can_sign = 1;
            if (i > 0)
                out->expected_latency_ms = m->health.expected_latency_ms;
        }
    }
    if (!out->can_sign)
        snprintf(out->detail, sizeof out->detail, "no signer can sign (%.16s: %.60s)", g->m[0].role,
                 g->m[0].health.detail);
    pthread_mutex_unlock(&g->mu);
    return AK_OK;
}

static void mgr_destroy(cn_signer *s)
{
    mgr *g = s->impl;
    if (g == NULL)
        return;
    rt_ticker_stop(g->health);
    pthread_mutex_destroy(&g->mu);
    for (size_t i = 0; i < g->n; i++)
        cn_signer_free(g->m[i].s);
    free(g);
    s->impl = NULL;
}

static const cn_signer_ops k_mgr_ops = {"manager", mgr_sign, mgr_health, mgr_destroy};

int cn_signer_is_manager(const cn_signer *s)
{
    return s != NULL && s->ops == &k_mgr_ops;
}

ak_err cn_signer_manager_wrap(cn_signer **out, cn_signer **signers, size_t n, const char *name,
                              const cn_manager_opts *opts, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_signer *s = NULL;
    mgr *g = NULL;
    size_t taken = 0;
    *out = NULL;
    if (n < 1 || n > MAX_MEMBERS) {
        snprintf(err, err_cap, "an account has 1..%d signers", MAX_MEMBERS);
        rc = AK_ERR_CONFIG;
        goto out;
    }
    s = calloc(1, sizeof *s);
    g = calloc(1, sizeof *g);
    if (s == NULL || g == NULL)
        goto out;
    pthread_mutex_init(&g->mu, NULL);
    s->ops = &k_mgr_ops;
    s->impl = g;
    g->threshold = opts && opts->failure_threshold ? opts->failure_threshold : 3;
    g->interval_ms = opts && opts->health_interval_ms ? opts->health_interval_ms : 30000;
    g->clock = opts && opts->clock ? opts->clock : rt_clock_system();
    for (; taken < n; taken++) {
        member *m = &g->m[taken];
        m->s = signers[taken];
        signers[taken] = NULL;
        g->n = taken + 1;
        if (taken == 0)
            snprintf(m->role, sizeof m->role, "primary");
        else
            snprintf(m->role, sizeof m->role, "backup%zu", taken);
    }
    cn_signer *p = g->m[0].s;
    memcpy(s->pubkey, p->pubkey, sizeof s->pubkey);
    memcpy(s->address, p->address, sizeof s->address);
    ak_addr_to_checksum(g->account, s->address);
    snprintf(s->name, sizeof s->name, "%s", name && *name ? name : p->name);
    s->provider = p->provider;
    s->level = p->level;
    for (size_t i = 1; i < g->n; i++) {
        cn_signer *b = g->m[i].s;
        if (memcmp(b->pubkey, p->pubkey, sizeof p->pubkey) != 0) {
            char ab[AK_ADDR_STR_SIZE];
            ak_addr_to_checksum(ab, b->address);
            snprintf(err, err_cap,
                     "backups[%zu] (%s \"%s\") holds the key of %s, but the primary's address is "
                     "%s: every signer of an account must hold the same key",
                     i - 1, b->ops->type, b->name, ab, g->account);
            rc = AK_ERR_CONFIG;
            goto out;
        }
        if (b->level < s->level) /* the account is only as strong as its weakest signer */
            s->level = b->level;
    }
    for (size_t i = 0; i < g->n; i++) {
        member *m = &g->m[i];
        m->metrics_idx =
            cn_metrics_signer_register(g->account, m->role, m->s->name, m->s->ops->type);
        cn_metrics_signer_circuit(m->metrics_idx, CN_CIRCUIT_CLOSED);
        refresh_health(g, m);
        cn_log(CN_LOG_INFO, "account signer", "account", g->account, "role", m->role, "type",
               m->s->ops->type, "name", m->s->name, "provider", m->s->provider, "security_level",
               cn_security_level_name(m->s->level), (char *)NULL);
    }
    if ((rc = rt_ticker_start(&g->health, g->interval_ms, health_tick, g)) != AK_OK) {
        snprintf(err, err_cap, "cannot start the health-check thread");
        goto out;
    }
    *out = s;
    s = NULL;
    rc = AK_OK;
out:
    for (size_t i = taken; i < n; i++) {
        cn_signer_free(signers[i]);
        signers[i] = NULL;
    }
    if (s != NULL)
        cn_signer_free(s); /* destroys g and the members */
    else if (rc != AK_OK)
        free(g);
    return rc;
}

/* The members of an account object (policy: cn_policy.h, read by app/cn_app_accounts.c). */
static const ak_cfg_field k_account_fields[] = {
    AK_CFG_KNOWN("signer"), AK_CFG_KNOWN("primary"), AK_CFG_KNOWN("backups"),
    AK_CFG_KNOWN("name"),   AK_CFG_KNOWN("comment"), AK_CFG_KNOWN("policy"),
};

ak_err cn_signer_manager_members(const cJSON *account, const char *where,
                                 const cJSON *cfgs[CN_MGR_MAX_BACKUPS + 1], size_t *n, char *err,
                                 size_t err_cap)
{
    const cJSON *it;
    *n = 0;
    if (!cJSON_IsObject(account))
        return ak_cfg_fail(err, err_cap, "%s must be an object", where);
    if (ak_cfg_read(NULL, k_account_fields, AK_CFG_COUNT(k_account_fields), account, where, err,
                    err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    const cJSON *sg = cJSON_GetObjectItemCaseSensitive(account, "signer");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(account, "primary");
    const cJSON *bk = cJSON_GetObjectItemCaseSensitive(account, "backups");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(account, "name");
    if (sg == NULL && pr == NULL)
        return ak_cfg_fail(err, err_cap, "%s: missing required field \"primary\" (or \"signer\")",
                           where);
    if (sg != NULL && (pr != NULL || bk != NULL))
        return ak_cfg_fail(err, err_cap,
                           "%s: \"signer\" cannot be combined with \"primary\"/\"backups\"", where);
    if (name != NULL && (!cJSON_IsString(name) || strlen(name->valuestring) >= 64))
        return ak_cfg_fail(err, err_cap, "%s.name must be a string of < 64 chars", where);
    if (!cJSON_IsObject(sg ? sg : pr))
        return ak_cfg_fail(err, err_cap, "%s.%s must be a signer object", where,
                           sg ? "signer" : "primary");
    if (bk != NULL && (!cJSON_IsArray(bk) || cJSON_GetArraySize(bk) > CN_MGR_MAX_BACKUPS))
        return ak_cfg_fail(err, err_cap, "%s.backups must be an array of 0..%d signer objects",
                           where, CN_MGR_MAX_BACKUPS);
    cfgs[(*n)++] = sg ? sg : pr;
    cJSON_ArrayForEach(it, bk)
    {
        if (!cJSON_IsObject(it))
            return ak_cfg_fail(err, err_cap, "%s.backups[%zu] must be a signer object", where,
                               *n - 1);
        cfgs[(*n)++] = it;
    }
    return AK_OK;
}

ak_err cn_signer_manager_new(cn_signer **out, const cJSON *account, const cn_manager_opts *opts,
                             char *err, size_t err_cap)
{
    cn_signer *sg[MAX_MEMBERS] = {0};
    const cJSON *cfgs[MAX_MEMBERS] = {0};
    size_t n = 0;
    char e2[256] = "";
    ak_err rc = AK_ERR_CONFIG;
    *out = NULL;
    if (cn_signer_manager_members(account, "account", cfgs, &n, err, err_cap) != AK_OK)
        return rc;
    int single = cJSON_HasObjectItem(account, "signer");
    for (size_t i = 0; i < n; i++) {
        char where[32];
        if (i == 0)
            snprintf(where, sizeof where, "%s", single ? "signer" : "primary");
        else
            snprintf(where, sizeof where, "backups[%zu]", i - 1);
        rc = cn_signer_create(&sg[i], cfgs[i], e2, sizeof e2);
        if (rc != AK_OK) {
            snprintf(err, err_cap, "%s: %s", where, e2);
            goto fail;
        }
    }
    return cn_signer_manager_wrap(
        out, sg, n, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(account, "name")), opts,
        err, err_cap);
fail:
    for (size_t i = 0; i < n; i++)
        cn_signer_free(sg[i]);
    return rc == AK_OK ? AK_ERR_CONFIG : rc;
}

ak_err cn_signer_manager_stats(const cn_signer *mgr_s, size_t i, cn_manager_signer_stats *out)
{
    if (!cn_signer_is_manager(mgr_s))
        return AK_ERR_ARG;
    mgr *g = mgr_s->impl;
    if (i >= g->n)
        return AK_ERR_RANGE;
    member *m = &g->m[i];
    out->ok = atomic_load(&m->ok);
    out->failed = atomic_load(&m->failed);
    out->consecutive_failures = atomic_load(&m->consecutive);
    out->circuit = atomic_load(&m->circuit);
    return AK_OK;
}

ak_err cn_signer_manager_carry(cn_signer *to, size_t i, const cn_signer *from, size_t j)
{
    if (!cn_signer_is_manager(to) || !cn_signer_is_manager(from))
        return AK_ERR_ARG;
    mgr *gt = to->impl, *gf = from->impl;
    if (i >= gt->n || j >= gf->n)
        return AK_ERR_RANGE;
    member *mt = &gt->m[i], *mf = &gf->m[j];
    atomic_store(&mt->consecutive, atomic_load(&mf->consecutive));
    atomic_store(&mt->ok, atomic_load(&mf->ok));
    atomic_store(&mt->failed, atomic_load(&mf->failed));
    /* An open circuit stays open, unless the new signer's own first health check (made when it
     * was built) says it can sign: then half-open, as the health thread would make it. A trial in
     * flight belongs to the old signer. */
    int c = atomic_load(&mf->circuit);
    if (c != CN_CIRCUIT_CLOSED) {
        pthread_mutex_lock(&gt->mu);
        int can = mt->health_rc == AK_OK && mt->health.can_sign;
        pthread_mutex_unlock(&gt->mu);
        c = can ? CN_CIRCUIT_HALF_OPEN : CN_CIRCUIT_OPEN;
    }
    atomic_store(&mt->trial, 0);
    set_circuit(gt, mt, (cn_circuit)c);
    return AK_OK;
}

/* One signer's entry; h is its health (cached for members, live for plain signers). */
static cJSON *signer_json(const cn_signer *s, const char *role, const cn_signer_health *h,
                          int health_rc, const member *m)
{
    cJSON *o = cJSON_CreateObject(), *cap = cJSON_CreateObject(), *he = cJSON_CreateObject();
    if (o == NULL || cap == NULL || he == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(cap);
        cJSON_Delete(he);
        return NULL;
    }
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "type", s->ops->type);
    cJSON_AddStringToObject(o, "provider", s->provider ? s->provider : "");
    cJSON_AddStringToObject(o, "security_level", cn_security_level_name(s->level));
    cJSON_AddBoolToObject(cap, "can_sign", health_rc == AK_OK && h->can_sign);
    cJSON_AddNumberToObject(cap, "expected_latency_ms", h->expected_latency_ms);
    cJSON_AddNumberToObject(cap, "max_concurrency", h->max_concurrency);
    cJSON_AddItemToObject(o, "capability", cap);
    cJSON_AddStringToObject(he, "status",
                            health_rc == AK_OK && h->can_sign ? "healthy" : "unhealthy");
    cJSON_AddStringToObject(he, "detail", health_rc == AK_OK ? h->detail : ak_strerror(health_rc));
    if (m != NULL)
        cJSON_AddNumberToObject(he, "checked_at", (double)m->health_at);
    cJSON_AddItemToObject(o, "health", he);
    if (m != NULL) {
        cJSON_AddStringToObject(o, "circuit",
                                cn_circuit_name((cn_circuit)atomic_load(&m->circuit)));
        cJSON_AddNumberToObject(o, "consecutive_failures", atomic_load(&m->consecutive));
        cJSON_AddNumberToObject(o, "signatures", (double)atomic_load(&m->ok));
        cJSON_AddNumberToObject(o, "failures", (double)atomic_load(&m->failed));
    } else {
        cJSON_AddStringToObject(o, "circuit", "closed");
    }
    return o;
}

ak_err cn_signer_manager_status_json(cn_signer *const *accounts, size_t n, char **out,
                                     size_t *out_len)
{
    ak_err rc = AK_ERR_NOMEM;
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "accounts");
    if (root == NULL || arr == NULL)
        goto out;
    for (size_t a = 0; a < n; a++) {
        cn_signer *s = accounts[a];
        cJSON *acc = cJSON_CreateObject(), *list = NULL;
        char addr[AK_ADDR_STR_SIZE];
        if (acc == NULL || !cJSON_AddItemToArray(arr, acc))
            goto out;
        ak_addr_to_checksum(addr, s->address);
        cJSON_AddStringToObject(acc, "address", addr);
        cJSON_AddStringToObject(acc, "name", s->name);
        cJSON_AddStringToObject(acc, "security_level", cn_security_level_name(s->level));
        list = cJSON_AddArrayToObject(acc, "signers");
        if (list == NULL)
            goto out;
        if (!cn_signer_is_manager(s)) {
            cn_signer_health h;
            memset(&h, 0, sizeof h);
            ak_err hr = s->ops->health(s, &h);
            cJSON *e = signer_json(s, "primary", &h, (int)hr, NULL);
            if (e == NULL || !cJSON_AddItemToArray(list, e))
                goto out;
            continue;
        }
        mgr *g = s->impl;
        for (size_t i = 0; i < g->n; i++) {
            member *m = &g->m[i];
            pthread_mutex_lock(&g->mu);
            cn_signer_health h = m->health;
            int hr = m->health_rc;
            pthread_mutex_unlock(&g->mu);
            cJSON *e = signer_json(m->s, m->role, &h, hr, m);
            if (e == NULL || !cJSON_AddItemToArray(list, e))
                goto out;
        }
    }
    *out = cJSON_PrintUnformatted(root);
    if (*out == NULL)
        goto out;
    *out_len = strlen(*out);
    rc = AK_OK;
out:
    cJSON_Delete(root);
    return rc;
}
