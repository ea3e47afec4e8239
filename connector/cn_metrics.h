/*
 * cn_metrics.h - the connector's Prometheus metrics (text exposition format 0.0.4), process-wide.
 *
 * Lock-free counters and two histograms (signature and downstream latency). Label sets are fixed
 * at start-up (methods, error codes, HTTP paths) or registered once (account names, at most
 * CN_METRICS_MAX_ACCOUNTS), so the exposition has a bounded size. Names follow the Prometheus
 * conventions checked by `promtool check metrics` (counters end in _total, units in the name).
 */
#ifndef CN_METRICS_H
#define CN_METRICS_H

#include <stddef.h>

#include "ak_err.h"

#define CN_METRICS_MAX_ACCOUNTS 64

typedef enum {
    CN_PATH_RPC = 0,
    CN_PATH_HEALTH,
    CN_PATH_READY,
    CN_PATH_METRICS,
    CN_PATH_OTHER,
    CN_PATH__COUNT
} cn_http_path;

/* Register account i's label (its EIP-55 address); i < CN_METRICS_MAX_ACCOUNTS. */
void cn_metrics_set_account(size_t i, const char *label);

void cn_metrics_http(cn_http_path path, unsigned status);
/* method: a locally answered method name, or anything else counted as "forwarded". */
void cn_metrics_rpc(const char *method);
void cn_metrics_rpc_error(int code);
void cn_metrics_sign(size_t account, int ok, double seconds);
void cn_metrics_downstream(int ok, double seconds);
void cn_metrics_nonce_retry(void);
void cn_metrics_auth_failure(void);

/* The exposition text; *out is malloc'd (caller frees), NUL-terminated. */
AK_WUR ak_err cn_metrics_render(char **out, size_t *out_len);

#endif
