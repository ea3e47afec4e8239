/*
 * cn_signer_factory.h - the backend table: builds a cn_signer from an account's "signer" config
 * object, choosing the backend by its "type" string (design c2).
 *
 * The table in cn_signer_factory.c ({type, constructor}) is the only place that lists the
 * backends; cn_signer_types() is made from it. Most constructors are one call to
 * cn_backend_new() (cn_backend.h); local, keyless and custom keep a hand-written one. Types: local,
 * keyless, pkcs11, custom, aws_kms, hashicorp_vault, cloudflare_secrets, mpc_kms, gcp_kms,
 * azure_key_vault (docs/signers.md). Accounts with backups are built by
 * cn_signer_manager on top.
 */
#ifndef CN_SIGNER_FACTORY_H
#define CN_SIGNER_FACTORY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* A backend constructor: on failure *out is NULL and err holds a short, secret-free reason. */
typedef AK_WUR ak_err (*cn_signer_ctor)(cn_signer **out, const cJSON *cfg, char *err,
                                        size_t err_cap);

/* cfg must be an object with a string "type". Unknown types are AK_ERR_CONFIG. */
AK_WUR ak_err cn_signer_create(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap);

/* Comma-separated list of the types built into this binary (for --help and errors). */
const char *cn_signer_types(void);

#endif
