/* cn_metrics.c - Prometheus counters and histograms (see cn_metrics.h). */
#include "cn_metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_methods[] = {
    "eth_accounts",      "eth_requestAccounts",  "eth_sign",
    "personal_sign",     "eth_signTransaction",  "eth_sendTransaction",
    "eth_signTypedData", "eth_signTypedData_v4", "forwarded",
};
#define N_METHODS (sizeof(k_methods) / sizeof(k_methods[0]))

static const int k_codes[] = {-32700, -32600, -32601, -32602, -32603, -32000, -32001, -32002};
#define N_CODES (sizeof(k_codes) / sizeof(k_codes[0]))

static const char *const k_paths[CN_PATH__COUNT] = {"rpc", "health", "ready", "metrics", "other"};
static const char *const k_status[] = {"2xx", "3xx", "4xx", "5xx"};

/* Histogram bucket bounds in microseconds. */
static const uint64_t k_bounds_us[] = {100,     250,     500,     1000,    2500,   5000,
                                       10000,   25000,   50000,   100000,  250000, 500000,
                                       1000000, 2500000, 5000000, 10000000};
#define N_BOUNDS (sizeof(k_bounds_us) / sizeof(k_bounds_us[0]))

typedef struct {
    _Atomic uint64_t bucket[N_BOUNDS + 1]; /* last = +Inf (non-cumulative counts) */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
} histogram;

static _Atomic uint64_t g_http[CN_PATH__COUNT][4];
static _Atomic uint64_t g_rpc[N_METHODS];
static _Atomic uint64_t g_rpc_other_err;
static _Atomic uint64_t g_err[N_CODES];
static _Atomic uint64_t g_sign[CN_METRICS_MAX_ACCOUNTS][2];
static char g_account[CN_METRICS_MAX_ACCOUNTS][48];
static _Atomic uint64_t g_ds[2];
static _Atomic uint64_t g_nonce_retries;
static _Atomic uint64_t g_auth_failures;
static histogram g_sign_h, g_ds_h;

static void observe(histogram *h, double seconds)
{
    uint64_t us = seconds <= 0 ? 0 : (uint64_t)(seconds * 1e6);
    size_t i = 0;
    while (i < N_BOUNDS && us > k_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void cn_metrics_set_account(size_t i, const char *label)
{
    if (i < CN_METRICS_MAX_ACCOUNTS)
        snprintf(g_account[i], sizeof(g_account[i]), "%s", label);
}

void cn_metrics_http(cn_http_path path, unsigned status)
{
    unsigned c = status / 100;
    if (path >= CN_PATH__COUNT || c < 2 || c > 5)
        return;
    atomic_fetch_add_explicit(&g_http[path][c - 2], 1, memory_order_relaxed);
}

void cn_metrics_rpc(const char *method)
{
    size_t i;
    for (i = 0; i + 1 < N_METHODS; i++)
        if (method && strcmp(method, k_methods[i]) == 0)
            break;
    atomic_fetch_add_explicit(&g_rpc[i], 1, memory_order_relaxed);
}

void cn_metrics_rpc_error(int code)
{
    for (size_t i = 0; i < N_CODES; i++) {
        if (k_codes[i] == code) {
            atomic_fetch_add_explicit(&g_err[i], 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&g_rpc_other_err, 1, memory_order_relaxed);
}

void cn_metrics_sign(size_t account, int ok, double seconds)
{
    if (account < CN_METRICS_MAX_ACCOUNTS)
        atomic_fetch_add_explicit(&g_sign[account][ok ? 0 : 1], 1, memory_order_relaxed);
    observe(&g_sign_h, seconds);
}

void cn_metrics_downstream(int ok, double seconds)
{
    atomic_fetch_add_explicit(&g_ds[ok ? 0 : 1], 1, memory_order_relaxed);
    observe(&g_ds_h, seconds);
}

void cn_metrics_nonce_retry(void)
{
    atomic_fetch_add_explicit(&g_nonce_retries, 1, memory_order_relaxed);
}

void cn_metrics_auth_failure(void)
{
    atomic_fetch_add_explicit(&g_auth_failures, 1, memory_order_relaxed);
}

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} outbuf;

static void out_printf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(outbuf *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (size_t)n;
        char *np = realloc(o->p, ncap);
        if (np == NULL) {
            o->failed = 1;
            return;
        }
        o->p = np;
        o->cap = ncap;
    }
}

static uint64_t ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void render_histogram(outbuf *o, const char *name, const char *help, histogram *h)
{
    out_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cum += ld(&h->bucket[i]);
        out_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, (double)k_bounds_us[i] / 1e6,
                   (unsigned long long)cum);
    }
    cum += ld(&h->bucket[N_BOUNDS]);
    out_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    out_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, (double)ld(&h->sum_us) / 1e6, name,
               (unsigned long long)cum);
}

ak_err cn_metrics_render(char **out, size_t *out_len)
{
    outbuf o = {malloc(8192), 0, 8192, 0};
    if (o.p == NULL)
        return AK_ERR_NOMEM;

    out_printf(&o,
               "# HELP anode_connector_build_info Build information.\n"
               "# TYPE anode_connector_build_info gauge\n"
               "anode_connector_build_info{version=\"%s\"} 1\n",
               AK_VERSION);
    out_printf(&o, "# HELP anode_connector_http_requests_total HTTP requests by path and status "
                   "class.\n# TYPE anode_connector_http_requests_total counter\n");
    for (size_t p = 0; p < CN_PATH__COUNT; p++)
        for (size_t c = 0; c < 4; c++)
            out_printf(&o, "anode_connector_http_requests_total{path=\"%s\",status=\"%s\"} %llu\n",
                       k_paths[p], k_status[c], (unsigned long long)ld(&g_http[p][c]));
    out_printf(&o, "# HELP anode_connector_rpc_requests_total JSON-RPC calls by method (methods "
                   "not answered here count as forwarded).\n"
                   "# TYPE anode_connector_rpc_requests_total counter\n");
    for (size_t i = 0; i < N_METHODS; i++)
        out_printf(&o, "anode_connector_rpc_requests_total{method=\"%s\"} %llu\n", k_methods[i],
                   (unsigned long long)ld(&g_rpc[i]));
    out_printf(&o, "# HELP anode_connector_rpc_errors_total JSON-RPC error responses made by the "
                   "connector, by code.\n# TYPE anode_connector_rpc_errors_total counter\n");
    for (size_t i = 0; i < N_CODES; i++)
        out_printf(&o, "anode_connector_rpc_errors_total{code=\"%d\"} %llu\n", k_codes[i],
                   (unsigned long long)ld(&g_err[i]));
    out_printf(&o, "anode_connector_rpc_errors_total{code=\"other\"} %llu\n",
               (unsigned long long)ld(&g_rpc_other_err));
    out_printf(&o, "# HELP anode_connector_signatures_total Signatures requested from signer "
                   "backends, by account and result.\n"
                   "# TYPE anode_connector_signatures_total counter\n");
    for (size_t i = 0; i < CN_METRICS_MAX_ACCOUNTS; i++) {
        if (g_account[i][0] == '\0')
            continue;
        out_printf(&o, "anode_connector_signatures_total{account=\"%s\",result=\"ok\"} %llu\n",
                   g_account[i], (unsigned long long)ld(&g_sign[i][0]));
        out_printf(&o, "anode_connector_signatures_total{account=\"%s\",result=\"error\"} %llu\n",
                   g_account[i], (unsigned long long)ld(&g_sign[i][1]));
    }
    render_histogram(&o, "anode_connector_sign_duration_seconds",
                     "Time to obtain one converted signature from a signer backend.", &g_sign_h);
    out_printf(&o,
               "# HELP anode_connector_downstream_requests_total Requests sent to the "
               "downstream node, by result.\n"
               "# TYPE anode_connector_downstream_requests_total counter\n"
               "anode_connector_downstream_requests_total{result=\"ok\"} %llu\n"
               "anode_connector_downstream_requests_total{result=\"error\"} %llu\n",
               (unsigned long long)ld(&g_ds[0]), (unsigned long long)ld(&g_ds[1]));
    render_histogram(&o, "anode_connector_downstream_duration_seconds",
                     "Round-trip time of one downstream HTTP request.", &g_ds_h);
    out_printf(&o,
               "# HELP anode_connector_nonce_retries_total Transactions re-signed with a "
               "fresh nonce after the node refused the nonce.\n"
               "# TYPE anode_connector_nonce_retries_total counter\n"
               "anode_connector_nonce_retries_total %llu\n",
               (unsigned long long)ld(&g_nonce_retries));
    out_printf(&o,
               "# HELP anode_connector_auth_failures_total Requests refused by client "
               "authentication.\n# TYPE anode_connector_auth_failures_total counter\n"
               "anode_connector_auth_failures_total %llu\n",
               (unsigned long long)ld(&g_auth_failures));
    if (o.failed) {
        free(o.p);
        return AK_ERR_NOMEM;
    }
    *out = o.p;
    *out_len = o.len;
    return AK_OK;
}
