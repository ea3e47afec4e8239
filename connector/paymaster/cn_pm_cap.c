/* cn_pm_cap.c - the paymaster's daily caps on the state store (see cn_pm_cap.h). */
#include "cn_pm_cap.h"

#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "cn_log.h"

struct cn_pm_cap {
    int has_sender, has_global;
    ak_u256 sender_cap, global_cap;
    st_store *own;       /* the memory store used without cn_pm_cap_set_state */
    st_store *shared;    /* borrowed, or NULL */
    time_t (*now)(void); /* the own store's wall clock */
    rt_clock clock;      /* wall from now, monotonic from the system */
};

static int64_t cap_wall_ns(void *ctx)
{
    const cn_pm_cap *c = ctx;
    time_t t = c->now != NULL ? c->now() : time(NULL);
    return (int64_t)t * 1000000000;
}

static int64_t cap_mono_ns(void *ctx)
{
    (void)ctx;
    return rt_clock_system()->mono_ns(rt_clock_system()->ctx);
}

ak_err cn_pm_cap_new(cn_pm_cap **out, const ak_u256 *sender_cap, const ak_u256 *global_cap)
{
    char err[128] = "";
    st_cfg cfg;
    ak_err rc = AK_ERR_NOMEM;
    cn_pm_cap *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        goto out;
    c->has_sender = sender_cap != NULL;
    c->has_global = global_cap != NULL;
    if (sender_cap != NULL)
        c->sender_cap = *sender_cap;
    if (global_cap != NULL)
        c->global_cap = *global_cap;
    c->clock = (rt_clock){cap_mono_ns, cap_wall_ns, c};
    if ((c->has_sender || c->has_global) &&
        ((rc = st_cfg_parse(&cfg, NULL, err, sizeof(err))) != AK_OK ||
         (rc = st_open(&c->own, &cfg, &c->clock, err, sizeof(err))) != AK_OK))
        goto out;
    *out = c;
    c = NULL;
    rc = AK_OK;
out:
    cn_pm_cap_free(c);
    return rc;
}

void cn_pm_cap_free(cn_pm_cap *c)
{
    if (c == NULL)
        return;
    st_close(c->own);
    free(c);
}

void cn_pm_cap_set_state(cn_pm_cap *c, st_store *st)
{
    c->shared = st;
}

void cn_pm_cap_set_clock(cn_pm_cap *c, time_t (*now)(void))
{
    c->now = now;
}

static st_store *store(const cn_pm_cap *c)
{
    return c->shared != NULL ? c->shared : c->own;
}

/* Over cap: spent + cost > cap, or nothing left (spent >= cap). */
static int over(const ak_u256 *spent, const ak_u256 *cost, const ak_u256 *cap)
{
    ak_u256 total;
    return ak_u256_add(&total, spent, cost) != AK_OK || ak_u256_cmp(&total, cap) > 0 ||
           ak_u256_cmp(spent, cap) >= 0;
}

ak_err cn_pm_cap_check(cn_pm_cap *c, const char **rule, const uint8_t sender[20],
                       const ak_u256 *cost)
{
    ak_u256 s, g;
    *rule = NULL;
    if (!c->has_sender && !c->has_global)
        return AK_OK;
    ak_err rc = st_pm_spent(store(c), &s, &g, sender);
    if (rc != AK_OK)
        return rc;
    if (c->has_sender && over(&s, cost, &c->sender_cap))
        *rule = st_deny_rule(ST_DENY_SENDER);
    else if (c->has_global && over(&g, cost, &c->global_cap))
        *rule = st_deny_rule(ST_DENY_GLOBAL);
    return *rule != NULL ? AK_ERR_FORBIDDEN : AK_OK;
}

ak_err cn_pm_cap_reserve(cn_pm_cap *c, st_resv *out, const char **rule, const uint8_t sender[20],
                         const ak_u256 *cost)
{
    *rule = NULL;
    memset(out, 0, sizeof(*out));
    if (!c->has_sender && !c->has_global)
        return AK_OK;
    ak_err rc = st_pm_reserve(store(c), out, sender, cost, c->has_sender ? &c->sender_cap : NULL,
                              c->has_global ? &c->global_cap : NULL);
    if (rc == AK_ERR_FORBIDDEN)
        *rule = st_deny_rule(out->deny);
    return rc;
}

void cn_pm_cap_release(cn_pm_cap *c, const st_resv *r)
{
    if (r->kind == 0)
        return;
    ak_err rc = st_release(store(c), r);
    if (rc != AK_OK) {
        char a[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(a, r->account);
        cn_log(CN_LOG_WARN, "paymaster reservation not released: it stays counted today", "sender",
               a, "reason", ak_strerror(rc), (char *)NULL);
    }
}
