/*
 * cn_signer_util.h - config helpers shared by the signer backends written for issue 5
 * (pkcs11, custom, local mnemonics): unknown-field checks, bounded integers and secrets read
 * from a file or an environment variable into locked memory.
 *
 * Error messages name the field ("pkcs11.pin_file: ...") and never contain a secret.
 */
#ifndef CN_SIGNER_UTIL_H
#define CN_SIGNER_UTIL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"

/* AK_ERR_CONFIG naming the first member of cfg not in known (NULL-terminated). */
AK_WUR ak_err cn_cfg_known(const cJSON *cfg, const char *const *known, const char *prefix,
                           char *err, size_t err_cap);

/* Optional integer member in [lo, hi] (default def when absent). */
AK_WUR ak_err cn_cfg_long(long *out, const cJSON *cfg, const char *name, long def, long lo, long hi,
                          const char *prefix, char *err, size_t err_cap);

/* Required non-empty string member shorter than max; *out borrows from cfg. */
AK_WUR ak_err cn_cfg_str(const char **out, const cJSON *cfg, const char *name, size_t max,
                         const char *prefix, char *err, size_t err_cap);

/*
 * A secret from cfg[file_key] (a file path: the file's content, trailing newlines removed) or
 * cfg[env_key] (an environment variable's value; the variable is wiped and unset). At most one
 * of the two may be given; with neither, *out is NULL and the result is AK_OK unless required.
 * *out comes from ak_secure_alloc(*cap) (caller: ak_secure_free(*out, *cap)); *len is the
 * secret's length, max its bound.
 */
AK_WUR ak_err cn_cfg_secret(char **out, size_t *cap, size_t *len, const cJSON *cfg,
                            const char *file_key, const char *env_key, int required, size_t max,
                            const char *prefix, char *err, size_t err_cap);

#endif
