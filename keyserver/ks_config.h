/*
 * ks_config.h - the anode-keyserver JSON configuration: parse, validate, and read the PIN.
 *
 * ks_config_load() reads the file (at most KS_CONFIG_MAX_FILE bytes), checks every field and
 * fills a ks_config. Any problem is AK_ERR_CONFIG with a message naming the field
 * ("clients.cn:alice[1]: unknown key id \"k9\""); the daemon prints it and exits 2. The
 * configuration never holds the PIN itself, only where to find it (a file or an environment
 * variable): ks_config_read_pin() fetches it into locked memory when the token is opened.
 *
 * Ownership: ks_config_load() allocates *out; free with ks_config_free() (NULL allowed).
 * Limits: KS_MAX_KEYS keys, KS_MAX_CLIENTS clients, ids and names of bounded length.
 */
#ifndef KS_CONFIG_H
#define KS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ak_policy.h"
#include "st_store.h"

#define KS_CONFIG_MAX_FILE (1024 * 1024)
#define KS_MAX_KEYS        256
#define KS_MAX_CLIENTS     1024
#define KS_KEY_ID_MAX      128 /* bytes of a key id (printable ASCII, no spaces) */
#define KS_CN_MAX          256
#define KS_PATH_MAX        1024
#define KS_MSG_MAX         512 /* size of an error message buffer that is always enough */

typedef struct {
    char key_id[KS_KEY_ID_MAX + 1];
    char *uri;         /* the pkcs11: URI as written (heap) */
    ak_policy *policy; /* keys.<id>.policy (heap; NULL: the default, ak_policy_init) */
} ks_key_cfg;

typedef struct {
    int by_fingerprint;     /* 1: fp is the identity, 0: cn is */
    char cn[KS_CN_MAX + 1]; /* subject CN */
    uint8_t fp[32];         /* SHA-256 of the certificate DER */
    int all_keys;           /* "*" */
    uint32_t *key_idx;      /* indexes into ks_config.keys (heap) */
    size_t n_keys;
    unsigned rate_per_s; /* signatures per second, token bucket; 0: unlimited */
    unsigned rate_burst; /* bucket size (default rate_per_s) */
    /* "policies": {key id: policy}: replaces the key's policy for this client, except the
     * key's cumulative_cap (one running total per key, whoever signs) */
    size_t n_policies;
    uint32_t *policy_key; /* indexes into ks_config.keys (heap) */
    ak_policy **policies; /* (heap, each freed with ks_policy_free) */
} ks_client_cfg;

typedef enum { KS_FSYNC_ALWAYS = 0, KS_FSYNC_INTERVAL = 1 } ks_fsync_mode;

typedef struct {
    /* listen */
    char listen_address[64];
    unsigned port;
    /* tls */
    char tls_cert[KS_PATH_MAX + 1];
    char tls_key[KS_PATH_MAX + 1];
    char tls_client_ca[KS_PATH_MAX + 1];
    char tls_crl[KS_PATH_MAX + 1]; /* "" = none */
    int tls_crl_required;          /* 1: a CRL is required, covering every CA of client_ca */
    char tls_client_issuers[KS_PATH_MAX + 1]; /* "" = the certificates of client_ca */
    /* pkcs11 */
    char module[KS_PATH_MAX + 1];
    char token_label[65];
    char pin_file[KS_PATH_MAX + 1]; /* exactly one of pin_file / pin_env */
    char pin_env[128];
    unsigned max_sessions;
    unsigned op_timeout_ms;
    int bounded_calls; /* 1: HSM calls on the token's worker threads (deadline on hung calls) */
    /* keys and clients */
    ks_key_cfg *keys;
    size_t n_keys;
    ks_client_cfg *clients;
    size_t n_clients;
    /* audit */
    char audit_file[KS_PATH_MAX + 1];
    ks_fsync_mode audit_fsync;
    unsigned audit_interval_ms;
    char audit_anchor_file[KS_PATH_MAX + 1]; /* "" = no anchor (rt_audit.h) */
    unsigned audit_anchor_ms;
    /* limits */
    size_t max_body;
    unsigned max_batch;
    unsigned max_json_depth;
    unsigned max_connections;
    unsigned max_per_ip;
    unsigned connection_timeout_s;
    size_t connection_memory;
    unsigned threads; /* 0 = a thread per connection, N = epoll pool of N (see ks_http.h) */
    unsigned handshake_timeout_s; /* TLS handshake deadline from connection start (ks_guard.h) */
    unsigned header_timeout_s;    /* first request's headers, from the end of the handshake */
    unsigned max_unauth_per_ip;   /* unauthenticated connections per client address */
    unsigned max_unauth;          /* ... in all (< max_connections) */
    /* process */
    char user[64]; /* "" = keep the current user */
    /* 1: skip the owner/mode checks of secret files (containers whose secrets are mounted
     * read-only by another user); see ks_config_check_secret() */
    int allow_insecure_secret_files;
    /* state (optional, restart-only): the PostgreSQL store an HA pair of key servers shares for
     * the keys' cumulative caps (st_store.h; docs/keyserver.md "HA pair") */
    int has_state;
    st_cfg state;
} ks_config;

AK_WUR ak_err ks_config_load(ks_config **out, const char *path, char *msg, size_t msg_cap);
void ks_config_free(ks_config *c);

/* The policy in force for key k and a client (its ks_config.clients index, -1: none): the
 * client's override for k if any, else the key's, else the default (raw_digest on, no limits).
 * Never NULL. */
const ak_policy *ks_config_policy(const ks_config *c, long client, long k);

/* Index of key_id in c->keys, or -1. */
long ks_config_key_index(const ks_config *c, const char *key_id, size_t len);

/*
 * Read the PIN from the configured file or environment variable into memory from
 * ak_secure_alloc(P11_PIN_MAX + 1); one trailing newline is stripped. The caller frees *pin with
 * ak_secure_free(*pin, KS_PIN_BUF) once the token is open. Never logs the PIN.
 * With pin_env the variable's value is overwritten in place and the variable unset once copied
 * (so /proc/PID/environ and child processes do not see it): a second call then fails.
 */
#define KS_PIN_BUF 257
AK_WUR ak_err ks_config_read_pin(const ks_config *c, char **pin, size_t *pin_len, char *msg,
                                 size_t msg_cap);

/*
 * A secret file (the PIN file, the TLS key) open on fd: refused (AK_ERR_CONFIG, msg names
 * field and path) when group or others have any permission on it, or when it is owned by
 * neither the effective user nor the configured `user`. c->allow_insecure_secret_files turns
 * the check off. fstat on the open descriptor: the file checked is the file read.
 */
AK_WUR ak_err ks_config_check_secret(const ks_config *c, int fd, const char *field,
                                     const char *path, char *msg, size_t msg_cap);

#endif
