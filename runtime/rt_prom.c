/* rt_prom.c - Prometheus text exposition writer and latency histogram (see rt_prom.h). */
#include "rt_prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void rt_prom_init(rt_prom *o, char *buf, size_t cap)
{
    *o = (rt_prom){.p = buf, .cap = cap, .failed = cap == 0};
    if (cap > 0)
        buf[0] = '\0';
}

ak_err rt_prom_init_grow(rt_prom *o, size_t initial)
{
    *o = (rt_prom){.p = malloc(initial), .cap = initial, .grow = 1};
    if (o->p == NULL || initial == 0) {
        o->failed = 1;
        return AK_ERR_NOMEM;
    }
    o->p[0] = '\0';
    return AK_OK;
}

void rt_prom_printf(rt_prom *o, const char *fmt, ...)
{
    while (!o->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (n > 0 ? (size_t)n : 0);
        char *np = n >= 0 && o->grow ? realloc(o->p, ncap) : NULL;
        if (np == NULL) {
            o->failed = 1;
            return;
        }
        o->p = np;
        o->cap = ncap;
    }
}

void rt_prom_head(rt_prom *o, const char *name, const char *type, const char *help)
{
    rt_prom_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void rt_prom_one(rt_prom *o, const char *name, const char *type, const char *help,
                 unsigned long long v)
{
    rt_prom_head(o, name, type, help);
    rt_prom_printf(o, "%s %llu\n", name, v);
}

void rt_prom_histogram(rt_prom *o, const char *name, const char *labels, const uint64_t *bounds_us,
                       size_t n_bounds, const uint64_t *counts, uint64_t sum_us)
{
    const char *l = labels != NULL ? labels : "", *sep = labels != NULL ? "," : "";
    unsigned long long cum = 0;
    for (size_t i = 0; i < n_bounds; i++) {
        cum += counts[i];
        rt_prom_printf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, l, sep,
                       (double)bounds_us[i] / 1e6, cum);
    }
    cum += counts[n_bounds];
    rt_prom_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep, cum);
    if (labels != NULL)
        rt_prom_printf(o, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, l, (double)sum_us / 1e6,
                       name, l, cum);
    else
        rt_prom_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name, cum);
}

void rt_prom_observe(rt_prom_hist *h, const uint64_t *bounds_us, size_t n_bounds, uint64_t us)
{
    size_t i = 0;
    while (i < n_bounds && us > bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void rt_prom_hist_write(rt_prom *o, const char *name, const char *labels, const uint64_t *bounds_us,
                        size_t n_bounds, rt_prom_hist *h)
{
    uint64_t counts[RT_PROM_MAX_BOUNDS + 1];
    if (n_bounds > RT_PROM_MAX_BOUNDS) {
        o->failed = 1;
        return;
    }
    for (size_t i = 0; i <= n_bounds; i++)
        counts[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    rt_prom_histogram(o, name, labels, bounds_us, n_bounds, counts,
                      atomic_load_explicit(&h->sum_us, memory_order_relaxed));
}
