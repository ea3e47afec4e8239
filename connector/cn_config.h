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
 * by cn_signer_factory), "http", "auth" (cn_auth), "allow_unprotected_tx", "nonce_retries",
 * "max_batch", "batch_threads", "downstream".
 */
#ifndef CN_CONFIG_H
#define CN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_log.h"

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
    cn_log_level log_level;
    int log_json;
    int check_config;
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
    size_t ds_max_response;
    const char *tls_cert_file; /* borrowed from the cJSON tree, NULL if absent */
    const char *tls_key_file;
    const cJSON *accounts; /* array of {"signer": {...}} */
    const cJSON *auth;     /* NULL if absent */
} cn_settings;

/* Read and parse path; *out is owned by the caller (cJSON_Delete). */
AK_WUR ak_err cn_config_load(cJSON **out, const char *path, char *err, size_t err_cap);

/* Validate doc and extract settings (borrowing from doc). */
AK_WUR ak_err cn_config_settings(cn_settings *s, const cJSON *doc, char *err, size_t err_cap);

/* Read a whole small file (<= max bytes) into secure memory: *out from ak_secure_alloc(*cap). */
AK_WUR ak_err cn_read_file_secure(char **out, size_t *cap, const char *path, size_t max);

#endif
