/* cn_rcfg.c - configuration helpers of the remote backends (see cn_rcfg.h). */
#include "cn_rcfg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_addr.h"
#include "ak_secmem.h"
#include "cn_secfile.h"

ak_err cn_rcfg_known(const cJSON *obj, const char *where, const char *const *known, size_t n,
                     char *err, size_t err_cap)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        size_t i = 0;
        while (i < n && strcmp(known[i], it->string) != 0)
            i++;
        if (i == n) {
            cn_rcfg_err(err, err_cap, "%s: unknown field \"%.64s\"", where, it->string);
            return AK_ERR_CONFIG;
        }
    }
    return AK_OK;
}

ak_err cn_rcfg_str(char *dst, size_t cap, const cJSON *obj, const char *where, const char *name,
                   const char *def, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL && def != NULL) {
        snprintf(dst, cap, "%s", def);
        return AK_OK;
    }
    if (v == NULL || !cJSON_IsString(v) || v->valuestring[0] == '\0' ||
        strlen(v->valuestring) >= cap) {
        cn_rcfg_err(err, err_cap, "%s.%s: %s string of 1..%zu chars", where, name,
                    def ? "a" : "required", cap - 1);
        return AK_ERR_CONFIG;
    }
    snprintf(dst, cap, "%s", v->valuestring);
    return AK_OK;
}

ak_err cn_rcfg_long(long *dst, const cJSON *obj, const char *where, const char *name, long def,
                    long lo, long hi, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *dst = def;
    if (v == NULL)
        return AK_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        cn_rcfg_err(err, err_cap, "%s.%s: integer %ld..%ld", where, name, lo, hi);
        return AK_ERR_CONFIG;
    }
    *dst = (long)v->valuedouble;
    return AK_OK;
}

ak_err cn_rcfg_bool(int *dst, const cJSON *obj, const char *where, const char *name, int def,
                    char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *dst = def;
    if (v == NULL)
        return AK_OK;
    if (!cJSON_IsBool(v)) {
        cn_rcfg_err(err, err_cap, "%s.%s: true or false", where, name);
        return AK_ERR_CONFIG;
    }
    *dst = cJSON_IsTrue(v);
    return AK_OK;
}

ak_err cn_rcfg_signer_alloc(cn_signer **s, size_t impl_size, const cn_signer_ops *ops,
                            const char *provider, cn_security_level level, const cJSON *cfg,
                            const char *where, char *err, size_t err_cap)
{
    *s = NULL;
    if (!cJSON_IsObject(cfg)) {
        cn_rcfg_err(err, err_cap, "%s: signer config must be an object", where);
        return AK_ERR_CONFIG;
    }
    cn_signer *ns = calloc(1, sizeof *ns);
    void *ni = calloc(1, impl_size);
    if (ns == NULL || ni == NULL) {
        free(ns);
        free(ni);
        return AK_ERR_NOMEM;
    }
    ns->ops = ops;
    ns->impl = ni;
    ns->provider = provider;
    ns->level = level;
    *s = ns;
    return AK_OK;
}

ak_err cn_rcfg_http_client(cn_rhttp **out, const cn_rhttp_opts *opts, const char *where, char *err,
                           size_t err_cap)
{
    ak_err rc = cn_rhttp_new(out, opts);
    if (rc != AK_OK)
        cn_rcfg_err(err, err_cap, "%s: cannot create the HTTP client", where);
    return rc;
}

ak_err cn_rcfg_base_url(char *url, const char *where, const char *field, char *err, size_t err_cap)
{
    if (!cn_rhttp_base_ok(url)) {
        cn_rcfg_err(err, err_cap, "%s.%s: an https:// base URL", where, field);
        return AK_ERR_CONFIG;
    }
    size_t n = strlen(url);
    if (url[n - 1] == '/')
        url[n - 1] = '\0';
    return AK_OK;
}

ak_err cn_rcfg_name(char *dst, size_t cap, const cJSON *obj, const char *where, const char *def,
                    char *err, size_t err_cap)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (name != NULL && (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
                         strlen(name->valuestring) >= cap)) {
        cn_rcfg_err(err, err_cap, "%s.name: string of 1..%zu chars", where, cap - 1);
        return AK_ERR_CONFIG;
    }
    snprintf(dst, cap, "%s", name != NULL ? name->valuestring : def);
    return AK_OK;
}

ak_err cn_rcfg_read_fd(int fd, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return AK_ERR_IO;
        if (n == 0)
            break;
        *len += (size_t)n;
        if (*len == cap - 1)
            return AK_ERR_LIMIT;
    }
    buf[*len] = '\0';
    return AK_OK;
}

ak_err cn_rcfg_read_file(char *buf, size_t cap, size_t *len, const char *path)
{
    ak_err rc = AK_ERR_IO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *len = 0;
    if (fd >= 0) {
        rc = cn_rcfg_read_fd(fd, buf, cap, len);
        close(fd);
    }
    return rc;
}

ak_err cn_rcfg_secret_read(cn_rcfg_secret *out, const cJSON *obj, const char *where,
                           const char *file_field, const char *env_field, char *err, size_t err_cap)
{
    ak_err rc = AK_ERR_CONFIG;
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(obj, file_field);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(obj, env_field);
    size_t len = 0;
    out->len = 0;
    out->s = ak_secure_alloc(CN_RCFG_SECRET_MAX + 2);
    if (out->s == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    if ((file != NULL) == (env != NULL) || (file && !cJSON_IsString(file)) ||
        (env && !cJSON_IsString(env))) {
        cn_rcfg_err(err, err_cap, "%s: needs exactly one of %s or %s (strings)", where, file_field,
                    env_field);
        goto out;
    }
    if (file != NULL) {
        if (cn_secret_file_check(file->valuestring, err, err_cap) != AK_OK)
            goto out;
        if (cn_rcfg_read_file(out->s, CN_RCFG_SECRET_MAX + 2, &len, file->valuestring) != AK_OK) {
            cn_rcfg_err(err, err_cap, "%s.%s: cannot read %.200s (or longer than %d bytes)", where,
                        file_field, file->valuestring, CN_RCFG_SECRET_MAX);
            goto out;
        }
    } else {
        const char *v = getenv(env->valuestring);
        len = v ? strlen(v) : 0;
        if (v == NULL || len > CN_RCFG_SECRET_MAX) {
            cn_rcfg_err(err, err_cap, "%s.%s: environment variable %.64s is not set or too long",
                        where, env_field, env->valuestring);
            goto out;
        }
        memcpy(out->s, v, len + 1);
    }
    /* Trim surrounding whitespace in place. */
    size_t b = 0;
    while (b < len && isspace((unsigned char)out->s[b]))
        b++;
    while (len > b && isspace((unsigned char)out->s[len - 1]))
        len--;
    memmove(out->s, out->s + b, len - b);
    ak_wipe(out->s + (len - b), CN_RCFG_SECRET_MAX + 2 - (len - b));
    out->len = len - b;
    if (out->len == 0) {
        cn_rcfg_err(err, err_cap, "%s: the secret from %s is empty", where,
                    file ? file_field : env_field);
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
        ak_secure_free(sec->s, CN_RCFG_SECRET_MAX + 2);
    sec->s = NULL;
    sec->len = 0;
}

ak_err cn_rcfg_http(cn_rhttp_opts *o, char *ca_buf, const cJSON *obj, const char *where, char *err,
                    size_t err_cap)
{
    long v = 0;
    ak_err rc;
    memset(o, 0, sizeof *o);
    if (cJSON_GetObjectItemCaseSensitive(obj, "ca") != NULL) {
        rc = cn_rcfg_str(ca_buf, CN_RCFG_PATH_MAX + 1, obj, where, "ca", NULL, err, err_cap);
        if (rc != AK_OK)
            return rc;
        if (access(ca_buf, R_OK) != 0) {
            cn_rcfg_err(err, err_cap, "%s.ca: cannot read %.200s", where, ca_buf);
            return AK_ERR_CONFIG;
        }
        o->ca = ca_buf;
    }
    if ((rc = cn_rcfg_long(&o->timeout_ms, obj, where, "timeout_ms", 5000, 1, 600000, err,
                           err_cap)) != AK_OK ||
        (rc = cn_rcfg_long(&o->connect_timeout_ms, obj, where, "connect_timeout_ms", 2000, 1,
                           600000, err, err_cap)) != AK_OK ||
        (rc = cn_rcfg_long(&v, obj, where, "retries", 2, 0, 10, err, err_cap)) != AK_OK)
        return rc;
    o->retries = (int)v;
    if ((rc = cn_rcfg_long(&v, obj, where, "pool_size", 8, 1, 256, err, err_cap)) != AK_OK)
        return rc;
    o->pool_size = (size_t)v;
    return AK_OK;
}

ak_err cn_rcfg_address(uint8_t addr[20], int *has, const cJSON *obj, const char *where, char *err,
                       size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "address");
    *has = 0;
    if (v == NULL)
        return AK_OK;
    if (!cJSON_IsString(v) ||
        ak_addr_parse(addr, v->valuestring, strlen(v->valuestring)) != AK_OK) {
        cn_rcfg_err(err, err_cap, "%s.address: a 0x address (EIP-55 checksum if mixed case)",
                    where);
        return AK_ERR_CONFIG;
    }
    *has = 1;
    return AK_OK;
}

int cn_rcfg_safe_id(const char *s, size_t max, int allow_slash)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= max ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-' || (allow_slash && c == '/')))
            return 0;
    }
    return n > 0;
}

ak_err cn_rcfg_read_secure(char **out, size_t *cap, size_t *out_len, const char *path, size_t max)
{
    ak_err rc = AK_ERR_IO;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        goto out;
    if (st.st_size < 0 || (size_t)st.st_size >= max) {
        rc = AK_ERR_LIMIT;
        goto out;
    }
    buf = ak_secure_alloc(max);
    if (buf == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    rc = cn_rcfg_read_fd(fd, buf, max, &len);
    if (rc != AK_OK)
        goto out;
    *out = buf;
    *cap = max;
    *out_len = len;
    buf = NULL;
    rc = AK_OK;
out:
    if (buf != NULL)
        ak_secure_free(buf, max);
    if (fd >= 0)
        close(fd);
    return rc;
}
