/*
 * ks_metrics.h - the key server's counters and their Prometheus text exposition (format 0.0.4).
 *
 * Counters are lock-free atomics updated from the HTTP worker threads; ks_metrics_render()
 * writes a snapshot that passes `promtool check metrics`. Values owned by other modules (HSM
 * pool statistics, audit counters) are passed in at render time.
 * Ownership: a ks_metrics is a plain struct the caller embeds (zero-initialise it).
 */
#ifndef KS_METRICS_H
#define KS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

typedef enum {
    KS_EP_SIGN = 0,
    KS_EP_PUBKEY,
    KS_EP_HEALTH,
    KS_EP_METRICS,
    KS_EP_OTHER,
    KS_EP_COUNT
} ks_endpoint;

#define KS_N_STATUS      9 /* 200 400 403 404 405 413 429 500 503 */
#define KS_N_LAT_BUCKETS 12

typedef struct {
    atomic_uint_fast64_t requests[KS_EP_COUNT][KS_N_STATUS];
    atomic_uint_fast64_t lat_bucket[KS_N_LAT_BUCKETS + 1]; /* last = +Inf */
    atomic_uint_fast64_t lat_sum_us;
    atomic_uint_fast64_t lat_count;
    atomic_uint_fast64_t signatures;         /* signatures returned to clients */
    atomic_uint_fast64_t refused;            /* sign requests refused (403) */
    atomic_uint_fast64_t rate_limited;       /* sign requests refused by the client's rate limit */
    atomic_uint_fast64_t sign_failures;      /* HSM signing failures seen by the server */
    atomic_uint_fast64_t tls_rejected;       /* requests on connections whose cert did not verify */
    atomic_uint_fast64_t tls_reloads_ok;     /* SIGHUP reloads of the TLS files that took effect */
    atomic_uint_fast64_t tls_reloads_failed; /* ... refused (the previous files stay in force) */
    atomic_uint_fast64_t config_reloads_ok;  /* SIGHUP reloads of the configuration in force */
    atomic_uint_fast64_t config_reloads_failed; /* ... refused (the previous one stays in force) */
    atomic_uint_fast64_t config_generation;     /* the generation in force (1 at start) */
    /* unauthenticated connections closed by ks_guard, by reason */
    atomic_uint_fast64_t conn_handshake_deadline;
    atomic_uint_fast64_t conn_header_deadline;
    atomic_uint_fast64_t conn_closed_ip_cap;
    atomic_uint_fast64_t conn_evicted;
} ks_metrics;

typedef struct {
    uint64_t hsm_sign_ok, hsm_sign_errors, hsm_reconnects, hsm_timeouts;
    unsigned sessions_open, sessions_in_use, sessions_max;
    uint64_t audit_records, audit_failures, audit_syncs;
    int hsm_up;
    /* Expiry of the TLS files (unix seconds, 0 = unknown: not rendered); see ks_tls_expiry. */
    int64_t tls_cert_not_after, tls_client_ca_not_after, tls_crl_next_update;
} ks_metrics_ext;

void ks_metrics_request(ks_metrics *m, ks_endpoint ep, unsigned http_status);
void ks_metrics_sign_latency(ks_metrics *m, uint64_t us);

/* Render into out (cap bytes); *len gets the length. AK_ERR_BUFFER if it does not fit. */
AK_WUR ak_err ks_metrics_render(char *out, size_t cap, size_t *len, ks_metrics *m,
                                const ks_metrics_ext *ext);

#endif
