/*
 * cn_backend.h - the registry's constructor for table-described backends (design c2). A backend
 * described by a cn_backend (its type, provider, level, the size of its state and its ops, plus
 * a configure step) has a one-line constructor, cn_backend_new(), which does what every
 * constructor used to repeat: check the object, allocate the signer and a zeroed impl, read
 * "name", run configure, create the HTTP client, fetch the key, and free everything on error
 * (hashicorp_vault, cloudflare_secrets, mpc_kms, aws_kms, pkcs11, gcp_kms, azure_key_vault).
 * The backends include this header; the table of types (cn_signer_factory) includes theirs.
 */
#ifndef CN_BACKEND_H
#define CN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_keycache.h"
#include "cn_rcfg.h"
#include "cn_rhttp.h"
#include "cn_signer.h"

/* What a configure step leaves for the registry's start (pointers into the impl). */
typedef struct {
    const cn_rcfg_http *http;   /* the common HTTP options, read with AK_CFG_INLINE */
    const cn_rhttp_more *more;  /* more options of the client (fixed headers...), or NULL */
    cn_rhttp **client;          /* where the HTTP client goes; NULL: the backend has none */
    const char *address;        /* the optional "address" the key must have ("" or NULL: none) */
    long cache_ttl_s;           /* remote-key backends: the key cache's TTL */
    cn_keycache_fetch_fn fetch; /* remote-key backends: cn_remote_key_start with it */
    /* other backends: a start step after the HTTP client exists (fetch the public key) */
    AK_WUR ak_err (*start)(cn_signer *s, int has_want, const uint8_t want[20], char *err,
                           size_t err_cap);
} cn_backend_start;

typedef struct cn_backend {
    const char *type;     /* "hashicorp_vault" */
    const char *provider; /* "hashicorp-vault" */
    const char *where;    /* prefix of its error messages: "vault" */
    cn_security_level level;
    size_t impl_size; /* the registry allocates and zeroes it; ops->destroy frees it */
    const cn_signer_ops *ops;
    /* Read cfg into s->impl, set s->name's default (the registry then applies "name"), fill
     * st. It runs on a zeroed impl and must leave it so that ops->destroy frees it. */
    AK_WUR ak_err (*configure)(cn_signer *s, cn_backend_start *st, const cJSON *cfg, char *err,
                               size_t err_cap);
} cn_backend;

/* A backend's health answer (its ops->health result, AK_OK): can_sign when rc is AK_OK, else
 * detail "<where>: <rc's text>"; the typical latency from an EWMA in microseconds. */
ak_err cn_backend_health(cn_signer_health *out, ak_err rc, unsigned max_concurrency,
                         uint32_t latency_us, const char *where);

/* Build a signer of backend b from cfg (an object). On failure *out is NULL. */
AK_WUR ak_err cn_backend_new(cn_signer **out, const cn_backend *b, const cJSON *cfg, char *err,
                             size_t err_cap);

#endif
