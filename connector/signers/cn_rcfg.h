/*
 * cn_rcfg.h - the I/O half of the connector's configuration (the schema half is shared/ak_cfg):
 * secrets read from a file or an environment variable into locked memory (one policy for
 * environment variables, below), the HTTP options every remote backend shares, and the bounded
 * file reader that also serves cn_config, the TLS files and the local signer.
 *
 * Every error message names the field ("vault.auth.token_file: ...") and never contains a
 * secret's value. Secrets read here live in ak_secure_alloc memory owned by the caller
 * (cn_rcfg_secret_free); file buffers are wiped.
 */
#ifndef CN_RCFG_H
#define CN_RCFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ak_cfg.h"
#include "ak_err.h"
#include "cn_rhttp.h"
#include "cn_signer.h"

#define CN_RCFG_SECRET_MAX 4096 /* tokens, secret ids, HMAC keys, JWTs */
#define CN_RCFG_PATH_MAX   1024

/* A secret in locked memory: NUL-terminated, len bytes (s NULL: none). */
typedef struct {
    char *s; /* ak_secure_alloc(cap) */
    size_t len;
    size_t cap;
} cn_rcfg_secret;

#define cn_rcfg_err AK_SET_ERR

#define CN_RCFG_TRIM_SPACE 0x1u /* trim surrounding whitespace, not only trailing CR/LF */

/*
 * The secret src names (an ak_cfg SECRET field): a file (checked by cn_secret_file_check) or an
 * environment variable. 1..max bytes (max <= CN_RCFG_SECRET_MAX) after trimming trailing CR/LF
 * (all surrounding whitespace with CN_RCFG_TRIM_SPACE). src naming neither: out->s NULL, AK_OK.
 *
 * The one policy for environment variables: the value is copied into locked memory, then wiped
 * in the environment block and the variable unset, so it is in neither /proc/<pid>/environ nor a
 * child's environment. A locked copy is kept for the process's life (at most CN_RCFG_ENV_MAX
 * variables with names under 128 bytes, each CN_RCFG_SECRET_MAX + 2 bytes) so that several
 * signers may name the same variable (two "local" accounts on one mnemonic_env): a variable that
 * is set is always read afresh (and replaces the copy); one consumed earlier is served from the
 * copy. Past CN_RCFG_ENV_MAX variables a value is still read but not kept. Error messages name
 * the field and the file or variable, never the value.
 */
#define CN_RCFG_ENV_MAX 32
AK_WUR ak_err cn_rcfg_secret_load(cn_rcfg_secret *out, const ak_cfg_secret_src *src, size_t max,
                                  unsigned flags, const char *where, char *err, size_t err_cap);
void cn_rcfg_secret_free(cn_rcfg_secret *sec); /* wipes; NULL s allowed */

/* Forget every environment secret kept for sharing (wiped). For tests; the daemon keeps them. */
void cn_rcfg_env_forget(void);

/*
 * The HTTP options common to every remote backend: "ca" (file, optional: system store when
 * absent), "timeout_ms" (5000), "connect_timeout_ms" (2000), "retries" (2, 0..10),
 * "pool_size" (8, 1..256): a backend's table includes them with
 * AK_CFG_INLINE(cn_rcfg_http_fields, CN_RCFG_HTTP_NFIELDS, its_struct, its_cn_rcfg_http_member).
 */
typedef struct {
    char ca[CN_RCFG_PATH_MAX + 1];
    long timeout_ms;
    long connect_timeout_ms;
    int retries;
    size_t pool_size;
} cn_rcfg_http;
#define CN_RCFG_HTTP_NFIELDS 5
extern const ak_cfg_field cn_rcfg_http_fields[CN_RCFG_HTTP_NFIELDS];

/* opts from h (opts->ca points into h); checks that the CA file is readable. */
AK_WUR ak_err cn_rcfg_http_opts(cn_rhttp_opts *opts, const cn_rcfg_http *h, const char *where,
                                char *err, size_t err_cap);

/* An "address" string ("" when absent) into addr; *has = 1 when present and valid. */
AK_WUR ak_err cn_rcfg_address(uint8_t addr[20], int *has, const char *text, const char *where,
                              char *err, size_t err_cap);

/*
 * Read a whole small file (< max bytes) into locked memory (rt_file_read_into): *out from
 * ak_secure_alloc(*cap), NUL-terminated; *len bytes read (less than strlen(*out) only when the
 * file holds a NUL). AK_ERR_LIMIT when the file is too big, AK_ERR_IO when it cannot be read.
 */
AK_WUR ak_err cn_rcfg_read_secure(char **out, size_t *cap, size_t *len, const char *path,
                                  size_t max);

#endif
