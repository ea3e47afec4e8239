/*
 * st_front.c - the functions of st_store.h: the "state" config object and the front of
 * the store: reads the clock, checks arguments and hands each call to the memory or the
 * postgres backend. (Not st_store.c: st_impl.h includes st_store.h, and the include-cycle
 * check reads st_store.c + st_store.h as one module.)
 */
#include "st_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ak_json.h"
#include "ak_secmem.h"
#include "st_impl.h"

#define cfg_err(...)                                                                               \
    ((err) != NULL && (err_cap) > 0 ? (void)snprintf(err, err_cap, __VA_ARGS__) : (void)0)

#define PASSWORD_MAX 1024

struct st_store {
    st_cfg cfg;
    const rt_clock *clock;
    st_mem *mem;
    st_pg *pg;
};

/* ---- config ------------------------------------------------------------------------------- */

static const char *const K_MEMBERS[] = {
    "backend",        "url",     "password_file", "tls", "pool_size", "statement_timeout_ms",
    "nonce_trust_ms", "migrate", "max_entries"};
/* Members that only mean something for one backend. */
static const char *const K_PG_ONLY[] = {"url",       "password_file",        "tls",
                                        "pool_size", "statement_timeout_ms", "migrate"};
static const char *const K_TLS_MEMBERS[] = {"mode", "root_cert", "cert", "key"};
/* url options that may be given in the url itself; the rest have their own member or none. */
static const char *const K_URL_OPTIONS[] = {"host",   "hostaddr", "port",
                                            "dbname", "user",     "application_name"};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static ak_err unknown_member(const cJSON *obj, const char *where, const char *const *known,
                             size_t n, char *err, size_t err_cap)
{
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        if (it->string == NULL || !in_list(it->string, known, n)) {
            cfg_err("%s: unknown member \"%.64s\"", where, it->string ? it->string : "");
            return AK_ERR_CONFIG;
        }
    }
    return AK_OK;
}

/* A string member into dst (cap bytes, 1..cap-1 chars); absent: dst untouched. */
static ak_err str_member(char *dst, size_t cap, const cJSON *obj, const char *where,
                         const char *name, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL)
        return AK_OK;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= cap) {
        cfg_err("%s.%s: must be a string of 1..%zu characters", where, name, cap - 1);
        return AK_ERR_CONFIG;
    }
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return AK_OK;
}

/* An integer member in lo..hi; absent: dst untouched. */
static ak_err uint_member(uint64_t *dst, const cJSON *obj, const char *name, uint64_t lo,
                          uint64_t hi, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL)
        return AK_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    if (!cJSON_IsNumber(v) || !(d >= (double)lo && d <= (double)hi) || (double)(uint64_t)d != d) {
        cfg_err("state.%s: must be an integer in [%llu, %llu]", name, (unsigned long long)lo,
                (unsigned long long)hi);
        return AK_ERR_CONFIG;
    }
    *dst = (uint64_t)d;
    return AK_OK;
}

/* The url: postgresql:// or postgres://, parsed by libpq; only K_URL_OPTIONS may be set in it.
 * *socket = 1 when every host is a Unix-socket directory (or none is given). */
static ak_err parse_url(const char *url, int *socket, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    char *perr = NULL;
    PQconninfoOption *opts = NULL;
    if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0) {
        cfg_err("state.url: must start with postgresql://");
        goto out;
    }
    opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        cfg_err("state.url: not a valid PostgreSQL url%s", perr ? "" : " (out of memory)");
        goto out;
    }
    *socket = 1;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            cfg_err("state.url: a password does not belong in the url: use state.password_file");
            goto out;
        }
        if (!in_list(o->keyword, K_URL_OPTIONS, sizeof(K_URL_OPTIONS) / sizeof(*K_URL_OPTIONS))) {
            cfg_err("state.url: option \"%.32s\" is not accepted in the url%s", o->keyword,
                    strncmp(o->keyword, "ssl", 3) == 0 ? ": use state.tls" : "");
            goto out;
        }
        if (strcmp(o->keyword, "hostaddr") == 0 ||
            (strcmp(o->keyword, "host") == 0 && (o->val[0] != '/' || strchr(o->val, ','))))
            *socket = 0;
    }
    rc = AK_OK;
out:
    PQconninfoFree(opts);
    PQfreemem(perr);
    return rc;
}

static ak_err parse_tls(st_cfg *out, const cJSON *tls, char *err, size_t err_cap)
{
    static const char *const modes[] = {"disable", "require", "verify-ca", "verify-full"};
    if (!cJSON_IsObject(tls)) {
        cfg_err("state.tls: must be an object {mode, root_cert, cert, key}");
        return AK_ERR_CONFIG;
    }
    if (unknown_member(tls, "state.tls", K_TLS_MEMBERS, 4, err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    char mode[16] = "verify-full";
    if (str_member(mode, sizeof(mode), tls, "state.tls", "mode", err, err_cap) != AK_OK ||
        str_member(out->root_cert, sizeof(out->root_cert), tls, "state.tls", "root_cert", err,
                   err_cap) != AK_OK ||
        str_member(out->cert, sizeof(out->cert), tls, "state.tls", "cert", err, err_cap) != AK_OK ||
        str_member(out->key, sizeof(out->key), tls, "state.tls", "key", err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    out->tls_mode = ST_TLS_NONE;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(mode, modes[i]) == 0)
            out->tls_mode = (st_tls_mode)(ST_TLS_DISABLE + (int)i);
    if (out->tls_mode == ST_TLS_NONE) {
        cfg_err("state.tls.mode: must be disable, require, verify-ca or verify-full");
        return AK_ERR_CONFIG;
    }
    if (out->tls_mode >= ST_TLS_VERIFY_CA && out->root_cert[0] == '\0') {
        cfg_err("state.tls.root_cert: required with mode %s", mode);
        return AK_ERR_CONFIG;
    }
    if (out->tls_mode == ST_TLS_DISABLE &&
        (out->root_cert[0] != '\0' || out->cert[0] != '\0' || out->key[0] != '\0')) {
        cfg_err("state.tls: mode disable contradicts root_cert/cert/key");
        return AK_ERR_CONFIG;
    }
    if ((out->cert[0] == '\0') != (out->key[0] == '\0')) {
        cfg_err("state.tls.%s: cert and key go together", out->cert[0] ? "key" : "cert");
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

ak_err st_cfg_parse(st_cfg *out, const cJSON *obj, char *err, size_t err_cap)
{
    memset(out, 0, sizeof(*out));
    out->backend = ST_MEMORY;
    out->pool_size = 8;
    out->statement_timeout_ms = 2000;
    out->nonce_trust_ms = 2000;
    out->migrate = 1;
    out->max_entries = 1048576;
    if (obj == NULL)
        return AK_OK;
    if (!cJSON_IsObject(obj)) {
        cfg_err("state: must be an object {\"backend\": \"memory\" | \"postgres\", ...}");
        return AK_ERR_CONFIG;
    }
    if (ak_json_check_keys(obj) != AK_OK) {
        cfg_err("state: duplicate member");
        return AK_ERR_CONFIG;
    }
    if (unknown_member(obj, "state", K_MEMBERS, sizeof(K_MEMBERS) / sizeof(*K_MEMBERS), err,
                       err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    char backend[16] = "memory";
    if (str_member(backend, sizeof(backend), obj, "state", "backend", err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    if (strcmp(backend, "postgres") == 0) {
        out->backend = ST_POSTGRES;
    } else if (strcmp(backend, "memory") != 0) {
        cfg_err("state.backend: must be \"memory\" or \"postgres\"");
        return AK_ERR_CONFIG;
    }
    uint64_t pool = out->pool_size, tmo = out->statement_timeout_ms;
    uint64_t trust = out->nonce_trust_ms, maxe = out->max_entries;
    if (uint_member(&trust, obj, "nonce_trust_ms", 0, ST_TRUST_MAX, err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    out->nonce_trust_ms = (unsigned)trust;
    if (out->backend == ST_MEMORY) {
        for (size_t i = 0; i < sizeof(K_PG_ONLY) / sizeof(*K_PG_ONLY); i++) {
            if (cJSON_GetObjectItemCaseSensitive(obj, K_PG_ONLY[i]) != NULL) {
                cfg_err("state.%s: only for the postgres backend", K_PG_ONLY[i]);
                return AK_ERR_CONFIG;
            }
        }
        if (uint_member(&maxe, obj, "max_entries", 1, ST_ENTRIES_MAX, err, err_cap) != AK_OK)
            return AK_ERR_CONFIG;
        out->max_entries = (size_t)maxe;
        return AK_OK;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, "max_entries") != NULL) {
        cfg_err("state.max_entries: only for the memory backend");
        return AK_ERR_CONFIG;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, "url") == NULL) {
        cfg_err("state.url: required for the postgres backend");
        return AK_ERR_CONFIG;
    }
    int socket = 0;
    if (str_member(out->url, sizeof(out->url), obj, "state", "url", err, err_cap) != AK_OK ||
        parse_url(out->url, &socket, err, err_cap) != AK_OK ||
        str_member(out->password_file, sizeof(out->password_file), obj, "state", "password_file",
                   err, err_cap) != AK_OK ||
        uint_member(&pool, obj, "pool_size", 1, ST_POOL_MAX, err, err_cap) != AK_OK ||
        uint_member(&tmo, obj, "statement_timeout_ms", 50, ST_TIMEOUT_MAX, err, err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    out->pool_size = (unsigned)pool;
    out->statement_timeout_ms = (unsigned)tmo;
    const cJSON *mig = cJSON_GetObjectItemCaseSensitive(obj, "migrate");
    if (mig != NULL && !cJSON_IsBool(mig)) {
        cfg_err("state.migrate: must be true or false");
        return AK_ERR_CONFIG;
    }
    out->migrate = mig == NULL || cJSON_IsTrue(mig);
    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(obj, "tls");
    if (tls != NULL)
        return parse_tls(out, tls, err, err_cap);
    if (!socket) {
        cfg_err("state.tls: required for a TCP connection ({\"mode\": \"verify-full\", "
                "\"root_cert\": ...}, or {\"mode\": \"disable\"} on a trusted network)");
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

/* ---- open / close ------------------------------------------------------------------------- */

/* The password file's first line (trailing newline and spaces cut) into locked memory. */
static ak_err read_password(char **out, const char *path, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    char *buf = ak_secure_alloc(PASSWORD_MAX + 1);
    int fd = -1;
    if (buf == NULL)
        return AK_ERR_NOMEM;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        cfg_err("state.password_file: cannot open %.200s: %s", path,
                fd < 0 ? strerror(errno) : "not a regular file");
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        cfg_err("state.password_file: %.200s is readable by group or others (chmod 600)", path);
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, PASSWORD_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cfg_err("state.password_file: read failed: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > PASSWORD_MAX) {
            cfg_err("state.password_file: longer than %d bytes", PASSWORD_MAX);
            goto out;
        }
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    if (len == 0 || memchr(buf, '\n', len) != NULL || memchr(buf, '\0', len) != NULL) {
        cfg_err("state.password_file: must hold one non-empty line");
        goto out;
    }
    *out = buf;
    buf = NULL;
    rc = AK_OK;
out:
    if (fd >= 0)
        close(fd);
    if (buf != NULL)
        ak_secure_free(buf, PASSWORD_MAX + 1);
    return rc;
}

static ak_err open_pg(st_pg **out, const st_cfg *cfg, char *err, size_t err_cap)
{
    char *pw = NULL;
    if (cfg->password_file[0] != '\0') {
        ak_err rc = read_password(&pw, cfg->password_file, err, err_cap);
        if (rc != AK_OK)
            return rc;
    }
    ak_err rc = st_pg_new(out, cfg, pw, err, err_cap);
    if (pw != NULL)
        ak_secure_free(pw, PASSWORD_MAX + 1);
    return rc;
}

ak_err st_open(st_store **out, const st_cfg *cfg, const rt_clock *clock, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_NOMEM;
    *out = NULL;
    st_store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        goto out;
    st->cfg = *cfg;
    st->clock = clock != NULL ? clock : rt_clock_system();
    if (cfg->backend == ST_MEMORY)
        rc = st_mem_new(&st->mem, cfg->max_entries);
    else
        rc = open_pg(&st->pg, cfg, err, err_cap);
    if (rc != AK_OK)
        goto out;
    *out = st;
    st = NULL;
out:
    st_close(st);
    return rc;
}

void st_close(st_store *st)
{
    if (st == NULL)
        return;
    st_mem_free(st->mem);
    st_pg_free(st->pg);
    free(st);
}

ak_err st_migrate(const st_cfg *cfg, char *msg, size_t msg_cap)
{
    if (cfg->backend == ST_MEMORY) {
        if (msg != NULL && msg_cap > 0)
            snprintf(msg, msg_cap, "memory backend: no schema");
        return AK_OK;
    }
    st_pg *pg = NULL;
    ak_err rc = open_pg(&pg, cfg, msg, msg_cap);
    if (rc == AK_OK)
        rc = st_pg_migrate_now(pg, msg, msg_cap);
    st_pg_free(pg);
    return rc;
}

ak_err st_ready(st_store *st, char *what, size_t what_cap)
{
    if (st->mem != NULL) {
        if (what != NULL && what_cap > 0)
            snprintf(what, what_cap, "memory");
        return AK_OK;
    }
    return st_pg_ready(st->pg, what, what_cap);
}

/* ---- operations --------------------------------------------------------------------------- */

static int64_t now_ms(const st_store *st)
{
    return st->clock->wall_ns(st->clock->ctx) / 1000000;
}

ak_err st_nonce_next(st_store *st, uint64_t *nonce, uint64_t chain_id, const uint8_t account[20],
                     uint64_t node_pending)
{
    if (st == NULL || nonce == NULL || account == NULL)
        return AK_ERR_ARG;
    if (node_pending >= ST_NONCE_LIMIT)
        return AK_ERR_RANGE;
    int64_t now = now_ms(st);
    if (st->mem != NULL)
        return st_mem_nonce_next(st->mem, nonce, chain_id, account, node_pending, now,
                                 st->cfg.nonce_trust_ms);
    return st_pg_nonce_next(st->pg, nonce, chain_id, account, node_pending, now,
                            st->cfg.nonce_trust_ms);
}

ak_err st_nonce_release(st_store *st, int *released, uint64_t chain_id, const uint8_t account[20],
                        uint64_t nonce)
{
    int dummy = 0;
    if (st == NULL || account == NULL || nonce >= ST_NONCE_LIMIT)
        return AK_ERR_ARG;
    if (released == NULL)
        released = &dummy;
    *released = 0;
    if (st->mem != NULL)
        return st_mem_nonce_release(st->mem, released, chain_id, account, nonce);
    return st_pg_nonce_release(st->pg, released, chain_id, account, nonce);
}

ak_err st_tx_reserve(st_store *st, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                     const uint8_t account[20], uint64_t node_pending, const ak_u256 *value,
                     const st_spend_limit *lim)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (st == NULL || nonce == NULL || out == NULL || account == NULL ||
        (lim != NULL && (value == NULL || lim->window_s == 0 || lim->window_s > ST_WINDOW_MAX)))
        return AK_ERR_ARG;
    if (node_pending >= ST_NONCE_LIMIT)
        return AK_ERR_RANGE;
    if (lim == NULL) /* the nonce alone: one plain statement, no PL/pgSQL call */
        return st_nonce_next(st, nonce, chain_id, account, node_pending);
    int64_t now = now_ms(st);
    if (st->mem != NULL)
        return st_mem_tx_reserve(st->mem, nonce, out, chain_id, account, node_pending, value, lim,
                                 now, st->cfg.nonce_trust_ms);
    return st_pg_tx_reserve(st->pg, nonce, out, chain_id, account, node_pending, value, lim, now,
                            st->cfg.nonce_trust_ms);
}

/* A reservation begun: in flight on postgres, or the memory backend's result. */
struct st_op {
    st_pg_op *pg;
    ak_err rc;
    uint64_t nonce;
    st_resv resv;
};

/* The begin functions' one exit: *op = o if rc is AK_OK, else o freed. */
static ak_err op_begun(st_op **op, st_op *o, ak_err rc)
{
    if (rc != AK_OK) {
        free(o);
        return rc;
    }
    *op = o;
    return AK_OK;
}

ak_err st_tx_reserve_begin(st_store *st, st_op **op, uint64_t chain_id, const uint8_t account[20],
                           uint64_t node_pending, const ak_u256 *value, const st_spend_limit *lim)
{
    if (op != NULL)
        *op = NULL;
    if (st == NULL || op == NULL || account == NULL ||
        (lim != NULL && (value == NULL || lim->window_s == 0 || lim->window_s > ST_WINDOW_MAX)))
        return AK_ERR_ARG;
    if (node_pending >= ST_NONCE_LIMIT)
        return AK_ERR_RANGE;
    st_op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return AK_ERR_NOMEM;
    ak_err rc = AK_OK;
    int64_t now = now_ms(st);
    if (st->mem == NULL)
        rc = st_pg_tx_begin(st->pg, &o->pg, chain_id, account, node_pending, value, lim, now,
                            st->cfg.nonce_trust_ms);
    else if (lim == NULL)
        o->rc = st_mem_nonce_next(st->mem, &o->nonce, chain_id, account, node_pending, now,
                                  st->cfg.nonce_trust_ms);
    else
        o->rc = st_mem_tx_reserve(st->mem, &o->nonce, &o->resv, chain_id, account, node_pending,
                                  value, lim, now, st->cfg.nonce_trust_ms);
    return op_begun(op, o, rc);
}

ak_err st_spend_reserve_begin(st_store *st, st_op **op, const uint8_t account[20],
                              const ak_u256 *value, const st_spend_limit *lim)
{
    if (op != NULL)
        *op = NULL;
    if (st == NULL || op == NULL || account == NULL || value == NULL || lim == NULL ||
        lim->window_s == 0 || lim->window_s > ST_WINDOW_MAX)
        return AK_ERR_ARG;
    st_op *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return AK_ERR_NOMEM;
    ak_err rc = AK_OK;
    int64_t now = now_ms(st);
    if (st->mem == NULL)
        rc = st_pg_spend_begin(st->pg, &o->pg, account, value, lim, now);
    else
        o->rc = st_mem_spend_reserve(st->mem, &o->resv, account, value, lim, now);
    return op_begun(op, o, rc);
}

ak_err st_reserve_end(st_op *op, uint64_t *nonce, st_resv *out)
{
    uint64_t n = 0;
    st_resv r = {0};
    ak_err rc = AK_ERR_ARG;
    if (op == NULL) /* never begun: nothing in flight */
        return AK_ERR_ARG;
    if (op->pg != NULL) { /* ended whatever the arguments: the connection goes back */
        rc = st_pg_op_end(op->pg, &n, &r);
    } else {
        rc = op->rc;
        n = op->nonce;
        r = op->resv;
    }
    free(op);
    if (out == NULL)
        return AK_ERR_ARG;
    *out = r;
    if (nonce != NULL && rc == AK_OK)
        *nonce = n;
    return rc;
}

const char *st_deny_rule(st_deny d)
{
    switch (d) {
    case ST_DENY_VALUE:
        return "cumulative_over_cap";
    case ST_DENY_COUNT:
        return "cumulative_tx_over_cap";
    case ST_DENY_SENDER:
        return "daily_cap_wei_per_sender";
    case ST_DENY_GLOBAL:
        return "daily_cap_wei_global";
    default:
        return "";
    }
}

ak_err st_spend_reserve(st_store *st, st_resv *out, const uint8_t account[20], const ak_u256 *value,
                        const st_spend_limit *lim)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (st == NULL || out == NULL || account == NULL || value == NULL || lim == NULL ||
        lim->window_s == 0 || lim->window_s > ST_WINDOW_MAX)
        return AK_ERR_ARG;
    int64_t now = now_ms(st);
    if (st->mem != NULL)
        return st_mem_spend_reserve(st->mem, out, account, value, lim, now);
    return st_pg_spend_reserve(st->pg, out, account, value, lim, now);
}

ak_err st_pm_reserve(st_store *st, st_resv *out, const uint8_t sender[20], const ak_u256 *cost,
                     const ak_u256 *sender_cap, const ak_u256 *global_cap)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (st == NULL || out == NULL || sender == NULL || cost == NULL)
        return AK_ERR_ARG;
    int64_t day = now_ms(st) / 86400000;
    if (st->mem != NULL)
        return st_mem_pm_reserve(st->mem, out, sender, cost, sender_cap, global_cap, day);
    return st_pg_pm_reserve(st->pg, out, sender, cost, sender_cap, global_cap, day);
}

ak_err st_pm_spent(st_store *st, ak_u256 *sender_spent, ak_u256 *global_spent,
                   const uint8_t sender[20])
{
    if (st == NULL || sender_spent == NULL || global_spent == NULL || sender == NULL)
        return AK_ERR_ARG;
    memset(sender_spent, 0, sizeof(*sender_spent));
    memset(global_spent, 0, sizeof(*global_spent));
    int64_t day = now_ms(st) / 86400000;
    if (st->mem != NULL)
        return st_mem_pm_spent(st->mem, sender_spent, global_spent, sender, day);
    return st_pg_pm_spent(st->pg, sender_spent, global_spent, sender, day);
}

ak_err st_release(st_store *st, const st_resv *r)
{
    if (st == NULL || r == NULL)
        return AK_ERR_ARG;
    if (r->kind == 0)
        return AK_OK;
    if (r->kind != 1 && r->kind != 2)
        return AK_ERR_ARG;
    if (st->mem != NULL)
        return st_mem_release(st->mem, r);
    return st_pg_release(st->pg, r);
}
