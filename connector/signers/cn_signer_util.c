/* cn_signer_util.c - config helpers for signer backends (see cn_signer_util.h). */
#include "cn_signer_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_secmem.h"

#include "cn_rcfg.h"
#include "cn_secfile.h"

ak_err cn_cfg_known(const cJSON *cfg, const char *const *known, const char *prefix, char *err,
                    size_t err_cap)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cfg)
    {
        const char *const *k = known;
        while (*k != NULL && strcmp(*k, it->string) != 0)
            k++;
        if (*k == NULL) {
            snprintf(err, err_cap, "%s: unknown field \"%.64s\"", prefix, it->string);
            return AK_ERR_CONFIG;
        }
    }
    return AK_OK;
}

ak_err cn_cfg_long(long *out, const cJSON *cfg, const char *name, long def, long lo, long hi,
                   const char *prefix, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    *out = def;
    if (v == NULL)
        return AK_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        snprintf(err, err_cap, "%s.%s: must be an integer in %ld..%ld", prefix, name, lo, hi);
        return AK_ERR_CONFIG;
    }
    *out = (long)v->valuedouble;
    return AK_OK;
}

ak_err cn_cfg_str(const char **out, const cJSON *cfg, const char *name, size_t max,
                  const char *prefix, char *err, size_t err_cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    *out = NULL;
    if (v == NULL) {
        snprintf(err, err_cap, "%s: missing required field \"%s\"", prefix, name);
        return AK_ERR_CONFIG;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= max) {
        snprintf(err, err_cap, "%s.%s: must be a string of 1..%zu chars", prefix, name, max - 1);
        return AK_ERR_CONFIG;
    }
    *out = v->valuestring;
    return AK_OK;
}

ak_err cn_cfg_secret(char **out, size_t *cap, size_t *len, const cJSON *cfg, const char *file_key,
                     const char *env_key, int required, size_t max, const char *prefix, char *err,
                     size_t err_cap)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(cfg, file_key);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cfg, env_key);
    char *buf = NULL;
    size_t bcap = 0, blen = 0;
    *out = NULL;
    *cap = *len = 0;
    if (f != NULL && e != NULL) {
        snprintf(err, err_cap, "%s: give only one of %s and %s", prefix, file_key, env_key);
        return AK_ERR_CONFIG;
    }
    if (f == NULL && e == NULL) {
        if (!required)
            return AK_OK;
        snprintf(err, err_cap, "%s: missing required field \"%s\" or \"%s\"", prefix, file_key,
                 env_key);
        return AK_ERR_CONFIG;
    }
    const cJSON *v = f ? f : e;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        snprintf(err, err_cap, "%s.%s: must be a non-empty string", prefix, v->string);
        return AK_ERR_CONFIG;
    }
    if (f != NULL) {
        if (cn_secret_file_check(f->valuestring, err, err_cap) != AK_OK)
            return AK_ERR_CONFIG;
        ak_err rc = cn_rcfg_read_secure(&buf, &bcap, &blen, f->valuestring, max + 2);
        if (rc != AK_OK) {
            snprintf(err, err_cap, "%s.%s: cannot read %s: %s", prefix, file_key, f->valuestring,
                     ak_strerror(rc));
            return AK_ERR_CONFIG;
        }
    } else {
        const char *val = getenv(e->valuestring);
        size_t n = val ? strlen(val) : 0;
        if (val == NULL || n == 0 || n > max) {
            snprintf(err, err_cap,
                     "%s.%s: environment variable %s is not set, empty or longer "
                     "than %zu bytes",
                     prefix, env_key, e->valuestring, max);
            return AK_ERR_CONFIG;
        }
        bcap = max + 2;
        buf = ak_secure_alloc(bcap);
        if (buf == NULL)
            return AK_ERR_NOMEM;
        memcpy(buf, val, n + 1);
        ak_wipe((char *)val, n);
        unsetenv(e->valuestring);
    }
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0 || n > max) {
        snprintf(err, err_cap, "%s.%s: the secret is empty or longer than %zu bytes", prefix,
                 v->string, max);
        ak_secure_free(buf, bcap);
        return AK_ERR_CONFIG;
    }
    *out = buf;
    *cap = bcap;
    *len = n;
    return AK_OK;
}
