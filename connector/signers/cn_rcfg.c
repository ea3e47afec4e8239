/* cn_rcfg.c - configuration helpers of the remote backends (see cn_rcfg.h). */
#include "cn_rcfg.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_addr.h"
#include "ak_secmem.h"
#include "cn_secfile.h"
#include "rt_file.h"

ak_err cn_rcfg_read_secure(char **out, size_t *cap, size_t *out_len, const char *path, size_t max)
{
    char *buf = ak_secure_alloc(max);
    ak_err rc = buf != NULL ? rt_file_read_into(buf, max, out_len, path) : AK_ERR_NOMEM;
    if (rc == AK_OK) {
        *out = buf;
        *cap = max;
    } else if (buf != NULL) {
        ak_secure_free(buf, max);
    }
    return rc;
}

const ak_cfg_field cn_rcfg_http_fields[CN_RCFG_HTTP_NFIELDS] = {
    AK_CFG_STR("ca", AK_CFG_PATH, cn_rcfg_http, ca, NULL),
    AK_CFG_INT("timeout_ms", 0, cn_rcfg_http, timeout_ms, 1, 600000, 5000),
    AK_CFG_INT("connect_timeout_ms", 0, cn_rcfg_http, connect_timeout_ms, 1, 600000, 2000),
    AK_CFG_INT("retries", 0, cn_rcfg_http, retries, 0, 10, 2),
    AK_CFG_INT("pool_size", 0, cn_rcfg_http, pool_size, 1, 256, 8),
};

ak_err cn_rcfg_http_opts(cn_rhttp_opts *o, const cn_rcfg_http *h, const char *where, char *err,
                         size_t err_cap)
{
    memset(o, 0, sizeof *o);
    if (h->ca[0] != '\0' && access(h->ca, R_OK) != 0) {
        cn_rcfg_err(err, err_cap, "%s.ca: cannot read %.200s", where, h->ca);
        return AK_ERR_CONFIG;
    }
    o->ca = h->ca[0] != '\0' ? h->ca : NULL;
    o->timeout_ms = h->timeout_ms;
    o->connect_timeout_ms = h->connect_timeout_ms;
    o->retries = h->retries;
    o->pool_size = h->pool_size;
    return AK_OK;
}

ak_err cn_rcfg_address(uint8_t addr[20], int *has, const char *text, const char *where, char *err,
                       size_t err_cap)
{
    *has = 0;
    if (text[0] == '\0')
        return AK_OK;
    if (ak_addr_parse(addr, text, strlen(text)) != AK_OK) {
        cn_rcfg_err(err, err_cap, "%s.address: a 0x address (EIP-55 checksum if mixed case)",
                    where);
        return AK_ERR_CONFIG;
    }
    *has = 1;
    return AK_OK;
}

/* Environment secrets consumed so far (see cn_rcfg.h): name -> locked copy. */
static struct {
    char name[128];
    char *val; /* ak_secure_alloc(CN_RCFG_SECRET_MAX + 2) */
} g_env[CN_RCFG_ENV_MAX];
static pthread_mutex_t g_env_lock = PTHREAD_MUTEX_INITIALIZER;

/* Copy the variable into buf (cap bytes): fresh from the environment (then wiped and unset), or
 * the copy kept from an earlier read. AK_ERR_LIMIT when longer than cap - 2 bytes. */
static ak_err env_take(char *buf, size_t cap, const char *name)
{
    ak_err rc = AK_ERR_NOT_FOUND;
    size_t i = 0;
    pthread_mutex_lock(&g_env_lock);
    while (i < CN_RCFG_ENV_MAX && g_env[i].val != NULL && strcmp(g_env[i].name, name) != 0)
        i++;
    char *v = getenv(name);
    if (v != NULL) {
        size_t n = strlen(v);
        rc = n + 2 > cap || n > CN_RCFG_SECRET_MAX ? AK_ERR_LIMIT : AK_OK;
        if (rc == AK_OK && i < CN_RCFG_ENV_MAX && strlen(name) < sizeof g_env[i].name) {
            if (g_env[i].val == NULL)
                g_env[i].val = ak_secure_alloc(CN_RCFG_SECRET_MAX + 2);
            if (g_env[i].val != NULL) {
                snprintf(g_env[i].name, sizeof g_env[i].name, "%s", name);
                memcpy(g_env[i].val, v, n + 1);
            }
        }
        if (rc == AK_OK)
            memcpy(buf, v, n + 1);
        ak_wipe(v, n);
        unsetenv(name);
    } else if (i < CN_RCFG_ENV_MAX && g_env[i].val != NULL) {
        size_t n = strlen(g_env[i].val);
        rc = n + 2 > cap ? AK_ERR_LIMIT : AK_OK;
        if (rc == AK_OK)
            memcpy(buf, g_env[i].val, n + 1);
    }
    pthread_mutex_unlock(&g_env_lock);
    return rc;
}

void cn_rcfg_env_forget(void)
{
    pthread_mutex_lock(&g_env_lock);
    for (size_t i = 0; i < CN_RCFG_ENV_MAX; i++) {
        if (g_env[i].val != NULL)
            ak_secure_free(g_env[i].val, CN_RCFG_SECRET_MAX + 2);
        memset(&g_env[i], 0, sizeof g_env[i]);
    }
    pthread_mutex_unlock(&g_env_lock);
}

ak_err cn_rcfg_secret_load(cn_rcfg_secret *out, const ak_cfg_secret_src *src, size_t max,
                           unsigned flags, const char *where, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    size_t len = 0, b = 0;
    memset(out, 0, sizeof *out);
    if (src->file == NULL && src->env == NULL)
        return AK_OK;
    if (max > CN_RCFG_SECRET_MAX)
        max = CN_RCFG_SECRET_MAX;
    out->cap = max + 3; /* max bytes, CR LF, NUL */
    out->s = ak_secure_alloc(out->cap);
    if (out->s == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    if (src->file != NULL) {
        if (cn_secret_file_check(src->file, err, err_cap) != AK_OK)
            goto out;
        if (rt_file_read_into(out->s, out->cap, &len, src->file) != AK_OK) {
            cn_rcfg_err(err, err_cap, "%s.%s: cannot read %.200s (or longer than %zu bytes)", where,
                        src->key, src->file, max);
            goto out;
        }
        len = strlen(out->s); /* a NUL byte ends the secret */
    } else {
        if (env_take(out->s, out->cap, src->env) != AK_OK) {
            cn_rcfg_err(err, err_cap,
                        "%s.%s: environment variable %.64s is not set, empty or longer than %zu "
                        "bytes",
                        where, src->key, src->env, max);
            goto out;
        }
        len = strlen(out->s);
    }
    while (len > 0 && (out->s[len - 1] == '\n' || out->s[len - 1] == '\r' ||
                       ((flags & CN_RCFG_TRIM_SPACE) && isspace((unsigned char)out->s[len - 1]))))
        len--;
    while ((flags & CN_RCFG_TRIM_SPACE) && b < len && isspace((unsigned char)out->s[b]))
        b++;
    memmove(out->s, out->s + b, len - b);
    ak_wipe(out->s + (len - b), out->cap - (len - b));
    out->len = len - b;
    if (out->len == 0 || out->len > max) {
        cn_rcfg_err(err, err_cap, "%s.%s: the secret is empty or longer than %zu bytes", where,
                    src->key, max);
        goto out;
    }
    rc = AK_OK;
out:
    if (rc != AK_OK)
        cn_rcfg_secret_free(out);
    return rc;
}

void cn_rcfg_secret_free(cn_rcfg_secret *sec)
{
    if (sec->s != NULL)
        ak_secure_free(sec->s, sec->cap);
    memset(sec, 0, sizeof *sec);
}
