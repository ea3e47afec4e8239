/*
 * rt_prom.h - the Prometheus text exposition writer (format 0.0.4) both daemons use, and a
 * lock-free latency histogram. Names and HELP texts are the caller's: it keeps them within the
 * conventions `promtool check metrics` checks (counters end in _total, units in the name).
 *
 * A writer appends to a fixed buffer (rt_prom_init: overflow fails) or to a malloc'd one that
 * grows (rt_prom_init_grow); a failure sticks (rt_prom.failed) and later writes do nothing.
 * Histograms: bucket bounds in microseconds, counts not cumulative (the writer sums them), one
 * more bucket for +Inf; _count is the +Inf bucket.
 */
#ifndef RT_PROM_H
#define RT_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define RT_PROM_MAX_BOUNDS 16

typedef struct {
    char *p;
    size_t len, cap;
    int failed; /* out of room (fixed) or memory (growable) */
    int grow;
} rt_prom;

/* Write into buf[0..cap) (cap > 0). */
void rt_prom_init(rt_prom *o, char *buf, size_t cap);
/* Write into a malloc'd buffer that grows; o->p is the caller's to free (also when failed). */
AK_WUR ak_err rt_prom_init_grow(rt_prom *o, size_t initial);

void rt_prom_printf(rt_prom *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void rt_prom_head(rt_prom *o, const char *name, const char *type, const char *help);
/* A metric of one sample without labels: its head and "name v". */
void rt_prom_one(rt_prom *o, const char *name, const char *type, const char *help,
                 unsigned long long v);

/* A histogram's samples (no head): name_bucket{labels,le=...}, name_sum, name_count. labels:
 * NULL or `k="v",...`; counts: n_bounds + 1 non-cumulative counts; sum in microseconds. */
void rt_prom_histogram(rt_prom *o, const char *name, const char *labels, const uint64_t *bounds_us,
                       size_t n_bounds, const uint64_t *counts, uint64_t sum_us);

/* A lock-free histogram of durations (zero-initialise it). */
typedef struct {
    _Atomic uint64_t bucket[RT_PROM_MAX_BOUNDS + 1];
    _Atomic uint64_t sum_us;
} rt_prom_hist;

/* Count one observation of us microseconds; bounds_us ascending, n_bounds <= RT_PROM_MAX_BOUNDS. */
void rt_prom_observe(rt_prom_hist *h, const uint64_t *bounds_us, size_t n_bounds, uint64_t us);
/* rt_prom_histogram of h's counts now. */
void rt_prom_hist_write(rt_prom *o, const char *name, const char *labels, const uint64_t *bounds_us,
                        size_t n_bounds, rt_prom_hist *h);

#endif
