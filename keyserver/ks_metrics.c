/* ks_metrics.c - counters and Prometheus exposition (see ks_metrics.h). */
#include "ks_metrics.h"

#include <stdio.h>

#include "rt_prom.h"

static const unsigned status_codes[KS_N_STATUS] = {200, 400, 403, 404, 405, 413, 429, 500, 503};
static const char *const ep_names[KS_EP_COUNT] = {"sign", "pubkey", "health", "metrics", "other"};
/* Upper bounds of the signature latency buckets, microseconds. */
static const uint64_t lat_le_us[KS_N_LAT_BUCKETS] = {250,   500,   1000,   2000,   5000,   10000,
                                                     25000, 50000, 100000, 250000, 500000, 1000000};

void ks_metrics_request(ks_metrics *m, ks_endpoint ep, unsigned http_status)
{
    unsigned i = 6; /* anything unexpected counts as 500 */
    for (unsigned k = 0; k < KS_N_STATUS; k++)
        if (status_codes[k] == http_status)
            i = k;
    if ((unsigned)ep >= KS_EP_COUNT)
        ep = KS_EP_OTHER;
    atomic_fetch_add_explicit(&m->requests[ep][i], 1, memory_order_relaxed);
}

void ks_metrics_sign_latency(ks_metrics *m, uint64_t us)
{
    unsigned b = KS_N_LAT_BUCKETS;
    for (unsigned k = 0; k < KS_N_LAT_BUCKETS; k++)
        if (us <= lat_le_us[k]) {
            b = k;
            break;
        }
    atomic_fetch_add_explicit(&m->lat_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_count, 1, memory_order_relaxed);
}

static void counter(rt_prom *o, const char *name, const char *help, uint64_t v)
{
    rt_prom_one(o, name, "counter", help, (unsigned long long)v);
}

static void gauge(rt_prom *o, const char *name, const char *help, uint64_t v)
{
    rt_prom_one(o, name, "gauge", help, (unsigned long long)v);
}

/* anode_keyserver_tls_expiry_timestamp_seconds{file}: notAfter of the server certificate and
 * of the client CA bundle (earliest), nextUpdate of the CRL; unknown ones are left out. */
static void tls_expiry(rt_prom *o, const ks_metrics_ext *ext)
{
    const struct {
        const char *file;
        int64_t t;
    } rows[] = {{"cert", ext->tls_cert_not_after},
                {"client_ca", ext->tls_client_ca_not_after},
                {"crl", ext->tls_crl_next_update}};
    rt_prom_printf(
        o, "# HELP anode_keyserver_tls_expiry_timestamp_seconds When the TLS file stops being "
           "valid: certificate notAfter, CRL nextUpdate (unix time).\n"
           "# TYPE anode_keyserver_tls_expiry_timestamp_seconds gauge\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].t > 0)
            rt_prom_printf(o, "anode_keyserver_tls_expiry_timestamp_seconds{file=\"%s\"} %lld\n",
                           rows[i].file, (long long)rows[i].t);
}

#define LD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

ak_err ks_metrics_render(char *out, size_t cap, size_t *len, ks_metrics *m,
                         const ks_metrics_ext *ext)
{
    rt_prom o;
    uint64_t lat[KS_N_LAT_BUCKETS + 1];
    if (cap == 0)
        return AK_ERR_BUFFER;
    rt_prom_init(&o, out, cap);
    rt_prom_printf(&o,
                   "# HELP anode_keyserver_requests_total HTTP requests by endpoint and status.\n"
                   "# TYPE anode_keyserver_requests_total counter\n");
    for (unsigned e = 0; e < KS_EP_COUNT; e++)
        for (unsigned s = 0; s < KS_N_STATUS; s++)
            rt_prom_printf(&o,
                           "anode_keyserver_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n",
                           ep_names[e], status_codes[s], LD(m->requests[e][s]));
    rt_prom_printf(&o,
                   "# HELP anode_keyserver_sign_duration_seconds Time to sign one digest, HSM call "
                   "and audit record included.\n"
                   "# TYPE anode_keyserver_sign_duration_seconds histogram\n");
    for (unsigned b = 0; b <= KS_N_LAT_BUCKETS; b++)
        lat[b] = LD(m->lat_bucket[b]);
    rt_prom_histogram(&o, "anode_keyserver_sign_duration_seconds", NULL, lat_le_us,
                      KS_N_LAT_BUCKETS, lat, LD(m->lat_sum_us));
    counter(&o, "anode_keyserver_signatures_total", "Signatures returned to clients.",
            LD(m->signatures));
    counter(&o, "anode_keyserver_sign_refused_total",
            "Sign requests refused because the client may not use the key.", LD(m->refused));
    counter(&o, "anode_keyserver_sign_rate_limited_total",
            "Signatures refused (429) because the client's rate limit was exhausted.",
            LD(m->rate_limited));
    counter(&o, "anode_keyserver_sign_failures_total", "Sign requests that failed in the HSM.",
            LD(m->sign_failures));
    counter(&o, "anode_keyserver_tls_rejected_total",
            "Requests refused because the client certificate did not verify.", LD(m->tls_rejected));
    rt_prom_printf(
        &o,
        "# HELP anode_keyserver_tls_reload_total Reloads of the TLS files (SIGHUP) by result; "
        "on error the previous files stay in force.\n"
        "# TYPE anode_keyserver_tls_reload_total counter\n"
        "anode_keyserver_tls_reload_total{result=\"ok\"} %llu\n"
        "anode_keyserver_tls_reload_total{result=\"error\"} %llu\n",
        LD(m->tls_reloads_ok), LD(m->tls_reloads_failed));
    rt_prom_printf(
        &o,
        "# HELP anode_keyserver_config_reload_total Reloads of the whole configuration (SIGHUP) "
        "by result; on error the previous configuration stays in force.\n"
        "# TYPE anode_keyserver_config_reload_total counter\n"
        "anode_keyserver_config_reload_total{result=\"ok\"} %llu\n"
        "anode_keyserver_config_reload_total{result=\"error\"} %llu\n",
        LD(m->config_reloads_ok), LD(m->config_reloads_failed));
    rt_prom_printf(
        &o,
        "# HELP anode_keyserver_config_generation The configuration generation in force: 1 at "
        "start, one more per reload that took effect.\n"
        "# TYPE anode_keyserver_config_generation gauge\n"
        "anode_keyserver_config_generation %llu\n",
        LD(m->config_generation));
    rt_prom_printf(
        &o,
        "# HELP anode_keyserver_unauthenticated_closed_total Connections closed before they "
        "authenticated: handshake or header deadline passed, per-address cap, evicted by a newer "
        "one when all unauthenticated slots were taken.\n"
        "# TYPE anode_keyserver_unauthenticated_closed_total counter\n"
        "anode_keyserver_unauthenticated_closed_total{reason=\"handshake_deadline\"} %llu\n"
        "anode_keyserver_unauthenticated_closed_total{reason=\"header_deadline\"} %llu\n"
        "anode_keyserver_unauthenticated_closed_total{reason=\"per_address_cap\"} %llu\n"
        "anode_keyserver_unauthenticated_closed_total{reason=\"evicted\"} %llu\n",
        LD(m->conn_handshake_deadline), LD(m->conn_header_deadline), LD(m->conn_closed_ip_cap),
        LD(m->conn_evicted));
    counter(&o, "anode_keyserver_hsm_sign_calls_total", "Successful C_Sign calls on the token.",
            ext->hsm_sign_ok);
    counter(&o, "anode_keyserver_hsm_errors_total", "Failed HSM signature attempts.",
            ext->hsm_sign_errors);
    counter(&o, "anode_keyserver_hsm_reconnects_total",
            "Times sessions, login or keys were re-established after an HSM fault.",
            ext->hsm_reconnects);
    counter(&o, "anode_keyserver_hsm_timeouts_total", "HSM operations that passed their deadline.",
            ext->hsm_timeouts);
    gauge(&o, "anode_keyserver_hsm_sessions_open", "PKCS#11 sessions open in the pool.",
          ext->sessions_open);
    gauge(&o, "anode_keyserver_hsm_sessions_in_use", "PKCS#11 sessions lent to a signer now.",
          ext->sessions_in_use);
    gauge(&o, "anode_keyserver_hsm_sessions_max", "Bound of the PKCS#11 session pool.",
          ext->sessions_max);
    gauge(&o, "anode_keyserver_hsm_up", "1 if the last health probe of the token succeeded.",
          (uint64_t)(ext->hsm_up != 0));
    counter(&o, "anode_keyserver_audit_records_total", "Audit records written.",
            ext->audit_records);
    counter(&o, "anode_keyserver_audit_syncs_total",
            "fdatasync calls for audit records (group commit: fewer than records).",
            ext->audit_syncs);
    counter(&o, "anode_keyserver_audit_failures_total",
            "Audit records that could not be written (the request was refused).",
            ext->audit_failures);
    tls_expiry(&o, ext);
    if (o.failed)
        return AK_ERR_BUFFER;
    *len = o.len;
    return AK_OK;
}
