/*
 * ak_cfg.h - one configuration-schema reader: a table of fields (name, type, flags, range,
 * default, where the value goes in the caller's struct) walked over a cJSON object, in the
 * style of Redis' static_configs[].
 *
 * The walker owns the checks every config section used to repeat by hand: members not in the
 * table are refused, types and ranges are checked, defaults are applied, nested objects are
 * walked with their own table, and every error names the path of the field
 * ("vault.auth.mount: must be a string of 1..127 chars"). It is pure (no I/O, no environment):
 * a SECRET field only records where the secret is (a file path or an environment variable's
 * name); the daemon reads it (connector: cn_rcfg_secret_load).
 *
 * Limits: strings are copied into fixed buffers (STR) or borrowed from the tree (REF, JSON,
 * SECRET: valid while the cJSON tree lives); integers are JSON numbers with no fraction, within
 * [min, max] (|x| <= 2^53); nested OBJ tables write into the same destination struct, INLINE
 * groups (a table shared by several sections, e.g. the HTTP options) into one of its members. Error
 * messages never quote a string value, so a secret given in the wrong field never reaches a log.
 */
#ifndef AK_CFG_H
#define AK_CFG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"

typedef enum {
    AK_CFG_T_STR,    /* char[size]: string of min..max chars (max < size); absent: def_str or "" */
    AK_CFG_T_REF,    /* const char *: borrowed string of min..max chars; absent: NULL */
    AK_CFG_T_INT,    /* int/unsigned (size 4) or long/size_t/uint64 (size 8) in [min, max] */
    AK_CFG_T_BOOL,   /* int: true/false; absent: def */
    AK_CFG_T_JSON,   /* const cJSON *: borrowed member of type json_type (0: any); absent NULL */
    AK_CFG_T_OBJ,    /* a nested object walked with sub[0..nsub) into dst + offset */
    AK_CFG_T_INLINE, /* sub[0..nsub)'s fields at this level, into dst + offset (shared groups) */
    AK_CFG_T_SECRET, /* ak_cfg_secret_src: "<name>_file" or "<name>_env", at most one */
    AK_CFG_T_KNOWN   /* accepted here, read by someone else (e.g. "type", "comment") */
} ak_cfg_type;

#define AK_CFG_REQUIRED 0x1u /* absent is an error (SECRET: one of the two is needed) */
#define AK_CFG_PATH     0x2u /* STR/REF: a file path: no control characters */
#define AK_CFG_URL      0x4u /* STR: an https:// base URL; one trailing '/' is dropped */
#define AK_CFG_ID       0x8u /* STR/REF: only [A-Za-z0-9._:-] (safe in a URL path and JSON) */

typedef struct ak_cfg_field {
    const char *name;
    ak_cfg_type type;
    unsigned flags;
    long long min, max;             /* INT: value range; STR/REF: length range */
    long long def;                  /* INT, BOOL: default when absent */
    const char *def_str;            /* STR: default when absent */
    size_t offset, size;            /* where the value goes in the destination struct */
    const struct ak_cfg_field *sub; /* OBJ */
    size_t nsub;
    int json_type; /* JSON: cJSON_Object, cJSON_Array, cJSON_String... or 0 */
} ak_cfg_field;

/* Where a SECRET field says its value is (borrowed from the tree; both NULL when absent). */
typedef struct {
    const char *file; /* path of a file holding the secret */
    const char *env;  /* name of an environment variable holding it */
    char key[48];     /* the member that named it ("pin_file"), for error messages */
} ak_cfg_secret_src;

#define AK_CFG_MEMBER_SIZE(st, m) sizeof(((st *)0)->m)
#define AK_CFG_COUNT(a)           (sizeof(a) / sizeof((a)[0]))

#define AK_CFG_STR(nm, fl, st, m, def)                                                             \
    {                                                                                              \
        (nm), AK_CFG_T_STR, (fl), 1, (long long)AK_CFG_MEMBER_SIZE(st, m) - 1, 0, (def),           \
            offsetof(st, m), AK_CFG_MEMBER_SIZE(st, m), NULL, 0, 0                                 \
    }
#define AK_CFG_REF(nm, fl, st, m, maxlen)                                                          \
    {                                                                                              \
        (nm), AK_CFG_T_REF, (fl), 1, (maxlen), 0, NULL, offsetof(st, m), sizeof(const char *),     \
            NULL, 0, 0                                                                             \
    }
#define AK_CFG_INT(nm, fl, st, m, lo, hi, d)                                                       \
    {                                                                                              \
        (nm), AK_CFG_T_INT, (fl), (lo), (hi), (d), NULL, offsetof(st, m),                          \
            AK_CFG_MEMBER_SIZE(st, m), NULL, 0, 0                                                  \
    }
#define AK_CFG_BOOL(nm, fl, st, m, d)                                                              \
    {                                                                                              \
        (nm), AK_CFG_T_BOOL, (fl), 0, 1, (d), NULL, offsetof(st, m), sizeof(int), NULL, 0, 0       \
    }
#define AK_CFG_JSON(nm, fl, st, m, jt)                                                             \
    {                                                                                              \
        (nm), AK_CFG_T_JSON, (fl), 0, 0, 0, NULL, offsetof(st, m), sizeof(const cJSON *), NULL, 0, \
            (jt)                                                                                   \
    }
#define AK_CFG_OBJ(nm, fl, subtab)                                                                 \
    {                                                                                              \
        (nm), AK_CFG_T_OBJ, (fl), 0, 0, 0, NULL, 0, 0, (subtab), AK_CFG_COUNT(subtab), 0           \
    }
#define AK_CFG_INLINE(subtab, nsubtab, st, m)                                                      \
    {                                                                                              \
        "", AK_CFG_T_INLINE, 0, 0, 0, 0, NULL, offsetof(st, m), 0, (subtab), (nsubtab), 0          \
    }
#define AK_CFG_SECRET(nm, fl, st, m)                                                               \
    {                                                                                              \
        (nm), AK_CFG_T_SECRET, (fl), 0, 0, 0, NULL, offsetof(st, m), sizeof(ak_cfg_secret_src),    \
            NULL, 0, 0                                                                             \
    }
#define AK_CFG_KNOWN(nm)                                                                           \
    {                                                                                              \
        (nm), AK_CFG_T_KNOWN, 0, 0, 0, 0, NULL, 0, 0, NULL, 0, 0                                   \
    }

/*
 * Walk obj with fields[0..n) into dst. obj NULL means "absent": every field takes its default
 * (REQUIRED ones are then an error); any other non-object is an error. where names obj in
 * messages ("vault"; "" for a document's top level). On error: AK_ERR_CONFIG, err holds
 * "<where>.<field>: <what is expected>" (or "<where>: unknown field \"x\"" / "missing required
 * field \"x\""), and dst may be partly written. AK_ERR_ARG for a table whose INT range does not
 * fit its member's size (a programming error, not a configuration one).
 */
AK_WUR ak_err ak_cfg_read(void *dst, const ak_cfg_field *fields, size_t n, const cJSON *obj,
                          const char *where, char *err, size_t err_cap);

/* One SECRET field ("<name>_file" / "<name>_env") of obj, without the unknown-member check: for
 * a section whose other members another reader checks. flags: AK_CFG_REQUIRED or 0. */
AK_WUR ak_err ak_cfg_secret(ak_cfg_secret_src *src, const cJSON *obj, const char *name,
                            unsigned flags, const char *where, char *err, size_t err_cap);

/* Format "<field>: <what is wrong>" into err (when err is not NULL) and return AK_ERR_CONFIG: the
 * one way a hand-written config reader fails. */
ak_err ak_cfg_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 if the n bytes at s are visible ASCII (0x21..0x7e): a token or key that goes into a header
 * line, with no space, control or non-ASCII byte. */
int ak_cfg_visible(const char *s, size_t n);

/* 1 if s is 1..max chars of [A-Za-z0-9._:-], plus '/' when allow_slash. */
int ak_cfg_safe_id(const char *s, size_t max, int allow_slash);

/* 1 if url is an https:// base URL of at most max chars: a host, and no ?#@, whitespace,
 * quotes or backslash. */
int ak_cfg_https_url(const char *url, size_t max);

#endif
