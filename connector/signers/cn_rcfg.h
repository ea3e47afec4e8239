/*
 * cn_rcfg.h - configuration helpers shared by the remote backends (hashicorp_vault,
 * cloudflare_secrets, mpc_kms): unknown-field checks, bounded strings and integers, secrets read
 * from a file or an environment variable into locked memory, the common HTTP options and the
 * first step of a backend's constructor (also used by aws_kms). Its bounded file reader also
 * serves cn_config and the local signer.
 *
 * Every error message names the backend and the field ("vault.addr: ...") and never contains a
 * secret's value. Secrets read here live in ak_secure_alloc memory owned by the caller
 * (cn_rcfg_secret_free). The environment variable a secret came from is left in place (several
 * signers may share one); the file buffer is wiped.
 */
#ifndef CN_RCFG_H
#define CN_RCFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_rhttp.h"
#include "cn_signer.h"

#define CN_RCFG_SECRET_MAX 4096 /* tokens, secret ids, HMAC keys, JWTs */
#define CN_RCFG_PATH_MAX   1024

/* A secret in locked memory: NUL-terminated, len bytes. */
typedef struct {
    char *s; /* ak_secure_alloc(CN_RCFG_SECRET_MAX + 1) */
    size_t len;
} cn_rcfg_secret;

#define cn_rcfg_err(err, cap, ...)                                                                 \
    ((err) != NULL && (cap) > 0 ? (void)snprintf((err), (cap), __VA_ARGS__) : (void)0)

/* AK_ERR_CONFIG naming the first member of obj not in known[0..n). */
AK_WUR ak_err cn_rcfg_known(const cJSON *obj, const char *where, const char *const *known, size_t n,
                            char *err, size_t err_cap);

/* A string member into dst (cap bytes). Absent: dst = def (NULL def: required -> error). */
AK_WUR ak_err cn_rcfg_str(char *dst, size_t cap, const cJSON *obj, const char *where,
                          const char *name, const char *def, char *err, size_t err_cap);

/*
 * The optional "name" member (1..cap-1 chars) into dst; absent: def, cut to cap-1 chars.
 * Error message "<where>.name: ...".
 */
AK_WUR ak_err cn_rcfg_name(char *dst, size_t cap, const cJSON *obj, const char *where,
                           const char *def, char *err, size_t err_cap);

/* An integer member in lo..hi, default def when absent. */
AK_WUR ak_err cn_rcfg_long(long *dst, const cJSON *obj, const char *where, const char *name,
                           long def, long lo, long hi, char *err, size_t err_cap);

/* An optional boolean member, default def. */
AK_WUR ak_err cn_rcfg_bool(int *dst, const cJSON *obj, const char *where, const char *name, int def,
                           char *err, size_t err_cap);

/*
 * A secret from exactly one of obj[file_field] (a file path) or obj[env_field] (a variable
 * name); surrounding whitespace trimmed, 1..CN_RCFG_SECRET_MAX bytes. out->s is NULL on error.
 */
AK_WUR ak_err cn_rcfg_secret_read(cn_rcfg_secret *out, const cJSON *obj, const char *where,
                                  const char *file_field, const char *env_field, char *err,
                                  size_t err_cap);
void cn_rcfg_secret_free(cn_rcfg_secret *sec); /* wipes; NULL s allowed */

/*
 * The HTTP options common to every remote backend: "ca" (file, optional: system store when
 * absent), "timeout_ms" (5000), "connect_timeout_ms" (2000), "retries" (2, 0..10),
 * "pool_size" (8, 1..256). ca_buf (CN_RCFG_PATH_MAX + 1 bytes) holds the CA path opts->ca
 * points to.
 */
AK_WUR ak_err cn_rcfg_http(cn_rhttp_opts *opts, char *ca_buf, const cJSON *obj, const char *where,
                           char *err, size_t err_cap);

/* Optional "address" member: *has = 1 and addr set when present and valid. */
AK_WUR ak_err cn_rcfg_address(uint8_t addr[20], int *has, const cJSON *obj, const char *where,
                              char *err, size_t err_cap);

/*
 * Read the file at path (cn_rcfg_read_file) or the open fd (cn_rcfg_read_fd) into buf: at most
 * cap-1 bytes, NUL-terminated, *len bytes. AK_ERR_LIMIT when the file holds cap-1 bytes or
 * more, AK_ERR_IO when it cannot be opened or read; buf's content is undefined on error (the
 * caller wipes it when it may hold a secret). Used for secrets and config files alike.
 */
AK_WUR ak_err cn_rcfg_read_fd(int fd, char *buf, size_t cap, size_t *len);
AK_WUR ak_err cn_rcfg_read_file(char *buf, size_t cap, size_t *len, const char *path);

/*
 * Read a whole small file (< max bytes) into locked memory: *out from ak_secure_alloc(*cap),
 * NUL-terminated; *len bytes read (less than strlen(*out) only when the file holds a NUL).
 * AK_ERR_LIMIT when the file is too big, AK_ERR_IO when it cannot be read.
 */
AK_WUR ak_err cn_rcfg_read_secure(char **out, size_t *cap, size_t *len, const char *path,
                                  size_t max);

/*
 * The first step of every remote backend's constructor: cfg must be a JSON object; *s is a new
 * zeroed signer with ops, provider, level and s->impl (impl_size zeroed bytes) set, so
 * cn_signer_free(*s) runs ops->destroy from here on. On failure *s is NULL.
 */
AK_WUR ak_err cn_rcfg_signer_alloc(cn_signer **s, size_t impl_size, const cn_signer_ops *ops,
                                   const char *provider, cn_security_level level, const cJSON *cfg,
                                   const char *where, char *err, size_t err_cap);

/* cn_rhttp_new with the error message "<where>: cannot create the HTTP client". */
AK_WUR ak_err cn_rcfg_http_client(cn_rhttp **out, const cn_rhttp_opts *opts, const char *where,
                                  char *err, size_t err_cap);

/* Check a configured base URL (cn_rhttp_base_ok) and drop one trailing '/'. */
AK_WUR ak_err cn_rcfg_base_url(char *url, const char *where, const char *field, char *err,
                               size_t err_cap);

/* 1 if s is 1..max chars of [A-Za-z0-9._:/-] (safe in a URL path and in JSON unescaped). */
int cn_rcfg_safe_id(const char *s, size_t max, int allow_slash);

#endif
