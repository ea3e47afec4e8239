/* cn_config.c - command line, environment and JSON config of the connector (see cn_config.h). */
#include "cn_config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ak_cfg.h"
#include "ak_json.h"
#include "ak_secmem.h"
#include "cn_rcfg.h"
#include "cn_secfile.h"

enum {
    O_HTTP_HOST = 1000,
    O_HTTP_PORT,
    O_DS_HOST,
    O_DS_PORT,
    O_DS_PATH,
    O_DS_URL,
    O_DS_TIMEOUT,
    O_CHAIN_ID,
    O_CONFIG,
    O_PROFILE,
    O_LOG_LEVEL,
    O_LOG_FORMAT,
    O_CHECK,
    O_MIGRATE,
    O_HELP,
    O_VERSION,
};

typedef struct {
    const char *flag; /* without the leading -- */
    const char *env;
    int id;
    int has_arg;
} opt_def;

static const opt_def k_opts[] = {
    {"http-host", "ANODE_HTTP_HOST", O_HTTP_HOST, 1},
    {"http-port", "ANODE_HTTP_PORT", O_HTTP_PORT, 1},
    {"downstream-http-host", "ANODE_DOWNSTREAM_HTTP_HOST", O_DS_HOST, 1},
    {"downstream-http-port", "ANODE_DOWNSTREAM_HTTP_PORT", O_DS_PORT, 1},
    {"downstream-http-path", "ANODE_DOWNSTREAM_HTTP_PATH", O_DS_PATH, 1},
    {"downstream-url", "ANODE_DOWNSTREAM_URL", O_DS_URL, 1},
    {"downstream-timeout-ms", "ANODE_DOWNSTREAM_TIMEOUT_MS", O_DS_TIMEOUT, 1},
    {"chain-id", "ANODE_CHAIN_ID", O_CHAIN_ID, 1},
    {"config", "ANODE_CONFIG", O_CONFIG, 1},
    {"profile", "ANODE_PROFILE", O_PROFILE, 1},
    {"log-level", "ANODE_LOG_LEVEL", O_LOG_LEVEL, 1},
    {"log-format", "ANODE_LOG_FORMAT", O_LOG_FORMAT, 1},
    {"check-config", NULL, O_CHECK, 0},
    {"migrate", NULL, O_MIGRATE, 0},
    {"help", NULL, O_HELP, 0},
    {"version", NULL, O_VERSION, 0},
    /* Web3Signer's spellings of the same options (its --http-listen-*, and eth1 mode's
     * --downstream-http-request-timeout, in milliseconds as ours). */
    {"http-listen-host", NULL, O_HTTP_HOST, 1},
    {"http-listen-port", NULL, O_HTTP_PORT, 1},
    {"downstream-http-request-timeout", NULL, O_DS_TIMEOUT, 1},
};
#define N_OPTS (sizeof(k_opts) / sizeof(k_opts[0]))

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

static ak_err parse_uint(unsigned long long *out, const char *s, unsigned long long max)
{
    char *end = NULL;
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return AK_ERR_DECIMAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return AK_ERR_DECIMAL;
    *out = v;
    return AK_OK;
}

static ak_err copy_str(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap)
        return AK_ERR_LIMIT;
    memcpy(dst, v, strlen(v) + 1);
    return AK_OK;
}

static ak_err apply(cn_options *o, int id, const char *v)
{
    unsigned long long n = 0;
    switch (id) {
    case O_HTTP_HOST:
        return copy_str(o->http_host, sizeof(o->http_host), v);
    case O_HTTP_PORT:
        if (parse_uint(&n, v, 65535) != AK_OK)
            return AK_ERR_DECIMAL;
        o->http_port = (unsigned)n;
        return AK_OK;
    case O_DS_HOST:
        return copy_str(o->ds_host, sizeof(o->ds_host), v);
    case O_DS_PORT:
        if (parse_uint(&n, v, 65535) != AK_OK || n == 0)
            return AK_ERR_DECIMAL;
        o->ds_port = (unsigned)n;
        return AK_OK;
    case O_DS_PATH:
        return copy_str(o->ds_path, sizeof(o->ds_path), v);
    case O_DS_URL:
        return copy_str(o->ds_url, sizeof(o->ds_url), v);
    case O_DS_TIMEOUT:
        if (parse_uint(&n, v, 600000) != AK_OK || n == 0)
            return AK_ERR_DECIMAL;
        o->ds_timeout_ms = (long)n;
        return AK_OK;
    case O_CHAIN_ID:
        if (parse_uint(&n, v, (1ULL << 53)) != AK_OK || n == 0)
            return AK_ERR_DECIMAL;
        o->chain_id = n;
        return AK_OK;
    case O_CONFIG:
        return copy_str(o->config_path, sizeof(o->config_path), v);
    case O_PROFILE:
        return copy_str(o->profile, sizeof(o->profile), v);
    case O_LOG_LEVEL:
        return cn_log_level_parse(&o->log_level, v) == 0 ? AK_OK : AK_ERR_CONFIG;
    case O_LOG_FORMAT:
        if (strcmp(v, "json") == 0 || strcmp(v, "text") == 0) {
            o->log_json = strcmp(v, "json") == 0;
            return AK_OK;
        }
        return AK_ERR_CONFIG;
    case O_CHECK:
        o->check_config = 1;
        return AK_OK;
    case O_MIGRATE:
        o->migrate = 1;
        return AK_OK;
    case O_HELP:
        o->help = 1;
        return AK_OK;
    case O_VERSION:
        o->version = 1;
        return AK_OK;
    }
    return AK_ERR_ARG;
}

static const opt_def *def_of(int id)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (k_opts[i].id == id)
            return &k_opts[i];
    return NULL;
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
        if (v != NULL && *v != '\0' && apply(o, k_opts[i].id, v) != AK_OK) {
            snprintf(err, err_cap, "invalid value in %s", k_opts[i].env);
            return AK_ERR_CONFIG;
        }
    }
    for (size_t i = 0; i < N_OPTS; i++) {
        lo[i].name = k_opts[i].flag;
        lo[i].has_arg = k_opts[i].has_arg ? required_argument : no_argument;
        lo[i].val = k_opts[i].id;
    }
    optind = 1;
    opterr = 0;
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
        const opt_def *d = li >= 0 && (size_t)li < N_OPTS ? &k_opts[li] : def_of(c);
        li = -1;
        if (d == NULL) {
            snprintf(err, err_cap, "unknown option or missing value: %s",
                     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            return AK_ERR_CONFIG;
        }
        if (apply(o, c, optarg) != AK_OK) {
            snprintf(err, err_cap, "invalid value for --%s", d->flag);
            return AK_ERR_CONFIG;
        }
    }
    if (optind < argc) {
        snprintf(err, err_cap, "unexpected argument: %s", argv[optind]);
        return AK_ERR_CONFIG;
    }
    if (o->help || o->version)
        return AK_OK;
    if (o->config_path[0] == '\0') {
        snprintf(err, err_cap, "--config is required");
        return AK_ERR_CONFIG;
    }
    if (o->ds_url[0] == '\0') {
        int v6 = strchr(o->ds_host, ':') != NULL;
        int n = snprintf(o->ds_url, sizeof(o->ds_url), "http://%s%s%s:%u%s%s", v6 ? "[" : "",
                         o->ds_host, v6 ? "]" : "", o->ds_port, o->ds_path[0] == '/' ? "" : "/",
                         o->ds_path);
        if (n < 0 || (size_t)n >= sizeof(o->ds_url)) {
            snprintf(err, err_cap, "downstream URL too long");
            return AK_ERR_CONFIG;
        }
    }
    if (strncmp(o->ds_url, "http://", 7) != 0 && strncmp(o->ds_url, "https://", 8) != 0) {
        snprintf(err, err_cap, "the downstream URL must start with http:// or https://");
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

ak_err cn_config_load(cJSON **out, const char *path, char *err, size_t err_cap)
{
    char *text = NULL;
    size_t cap = 0, len = 0;
    ak_err rc = cn_rcfg_read_secure(&text, &cap, &len, path, CN_CONFIG_MAX_BYTES);
    *out = NULL;
    if (rc != AK_OK) {
        snprintf(err, err_cap, "cannot read config %s: %s", path, ak_strerror(rc));
        return AK_ERR_CONFIG;
    }
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
    if (s->max_request_memory < s->max_body || s->memory_budget < s->max_request_memory) {
        snprintf(err, err_cap,
                 "config: need http.max_body_bytes (%zu) <= http.max_request_memory_bytes (%zu) "
                 "<= http.memory_budget_bytes (%zu)",
                 s->max_body, s->max_request_memory, s->memory_budget);
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}
