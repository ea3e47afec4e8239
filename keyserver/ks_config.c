/* ks_config.c - parse and validate the anode-keyserver configuration (see ks_config.h). */
#include "ks_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ak_cfg.h"
#include "ak_hex.h"
#include "ak_json.h"
#include "ak_secmem.h"
#include "ks_policy.h"
#include "p11_uri.h"

/* Reject members of obj whose names are not in allowed (NULL-terminated). */
static ak_err check_members(const cJSON *obj, const char *where, const char *const *allowed,
                            char *msg, size_t cap)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (it->string != NULL && strcmp(it->string, allowed[i]) == 0)
                ok = 1;
        if (!ok)
            return ak_cfg_fail(msg, cap, "%s%s%s: unknown field", where, *where ? "." : "",
                               it->string ? it->string : "?");
    }
    return AK_OK;
}

static ak_err get_str(char *out, size_t out_cap, const cJSON *obj, const char *where,
                      const char *name, int required, char *msg, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL) {
        if (required)
            return ak_cfg_fail(msg, cap, "%s.%s: missing (a string is required)", where, name);
        out[0] = '\0';
        return AK_OK;
    }
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return ak_cfg_fail(msg, cap, "%s.%s: must be a string", where, name);
    size_t n = strlen(v->valuestring);
    if (n == 0)
        return ak_cfg_fail(msg, cap, "%s.%s: must not be empty", where, name);
    if (n >= out_cap)
        return ak_cfg_fail(msg, cap, "%s.%s: longer than %zu bytes", where, name, out_cap - 1);
    memcpy(out, v->valuestring, n + 1);
    return AK_OK;
}

static ak_err get_uint(unsigned long *out, const cJSON *obj, const char *where, const char *name,
                       unsigned long lo, unsigned long hi, unsigned long dflt, char *msg,
                       size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL) {
        *out = dflt;
        return AK_OK;
    }
    /* Range first: converting an out-of-range (or NaN) double to an integer is undefined. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
        v->valuedouble != (double)(unsigned long)v->valuedouble)
        return ak_cfg_fail(msg, cap, "%s.%s: must be an integer in %lu..%lu", where, name, lo, hi);
    *out = (unsigned long)v->valuedouble;
    return AK_OK;
}

static ak_err get_bool(int *out, const cJSON *obj, const char *name, int dflt, char *msg,
                       size_t cap)
{
    const char *dot = strrchr(name, '.');
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, dot != NULL ? dot + 1 : name);
    if (v == NULL) {
        *out = dflt;
        return AK_OK;
    }
    if (!cJSON_IsBool(v))
        return ak_cfg_fail(msg, cap, "%s: must be true or false", name);
    *out = cJSON_IsTrue(v);
    return AK_OK;
}

static ak_err get_obj(const cJSON **out, const cJSON *root, const char *name, int required,
                      char *msg, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return ak_cfg_fail(msg, cap, "%s: missing (an object is required)", name);
        return AK_OK;
    }
    if (!cJSON_IsObject(v))
        return ak_cfg_fail(msg, cap, "%s: must be an object", name);
    *out = v;
    return AK_OK;
}

static ak_err check_readable(const char *path, const char *field, char *msg, size_t cap)
{
    if (access(path, R_OK) != 0)
        return ak_cfg_fail(msg, cap, "%s: cannot read \"%s\": %s", field, path, strerror(errno));
    return AK_OK;
}

static int key_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KS_KEY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
            return 0;
    return 1;
}

long ks_config_key_index(const ks_config *c, const char *key_id, size_t len)
{
    for (size_t i = 0; i < c->n_keys; i++)
        if (strlen(c->keys[i].key_id) == len && memcmp(c->keys[i].key_id, key_id, len) == 0)
            return (long)i;
    return -1;
}

static ak_err parse_listen_tls(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    static const char *const l_allowed[] = {"address", "port", NULL};
    static const char *const t_allowed[] = {
        "cert", "key", "client_ca", "crl", "crl_required", "client_issuers", NULL};
    const cJSON *l, *t;
    unsigned long v = 0;
    ak_err e;
    if ((e = get_obj(&l, root, "listen", 1, msg, cap)) != AK_OK ||
        (e = check_members(l, "listen", l_allowed, msg, cap)) != AK_OK ||
        (e = get_str(c->listen_address, sizeof c->listen_address, l, "listen", "address", 0, msg,
                     cap)) != AK_OK ||
        (e = get_uint(&v, l, "listen", "port", 0, 65535, 8443, msg, cap)) != AK_OK)
        return e;
    c->port = (unsigned)v;
    if (c->listen_address[0] == '\0')
        strcpy(c->listen_address, "127.0.0.1");
    if ((e = get_obj(&t, root, "tls", 1, msg, cap)) != AK_OK ||
        (e = check_members(t, "tls", t_allowed, msg, cap)) != AK_OK ||
        (e = get_str(c->tls_cert, sizeof c->tls_cert, t, "tls", "cert", 1, msg, cap)) != AK_OK ||
        (e = get_str(c->tls_key, sizeof c->tls_key, t, "tls", "key", 1, msg, cap)) != AK_OK ||
        (e = get_str(c->tls_client_ca, sizeof c->tls_client_ca, t, "tls", "client_ca", 1, msg,
                     cap)) != AK_OK ||
        (e = get_str(c->tls_crl, sizeof c->tls_crl, t, "tls", "crl", 0, msg, cap)) != AK_OK ||
        (e = get_str(c->tls_client_issuers, sizeof c->tls_client_issuers, t, "tls",
                     "client_issuers", 0, msg, cap)) != AK_OK ||
        (e = get_bool(&c->tls_crl_required, t, "tls.crl_required", 0, msg, cap)) != AK_OK)
        return e;
    if (c->tls_crl_required && c->tls_crl[0] == '\0')
        return ak_cfg_fail(msg, cap, "tls.crl: missing (tls.crl_required is true)");
    if ((e = check_readable(c->tls_cert, "tls.cert", msg, cap)) != AK_OK ||
        (e = check_readable(c->tls_key, "tls.key", msg, cap)) != AK_OK ||
        (e = check_readable(c->tls_client_ca, "tls.client_ca", msg, cap)) != AK_OK)
        return e;
    if (c->tls_crl[0] != '\0' && (e = check_readable(c->tls_crl, "tls.crl", msg, cap)) != AK_OK)
        return e;
    if (c->tls_client_issuers[0] != '\0' &&
        (e = check_readable(c->tls_client_issuers, "tls.client_issuers", msg, cap)) != AK_OK)
        return e;
    return AK_OK;
}

static ak_err parse_pkcs11(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    static const char *const allowed[] = {
        "module",       "token_label",   "pin_file",      "pin_env",
        "max_sessions", "op_timeout_ms", "bounded_calls", NULL};
    const cJSON *p;
    unsigned long v = 0;
    ak_err e;
    if ((e = get_obj(&p, root, "pkcs11", 1, msg, cap)) != AK_OK ||
        (e = check_members(p, "pkcs11", allowed, msg, cap)) != AK_OK ||
        (e = get_str(c->module, sizeof c->module, p, "pkcs11", "module", 1, msg, cap)) != AK_OK ||
        (e = get_str(c->token_label, sizeof c->token_label, p, "pkcs11", "token_label", 1, msg,
                     cap)) != AK_OK ||
        (e = get_str(c->pin_file, sizeof c->pin_file, p, "pkcs11", "pin_file", 0, msg, cap)) !=
            AK_OK ||
        (e = get_str(c->pin_env, sizeof c->pin_env, p, "pkcs11", "pin_env", 0, msg, cap)) != AK_OK)
        return e;
    if (strlen(c->token_label) > 32)
        return ak_cfg_fail(msg, cap, "pkcs11.token_label: longer than 32 bytes");
    if ((c->pin_file[0] != '\0') == (c->pin_env[0] != '\0'))
        return ak_cfg_fail(msg, cap,
                           "pkcs11: exactly one of pin_file or pin_env is required "
                           "(the PIN is never given on the command line)");
    if ((e = check_readable(c->module, "pkcs11.module", msg, cap)) != AK_OK)
        return e;
    /* 32: more than a network HSM's parallel sessions, so its own queue is never empty while
     * signatures wait here (docs/benchmarks.md, "network HSM") */
    if ((e = get_uint(&v, p, "pkcs11", "max_sessions", 1, 256, 32, msg, cap)) != AK_OK)
        return e;
    c->max_sessions = (unsigned)v;
    if ((e = get_uint(&v, p, "pkcs11", "op_timeout_ms", 10, 600000, 5000, msg, cap)) != AK_OK)
        return e;
    c->op_timeout_ms = (unsigned)v;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, "bounded_calls");
    if (b != NULL && !cJSON_IsBool(b))
        return ak_cfg_fail(msg, cap, "pkcs11.bounded_calls: must be true or false");
    c->bounded_calls = b == NULL || cJSON_IsTrue(b);
    return AK_OK;
}

static ak_err parse_keys(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    const cJSON *k, *it;
    ak_err e;
    p11_uri uri;
    char umsg[256];
    if ((e = get_obj(&k, root, "keys", 1, msg, cap)) != AK_OK)
        return e;
    size_t n = (size_t)cJSON_GetArraySize(k);
    if (n == 0 || n > KS_MAX_KEYS)
        return ak_cfg_fail(msg, cap, "keys: must name 1..%d keys", KS_MAX_KEYS);
    c->keys = calloc(n + 1, sizeof *c->keys) /* +1: see ks_config_free */;
    if (c->keys == NULL)
        return AK_ERR_NOMEM;
    cJSON_ArrayForEach(it, k)
    {
        if (!key_id_ok(it->string))
            return ak_cfg_fail(msg, cap,
                               "keys.%.*s: a key id is 1..%d printable characters, "
                               "no spaces or quotes",
                               64, it->string, KS_KEY_ID_MAX);
        if (ks_config_key_index(c, it->string, strlen(it->string)) >= 0)
            return ak_cfg_fail(msg, cap, "keys.%s: duplicated key id", it->string);
        ks_key_cfg *kc = &c->keys[c->n_keys];
        const cJSON *u = it;
        if (cJSON_IsObject(it)) {
            /* {"uri": "pkcs11:...", "policy": {...}} */
            static const char *const allowed[] = {"uri", "policy", NULL};
            char where[160];
            snprintf(where, sizeof where, "keys.%s", it->string);
            if ((e = check_members(it, where, allowed, msg, cap)) != AK_OK)
                return e;
            u = cJSON_GetObjectItemCaseSensitive(it, "uri");
            const cJSON *pol = cJSON_GetObjectItemCaseSensitive(it, "policy");
            snprintf(where, sizeof where, "keys.%s.policy", it->string);
            if (pol != NULL && (e = ks_policy_parse(&kc->policy, pol, where, msg, cap)) != AK_OK)
                return e;
        }
        if (!cJSON_IsString(u) || u->valuestring == NULL)
            return ak_cfg_fail(msg, cap,
                               "keys.%s: must be a pkcs11: URI string or {\"uri\", \"policy\"}",
                               it->string);
        memset(&uri, 0, sizeof uri);
        umsg[0] = '\0';
        e = p11_uri_parse(&uri, u->valuestring, strlen(u->valuestring), umsg, sizeof umsg);
        int has_pin = uri.has_pin_value;
        int has_key = uri.has_object || uri.has_id;
        int other_token = uri.has_token && strcmp(uri.token, c->token_label) != 0;
        p11_uri_clear(&uri);
        if (e != AK_OK)
            return ak_cfg_fail(msg, cap, "keys.%s: %s", it->string, umsg[0] ? umsg : "bad URI");
        if (has_pin)
            return ak_cfg_fail(msg, cap,
                               "keys.%s: pin-value is not allowed in a key URI (use "
                               "pkcs11.pin_file or pkcs11.pin_env)",
                               it->string);
        if (!has_key)
            return ak_cfg_fail(msg, cap, "keys.%s: the URI must name the key (object= or id=)",
                               it->string);
        if (other_token)
            return ak_cfg_fail(msg, cap, "keys.%s: token= differs from pkcs11.token_label",
                               it->string);
        snprintf(kc->key_id, sizeof kc->key_id, "%s", it->string);
        kc->uri = strdup(u->valuestring);
        if (kc->uri == NULL)
            return AK_ERR_NOMEM;
        c->n_keys++;
    }
    return AK_OK;
}

static ak_err parse_identity(ks_client_cfg *cl, const char *name, char *msg, size_t cap)
{
    if (strncmp(name, "cn:", 3) == 0) {
        size_t n = strlen(name + 3);
        if (n == 0 || n > KS_CN_MAX)
            return ak_cfg_fail(msg, cap, "clients.%.64s: a CN is 1..%d bytes", name, KS_CN_MAX);
        memcpy(cl->cn, name + 3, n + 1);
        return AK_OK;
    }
    if (strncmp(name, "sha256:", 7) == 0) {
        /* Accept bare hex or the colon-separated form openssl prints. */
        char hex[65];
        size_t h = 0;
        for (const char *p = name + 7; *p != '\0'; p++) {
            if (*p == ':')
                continue;
            if (h == 64)
                return ak_cfg_fail(msg, cap, "clients.%.80s: fingerprint longer than 32 bytes",
                                   name);
            hex[h++] = *p;
        }
        hex[h] = '\0';
        size_t len = 0;
        if (h != 64 || ak_hex_decode_bare(cl->fp, sizeof cl->fp, &len, hex, h) != AK_OK ||
            len != 32)
            return ak_cfg_fail(msg, cap, "clients.%.80s: a fingerprint is 32 bytes of hex", name);
        cl->by_fingerprint = 1;
        return AK_OK;
    }
    return ak_cfg_fail(
        msg, cap, "clients.%.64s: an identity is \"cn:<subject CN>\" or \"sha256:<hex>\"", name);
}

/* clients.<id>.policies: {key id: policy} (ks_config.h says what an override replaces). */
static ak_err parse_overrides(const ks_config *c, ks_client_cfg *cl, const cJSON *obj,
                              const char *where, char *msg, size_t cap)
{
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(obj, "policies"), *it;
    char w[320];
    ak_err e;
    if (ps == NULL)
        return AK_OK;
    size_t n = (size_t)cJSON_GetArraySize(ps);
    if (!cJSON_IsObject(ps) || n == 0 || n > KS_MAX_KEYS)
        return ak_cfg_fail(msg, cap, "%s.policies: an object {key id: policy} of 1..%d keys", where,
                           KS_MAX_KEYS);
    cl->policy_key = calloc(n, sizeof *cl->policy_key);
    cl->policies = calloc(n, sizeof *cl->policies); /* NOLINT(bugprone-sizeof-expression) */
    if (cl->policy_key == NULL || cl->policies == NULL)
        return AK_ERR_NOMEM;
    cJSON_ArrayForEach(it, ps)
    {
        long k = ks_config_key_index(c, it->string, strlen(it->string));
        snprintf(w, sizeof w, "%s.policies.%.128s", where, it->string);
        if (k < 0)
            return ak_cfg_fail(msg, cap, "%s: unknown key id", w);
        if ((e = ks_policy_parse(&cl->policies[cl->n_policies], it, w, msg, cap)) != AK_OK)
            return e;
        cl->policy_key[cl->n_policies++] = (uint32_t)k;
        if (cl->policies[cl->n_policies - 1]->has_cumulative_cap)
            return ak_cfg_fail(msg, cap,
                               "%s.cumulative_cap: a cumulative cap belongs to the key (set it in "
                               "keys.%.128s.policy)",
                               w, it->string);
    }
    return AK_OK;
}

static ak_err parse_clients(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    const cJSON *cls, *it, *k;
    ak_err e;
    if ((e = get_obj(&cls, root, "clients", 1, msg, cap)) != AK_OK)
        return e;
    size_t n = (size_t)cJSON_GetArraySize(cls);
    if (n == 0 || n > KS_MAX_CLIENTS)
        return ak_cfg_fail(msg, cap, "clients: must name 1..%d clients", KS_MAX_CLIENTS);
    c->clients = calloc(n, sizeof *c->clients);
    if (c->clients == NULL)
        return AK_ERR_NOMEM;
    cJSON_ArrayForEach(it, cls)
    {
        ks_client_cfg *cl = &c->clients[c->n_clients++];
        if ((e = parse_identity(cl, it->string, msg, cap)) != AK_OK)
            return e;
        const char *name = it->string;
        const cJSON *v = it; /* the key list: the value itself or its "keys" */
        if (cJSON_IsObject(it)) {
            /* {"keys": "*" | [...], "max_signatures_per_s": N, "burst": M} */
            static const char *const allowed[] = {"keys", "max_signatures_per_s", "burst",
                                                  "policies", NULL};
            char where[96];
            unsigned long rate = 0, burst = 0;
            snprintf(where, sizeof where, "clients.%.64s", name);
            if ((e = check_members(it, where, allowed, msg, cap)) != AK_OK ||
                (e = get_uint(&rate, it, where, "max_signatures_per_s", 1, 1000000, 0, msg, cap)) !=
                    AK_OK ||
                (e = get_uint(&burst, it, where, "burst", 1, 1000000, rate, msg, cap)) != AK_OK)
                return e;
            if (burst > 0 && rate == 0)
                return ak_cfg_fail(msg, cap, "%s.burst: needs max_signatures_per_s", where);
            cl->rate_per_s = (unsigned)rate;
            cl->rate_burst = (unsigned)burst;
            if ((e = parse_overrides(c, cl, it, where, msg, cap)) != AK_OK)
                return e;
            v = cJSON_GetObjectItemCaseSensitive(it, "keys");
            if (v == NULL)
                return ak_cfg_fail(msg, cap, "%s.keys: missing (\"*\" or an array of key ids)",
                                   where);
        }
        if (cJSON_IsString(v) && strcmp(v->valuestring, "*") == 0) {
            cl->all_keys = 1;
            continue;
        }
        if (!cJSON_IsArray(v))
            return ak_cfg_fail(msg, cap,
                               "clients.%.64s: must be \"*\", an array of key ids or an object "
                               "with \"keys\"",
                               name);
        size_t m = (size_t)cJSON_GetArraySize(v);
        cl->key_idx = calloc(m ? m : 1, sizeof *cl->key_idx);
        if (cl->key_idx == NULL)
            return AK_ERR_NOMEM;
        size_t i = 0;
        cJSON_ArrayForEach(k, v)
        {
            if (!cJSON_IsString(k))
                return ak_cfg_fail(msg, cap, "clients.%.64s[%zu]: must be a key id string", name,
                                   i);
            long idx = ks_config_key_index(c, k->valuestring, strlen(k->valuestring));
            if (idx < 0)
                return ak_cfg_fail(msg, cap, "clients.%.64s[%zu]: unknown key id \"%.64s\"", name,
                                   i, k->valuestring);
            cl->key_idx[cl->n_keys++] = (uint32_t)idx;
            i++;
        }
    }
    return AK_OK;
}

static ak_err parse_audit(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    static const char *const allowed[] = {"file", "fsync", "anchor_file", "anchor_interval_ms",
                                          NULL};
    const cJSON *a, *f;
    unsigned long anchor_ms = 0;
    ak_err e;
    if ((e = get_obj(&a, root, "audit", 1, msg, cap)) != AK_OK ||
        (e = check_members(a, "audit", allowed, msg, cap)) != AK_OK ||
        (e = get_str(c->audit_file, sizeof c->audit_file, a, "audit", "file", 1, msg, cap)) !=
            AK_OK ||
        (e = get_str(c->audit_anchor_file, sizeof c->audit_anchor_file, a, "audit", "anchor_file",
                     0, msg, cap)) != AK_OK ||
        (e = get_uint(&anchor_ms, a, "audit", "anchor_interval_ms", 100, 3600000, 1000, msg,
                      cap)) != AK_OK)
        return e;
    c->audit_anchor_ms = (unsigned)anchor_ms;
    f = cJSON_GetObjectItemCaseSensitive(a, "fsync");
    c->audit_fsync = KS_FSYNC_ALWAYS;
    if (f == NULL || (cJSON_IsString(f) && strcmp(f->valuestring, "always") == 0))
        return AK_OK;
    if (cJSON_IsNumber(f) && f->valuedouble >= 1 && f->valuedouble <= 10000 &&
        f->valuedouble == (double)(unsigned)f->valuedouble) {
        c->audit_fsync = KS_FSYNC_INTERVAL;
        c->audit_interval_ms = (unsigned)f->valuedouble;
        return AK_OK;
    }
    return ak_cfg_fail(msg, cap, "audit.fsync: must be \"always\" or an interval in ms (1..10000)");
}

/* "state" (optional): the shared store of an HA pair (st_store.h), parsed by the store's own
 * parser; the key server takes only the postgres backend (without the section its caps are
 * kept in this process and rebuilt from the audit log). */
static ak_err parse_state(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    const cJSON *s = NULL;
    ak_err e = get_obj(&s, root, "state", 0, msg, cap);
    if (e != AK_OK || s == NULL)
        return e;
    if ((e = st_cfg_parse(&c->state, s, msg, cap)) != AK_OK)
        return e;
    if (c->state.backend != ST_POSTGRES)
        return ak_cfg_fail(msg, cap,
                           "state.backend: the key server takes only \"postgres\" (without a "
                           "\"state\" section each key's cumulative cap is kept in this process)");
    c->has_state = 1;
    return AK_OK;
}

static ak_err parse_limits(ks_config *c, const cJSON *root, char *msg, size_t cap)
{
    static const char *const allowed[] = {"max_body",
                                          "max_batch",
                                          "max_json_depth",
                                          "max_connections",
                                          "max_per_ip",
                                          "connection_timeout_s",
                                          "connection_memory",
                                          "threads",
                                          "handshake_timeout_s",
                                          "header_timeout_s",
                                          "max_unauthenticated_per_ip",
                                          "max_unauthenticated",
                                          NULL};
    const cJSON *l;
    unsigned long v = 0;
    ak_err e;
    static const cJSON empty = {0};
    if ((e = get_obj(&l, root, "limits", 0, msg, cap)) != AK_OK)
        return e;
    if (l == NULL)
        l = &empty;
    else if ((e = check_members(l, "limits", allowed, msg, cap)) != AK_OK)
        return e;
#define LIM(field, name, lo, hi, dflt)                                                             \
    do {                                                                                           \
        if ((e = get_uint(&v, l, "limits", name, lo, hi, dflt, msg, cap)) != AK_OK)                \
            return e;                                                                              \
        c->field = (__typeof__(c->field))v;                                                        \
    } while (0)
    LIM(max_body, "max_body", 256, 16 * 1024 * 1024, 64 * 1024);
    LIM(max_batch, "max_batch", 1, 4096, 256);
    LIM(max_json_depth, "max_json_depth", 2, 64, 8);
    LIM(max_connections, "max_connections", 1, 65536, 256);
    LIM(max_per_ip, "max_per_ip", 1, 65536, 64);
    LIM(connection_timeout_s, "connection_timeout_s", 1, 3600, 30);
    LIM(connection_memory, "connection_memory", 8192, 16 * 1024 * 1024, 32 * 1024);
    LIM(threads, "threads", 0, 64, 0);
    LIM(handshake_timeout_s, "handshake_timeout_s", 1, 600, 5);
    LIM(header_timeout_s, "header_timeout_s", 1, 600, 10);
    LIM(max_unauth_per_ip, "max_unauthenticated_per_ip", 1, 65535, 16);
    LIM(max_unauth, "max_unauthenticated", 1, 65535,
        c->max_connections > 128 ? 64 : (c->max_connections + 1) / 2 - (c->max_connections > 1));
#undef LIM
    if (c->max_connections >= 2 && c->max_unauth >= c->max_connections)
        return ak_cfg_fail(msg, cap,
                           "limits.max_unauthenticated: must be below limits.max_connections (%u), "
                           "or connections that never authenticate could hold every slot",
                           c->max_connections);
    return AK_OK;
}

static ak_err read_file(char **out, size_t *len, const char *path, char *msg, size_t cap)
{
    ak_err err = AK_ERR_CONFIG;
    char *buf = NULL;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = ak_cfg_fail(msg, cap, "cannot open \"%s\": %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(KS_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, KS_CONFIG_MAX_FILE + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = ak_cfg_fail(msg, cap, "cannot read \"%s\": %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > KS_CONFIG_MAX_FILE) {
            err = ak_cfg_fail(msg, cap, "\"%s\": larger than %d bytes", path, KS_CONFIG_MAX_FILE);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    err = AK_OK;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return err;
}

ak_err ks_config_load(ks_config **out, const char *path, char *msg, size_t msg_cap)
{
    static const char *const allowed[] = {"listen", "tls",     "pkcs11",
                                          "keys",   "clients", "audit",
                                          "limits", "user",    "allow_insecure_secret_files",
                                          "state",  NULL};
    ak_err err;
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    ks_config *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if ((err = read_file(&text, &len, path, msg, msg_cap)) != AK_OK)
        goto out;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        size_t off = end != NULL && end >= text ? (size_t)(end - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off && i < len; i++)
            line += text[i] == '\n';
        err = ak_cfg_fail(msg, msg_cap, "\"%s\": not valid JSON (near line %zu)", path, line);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        err = ak_cfg_fail(msg, msg_cap, "\"%s\": the top level must be an object", path);
        goto out;
    }
    /* cJSON cuts names at \u0000 and keeps duplicate keys (ak_json.h): a repeated client or
     * section would silently be ignored, so both are refused like any other typo. */
    if (ak_json_has_nul(text, len)) {
        err = ak_cfg_fail(msg, msg_cap, "\"%s\": contains a NUL character (\\u0000)", path);
        goto out;
    }
    if (ak_json_check_keys(root) != AK_OK) {
        err = ak_cfg_fail(msg, msg_cap, "\"%s\": a key appears twice in the same object", path);
        goto out;
    }
    if ((err = check_members(root, "", allowed, msg, msg_cap)) != AK_OK ||
        (err = parse_listen_tls(c, root, msg, msg_cap)) != AK_OK ||
        (err = parse_pkcs11(c, root, msg, msg_cap)) != AK_OK ||
        (err = parse_keys(c, root, msg, msg_cap)) != AK_OK ||
        (err = parse_clients(c, root, msg, msg_cap)) != AK_OK ||
        (err = parse_audit(c, root, msg, msg_cap)) != AK_OK ||
        (err = parse_limits(c, root, msg, msg_cap)) != AK_OK ||
        (err = parse_state(c, root, msg, msg_cap)) != AK_OK ||
        (err = get_str(c->user, sizeof c->user, root, "config", "user", 0, msg, msg_cap)) !=
            AK_OK ||
        (err = get_bool(&c->allow_insecure_secret_files, root, "allow_insecure_secret_files", 0,
                        msg, msg_cap)) != AK_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    cJSON_Delete(root);
    free(text);
    ks_config_free(c);
    return err;
}

void ks_config_free(ks_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->keys != NULL && i <= c->n_keys && i < KS_MAX_KEYS; i++) {
        /* <= n_keys: the entry being parsed when an error stopped it may hold a policy */
        free(c->keys[i].uri);
        ks_policy_free(c->keys[i].policy);
    }
    for (size_t i = 0; i < c->n_clients; i++) {
        free(c->clients[i].key_idx);
        for (size_t j = 0; j < c->clients[i].n_policies; j++)
            ks_policy_free(c->clients[i].policies[j]);
        free(c->clients[i].policy_key);
        free(c->clients[i].policies);
    }
    free(c->keys);
    free(c->clients);
    free(c);
}

ak_err ks_config_read_pin(const ks_config *c, char **pin, size_t *pin_len, char *msg,
                          size_t msg_cap)
{
    ak_err err = AK_ERR_PIN;
    int fd = -1;
    size_t n = 0;
    char *buf = ak_secure_alloc(KS_PIN_BUF);
    *pin = NULL;
    *pin_len = 0;
    if (buf == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if (c->pin_env[0] != '\0') {
        char *v = getenv(c->pin_env);
        if (v == NULL || v[0] == '\0') {
            err = ak_cfg_fail(msg, msg_cap, "pkcs11.pin_env: environment variable %s is not set",
                              c->pin_env);
            goto out;
        }
        n = strlen(v);
        if (n >= KS_PIN_BUF) {
            err = ak_cfg_fail(msg, msg_cap, "pkcs11.pin_env: PIN longer than %d bytes",
                              KS_PIN_BUF - 1);
            goto out;
        }
        memcpy(buf, v, n);
        /* The variable's bytes are the ones /proc/PID/environ shows (and children inherit):
         * overwrite them in place, then drop the variable. */
        ak_wipe(v, n);
        if (unsetenv(c->pin_env) != 0) {
            err = ak_cfg_fail(msg, msg_cap, "pkcs11.pin_env: cannot unset %s", c->pin_env);
            goto out;
        }
    } else {
        fd = open(c->pin_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err = ak_cfg_fail(msg, msg_cap, "pkcs11.pin_file: cannot open \"%s\": %s", c->pin_file,
                              strerror(errno));
            goto out;
        }
        if ((err = ks_config_check_secret(c, fd, "pkcs11.pin_file", c->pin_file, msg, msg_cap)) !=
            AK_OK)
            goto out;
        for (;;) {
            ssize_t r = read(fd, buf + n, KS_PIN_BUF - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                err =
                    ak_cfg_fail(msg, msg_cap, "pkcs11.pin_file: read failed: %s", strerror(errno));
                goto out;
            }
            if (r == 0)
                break;
            n += (size_t)r;
            if (n >= KS_PIN_BUF) {
                err = ak_cfg_fail(msg, msg_cap, "pkcs11.pin_file: PIN longer than %d bytes",
                                  KS_PIN_BUF - 1);
                goto out;
            }
        }
        if (n > 0 && buf[n - 1] == '\n')
            n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
        buf[n] = '\0';
    }
    if (n == 0) {
        err = ak_cfg_fail(msg, msg_cap, "pkcs11: the PIN is empty");
        goto out;
    }
    *pin = buf;
    *pin_len = n;
    buf = NULL;
    err = AK_OK;
out:
    if (fd >= 0)
        close(fd);
    ak_secure_free(buf, KS_PIN_BUF);
    return err;
}

ak_err ks_config_check_secret(const ks_config *c, int fd, const char *field, const char *path,
                              char *msg, size_t msg_cap)
{
    struct stat st;
    if (c->allow_insecure_secret_files)
        return AK_OK;
    if (fstat(fd, &st) != 0)
        return ak_cfg_fail(msg, msg_cap, "%s: cannot stat \"%s\": %s", field, path,
                           strerror(errno));
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return ak_cfg_fail(msg, msg_cap,
                           "%s: \"%s\" is accessible to group or others (mode %04o): a secret file "
                           "must be mode 0600 or 0400 (chmod go= it), or set "
                           "allow_insecure_secret_files",
                           field, path, (unsigned)(st.st_mode & 07777));
    if (st.st_uid == geteuid())
        return AK_OK;
    if (c->user[0] != '\0') {
        struct passwd pw, *res = NULL;
        char buf[1024];
        if (getpwnam_r(c->user, &pw, buf, sizeof buf, &res) == 0 && res != NULL &&
            res->pw_uid == st.st_uid)
            return AK_OK;
    }
    return ak_cfg_fail(msg, msg_cap,
                       "%s: \"%s\" is owned by uid %u, not by the daemon's user (uid %u%s%s): "
                       "chown it, or set allow_insecure_secret_files",
                       field, path, (unsigned)st.st_uid, (unsigned)geteuid(),
                       c->user[0] != '\0' ? " or user " : "", c->user);
}
