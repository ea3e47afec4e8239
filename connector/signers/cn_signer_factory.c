/* cn_signer_factory.c - the backend registry (see cn_signer_factory.h). */
#include "cn_signer_factory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_remote_key.h"
#include "cn_signer_awskms.h"
#include "cn_signer_azkv.h"
#include "cn_signer_cfsecrets.h"
#include "cn_signer_custom.h"
#include "cn_signer_gcpkms.h"
#include "cn_signer_keyless.h"
#include "cn_signer_local.h"
#include "cn_signer_mpc.h"
#include "cn_signer_pkcs11.h"
#include "cn_signer_vault.h"

typedef struct {
    const char *type;
    cn_signer_ctor ctor;
} backend;

static const backend k_backends[] = {
    {"local", cn_local_signer_new},
    {"keyless", cn_keyless_signer_new},
    {"pkcs11", cn_pkcs11_signer_new},
    {"custom", cn_custom_signer_new},
    {"aws_kms", cn_awskms_signer_new},
    {"hashicorp_vault", cn_vault_signer_new},
    {"cloudflare_secrets", cn_cfsecrets_signer_new},
    {"mpc_kms", cn_mpc_signer_new},
    {"gcp_kms", cn_gcpkms_signer_new},
    {"azure_key_vault", cn_azkv_signer_new},
};

#define N_BACKENDS (sizeof(k_backends) / sizeof(k_backends[0]))

static char g_types[N_BACKENDS * 24];
static pthread_once_t g_types_once = PTHREAD_ONCE_INIT;

static void types_init(void)
{
    size_t off = 0;
    for (size_t i = 0; i < N_BACKENDS && off < sizeof g_types; i++) {
        int n = snprintf(g_types + off, sizeof g_types - off, "%s%s", i ? ", " : "",
                         k_backends[i].type);
        off += n > 0 ? (size_t)n : 0;
    }
}

const char *cn_signer_types(void)
{
    (void)pthread_once(&g_types_once, types_init);
    return g_types;
}

ak_err cn_signer_create(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    *out = NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "type");
    if (!cJSON_IsObject(cfg) || type == NULL) {
        snprintf(err, err_cap, "signer: missing required field \"type\" (one of: %s)",
                 cn_signer_types());
        return AK_ERR_CONFIG;
    }
    if (!cJSON_IsString(type)) {
        snprintf(err, err_cap, "signer: \"type\" must be a string (one of: %s)", cn_signer_types());
        return AK_ERR_CONFIG;
    }
    for (size_t i = 0; i < N_BACKENDS; i++) {
        if (strcmp(type->valuestring, k_backends[i].type) == 0)
            return k_backends[i].ctor(out, cfg, err, err_cap);
    }
    snprintf(err, err_cap, "unknown signer type \"%.40s\" (known: %s)", type->valuestring,
             cn_signer_types());
    return AK_ERR_CONFIG;
}

/* The optional "name": 1..63 chars; the backend's configure supplies a default. */
static ak_err read_name(cn_signer *s, const cJSON *cfg, const char *where, char *err,
                        size_t err_cap)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (name == NULL)
        return AK_OK;
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
        strlen(name->valuestring) >= sizeof s->name) {
        cn_rcfg_err(err, err_cap, "%s.name: must be a string of 1..%zu chars", where,
                    sizeof s->name - 1);
        return AK_ERR_CONFIG;
    }
    snprintf(s->name, sizeof s->name, "%s", name->valuestring);
    return AK_OK;
}

/* After configure: the HTTP client, then the key (checked against "address"). */
static ak_err start(cn_signer *s, const cn_backend *b, cn_backend_start *st, char *err,
                    size_t err_cap)
{
    uint8_t want[20] = {0};
    int has_want = 0;
    cn_rhttp_opts ho;
    ak_err rc =
        cn_rcfg_address(want, &has_want, st->address ? st->address : "", b->where, err, err_cap);
    if (rc != AK_OK)
        return rc;
    if (st->client != NULL && st->http != NULL) {
        if ((rc = cn_rcfg_http_opts(&ho, st->http, b->where, err, err_cap)) != AK_OK)
            return rc;
        if ((rc = cn_rhttp_new(st->client, &ho)) != AK_OK) {
            cn_rcfg_err(err, err_cap, "%s: cannot create the HTTP client", b->where);
            return rc;
        }
    }
    if (st->fetch != NULL)
        return cn_remote_key_start(s, st->fetch, (unsigned)st->cache_ttl_s, has_want, want,
                                   b->where, err, err_cap);
    return st->start != NULL ? st->start(s, has_want, want, err, err_cap) : AK_OK;
}

ak_err cn_backend_new(cn_signer **out, const cn_backend *b, const cJSON *cfg, char *err,
                      size_t err_cap)
{
    cn_backend_start st;
    cn_signer *s = NULL;
    ak_err rc = AK_ERR_ARG;
    if (out == NULL)
        return rc;
    *out = NULL;
    memset(&st, 0, sizeof st);
    if (!cJSON_IsObject(cfg)) {
        cn_rcfg_err(err, err_cap, "%s: signer config must be an object", b->where);
        return AK_ERR_CONFIG;
    }
    rc = AK_ERR_NOMEM;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        goto out;
    s->impl = calloc(1, b->impl_size);
    if (s->impl == NULL)
        goto out;
    s->ops = b->ops;
    s->provider = b->provider;
    s->level = b->level;
    if ((rc = b->configure(s, &st, cfg, err, err_cap)) != AK_OK ||
        (rc = read_name(s, cfg, b->where, err, err_cap)) != AK_OK ||
        (rc = start(s, b, &st, err, err_cap)) != AK_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    if (s != NULL && s->ops == NULL) /* failed before the ops could free it */
        free(s->impl);
    cn_signer_free(s);
    return rc;
}
