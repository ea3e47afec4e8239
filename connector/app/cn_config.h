/*
 * cn_config.h - the connector's command line (Web3Signer eth1 flag names), the environment
 * variables that stand in for each flag, and the JSON configuration file.
 *
 * Precedence: command-line flag > environment variable > default. Every flag --foo-bar has the
 * variable ANODE_FOO_BAR (e.g. --http-port / ANODE_HTTP_PORT). The downstream node is either
 * --downstream-url, or http://--downstream-http-host:--downstream-http-port--downstream-http-path.
 *
 * The JSON file (bounded to CN_CONFIG_MAX_BYTES, unknown keys refused so typos do not pass
 * silently) is described in docs/connector.md: "accounts" (each with a "signer" object handled
 * by cn_signer_factory, or a "primary" and "backups" for cn_signer_manager; or named "profiles"
 * of accounts, see docs/signers.md; ${VAR} in string values comes from the environment),
 * "signer_manager", "http", "auth" (cn_auth), "allow_unprotected_tx", "nonce_retries",
 * "max_batch", "batch_threads", "downstream", "audit" (cn_audit.h), "state" (st_store.h).
 */
#ifndef CN_CONFIG_H
#define CN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_audit.h"
#include "cn_log.h"
#include "st_store.h"

#define CN_CONFIG_MAX_BYTES (1024 * 1024)

typedef struct {
    char http_host[64];
    unsigned http_port;
    char ds_host[256];
    unsigned ds_port;
    char ds_path[256];
    char ds_url[600]; /* final downstream URL */
    long ds_timeout_ms;
    uint64_t chain_id; /* 0 = take from the downstream */
    char config_path[512];
    char profile[64]; /* --profile / ANODE_PROFILE; "" = the file's "profile" or none */
    cn_log_level log_level;
    int log_json;
    int check_config;
    int migrate; /* --migrate: create or migrate the state store's schema, then exit */
    int help;
    int version;
} cn_options;

/* Parse argv and the environment. AK_ERR_CONFIG with err set on a bad or missing value. */
AK_WUR ak_err cn_options_parse(cn_options *o, int argc, char **argv, char *err, size_t err_cap);

void cn_options_usage(FILE *f, const char *argv0);

/* Numeric settings of the config file, defaults applied and ranges checked. */
typedef struct {
    int allow_unprotected_tx;
    unsigned nonce_retries;
    size_t max_batch;
    unsigned batch_threads;
    unsigned http_threads;
    size_t max_body;
    unsigned max_connections;
    unsigned per_ip_limit;
    unsigned idle_timeout_s;
    /* Graceful stop and memory (cn_config_http_limits): http.drain_timeout_s, header_timeout_s,
     * max_request_memory_bytes, memory_budget_bytes. */
    unsigned drain_timeout_s;
    unsigned header_timeout_s;
    size_t max_request_memory;
    size_t memory_budget;
    size_t ds_max_response;
    const char *tls_cert_file; /* borrowed from the cJSON tree, NULL if absent */
    const char *tls_key_file;
    const cJSON *accounts; /* array of {"signer": {...}} or {"primary": {...}, "backups": [...]} */
    unsigned failure_threshold;  /* signer_manager.failure_threshold (default 3) */
    unsigned health_interval_ms; /* signer_manager.health_interval_ms (default 30000) */
    const cJSON *auth;           /* NULL if absent */
    unsigned ready_refresh_ms;   /* http.ready_refresh_ms: /ready's cache refresh (default 5000) */
    const cJSON *signing_rate_limit; /* cn_rate's object, NULL if absent */
    unsigned max_sign_per_batch;     /* max_signing_calls_per_batch (default 100) */
    int allow_insecure_secret_files; /* see cn_secret_file_check */
    cn_audit_cfg audit;              /* "audit" (cn_audit.h); enabled = 0 if absent */
    st_cfg state;                    /* "state" (st_store.h); the memory backend if absent */
} cn_settings;

/* Read and parse path; *out is owned by the caller (cJSON_Delete). AK_ERR_CONFIG (reason in err)
 * also for a NUL byte, a \u0000 escape or a key given twice in one object. */
AK_WUR ak_err cn_config_load(cJSON **out, const char *path, char *err, size_t err_cap);

/*
 * Profiles (docs/signers.md): if doc has "profiles" (an object of named profiles, each
 * {"accounts": [...], "signer_manager": {...}, "comment": ...}), pick one - profile if non-empty,
 * else the file's "profile" member - and rewrite doc into the single-profile form: its
 * "accounts" (and "signer_manager", if the profile has one) move to the top level, "profiles"
 * and "profile" are removed. Without "profiles", a non-empty profile is an error. *chosen (may
 * be NULL, cap >= 64) receives the profile's name or "".
 */
AK_WUR ak_err cn_config_select_profile(cJSON *doc, const char *profile, char *chosen, char *err,
                                       size_t err_cap);

/*
 * Replace ${NAME} in every string value of doc (keys are left alone) with the environment
 * variable NAME ([A-Za-z_][A-Za-z0-9_]*); "$${" stands for a literal "${". An unset variable,
 * an unterminated or empty ${...}, or a result over 64 KiB is AK_ERR_CONFIG naming the JSON path
 * and the variable. cn_config_load() calls it.
 */
AK_WUR ak_err cn_config_expand_env(cJSON *doc, char *err, size_t err_cap);

/*
 * The signer part of cn_config_settings (cn_config_profile.c): "accounts" (1..64, each
 * {"signer": {...}} or {"primary": {...}, "backups": [...]}, plus "name", "comment") and
 * "signer_manager" {"failure_threshold": 1..1000, "health_interval_ms": 10..3600000}.
 * Structure only; the signers' own fields are checked by their constructors.
 */
AK_WUR ak_err cn_config_accounts(cn_settings *s, const cJSON *doc, char *err, size_t err_cap);

/* The first of names[0..n) whose member differs between objects a and b (present in one only,
 * or not equal), or NULL: what a reload compares. */
const char *cn_config_first_change(const cJSON *a, const cJSON *b, const char *const *names,
                                   size_t n);

/* Validate doc and extract settings (borrowing from doc). */
AK_WUR ak_err cn_config_settings(cn_settings *s, const cJSON *doc, char *err, size_t err_cap);

#endif
