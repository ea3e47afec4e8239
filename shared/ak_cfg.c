/* ak_cfg.c - the configuration-schema walker (see ak_cfg.h). */
#include "ak_cfg.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PATH_CAP 160 /* "where" of nested objects; longer paths are cut in messages only */

#define MAX_EXACT 9007199254740992.0 /* 2^53: larger doubles are not exact integers */

#define fail AK_SET_ERR

/* "where.name", or "name" at the top level. */
static const char *dot(const char *where)
{
    return where[0] != '\0' ? "." : "";
}

/* Does member key name field f? SECRET fields answer to "<name>_file" and "<name>_env". */
static int field_matches(const ak_cfg_field *f, const char *key)
{
    if (f->type == AK_CFG_T_INLINE) {
        for (size_t i = 0; i < f->nsub; i++)
            if (field_matches(&f->sub[i], key))
                return 1;
        return 0;
    }
    if (f->type != AK_CFG_T_SECRET)
        return strcmp(f->name, key) == 0;
    size_t n = strlen(f->name);
    return strncmp(f->name, key, n) == 0 &&
           (strcmp(key + n, "_file") == 0 || strcmp(key + n, "_env") == 0);
}

ak_err ak_cfg_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return AK_ERR_CONFIG;
}

int ak_cfg_visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

int ak_cfg_safe_id(const char *s, size_t max, int allow_slash)
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

int ak_cfg_https_url(const char *url, size_t max)
{
    size_t n = strlen(url);
    if (n <= 8 || n > max || strncmp(url, "https://", 8) != 0 || url[8] == '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f || strchr("?#@\"\\", c) != NULL)
            return 0;
    }
    return 1;
}

static int has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* A string value of f: type, length and the PATH/URL/ID flags. */
static ak_err check_str(const ak_cfg_field *f, const cJSON *v, const char *where, char *err,
                        size_t cap)
{
    size_t len = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if (!cJSON_IsString(v) || (long long)len < f->min || (long long)len > f->max) {
        fail(err, cap, "%s%s%s: must be a string of %lld..%lld chars", where, dot(where), f->name,
             f->min, f->max);
        return AK_ERR_CONFIG;
    }
    if ((f->flags & AK_CFG_PATH) && has_control(v->valuestring)) {
        fail(err, cap, "%s%s%s: a file path without control characters", where, dot(where),
             f->name);
        return AK_ERR_CONFIG;
    }
    if ((f->flags & AK_CFG_URL) && !ak_cfg_https_url(v->valuestring, (size_t)f->max)) {
        fail(err, cap, "%s%s%s: must be an https:// base URL (no ?, #, @, spaces or quotes)", where,
             dot(where), f->name);
        return AK_ERR_CONFIG;
    }
    if ((f->flags & AK_CFG_ID) && len > 0 && !ak_cfg_safe_id(v->valuestring, len, 0)) {
        fail(err, cap, "%s%s%s: only the characters [A-Za-z0-9._:-]", where, dot(where), f->name);
        return AK_ERR_CONFIG;
    }
    return AK_OK;
}

static ak_err read_int(const ak_cfg_field *f, char *dst, const cJSON *v, const char *where,
                       char *err, size_t cap)
{
    long long x = f->def;
    if (f->size != sizeof(int32_t) && f->size != sizeof(int64_t))
        return AK_ERR_ARG; /* a table bug: the member is neither 32 nor 64 bits */
    if (f->size == sizeof(int32_t) &&
        (f->min < INT32_MIN || f->max > UINT32_MAX || (f->min < 0 && f->max > INT32_MAX)))
        return AK_ERR_ARG; /* a table bug: the range does not fit the member */
    if (v != NULL) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
        if (!cJSON_IsNumber(v) || d != d || d < -MAX_EXACT || d > MAX_EXACT ||
            d != (double)(long long)d || (long long)d < f->min || (long long)d > f->max) {
            fail(err, cap, "%s%s%s: must be an integer in %lld..%lld", where, dot(where), f->name,
                 f->min, f->max);
            return AK_ERR_CONFIG;
        }
        x = (long long)d;
    }
    if (f->size == sizeof(int32_t)) {
        int32_t i = (int32_t)x;
        uint32_t u = (uint32_t)x;
        memcpy(dst, f->min < 0 ? (const void *)&i : (const void *)&u, sizeof i);
    } else {
        int64_t i = (int64_t)x;
        memcpy(dst, &i, sizeof i);
    }
    return AK_OK;
}

static ak_err read_secret(const ak_cfg_field *f, ak_cfg_secret_src *src, const cJSON *obj,
                          const char *where, char *err, size_t cap)
{
    char fk[48], ek[48];
    snprintf(fk, sizeof fk, "%s_file", f->name);
    snprintf(ek, sizeof ek, "%s_env", f->name);
    const cJSON *fv = cJSON_GetObjectItemCaseSensitive(obj, fk);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(obj, ek);
    const cJSON *v = fv != NULL ? fv : ev;
    memset(src, 0, sizeof *src);
    if (fv != NULL && ev != NULL) {
        fail(err, cap, "%s: give only one of %s and %s", where, fk, ek);
        return AK_ERR_CONFIG;
    }
    if (v == NULL) {
        if (!(f->flags & AK_CFG_REQUIRED))
            return AK_OK;
        fail(err, cap, "%s: missing required field \"%s\" or \"%s\"", where, fk, ek);
        return AK_ERR_CONFIG;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > 1024 ||
        has_control(v->valuestring)) {
        fail(err, cap, "%s%s%s: must be a non-empty string (a %s)", where, dot(where), v->string,
             v == fv ? "file path" : "variable name");
        return AK_ERR_CONFIG;
    }
    snprintf(src->key, sizeof src->key, "%s", v->string);
    if (v == fv)
        src->file = v->valuestring;
    else
        src->env = v->valuestring;
    return AK_OK;
}

static ak_err read_fields(char *dst, const ak_cfg_field *fields, size_t n, const cJSON *obj,
                          int defaults_only, const char *where, char *err, size_t cap);

/* One field: v is obj's member of that name (NULL when absent). defaults_only: obj is an
 * optional section that is absent, so its REQUIRED members are not asked for. */
static ak_err read_field(const ak_cfg_field *f, char *dst, const cJSON *obj, const cJSON *v,
                         int defaults_only, const char *where, char *err, size_t cap)
{
    char sub[PATH_CAP];
    if (v == NULL && (f->flags & AK_CFG_REQUIRED) && !defaults_only && f->type != AK_CFG_T_SECRET) {
        fail(err, cap, "%s%smissing required field \"%s\"", where, where[0] ? ": " : "", f->name);
        return AK_ERR_CONFIG;
    }
    switch (f->type) {
    case AK_CFG_T_STR:
        if (v != NULL && check_str(f, v, where, err, cap) != AK_OK)
            return AK_ERR_CONFIG;
        snprintf(dst + f->offset, f->size, "%s",
                 v != NULL ? v->valuestring : (f->def_str ? f->def_str : ""));
        if (v != NULL && (f->flags & AK_CFG_URL)) {
            size_t n = strlen(dst + f->offset);
            if (dst[f->offset + n - 1] == '/')
                dst[f->offset + n - 1] = '\0';
        }
        return AK_OK;
    case AK_CFG_T_REF: {
        const char *s = NULL;
        if (v != NULL && check_str(f, v, where, err, cap) != AK_OK)
            return AK_ERR_CONFIG;
        if (v != NULL)
            s = v->valuestring;
        memcpy(dst + f->offset, &s, sizeof s);
        return AK_OK;
    }
    case AK_CFG_T_INT:
        return read_int(f, dst + f->offset, v, where, err, cap);
    case AK_CFG_T_BOOL: {
        int b = (int)f->def;
        if (v != NULL && !cJSON_IsBool(v)) {
            fail(err, cap, "%s%s%s: must be true or false", where, dot(where), f->name);
            return AK_ERR_CONFIG;
        }
        if (v != NULL)
            b = cJSON_IsTrue(v);
        memcpy(dst + f->offset, &b, sizeof b);
        return AK_OK;
    }
    case AK_CFG_T_JSON:
        if (v != NULL && f->json_type != 0 && (v->type & 0xFF) != f->json_type) {
            fail(err, cap, "%s%s%s: must be %s", where, dot(where), f->name,
                 f->json_type == cJSON_Object  ? "an object"
                 : f->json_type == cJSON_Array ? "an array"
                                               : "of another JSON type");
            return AK_ERR_CONFIG;
        }
        memcpy(dst + f->offset, &v, sizeof(const cJSON *));
        return AK_OK;
    case AK_CFG_T_OBJ:
        snprintf(sub, sizeof sub, "%s%s%s", where, dot(where), f->name);
        if (v == NULL)
            return read_fields(dst + f->offset, f->sub, f->nsub, NULL, 1, sub, err, cap);
        return ak_cfg_read(dst + f->offset, f->sub, f->nsub, v, sub, err, cap);
    case AK_CFG_T_INLINE:
        return read_fields(dst + f->offset, f->sub, f->nsub, obj, defaults_only, where, err, cap);
    case AK_CFG_T_SECRET:
        if (defaults_only) {
            memset(dst + f->offset, 0, sizeof(ak_cfg_secret_src));
            return AK_OK;
        }
        return read_secret(f, (ak_cfg_secret_src *)(void *)(dst + f->offset), obj, where, err, cap);
    case AK_CFG_T_KNOWN:
        return AK_OK;
    }
    return AK_ERR_INTERNAL;
}

ak_err ak_cfg_read(void *dst, const ak_cfg_field *fields, size_t n, const cJSON *obj,
                   const char *where, char *err, size_t err_cap)
{
    const cJSON *it;
    if (where == NULL)
        where = "";
    if (obj != NULL && !cJSON_IsObject(obj)) {
        fail(err, err_cap, "%s: must be an object", where[0] ? where : "config");
        return AK_ERR_CONFIG;
    }
    cJSON_ArrayForEach(it, obj)
    {
        size_t i = 0;
        while (i < n && (it->string == NULL || !field_matches(&fields[i], it->string)))
            i++;
        if (i == n) {
            fail(err, err_cap, "%s%sunknown field \"%.64s\"", where, where[0] ? ": " : "",
                 it->string ? it->string : "");
            return AK_ERR_CONFIG;
        }
    }
    return read_fields((char *)dst, fields, n, obj, 0, where, err, err_cap);
}

static ak_err read_fields(char *dst, const ak_cfg_field *fields, size_t n, const cJSON *obj,
                          int defaults_only, const char *where, char *err, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        const ak_cfg_field *f = &fields[i];
        const cJSON *v = f->type == AK_CFG_T_SECRET || f->type == AK_CFG_T_INLINE
                             ? NULL
                             : cJSON_GetObjectItemCaseSensitive(obj, f->name);
        ak_err rc = read_field(f, dst, obj, v, defaults_only, where, err, cap);
        if (rc != AK_OK)
            return rc;
    }
    return AK_OK;
}

ak_err ak_cfg_secret(ak_cfg_secret_src *src, const cJSON *obj, const char *name, unsigned flags,
                     const char *where, char *err, size_t err_cap)
{
    const ak_cfg_field f = {name, AK_CFG_T_SECRET, flags, 0, 0, 0, NULL, 0, 0, NULL, 0, 0};
    if (strlen(name) + sizeof "_file" > sizeof src->key)
        return AK_ERR_ARG;
    return read_secret(&f, src, obj, where ? where : "", err, err_cap);
}
