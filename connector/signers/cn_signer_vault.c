/*
 * cn_signer_vault.c - the "hashicorp_vault" signer (see cn_signer_vault.h).
 *
 * Owns: the configuration, a cn_rhttp client, the auth material (static token, or the AppRole
 * secret id) and the current client token in locked memory, and the key cache. Auth state is
 * only touched inside the fetch callback, which cn_keycache runs one at a time.
 */
#include "cn_signer_vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_secmem.h"
#include "cn_keycache.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "cn_remote_key.h"
#include "cn_rhttp.h"
#include "cn_backend.h"

#define W          "vault"
#define NAME_MAX_V 128
#define VPATH_MAX  512
#define BODY_MAX   (CN_RCFG_SECRET_MAX * 2 + 256)

typedef enum { AUTH_TOKEN = 0, AUTH_APPROLE, AUTH_K8S } auth_method;

typedef struct {
    cn_remote_key_base base; /* first member (cn_remote_key.h) */
    cn_rhttp *http;
    char addr[257], ns[NAME_MAX_V + 1], mount[NAME_MAX_V + 1], path[VPATH_MAX + 1];
    char field[NAME_MAX_V + 1], auth_mount[NAME_MAX_V + 1], role[NAME_MAX_V + 1];
    char jwt_file[CN_RCFG_PATH_MAX + 1], address[43];
    cn_rcfg_http http_cfg;
    long version, cache_ttl_s;
    auth_method method;
    char method_s[16], role_id[NAME_MAX_V + 1]; /* role_id: copied into role (approle) */
    ak_cfg_secret_src token_src, secret_id_src; /* during configure only */
    cn_rcfg_secret login_secret;                /* AppRole secret_id */
    cn_rcfg_secret token;     /* static token, or the client token from the last login */
    int64_t token_expires_ms; /* login tokens: renew after this (monotonic); 0 = never */
    int64_t renew_at_ms; /* static token: renew-self after this; 0 = not looked up, -1 = never */
} vault;

typedef struct {
    vault *v;
    int with_token;
} hdr_ctx;

static int64_t now_ms(void) /* the one clock (rt_clock) */
{
    return rt_clock_mono_ms(rt_clock_system());
}

/* 1 if every byte is printable ASCII other than '"' and '\\' (safe in JSON and headers). */
static int json_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return 0;
    return 1;
}

static ak_err vault_headers(void *user, struct curl_slist **out, const char *method,
                            const char *path, const char *body, size_t body_len)
{
    (void)method;
    (void)path;
    (void)body;
    (void)body_len;
    hdr_ctx *h = user;
    ak_err rc = cn_rhttp_header_add(out, AK_OK, "Content-Type: application/json");
    rc = cn_rhttp_header_add(out, rc, "Expect:");
    if (h->v->ns[0] != '\0')
        rc = cn_rhttp_header_add(out, rc, "X-Vault-Namespace: %s", h->v->ns);
    if (h->with_token)
        rc = cn_rhttp_header_add(out, rc, "X-Vault-Token: %s", h->v->token.s);
    return rc;
}

/* AppRole or Kubernetes login: a fresh client token into v->token. */
static AK_WUR ak_err vault_login(vault *v, char *err, size_t cap)
{
    char upath[NAME_MAX_V + 32];
    char *body = ak_secure_alloc(BODY_MAX);
    cn_rcfg_secret jwt = {0};
    cn_rhttp_resp r = {0};
    cJSON *j = NULL;
    hdr_ctx hc = {v, 0};
    ak_err rc = body ? cn_rhttp_resp_init(&r) : AK_ERR_NOMEM;
    if (rc != AK_OK)
        goto out;
    if (v->method == AUTH_APPROLE) {
        snprintf(body, BODY_MAX, "{\"role_id\":\"%s\",\"secret_id\":\"%s\"}", v->role,
                 v->login_secret.s);
    } else {
        /* Projected service-account tokens rotate: read the file at each login. */
        const ak_cfg_secret_src src = {.file = v->jwt_file, .key = "jwt_file"};
        rc = cn_rcfg_secret_load(&jwt, &src, CN_RCFG_SECRET_MAX, CN_RCFG_TRIM_SPACE, W ".auth", err,
                                 cap);
        if (rc != AK_OK)
            goto out;
        rc = AK_ERR_AUTH;
        if (!json_safe(jwt.s, jwt.len)) {
            cn_rcfg_err(err, cap, W ": the Kubernetes JWT file holds invalid characters");
            goto out;
        }
        snprintf(body, BODY_MAX, "{\"role\":\"%s\",\"jwt\":\"%s\"}", v->role, jwt.s);
    }
    snprintf(upath, sizeof upath, "/v1/auth/%s/login", v->auth_mount);
    cn_rhttp_req q = {"POST", v->addr, upath, body, strlen(body), vault_headers, &hc};
    rc = cn_rhttp_call(v->http, &q, &r);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, W ": login at auth/%s failed: %s", v->auth_mount, ak_strerror(rc));
        goto out;
    }
    if (r.status == 400 || r.status == 401 || r.status == 403) {
        rc = AK_ERR_AUTH;
        cn_rcfg_err(err, cap, W ": login at auth/%s refused (HTTP %ld): check the credentials",
                    v->auth_mount, r.status);
        goto out;
    }
    rc = AK_ERR_UPSTREAM;
    if (r.status != 200) {
        rc = cn_rhttp_status_err(r.status);
        cn_rcfg_err(err, cap, W ": login at auth/%s answered HTTP %ld", v->auth_mount, r.status);
        goto out;
    }
    j = cJSON_ParseWithLength(r.body, r.len);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(j, "auth");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(auth, "client_token");
    const cJSON *lease = cJSON_GetObjectItemCaseSensitive(auth, "lease_duration");
    size_t tlen = cJSON_IsString(tok) ? strlen(tok->valuestring) : 0;
    if (tlen == 0 || tlen > CN_RCFG_SECRET_MAX || !json_safe(tok->valuestring, tlen) ||
        (lease != NULL && (!cJSON_IsNumber(lease) || lease->valuedouble < 0))) {
        cn_rcfg_err(err, cap, W ": login answer malformed (auth.client_token, lease_duration)");
        goto out;
    }
    memcpy(v->token.s, tok->valuestring, tlen + 1);
    v->token.len = tlen;
    double secs = lease ? lease->valuedouble : 0;
    /* Renew when 90% of the lease has passed; 0 means the token does not expire. */
    v->token_expires_ms = secs > 0 ? now_ms() + (int64_t)(secs * 900.0) : 0;
    rc = AK_OK;
out:
    cn_remote_key_wipe_json(j);
    cJSON_Delete(j);
    cn_rhttp_resp_clear(&r);
    cn_rcfg_secret_free(&jwt);
    if (body != NULL)
        ak_secure_free(body, BODY_MAX);
    return rc;
}

/* One KV v2 read. *status set on AK_OK (the answer's HTTP status). */
static AK_WUR ak_err kv_read(vault *v, uint8_t key[32], long *status, char *err, size_t cap)
{
    char upath[NAME_MAX_V + VPATH_MAX + 64];
    cn_rhttp_resp r = {0};
    cJSON *j = NULL;
    hdr_ctx hc = {v, 1};
    ak_err rc = cn_rhttp_resp_init(&r);
    if (rc != AK_OK)
        goto out;
    if (v->version > 0)
        snprintf(upath, sizeof upath, "/v1/%s/data/%s?version=%ld", v->mount, v->path, v->version);
    else
        snprintf(upath, sizeof upath, "/v1/%s/data/%s", v->mount, v->path);
    cn_rhttp_req q = {"GET", v->addr, upath, NULL, 0, vault_headers, &hc};
    rc = cn_rhttp_call(v->http, &q, &r);
    if (rc != AK_OK) {
        cn_rcfg_err(err, cap, W ": reading %s/%s failed: %s", v->mount, v->path, ak_strerror(rc));
        goto out;
    }
    *status = r.status;
    if (r.status == 401 || r.status == 403) {
        rc = AK_ERR_AUTH;
        cn_rcfg_err(err, cap, W ": permission denied reading %s/%s (token rejected or policy)",
                    v->mount, v->path);
        goto out;
    }
    if (r.status == 404) {
        rc = AK_ERR_KEY_NOT_FOUND;
        cn_rcfg_err(err, cap, W ": no secret at %s/%s", v->mount, v->path);
        goto out;
    }
    if (r.status != 200) {
        rc = cn_rhttp_status_err(r.status);
        cn_rcfg_err(err, cap, W ": reading %s/%s answered HTTP %ld", v->mount, v->path, r.status);
        goto out;
    }
    rc = AK_ERR_UPSTREAM;
    j = cJSON_ParseWithLength(r.body, r.len);
    cJSON *outer = cJSON_GetObjectItemCaseSensitive(j, "data");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(outer, "data");
    if (!cJSON_IsObject(data)) {
        cn_rcfg_err(err, cap, W ": answer for %s/%s is not a KV v2 secret (data.data)", v->mount,
                    v->path);
        goto out;
    }
    cJSON *val = cJSON_GetObjectItemCaseSensitive(data, v->field);
    if (val == NULL) {
        rc = AK_ERR_KEY_NOT_FOUND;
        cn_rcfg_err(err, cap, W ": secret %s/%s has no field \"%s\"", v->mount, v->path, v->field);
        goto out;
    }
    rc = cn_remote_key_take(key, val);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, W ": field \"%s\" of %s/%s is not 64 hex digits", v->field, v->mount,
                    v->path);
out:
    cn_remote_key_wipe_json(j);
    cJSON_Delete(j);
    cn_rhttp_resp_clear(&r);
    return rc;
}

/* One token call (lookup-self or renew-self): the token's TTL in seconds and whether it can be
 * renewed, from data.{ttl,renewable} or auth.{lease_duration,renewable}. */
static AK_WUR ak_err token_call(vault *v, const char *method, const char *op, double *ttl,
                                int *renewable)
{
    char upath[NAME_MAX_V + 48];
    cn_rhttp_resp r = {0};
    cJSON *j = NULL;
    hdr_ctx hc = {v, 1};
    ak_err rc = cn_rhttp_resp_init(&r);
    if (rc != AK_OK)
        return rc;
    snprintf(upath, sizeof upath, "/v1/auth/token/%s", op);
    cn_rhttp_req q = {method, v->addr, upath, "{}", 2, vault_headers, &hc};
    rc = cn_rhttp_call(v->http, &q, &r);
    if (rc == AK_OK && r.status != 200)
        rc = r.status == 401 || r.status == 403 ? AK_ERR_AUTH : cn_rhttp_status_err(r.status);
    if (rc == AK_OK) {
        j = cJSON_ParseWithLength(r.body, r.len);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "data");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "ttl");
        if (!cJSON_IsObject(o)) {
            o = cJSON_GetObjectItemCaseSensitive(j, "auth");
            t = cJSON_GetObjectItemCaseSensitive(o, "lease_duration");
        }
        const cJSON *rn = cJSON_GetObjectItemCaseSensitive(o, "renewable");
        rc = AK_ERR_UPSTREAM;
        if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 1e9 && cJSON_IsBool(rn)) {
            *ttl = t->valuedouble;
            *renewable = cJSON_IsTrue(rn);
            rc = AK_OK;
        }
    }
    cn_remote_key_wipe_json(j); /* lookup-self answers carry the token's id */
    cJSON_Delete(j);
    cn_rhttp_resp_clear(&r);
    return rc;
}

/* Static token: look it up once, then renew it (renew-self) when two thirds of its TTL have
 * passed, so a periodic or renewable token does not expire under a running connector. Rides on
 * the key fetches (at least every cache_ttl_s); failures are logged, the key read decides. */
static void token_keepalive(vault *v)
{
    double ttl = 0;
    int renewable = 0;
    const char *op = v->renew_at_ms == 0 ? "lookup-self" : "renew-self";
    if (v->renew_at_ms < 0 || (v->renew_at_ms > 0 && now_ms() < v->renew_at_ms))
        return;
    ak_err rc = token_call(v, v->renew_at_ms == 0 ? "GET" : "POST", op, &ttl, &renewable);
    if (rc != AK_OK) {
        cn_log(CN_LOG_WARN, "vault: token lookup/renewal failed", "path", v->path, "call", op,
               "error", ak_strerror(rc), (char *)NULL);
        if (v->renew_at_ms == 0 && rc == AK_ERR_AUTH)
            v->renew_at_ms = -1; /* no lookup-self capability: never renewed */
        return;                  /* anything else: tried again at the next read */
    }
    v->renew_at_ms = renewable && ttl > 0 ? now_ms() + (int64_t)(ttl * 1000.0 * 2 / 3) : -1;
    if (v->renew_at_ms > 0 && strcmp(op, "renew-self") == 0)
        cn_log(CN_LOG_INFO, "vault: token renewed", "path", v->path, (char *)NULL);
}

/* cn_keycache fetch callback: log in if needed, read, re-login once on 403. */
static ak_err vault_fetch(void *user, uint8_t key[32], char *err, size_t cap)
{
    vault *v = user;
    long status = 0;
    int fresh = 0;
    ak_err rc = AK_OK;
    if (v->method != AUTH_TOKEN &&
        (v->token.len == 0 || (v->token_expires_ms != 0 && now_ms() >= v->token_expires_ms))) {
        rc = vault_login(v, err, cap);
        if (rc != AK_OK)
            return rc;
        fresh = 1;
    }
    rc = kv_read(v, key, &status, err, cap);
    if (rc == AK_ERR_AUTH && v->method != AUTH_TOKEN && !fresh) {
        /* The token may have been revoked before its lease ended: log in once more. */
        rc = vault_login(v, err, cap);
        if (rc == AK_OK)
            rc = kv_read(v, key, &status, err, cap);
    }
    if (rc == AK_OK && v->method == AUTH_TOKEN)
        token_keepalive(v);
    return rc;
}

static void vault_free_impl(void *impl)
{
    vault *v = impl;
    cn_rhttp_free(v->http);
    cn_rcfg_secret_free(&v->login_secret);
    cn_rcfg_secret_free(&v->token);
    free(v);
}

static const cn_signer_ops vault_ops = {"hashicorp_vault", cn_remote_key_sign, cn_remote_key_health,
                                        cn_remote_key_destroy};

/* A path of segments of [A-Za-z0-9._:-] separated by single '/', no "." or ".." segment. */
static int path_ok(const char *p)
{
    if (!ak_cfg_safe_id(p, VPATH_MAX, 1) || p[0] == '/' || strstr(p, "//") != NULL ||
        p[strlen(p) - 1] == '/')
        return 0;
    for (const char *seg = p; seg != NULL; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
        if ((seg[0] == '.' && (seg[1] == '/' || seg[1] == '\0')) ||
            (seg[0] == '.' && seg[1] == '.' && (seg[2] == '/' || seg[2] == '\0')))
            return 0;
    return 1;
}

/* auth's members; which of them a method needs is checked in check_auth. */
static const ak_cfg_field k_auth_fields[] = {
    AK_CFG_STR("method", AK_CFG_REQUIRED, vault, method_s, NULL),
    AK_CFG_SECRET("token", 0, vault, token_src),
    AK_CFG_STR("mount", 0, vault, auth_mount, NULL),
    AK_CFG_STR("role_id", 0, vault, role_id, NULL),
    AK_CFG_SECRET("secret_id", 0, vault, secret_id_src),
    AK_CFG_STR("role", 0, vault, role, NULL),
    AK_CFG_STR("jwt_file", AK_CFG_PATH, vault, jwt_file,
               "/var/run/secrets/kubernetes.io/serviceaccount/token"),
};

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("name"),
    AK_CFG_STR("addr", AK_CFG_REQUIRED | AK_CFG_URL, vault, addr, NULL),
    AK_CFG_STR("namespace", 0, vault, ns, ""),
    AK_CFG_STR("mount", 0, vault, mount, "secret"),
    AK_CFG_STR("path", AK_CFG_REQUIRED, vault, path, NULL),
    AK_CFG_STR("field", 0, vault, field, "private_key"),
    AK_CFG_INT("version", 0, vault, version, 0, 1000000000L, 0),
    AK_CFG_OBJ("auth", AK_CFG_REQUIRED, k_auth_fields),
    AK_CFG_INT("cache_ttl_s", 0, vault, cache_ttl_s, 1, 86400, 300),
    AK_CFG_STR("address", 0, vault, address, NULL),
    AK_CFG_INLINE(cn_rcfg_http_fields, CN_RCFG_HTTP_NFIELDS, vault, http_cfg),
};

/* The method's own members: role_id and a secret_id, a role, or a token. */
static AK_WUR ak_err check_auth(vault *v, const cJSON *auth, char *err, size_t cap)
{
    ak_err rc = AK_ERR_CONFIG;
    const char *need = NULL;
    if (strcmp(v->method_s, "token") == 0) {
        v->method = AUTH_TOKEN;
        need = v->token_src.file || v->token_src.env ? NULL : "token_file\" or \"token_env";
    } else if (strcmp(v->method_s, "approle") == 0) {
        v->method = AUTH_APPROLE;
        need = !cJSON_HasObjectItem(auth, "role_id") ? "role_id"
               : v->secret_id_src.file || v->secret_id_src.env
                   ? NULL
                   : "secret_id_file\" or \"secret_id_env";
    } else if (strcmp(v->method_s, "kubernetes") == 0) {
        v->method = AUTH_K8S;
        need = !cJSON_HasObjectItem(auth, "role") ? "role" : NULL;
    } else {
        cn_rcfg_err(err, cap, W ".auth.method: \"token\", \"approle\" or \"kubernetes\"");
        return rc;
    }
    if (need != NULL) {
        cn_rcfg_err(err, cap, W ".auth: missing required field \"%s\" for method %s", need,
                    v->method_s);
        return rc;
    }
    if (v->method == AUTH_TOKEN) {
        rc = cn_rcfg_secret_load(&v->token, &v->token_src, CN_RCFG_SECRET_MAX, CN_RCFG_TRIM_SPACE,
                                 W ".auth", err, cap);
        if (rc == AK_OK && !json_safe(v->token.s, v->token.len)) {
            cn_rcfg_err(err, cap, W ".auth: the token holds invalid characters");
            rc = AK_ERR_CONFIG;
        }
        return rc;
    }
    v->token.cap = CN_RCFG_SECRET_MAX + 3;
    v->token.s = ak_secure_alloc(v->token.cap);
    if (v->token.s == NULL)
        return AK_ERR_NOMEM;
    if (v->auth_mount[0] == '\0')
        snprintf(v->auth_mount, sizeof v->auth_mount, "%s", v->method_s);
    if (v->method == AUTH_APPROLE)
        memcpy(v->role, v->role_id, sizeof v->role);
    if (v->method == AUTH_APPROLE &&
        (rc = cn_rcfg_secret_load(&v->login_secret, &v->secret_id_src, CN_RCFG_SECRET_MAX,
                                  CN_RCFG_TRIM_SPACE, W ".auth", err, cap)) != AK_OK)
        return rc;
    if (!json_safe(v->role, strlen(v->role)) ||
        (v->login_secret.s && !json_safe(v->login_secret.s, v->login_secret.len))) {
        cn_rcfg_err(err, cap, W ".auth: role_id, role or secret_id holds invalid characters");
        return AK_ERR_CONFIG;
    }
    if (!path_ok(v->auth_mount)) {
        cn_rcfg_err(err, cap, W ".auth.mount: a mount path of [A-Za-z0-9._:-/]");
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

static AK_WUR ak_err vault_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg,
                                     char *err, size_t cap)
{
    vault *v = s->impl;
    ak_err rc;
    v->base.destroy_impl = vault_free_impl;
    if ((rc = ak_cfg_read(v, k_fields, AK_CFG_COUNT(k_fields), cfg, W, err, cap)) != AK_OK)
        return rc;
    if (!path_ok(v->mount) || !path_ok(v->path)) {
        cn_rcfg_err(err, cap, W ".mount/.path: segments of [A-Za-z0-9._:-] separated by '/'");
        return AK_ERR_CONFIG;
    }
    if ((v->ns[0] != '\0' && !path_ok(v->ns)) || !json_safe(v->field, strlen(v->field))) {
        cn_rcfg_err(err, cap, W ".namespace/.field: invalid characters");
        return AK_ERR_CONFIG;
    }
    snprintf(s->name, sizeof s->name, "%.63s", v->path);
    *st = (cn_backend_start){.http = &v->http_cfg,
                             .client = &v->http,
                             .address = v->address,
                             .cache_ttl_s = v->cache_ttl_s,
                             .fetch = vault_fetch};
    return check_auth(v, cJSON_GetObjectItemCaseSensitive(cfg, "auth"), err, cap);
}

static const cn_backend k_vault = {"hashicorp_vault",   "hashicorp-vault", W,
                                   CN_LEVEL_PRODUCTION, sizeof(vault),     &vault_ops,
                                   vault_configure};

ak_err cn_vault_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_vault, cfg, err, err_cap);
}
