/* cn_signer_custom.c - third-party key servers on the keyless protocol (see cn_signer_custom.h). */
#include "cn_signer_custom.h"

#include <stdio.h>
#include <string.h>

#include "ak_secmem.h"
#include "cn_log.h"
#include "cn_signer_keyless.h"
#include "cn_rcfg.h"

static ak_err parse_level(cn_security_level *out, const cJSON *cfg, char *err, size_t err_cap)
{
    static const cn_security_level all[] = {CN_LEVEL_DEVELOPMENT, CN_LEVEL_TESTING,
                                            CN_LEVEL_STAGING, CN_LEVEL_PRODUCTION,
                                            CN_LEVEL_ENTERPRISE};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "security_level");
    *out = CN_LEVEL_STAGING;
    if (v == NULL)
        return AK_OK;
    for (size_t i = 0; cJSON_IsString(v) && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(v->valuestring, cn_security_level_name(all[i])) == 0) {
            *out = all[i];
            return AK_OK;
        }
    }
    snprintf(err, err_cap,
             "custom.security_level: one of development, testing, staging, "
             "production, enterprise");
    return AK_ERR_CONFIG;
}

ak_err cn_custom_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    static const char *const extra[] = {"token_file", "token_env", "security_level", NULL};
    cn_rcfg_secret tok = {0};
    ak_cfg_secret_src src;
    cn_keyless_ext ext = {.allow_http = 1,
                          .optional_tls_files = 1,
                          .provider = "custom-keyserver",
                          .extra_known = extra};
    *out = NULL;
    ak_err rc = parse_level(&ext.level, cfg, err, err_cap);
    if (rc != AK_OK)
        return rc;
    if ((rc = ak_cfg_secret(&src, cfg, "token", 0, "custom", err, err_cap)) != AK_OK ||
        (rc = cn_rcfg_secret_load(&tok, &src, CN_CUSTOM_TOKEN_MAX, 0, "custom", err, err_cap)) !=
            AK_OK)
        return rc;
    if (!ak_cfg_visible(tok.s, tok.len)) { /* header injection, or a token with a stray byte */
        snprintf(err, err_cap, "custom: the bearer token must be printable ASCII without spaces");
        rc = AK_ERR_CONFIG;
        goto out;
    }
    ext.bearer = tok.s;
    ext.bearer_len = tok.len;
    rc = cn_keyless_signer_new_ext(out, cfg, &ext, err, err_cap);
    if (rc != AK_OK)
        goto out;
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(cfg, "urls"), *u;
    cJSON_ArrayForEach(u, urls)
    {
        if (strncmp(u->valuestring, "http://", 7) == 0) {
            cn_log(CN_LOG_WARN,
                   tok.s ? "custom signer over plain HTTP: the bearer token and digests are sent "
                           "unencrypted; use it only on loopback or a trusted network"
                         : "custom signer over plain HTTP: use it only on loopback or a trusted "
                           "network",
                   "signer", (*out)->name, "url", u->valuestring, (char *)NULL);
            break;
        }
    }
out:
    cn_rcfg_secret_free(&tok);
    return rc;
}
