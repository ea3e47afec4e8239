/* cn_signer_factory.c - the table of signer backends (see cn_signer_factory.h). */
#include "cn_signer_factory.h"

#include <stdio.h>
#include <string.h>

#include "cn_signer_awskms.h"
#include "cn_signer_cfsecrets.h"
#include "cn_signer_custom.h"
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
};

const char *cn_signer_types(void)
{
    return "local, keyless, pkcs11, custom, aws_kms, hashicorp_vault, cloudflare_secrets, mpc_kms";
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
    for (size_t i = 0; i < sizeof(k_backends) / sizeof(k_backends[0]); i++) {
        if (strcmp(type->valuestring, k_backends[i].type) == 0)
            return k_backends[i].ctor(out, cfg, err, err_cap);
    }
    snprintf(err, err_cap, "unknown signer type \"%.40s\" (known: %s)", type->valuestring,
             cn_signer_types());
    return AK_ERR_CONFIG;
}
