/* cn_metrics.c - Prometheus counters and histograms (see cn_metrics.h). */
#include "cn_metrics.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_prom.h"

/* The methods answered here, registered at start (cn_metrics_set_methods), then "forwarded". */
#define MAX_METHODS (CN_METRICS_MAX_METHODS + 1)
static const char *g_methods[MAX_METHODS];
static size_t g_n_methods; /* registered labels; the next slot counts "forwarded" */

static const int k_codes[] = {-32700, -32600, -32601, -32602, -32603,
                              -32000, -32001, -32002, -32010};
#define N_CODES (sizeof(k_codes) / sizeof(k_codes[0]))

static const char *const k_paths[CN_PATH__COUNT] = {"rpc",     "health",  "ready",
                                                    "metrics", "signers", "other"};
static const char *const k_status[] = {"2xx", "3xx", "4xx", "5xx"};

/* Histogram bucket bounds in microseconds. */
static const uint64_t k_bounds_us[] = {100,     250,     500,     1000,    2500,   5000,
                                       10000,   25000,   50000,   100000,  250000, 500000,
                                       1000000, 2500000, 5000000, 10000000};
#define N_BOUNDS (sizeof(k_bounds_us) / sizeof(k_bounds_us[0]))

typedef rt_prom_hist histogram;

static _Atomic uint64_t g_http[CN_PATH__COUNT][4];
static _Atomic uint64_t g_rpc[MAX_METHODS];
static _Atomic uint64_t g_rpc_other_err;
static _Atomic uint64_t g_err[N_CODES];
static _Atomic uint64_t g_sign[CN_METRICS_MAX_ACCOUNTS][2];
static char g_account[CN_METRICS_MAX_ACCOUNTS][48];
static _Atomic uint64_t g_ds[2];
static _Atomic uint64_t g_nonce_retries;
static _Atomic uint64_t g_auth_failures;
static _Atomic uint64_t g_rate_limited; /* signing calls refused by the per-client rate limit */
static _Atomic uint64_t g_reload[2];    /* configuration reloads: ok, error */
static _Atomic uint64_t g_generation;   /* the configuration generation in force */
static histogram g_sign_h, g_ds_h;

static void observe(histogram *h, double seconds)
{
    rt_prom_observe(h, k_bounds_us, N_BOUNDS, seconds <= 0 ? 0 : (uint64_t)(seconds * 1e6));
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

void cn_metrics_set_methods(const char *const *names, size_t n)
{
    g_n_methods = n < CN_METRICS_MAX_METHODS ? n : CN_METRICS_MAX_METHODS;
    for (size_t i = 0; i < g_n_methods; i++)
        g_methods[i] = names[i];
}

void cn_metrics_rpc(const char *method)
{
    size_t i;
    for (i = 0; i < g_n_methods; i++)
        if (method && strcmp(method, g_methods[i]) == 0)
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

void cn_metrics_rate_limited(unsigned n)
{
    atomic_fetch_add_explicit(&g_rate_limited, n, memory_order_relaxed);
}

void cn_metrics_config_reload(int ok)
{
    atomic_fetch_add_explicit(&g_reload[ok ? 0 : 1], 1, memory_order_relaxed);
}

void cn_metrics_config_generation(uint64_t generation)
{
    atomic_store_explicit(&g_generation, generation, memory_order_relaxed);
}

void cn_metrics_auth_failure(void)
{
    atomic_fetch_add_explicit(&g_auth_failures, 1, memory_order_relaxed);
}

/* ---- per-signer metrics (cn_signer_manager) ---- */

static const char *const k_sfail[CN_SFAIL__COUNT] = {
    "timeout", "network", "unavailable", "refused", "bad_signature", "wrong_key", "other"};
static const char *const k_circuit[3] = {"closed", "open", "half_open"};

typedef struct {
    char labels[256]; /* account="..",role="..",signer="..",type=".." */
    _Atomic uint64_t ok;
    _Atomic uint64_t fail[CN_SFAIL__COUNT];
    _Atomic int circuit;
    histogram h;
} signer_metrics;

static signer_metrics g_signers[CN_METRICS_MAX_SIGNERS];
static _Atomic int g_n_signers;                             /* slots handed out */
static _Atomic int g_signers_ready[CN_METRICS_MAX_SIGNERS]; /* labels written */

cn_sign_failure cn_sign_failure_of(ak_err e)
{
    switch (e) {
    case AK_ERR_TIMEOUT:
        return CN_SFAIL_TIMEOUT;
    case AK_ERR_NETWORK:
    case AK_ERR_IO:
        return CN_SFAIL_NETWORK;
    case AK_ERR_UNAVAILABLE:
    case AK_ERR_HSM_UNAVAILABLE:
    case AK_ERR_BUSY:
        return CN_SFAIL_UNAVAILABLE;
    case AK_ERR_AUTH:
    case AK_ERR_FORBIDDEN:
    case AK_ERR_KEY_NOT_FOUND:
    case AK_ERR_PIN:
        return CN_SFAIL_REFUSED;
    case AK_ERR_DER:
    case AK_ERR_SIG:
        return CN_SFAIL_BAD_SIG;
    case AK_ERR_RECOVER:
        return CN_SFAIL_WRONG_KEY;
    default:
        return CN_SFAIL_OTHER;
    }
}

const char *cn_sign_failure_name(cn_sign_failure f)
{
    return f < CN_SFAIL__COUNT ? k_sfail[f] : "other";
}

const char *cn_circuit_name(cn_circuit c)
{
    return (unsigned)c < 3 ? k_circuit[c] : "unknown";
}

/* Copy v into dst keeping only [A-Za-z0-9_.:-] (others become '_'): safe in a label value. */
static void label_copy(char *dst, size_t cap, const char *v)
{
    size_t i = 0;
    for (; v != NULL && v[i] != '\0' && i + 1 < cap; i++) {
        char c = v[i];
        int okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        if (!okc)
            c = '_';
        dst[i] = c;
    }
    dst[i] = '\0';
}

int cn_metrics_signer_register(const char *account, const char *role, const char *name,
                               const char *type)
{
    char a[48], r[24], n[64], t[32], labels[sizeof g_signers[0].labels];
    label_copy(a, sizeof a, account);
    label_copy(r, sizeof r, role);
    label_copy(n, sizeof n, name);
    label_copy(t, sizeof t, type);
    snprintf(labels, sizeof labels, "account=\"%s\",role=\"%s\",signer=\"%s\",type=\"%s\"", a, r, n,
             t);
    /* The same signer again (a configuration reload rebuilt it): its series continue. */
    int seen = atomic_load(&g_n_signers);
    for (int k = 0; k < seen && k < CN_METRICS_MAX_SIGNERS; k++)
        if (atomic_load(&g_signers_ready[k]) && strcmp(g_signers[k].labels, labels) == 0)
            return k;
    int i = atomic_fetch_add(&g_n_signers, 1);
    if (i >= CN_METRICS_MAX_SIGNERS)
        return -1;
    memcpy(g_signers[i].labels, labels, sizeof labels);
    atomic_store(&g_signers_ready[i], 1);
    return i;
}

void cn_metrics_signer_sign(int idx, int ok, cn_sign_failure reason, double seconds)
{
    if (idx < 0 || idx >= CN_METRICS_MAX_SIGNERS)
        return;
    signer_metrics *m = &g_signers[idx];
    if (ok)
        atomic_fetch_add_explicit(&m->ok, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&m->fail[reason < CN_SFAIL__COUNT ? reason : CN_SFAIL_OTHER], 1,
                                  memory_order_relaxed);
    observe(&m->h, seconds);
}

void cn_metrics_signer_circuit(int idx, cn_circuit state)
{
    if (idx >= 0 && idx < CN_METRICS_MAX_SIGNERS)
        atomic_store(&g_signers[idx].circuit, (int)state);
}

static uint64_t ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void render_histogram(rt_prom *o, const char *name, const char *help, histogram *h)
{
    rt_prom_head(o, name, "histogram", help);
    rt_prom_hist_write(o, name, NULL, k_bounds_us, N_BOUNDS, h);
}

static void render_signers(rt_prom *o)
{
    int n = atomic_load(&g_n_signers);
    if (n > CN_METRICS_MAX_SIGNERS)
        n = CN_METRICS_MAX_SIGNERS;
    if (n == 0)
        return;
    rt_prom_head(
        o, "anode_connector_signer_signatures_total", "counter",
        "Signatures a signer returned to the manager (checked against the account's key).");
    for (int i = 0; i < n; i++)
        if (atomic_load(&g_signers_ready[i]))
            rt_prom_printf(o, "anode_connector_signer_signatures_total{%s} %llu\n",
                           g_signers[i].labels, (unsigned long long)ld(&g_signers[i].ok));
    rt_prom_head(o, "anode_connector_signer_failures_total", "counter",
                 "Failed signature attempts by signer and reason.");
    for (int i = 0; i < n; i++)
        for (size_t r = 0; r < CN_SFAIL__COUNT && atomic_load(&g_signers_ready[i]); r++)
            rt_prom_printf(o, "anode_connector_signer_failures_total{%s,reason=\"%s\"} %llu\n",
                           g_signers[i].labels, k_sfail[r],
                           (unsigned long long)ld(&g_signers[i].fail[r]));
    rt_prom_head(o, "anode_connector_signer_circuit_state", "gauge",
                 "Circuit breaker state of each signer (1 for the current state).");
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3 && atomic_load(&g_signers_ready[i]); c++)
            rt_prom_printf(o, "anode_connector_signer_circuit_state{%s,state=\"%s\"} %d\n",
                           g_signers[i].labels, k_circuit[c],
                           atomic_load(&g_signers[i].circuit) == c ? 1 : 0);
    const char *hn = "anode_connector_signer_sign_duration_seconds";
    rt_prom_head(o, hn, "histogram",
                 "Latency of one signature attempt by signer (failures included).");
    for (int i = 0; i < n; i++)
        if (atomic_load(&g_signers_ready[i]))
            rt_prom_hist_write(o, hn, g_signers[i].labels, k_bounds_us, N_BOUNDS, &g_signers[i].h);
}

/* ---- certificate expiry (cn_metrics_cert_register) ------------------------------------------ */

typedef struct {
    char labels[128];
    char path[CN_METRICS_CERT_PATH_MAX + 1];
    int reread;          /* 1: read the file at every render ("client") */
    long long not_after; /* read once ("listener"); 0 = unknown */
} cert_row;

static pthread_mutex_t g_certs_mu = PTHREAD_MUTEX_INITIALIZER;
static cert_row g_certs[CN_METRICS_MAX_CERTS];
static size_t g_n_certs;

/* notAfter of the first PEM certificate in path, unix seconds; 0 if unreadable. */
static long long cert_not_after(const char *path)
{
    long long t = 0;
    struct tm tm;
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    memset(&tm, 0, sizeof tm);
    if (x != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        t = (long long)timegm(&tm);
    X509_free(x);
    BIO_free(bio);
    return t;
}

int cn_metrics_cert_register(const char *kind, const char *name, const char *pem_path)
{
    char k[24], n[64], labels[128];
    int rc = -1;
    if (kind == NULL || pem_path == NULL || strlen(pem_path) > CN_METRICS_CERT_PATH_MAX)
        return -1;
    label_copy(k, sizeof k, kind);
    label_copy(n, sizeof n, name);
    snprintf(labels, sizeof labels, "certificate=\"%s\",name=\"%s\"", k, n);
    int reread = strcmp(kind, "listener") != 0;
    long long once = reread ? 0 : cert_not_after(pem_path);
    pthread_mutex_lock(&g_certs_mu);
    size_t i = 0;
    while (i < g_n_certs && strcmp(g_certs[i].labels, labels) != 0)
        i++;
    if (i < CN_METRICS_MAX_CERTS) {
        snprintf(g_certs[i].labels, sizeof g_certs[i].labels, "%s", labels);
        snprintf(g_certs[i].path, sizeof g_certs[i].path, "%s", pem_path);
        g_certs[i].reread = reread;
        g_certs[i].not_after = once;
        if (i == g_n_certs)
            g_n_certs++;
        rc = 0;
    }
    pthread_mutex_unlock(&g_certs_mu);
    return rc;
}

static void render_certs(rt_prom *o)
{
    pthread_mutex_lock(&g_certs_mu);
    if (g_n_certs > 0)
        rt_prom_head(o, "anode_connector_tls_expiry_timestamp_seconds", "gauge",
                     "notAfter of a TLS certificate the connector presents (unix time).");
    for (size_t i = 0; i < g_n_certs; i++) {
        long long t = g_certs[i].reread ? cert_not_after(g_certs[i].path) : g_certs[i].not_after;
        if (t > 0)
            rt_prom_printf(o, "anode_connector_tls_expiry_timestamp_seconds{%s} %lld\n",
                           g_certs[i].labels, t);
    }
    pthread_mutex_unlock(&g_certs_mu);
}

ak_err cn_metrics_render(char **out, size_t *out_len)
{
    rt_prom o;
    if (rt_prom_init_grow(&o, 8192) != AK_OK) {
        free(o.p);
        return AK_ERR_NOMEM;
    }

    rt_prom_printf(&o,
                   "# HELP anode_connector_build_info Build information.\n"
                   "# TYPE anode_connector_build_info gauge\n"
                   "anode_connector_build_info{version=\"%s\"} 1\n",
                   AK_VERSION);
    rt_prom_head(&o, "anode_connector_http_requests_total", "counter",
                 "HTTP requests by path and status class.");
    for (size_t p = 0; p < CN_PATH__COUNT; p++)
        for (size_t c = 0; c < 4; c++)
            rt_prom_printf(&o,
                           "anode_connector_http_requests_total{path=\"%s\",status=\"%s\"} %llu\n",
                           k_paths[p], k_status[c], (unsigned long long)ld(&g_http[p][c]));
    rt_prom_head(&o, "anode_connector_rpc_requests_total", "counter",
                 "JSON-RPC calls by method (methods not answered here count as forwarded).");
    for (size_t i = 0; i <= g_n_methods; i++)
        rt_prom_printf(&o, "anode_connector_rpc_requests_total{method=\"%s\"} %llu\n",
                       i < g_n_methods ? g_methods[i] : "forwarded",
                       (unsigned long long)ld(&g_rpc[i]));
    rt_prom_head(&o, "anode_connector_rpc_errors_total", "counter",
                 "JSON-RPC error responses made by the connector, by code.");
    for (size_t i = 0; i < N_CODES; i++)
        rt_prom_printf(&o, "anode_connector_rpc_errors_total{code=\"%d\"} %llu\n", k_codes[i],
                       (unsigned long long)ld(&g_err[i]));
    rt_prom_printf(&o, "anode_connector_rpc_errors_total{code=\"other\"} %llu\n",
                   (unsigned long long)ld(&g_rpc_other_err));
    rt_prom_head(&o, "anode_connector_signatures_total", "counter",
                 "Signatures requested from signer backends, by account and result.");
    for (size_t i = 0; i < CN_METRICS_MAX_ACCOUNTS; i++) {
        if (g_account[i][0] == '\0')
            continue;
        rt_prom_printf(&o, "anode_connector_signatures_total{account=\"%s\",result=\"ok\"} %llu\n",
                       g_account[i], (unsigned long long)ld(&g_sign[i][0]));
        rt_prom_printf(&o,
                       "anode_connector_signatures_total{account=\"%s\",result=\"error\"} %llu\n",
                       g_account[i], (unsigned long long)ld(&g_sign[i][1]));
    }
    render_histogram(&o, "anode_connector_sign_duration_seconds",
                     "Time to obtain one converted signature from a signer backend.", &g_sign_h);
    rt_prom_printf(&o,
                   "# HELP anode_connector_downstream_requests_total Requests sent to the "
                   "downstream node, by result.\n"
                   "# TYPE anode_connector_downstream_requests_total counter\n"
                   "anode_connector_downstream_requests_total{result=\"ok\"} %llu\n"
                   "anode_connector_downstream_requests_total{result=\"error\"} %llu\n",
                   (unsigned long long)ld(&g_ds[0]), (unsigned long long)ld(&g_ds[1]));
    render_histogram(&o, "anode_connector_downstream_duration_seconds",
                     "Round-trip time of one downstream HTTP request.", &g_ds_h);
    rt_prom_one(&o, "anode_connector_nonce_retries_total", "counter",
                "Transactions re-signed with a fresh nonce after the node refused the nonce.",
                ld(&g_nonce_retries));
    rt_prom_one(&o, "anode_connector_auth_failures_total", "counter",
                "Requests refused by client authentication.", ld(&g_auth_failures));
    rt_prom_one(&o, "anode_connector_rate_limited_total", "counter",
                "Signing calls refused by the per-client signing rate limit.", ld(&g_rate_limited));
    rt_prom_head(&o, "anode_connector_config_reload_total", "counter",
                 "Configuration reloads (SIGHUP), by result.");
    rt_prom_printf(&o,
                   "anode_connector_config_reload_total{result=\"ok\"} %llu\n"
                   "anode_connector_config_reload_total{result=\"error\"} %llu\n",
                   (unsigned long long)ld(&g_reload[0]), (unsigned long long)ld(&g_reload[1]));
    rt_prom_one(
        &o, "anode_connector_config_generation", "gauge",
        "The configuration generation in force (1 at start, +1 per reload that took effect).",
        ld(&g_generation));
    render_signers(&o);
    render_certs(&o);
    if (o.failed) {
        free(o.p);
        return AK_ERR_NOMEM;
    }
    *out = o.p;
    *out_len = o.len;
    return AK_OK;
}
