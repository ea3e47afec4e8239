/* cn_config.c - command line, environment and JSON config of the connector (see cn_config.h). */
#include "cn_config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ak_cfg.h"
#include "ak_json.h"
#include "ak_secmem.h"
#include "cn_rcfg.h"
#include "cn_secfile.h"

/* How an option's value is read: a string copied into a char array, an unsigned integer in
 * [min, max] into a 4- or 8-byte member, a flag (no value), or one of the log settings. */
typedef enum { K_STR, K_UINT, K_FLAG, K_LOG_LEVEL, K_LOG_FORMAT } opt_kind;

typedef struct {
    const char *flag; /* without the leading -- */
    const char *env;
    opt_kind kind;
    size_t off, size; /* the member of cn_options */
    unsigned long long min, max;
} opt_def;

#define OPT(fl, env, k, m, lo, hi)                                                                 \
    {                                                                                              \
        (fl), (env), (k), offsetof(cn_options, m), sizeof(((cn_options *)0)->m), (lo), (hi)        \
    }

static const opt_def k_opts[] = {
    OPT("http-host", "ANODE_HTTP_HOST", K_STR, http_host, 0, 0),
    OPT("http-port", "ANODE_HTTP_PORT", K_UINT, http_port, 0, 65535),
    OPT("downstream-http-host", "ANODE_DOWNSTREAM_HTTP_HOST", K_STR, ds_host, 0, 0),
    OPT("downstream-http-port", "ANODE_DOWNSTREAM_HTTP_PORT", K_UINT, ds_port, 1, 65535),
    OPT("downstream-http-path", "ANODE_DOWNSTREAM_HTTP_PATH", K_STR, ds_path, 0, 0),
    OPT("downstream-url", "ANODE_DOWNSTREAM_URL", K_STR, ds_url, 0, 0),
    OPT("downstream-timeout-ms", "ANODE_DOWNSTREAM_TIMEOUT_MS", K_UINT, ds_timeout_ms, 1, 600000),
    OPT("chain-id", "ANODE_CHAIN_ID", K_UINT, chain_id, 1, 1ULL << 53),
    OPT("config", "ANODE_CONFIG", K_STR, config_path, 0, 0),
    OPT("profile", "ANODE_PROFILE", K_STR, profile, 0, 0),
    OPT("log-level", "ANODE_LOG_LEVEL", K_LOG_LEVEL, log_level, 0, 0),
    OPT("log-format", "ANODE_LOG_FORMAT", K_LOG_FORMAT, log_json, 0, 0),
    OPT("check-config", NULL, K_FLAG, check_config, 0, 0),
    OPT("migrate", NULL, K_FLAG, migrate, 0, 0),
    OPT("help", NULL, K_FLAG, help, 0, 0),
    OPT("version", NULL, K_FLAG, version, 0, 0),
    /* Web3Signer's spellings of the same options (its --http-listen-*, and eth1 mode's
     * --downstream-http-request-timeout, in milliseconds as ours). */
    OPT("http-listen-host", NULL, K_STR, http_host, 0, 0),
    OPT("http-listen-port", NULL, K_UINT, http_port, 0, 65535),
    OPT("downstream-http-request-timeout", NULL, K_UINT, ds_timeout_ms, 1, 600000),
};
#define N_OPTS  (sizeof(k_opts) / sizeof(k_opts[0]))
#define O_FIRST 1000 /* getopt_long's value of k_opts[i]: O_FIRST + i */

void cn_options_usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "Usage: %s --config FILE [options]\n"
            "Ethereum JSON-RPC signing front end: signing methods are answered with the\n"
            "configured signers, everything else is forwarded to the downstream node.\n\n"
            "  --http-host ADDR              listen address (default 127.0.0.1)\n"
            "  --http-port N                 listen port (default 9000)\n"
            "  --downstream-http-host HOST   downstream node host (default 127.0.0.1)\n"
            "  --downstream-http-port N      downstream node port (default 8545)\n"
            "  --downstream-http-path PATH   downstream node path (default /)\n"
            "  --downstream-url URL          full downstream URL (overrides host/port/path)\n"
            "  --downstream-timeout-ms N     per-request downstream timeout (default 10000)\n"
            "  (Web3Signer spellings also accepted: --http-listen-host, --http-listen-port,\n"
            "   --downstream-http-request-timeout)\n"
            "  --chain-id N                  expected chain id (default: ask the downstream)\n"
            "  --config FILE                 JSON configuration (accounts, signers, http, auth)\n"
            "  --profile NAME                the config's profile to use (development, ...)\n"
            "  --log-level LEVEL             debug|info|warn|error (default info)\n"
            "  --log-format FORMAT           json|text (default json)\n"
            "  --check-config                validate the configuration and signers, then exit\n"
            "  --migrate                     create or migrate the state store schema, exit\n"
            "  --help, --version\n\n"
            "Every option can also be set in the environment: --foo-bar is ANODE_FOO_BAR.\n",
            argv0);
}

/* Option d's value v into o. */
static ak_err apply(cn_options *o, const opt_def *d, const char *v)
{
    char *dst = (char *)o + d->off, *end = NULL;
    unsigned long long n = 0;
    switch (d->kind) {
    case K_STR:
        if (strlen(v) >= d->size)
            return AK_ERR_LIMIT;
        memcpy(dst, v, strlen(v) + 1);
        return AK_OK;
    case K_UINT:
        if (*v == '\0' || *v == '-' || *v == '+')
            return AK_ERR_DECIMAL;
        errno = 0;
        n = strtoull(v, &end, 10);
        if (errno != 0 || *end != '\0' || n < d->min || n > d->max)
            return AK_ERR_DECIMAL;
        if (d->size != sizeof(uint32_t) && d->size != sizeof(uint64_t))
            return AK_ERR_ARG; /* a table bug: the member is neither 32 nor 64 bits */
        if (d->size == sizeof(uint32_t)) {
            uint32_t u = (uint32_t)n;
            memcpy(dst, &u, sizeof u);
        } else {
            uint64_t u = n;
            memcpy(dst, &u, sizeof u);
        }
        return AK_OK;
    case K_FLAG:
        memcpy(dst, &(int){1}, sizeof(int));
        return AK_OK;
    case K_LOG_LEVEL:
        return cn_log_level_parse(&o->log_level, v) == 0 ? AK_OK : AK_ERR_CONFIG;
    case K_LOG_FORMAT:
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
            return AK_ERR_CONFIG;
        o->log_json = strcmp(v, "json") == 0;
        return AK_OK;
    }
    return AK_ERR_ARG;
}

ak_err cn_options_parse(cn_options *o, int argc, char **argv, char *err, size_t err_cap)
{
    struct option lo[N_OPTS + 1];
    memset(o, 0, sizeof(*o));
    memset(lo, 0, sizeof(lo));
    snprintf(o->http_host, sizeof(o->http_host), "127.0.0.1");
    o->http_port = 9000;
    snprintf(o->ds_host, sizeof(o->ds_host), "127.0.0.1");
    o->ds_port = 8545;
    snprintf(o->ds_path, sizeof(o->ds_path), "/");
    o->ds_timeout_ms = 10000;
    o->log_level = CN_LOG_INFO;
    o->log_json = 1;

    /* Environment first, so flags override it. */
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *v = k_opts[i].env ? getenv(k_opts[i].env) : NULL;
        if (v != NULL && *v != '\0' && apply(o, &k_opts[i], v) != AK_OK)
            return ak_cfg_fail(err, err_cap, "invalid value in %s", k_opts[i].env);
    }
    for (size_t i = 0; i < N_OPTS; i++) {
        lo[i].name = k_opts[i].flag;
        lo[i].has_arg = k_opts[i].kind == K_FLAG ? no_argument : required_argument;
        lo[i].val = O_FIRST + (int)i;
    }
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        const opt_def *d = c >= O_FIRST && c < O_FIRST + (int)N_OPTS ? &k_opts[c - O_FIRST] : NULL;
        if (d == NULL)
            return ak_cfg_fail(err, err_cap, "unknown option or missing value: %s",
                               optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        if (apply(o, d, optarg) != AK_OK)
            return ak_cfg_fail(err, err_cap, "invalid value for --%s", d->flag);
    }
    if (optind < argc)
        return ak_cfg_fail(err, err_cap, "unexpected argument: %s", argv[optind]);
    if (o->help || o->version)
        return AK_OK;
    if (o->config_path[0] == '\0')
        return ak_cfg_fail(err, err_cap, "--config is required");
    if (o->ds_url[0] == '\0') {
        int v6 = strchr(o->ds_host, ':') != NULL;
        int n = snprintf(o->ds_url, sizeof(o->ds_url), "http://%s%s%s:%u%s%s", v6 ? "[" : "",
                         o->ds_host, v6 ? "]" : "", o->ds_port, o->ds_path[0] == '/' ? "" : "/",
                         o->ds_path);
        if (n < 0 || (size_t)n >= sizeof(o->ds_url))
            return ak_cfg_fail(err, err_cap, "downstream URL too long");
    }
    if (strncmp(o->ds_url, "http://", 7) != 0 && strncmp(o->ds_url, "https://", 8) != 0)
        return ak_cfg_fail(err, err_cap, "the downstream URL must start with http:// or https://");
    return AK_OK;
}

ak_err cn_config_load(cJSON **out, const char *path, char *err, size_t err_cap)
{
    char *text = NULL;
    size_t cap = 0, len = 0;
    ak_err rc = cn_rcfg_read_secure(&text, &cap, &len, path, CN_CONFIG_MAX_BYTES);
    *out = NULL;
    if (rc != AK_OK)
        return ak_cfg_fail(err, err_cap, "cannot read config %s: %s", path, ak_strerror(rc));
    /* cJSON would stop at a NUL byte, cut a string at \u0000 and keep both members of a
     * duplicated key (lookups see the first): what we run could differ from what a reviewer or
     * another JSON tool reads in the same file, so all three are refused. */
    if (ak_json_has_nul(text, len)) {
        snprintf(err, err_cap, "config %s contains a NUL byte or a \\u0000 escape", path);
        ak_secure_free(text, cap);
        return AK_ERR_CONFIG;
    }
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(text, &end, 1);
    ak_err krc = AK_OK;
    if (*out == NULL || !cJSON_IsObject(*out)) {
        snprintf(err, err_cap, "config %s is not a valid JSON object (near byte %ld)", path,
                 end ? (long)(end - text) : -1L);
        cJSON_Delete(*out);
        *out = NULL;
        rc = AK_ERR_CONFIG;
    } else if ((krc = ak_json_check_keys(*out)) != AK_OK) {
        snprintf(err, err_cap, "config %s: %s", path,
                 krc == AK_ERR_JSON ? "an object has the same key twice"
                                    : "nested too deeply or an object has too many members");
        cJSON_Delete(*out);
        *out = NULL;
        rc = AK_ERR_CONFIG;
    } else if (cn_config_expand_env(*out, err, err_cap) != AK_OK) {
        cJSON_Delete(*out);
        *out = NULL;
        rc = AK_ERR_CONFIG;
    }
    ak_secure_free(text, cap);
    return rc;
}

/* http.tls: both files or no "tls" at all. */
static const ak_cfg_field k_tls_fields[] = {
    AK_CFG_REF("cert_file", AK_CFG_REQUIRED | AK_CFG_PATH, cn_settings, tls_cert_file, 1023),
    AK_CFG_REF("key_file", AK_CFG_REQUIRED | AK_CFG_PATH, cn_settings, tls_key_file, 1023),
};

/* "http". The limits of the graceful stop and the memory budget are in docs/connector.md,
 * "Limits"; their defaults fit the shipped unit's MemoryMax=256M ("Memory budget"). */
static const ak_cfg_field k_http_fields[] = {
    /* a signature holds its worker for an HSM's latency */
    AK_CFG_INT("threads", 0, cn_settings, http_threads, 1, 256, 64),
    AK_CFG_INT("max_body_bytes", 0, cn_settings, max_body, 1024, 64 << 20, 1 << 20),
    AK_CFG_INT("max_connections", 0, cn_settings, max_connections, 1, 65536, 1024),
    AK_CFG_INT("per_ip_limit", 0, cn_settings, per_ip_limit, 0, 65536, 0),
    AK_CFG_INT("idle_timeout_s", 0, cn_settings, idle_timeout_s, 1, 3600, 60),
    AK_CFG_OBJ("tls", 0, k_tls_fields),
    AK_CFG_INT("ready_refresh_ms", 0, cn_settings, ready_refresh_ms, 100, 3600000, 5000),
    AK_CFG_INT("drain_timeout_s", 0, cn_settings, drain_timeout_s, 0, 3600, 30),
    AK_CFG_INT("header_timeout_s", 0, cn_settings, header_timeout_s, 0, 3600, 20),
    AK_CFG_INT("max_request_memory_bytes", 0, cn_settings, max_request_memory, 64 << 10,
               4096LL << 20, 16 << 20),
    AK_CFG_INT("memory_budget_bytes", 0, cn_settings, memory_budget, 64 << 10, 64LL << 30,
               96 << 20),
};

static const ak_cfg_field k_downstream_fields[] = {
    AK_CFG_INT("max_response_bytes", 0, cn_settings, ds_max_response, 1024, 1 << 30, 64 << 20),
};

/* The top level. "accounts" and "signer_manager" are read by cn_config_profile.c, "audit" by
 * cn_audit.c, "paymaster" by cn_paymaster.c, "signing_rate_limit" by cn_rate.c, "state" by
 * st_store (absent: the in-process store). */
static const ak_cfg_field k_top_fields[] = {
    AK_CFG_KNOWN("accounts"),
    AK_CFG_OBJ("http", 0, k_http_fields),
    AK_CFG_JSON("auth", 0, cn_settings, auth, cJSON_Object),
    AK_CFG_OBJ("downstream", 0, k_downstream_fields),
    AK_CFG_BOOL("allow_unprotected_tx", 0, cn_settings, allow_unprotected_tx, 0),
    AK_CFG_INT("nonce_retries", 0, cn_settings, nonce_retries, 0, 10, 3),
    AK_CFG_INT("max_batch", 0, cn_settings, max_batch, 1, 10000, 1000),
    AK_CFG_INT("batch_threads", 0, cn_settings, batch_threads, 1, 64, 4),
    AK_CFG_KNOWN("comment"),
    AK_CFG_KNOWN("signer_manager"),
    AK_CFG_KNOWN("paymaster"),
    AK_CFG_JSON("signing_rate_limit", 0, cn_settings, signing_rate_limit, 0),
    AK_CFG_INT("max_signing_calls_per_batch", 0, cn_settings, max_sign_per_batch, 1, 10000, 100),
    AK_CFG_BOOL("allow_insecure_secret_files", 0, cn_settings, allow_insecure_secret_files, 0),
    AK_CFG_KNOWN("audit"),
    AK_CFG_KNOWN("state"),
};

const char *cn_config_first_change(const cJSON *a, const cJSON *b, const char *const *names,
                                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, names[i]);
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, names[i]);
        if ((x == NULL) != (y == NULL) || (x != NULL && !cJSON_Compare(x, y, 1)))
            return names[i];
    }
    return NULL;
}

ak_err cn_config_settings(cn_settings *s, const cJSON *doc, char *err, size_t err_cap)
{
    memset(s, 0, sizeof(*s));
    if (ak_cfg_read(s, k_top_fields, AK_CFG_COUNT(k_top_fields), doc, "", err, err_cap) != AK_OK ||
        cn_config_accounts(s, doc, err, err_cap) != AK_OK ||
        cn_audit_config(&s->audit, cJSON_GetObjectItemCaseSensitive(doc, "audit"), err, err_cap) !=
            AK_OK ||
        st_cfg_parse(&s->state, cJSON_GetObjectItemCaseSensitive(doc, "state"), err, err_cap) !=
            AK_OK)
        return AK_ERR_CONFIG;
    cn_secret_files_allow_insecure(s->allow_insecure_secret_files);
    if (s->max_request_memory < s->max_body || s->memory_budget < s->max_request_memory)
        return ak_cfg_fail(
            err, err_cap,
            "config: need http.max_body_bytes (%zu) <= http.max_request_memory_bytes (%zu) "
            "<= http.memory_budget_bytes (%zu)",
            s->max_body, s->max_request_memory, s->memory_budget);
    return AK_OK;
}
