/* cn_config.c - command line, environment and JSON config of the connector (see cn_config.h). */
#include "cn_config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int key_in(const char *k, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(k, *allowed) == 0)
            return 1;
    return 0;
}

/* An optional integer member in [lo, hi]; AK_ERR_CONFIG if present and not. */
static ak_err get_num(const cJSON *obj, const char *name, double lo, double hi, double *v,
                      char *err, size_t err_cap)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (it == NULL)
        return AK_OK;
    if (!cJSON_IsNumber(it) || it->valuedouble < lo || it->valuedouble > hi ||
        it->valuedouble != (double)(long long)it->valuedouble) {
        snprintf(err, err_cap, "config: %s must be an integer in [%.0f, %.0f]", name, lo, hi);
        return AK_ERR_CONFIG;
    }
    *v = it->valuedouble;
    return AK_OK;
}

/* http members of the graceful stop and the memory budget (docs/connector.md, "Limits"). */
static const char *const http_limits[] = {"drain_timeout_s", "header_timeout_s",
                                          "max_request_memory_bytes", "memory_budget_bytes", NULL};

/* Defaults fit the shipped unit's MemoryMax=256M: see docs/connector.md, "Memory budget". */
static ak_err http_limits_read(cn_settings *s, const cJSON *h, char *err, size_t err_cap)
{
    double drain = 30, header = 20, per_req = 16.0 * 1024 * 1024, budget = 96.0 * 1024 * 1024;
    if (get_num(h, "drain_timeout_s", 0, 3600, &drain, err, err_cap) != AK_OK ||
        get_num(h, "header_timeout_s", 0, 3600, &header, err, err_cap) != AK_OK ||
        get_num(h, "max_request_memory_bytes", 64.0 * 1024, 4096.0 * 1024 * 1024, &per_req, err,
                err_cap) != AK_OK ||
        get_num(h, "memory_budget_bytes", 64.0 * 1024, 64.0 * 1024 * 1024 * 1024, &budget, err,
                err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    s->drain_timeout_s = (unsigned)drain;
    s->header_timeout_s = (unsigned)header;
    s->max_request_memory = (size_t)per_req;
    s->memory_budget = (size_t)budget;
    if (s->max_request_memory < s->max_body || s->memory_budget < s->max_request_memory) {
        snprintf(err, err_cap,
                 "config: need http.max_body_bytes (%zu) <= http.max_request_memory_bytes (%zu) "
                 "<= http.memory_budget_bytes (%zu)",
                 s->max_body, s->max_request_memory, s->memory_budget);
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

ak_err cn_config_settings(cn_settings *s, const cJSON *doc, char *err, size_t err_cap)
{
    /* "paymaster" is read by cn_paymaster.c, "signer_manager" by cn_config_profile.c. */
    static const char *const top[] = {"accounts",
                                      "http",
                                      "auth",
                                      "downstream",
                                      "allow_unprotected_tx",
                                      "nonce_retries",
                                      "max_batch",
                                      "batch_threads",
                                      "comment",
                                      "signer_manager",
                                      "paymaster",
                                      "signing_rate_limit",
                                      "max_signing_calls_per_batch",
                                      "allow_insecure_secret_files",
                                      NULL};
    static const char *const http[] = {"threads",          "max_body_bytes",
                                       "max_connections",  "per_ip_limit",
                                       "idle_timeout_s",   "tls",
                                       "ready_refresh_ms", NULL};
    ak_err rc = AK_ERR_CONFIG;
    double v;
    memset(s, 0, sizeof(*s));
    const cJSON *it;
    cJSON_ArrayForEach(it, doc)
    {
        if (!key_in(it->string, top) && strcmp(it->string, "audit") != 0 &&
            strcmp(it->string, "state") != 0) {
            snprintf(err, err_cap, "config: unknown key \"%.64s\"", it->string);
            return rc;
        }
    }
    if (cn_config_accounts(s, doc, err, err_cap) != AK_OK)
        return rc;
    /* "audit": cn_audit.c reads it (absent = off). */
    if (cn_audit_config(&s->audit, cJSON_GetObjectItemCaseSensitive(doc, "audit"), err, err_cap) !=
        AK_OK)
        return rc;
    /* "state": cn_state_cfg_parse reads it (absent = the in-process store). */
    if (cn_state_cfg_parse(&s->state, cJSON_GetObjectItemCaseSensitive(doc, "state"), err,
                           err_cap) != AK_OK)
        return rc;
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(doc, "allow_unprotected_tx");
    if (au != NULL && !cJSON_IsBool(au)) {
        snprintf(err, err_cap, "config: allow_unprotected_tx must be true or false");
        return rc;
    }
    s->allow_unprotected_tx = cJSON_IsTrue(au);
    s->auth = cJSON_GetObjectItemCaseSensitive(doc, "auth");
    if (s->auth != NULL && !cJSON_IsObject(s->auth)) {
        snprintf(err, err_cap, "config: auth must be an object");
        return rc;
    }

    v = 3;
    if (get_num(doc, "nonce_retries", 0, 10, &v, err, err_cap) != AK_OK)
        return rc;
    s->nonce_retries = (unsigned)v;
    v = 1000;
    if (get_num(doc, "max_batch", 1, 10000, &v, err, err_cap) != AK_OK)
        return rc;
    s->max_batch = (size_t)v;
    v = 4;
    if (get_num(doc, "batch_threads", 1, 64, &v, err, err_cap) != AK_OK)
        return rc;
    s->batch_threads = (unsigned)v;
    v = 100;
    if (get_num(doc, "max_signing_calls_per_batch", 1, 10000, &v, err, err_cap) != AK_OK)
        return rc;
    s->max_sign_per_batch = (unsigned)v;
    s->signing_rate_limit = cJSON_GetObjectItemCaseSensitive(doc, "signing_rate_limit");
    const cJSON *ai = cJSON_GetObjectItemCaseSensitive(doc, "allow_insecure_secret_files");
    if (ai != NULL && !cJSON_IsBool(ai)) {
        snprintf(err, err_cap, "config: allow_insecure_secret_files must be true or false");
        return rc;
    }
    s->allow_insecure_secret_files = cJSON_IsTrue(ai);
    cn_secret_files_allow_insecure(s->allow_insecure_secret_files);

    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(doc, "downstream");
    v = 64.0 * 1024 * 1024;
    if (ds != NULL &&
        (!cJSON_IsObject(ds) || cJSON_GetArraySize(ds) > 1 ||
         (cJSON_GetArraySize(ds) == 1 && !cJSON_HasObjectItem(ds, "max_response_bytes")))) {
        snprintf(err, err_cap, "config: downstream may only set max_response_bytes");
        return rc;
    }
    if (get_num(ds, "max_response_bytes", 1024, 1024.0 * 1024 * 1024, &v, err, err_cap) != AK_OK)
        return rc;
    s->ds_max_response = (size_t)v;

    const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "http");
    if (h != NULL && !cJSON_IsObject(h)) {
        snprintf(err, err_cap, "config: http must be an object");
        return rc;
    }
    cJSON_ArrayForEach(it, h)
    {
        if (!key_in(it->string, http) && !key_in(it->string, http_limits)) {
            snprintf(err, err_cap, "config: unknown key http.%.64s", it->string);
            return rc;
        }
    }
    struct {
        const char *name;
        double lo, hi, def;
        double out;
    } nums[] = {{"threads", 1, 256, 64, 0}, /* a signature holds its worker for an HSM's latency */
                {"max_body_bytes", 1024, 64.0 * 1024 * 1024, 1024 * 1024, 0},
                {"max_connections", 1, 65536, 1024, 0},
                {"per_ip_limit", 0, 65536, 0, 0},
                {"idle_timeout_s", 1, 3600, 60, 0},
                {"ready_refresh_ms", 100, 3600000, 5000, 0}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        nums[i].out = nums[i].def;
        if (get_num(h, nums[i].name, nums[i].lo, nums[i].hi, &nums[i].out, err, err_cap) != AK_OK)
            return rc;
    }
    s->http_threads = (unsigned)nums[0].out;
    s->max_body = (size_t)nums[1].out;
    s->max_connections = (unsigned)nums[2].out;
    s->per_ip_limit = (unsigned)nums[3].out;
    s->idle_timeout_s = (unsigned)nums[4].out;
    s->ready_refresh_ms = (unsigned)nums[5].out;
    if (http_limits_read(s, h, err, err_cap) != AK_OK)
        return rc;

    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(h, "tls");
    if (tls != NULL) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(tls, "cert_file");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(tls, "key_file");
        if (!cJSON_IsObject(tls) || !cJSON_IsString(c) || !cJSON_IsString(k) ||
            cJSON_GetArraySize(tls) != 2) {
            snprintf(err, err_cap, "config: http.tls needs exactly cert_file and key_file");
            return rc;
        }
        s->tls_cert_file = c->valuestring;
        s->tls_key_file = k->valuestring;
    }
    return AK_OK;
}
