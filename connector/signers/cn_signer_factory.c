/* cn_signer_factory.c - the table of backends (see cn_signer_factory.h). */
#include "cn_signer_factory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
