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
#include <stdint.h>

#include "ak_err.h"

#define CN_METRICS_MAX_ACCOUNTS 64

typedef enum {
    CN_PATH_RPC = 0,
    CN_PATH_HEALTH,
    CN_PATH_READY,
    CN_PATH_METRICS,
    CN_PATH_SIGNERS,
    CN_PATH_OTHER,
    CN_PATH__COUNT
} cn_http_path;

/* Register account i's label (its EIP-55 address); i < CN_METRICS_MAX_ACCOUNTS. */
void cn_metrics_set_account(size_t i, const char *label);

void cn_metrics_http(cn_http_path path, unsigned status);
/*
 * The method labels: the names of the methods answered here (rpc's method table registers them
 * at start, before any request; the strings must outlive the process), at most
 * CN_METRICS_MAX_METHODS. Any other method is counted as "forwarded".
 */
#define CN_METRICS_MAX_METHODS 32
void cn_metrics_set_methods(const char *const *names, size_t n);
void cn_metrics_rpc(const char *method);
void cn_metrics_rpc_error(int code);
void cn_metrics_sign(size_t account, int ok, double seconds);
void cn_metrics_downstream(int ok, double seconds);
void cn_metrics_nonce_retry(void);
void cn_metrics_auth_failure(void);
/* n signing calls refused by the per-client signing rate limit (cn_rate). */
void cn_metrics_rate_limited(unsigned n);
/* A configuration reload (SIGHUP) that took effect or not: config_reload_total{result}. */
void cn_metrics_config_reload(int ok);
/* The configuration generation in force (1 at start): config_generation. */
void cn_metrics_config_generation(uint64_t generation);

/*
 * Per-signer metrics (cn_signer_manager): each signer of each account registers once and gets
 * an index (-1 when CN_METRICS_MAX_SIGNERS are taken: that signer then has no metrics). Labels
 * are sanitised to [A-Za-z0-9_.:-] here. Failure reasons are a fixed set (cn_sign_failure).
 */
#define CN_METRICS_MAX_SIGNERS 256

typedef enum {
    CN_SFAIL_TIMEOUT = 0, /* a deadline passed */
    CN_SFAIL_NETWORK,     /* refused, reset, TLS */
    CN_SFAIL_UNAVAILABLE, /* 503, HSM unavailable, busy */
    CN_SFAIL_REFUSED,     /* auth, forbidden, key not found, PIN */
    CN_SFAIL_BAD_SIG,     /* malformed DER or invalid (r, s) */
    CN_SFAIL_WRONG_KEY,   /* a valid signature, but not by the account's key */
    CN_SFAIL_OTHER,
    CN_SFAIL__COUNT
} cn_sign_failure;

typedef enum { CN_CIRCUIT_CLOSED = 0, CN_CIRCUIT_OPEN = 1, CN_CIRCUIT_HALF_OPEN = 2 } cn_circuit;

cn_sign_failure cn_sign_failure_of(ak_err e);
const char *cn_sign_failure_name(cn_sign_failure f);
const char *cn_circuit_name(cn_circuit c);

int cn_metrics_signer_register(const char *account, const char *role, const char *name,
                               const char *type);
/* ok: the signature was returned; else reason says why not. */
void cn_metrics_signer_sign(int idx, int ok, cn_sign_failure reason, double seconds);
void cn_metrics_signer_circuit(int idx, cn_circuit state);

/*
 * Certificate expiry (anode_connector_tls_expiry_timestamp_seconds{certificate,name}): the
 * notAfter of the first certificate in a PEM file. kind is "listener" (http.tls, read once here:
 * the listener keeps the certificate it started with) or "client" (a signer's client_cert toward
 * a key server, read again at every render: new connections use the file as it is then). A
 * file that cannot be read or parsed is left out of the exposition. Registering the same
 * (kind, name) again replaces its path. At most CN_METRICS_MAX_CERTS; returns 0, or -1 if full
 * or the path is longer than CN_METRICS_CERT_PATH_MAX.
 */
#define CN_METRICS_MAX_CERTS     64
#define CN_METRICS_CERT_PATH_MAX 1024
int cn_metrics_cert_register(const char *kind, const char *name, const char *pem_path);

/* The exposition text; *out is malloc'd (caller frees), NUL-terminated. */
AK_WUR ak_err cn_metrics_render(char **out, size_t *out_len);

#endif
