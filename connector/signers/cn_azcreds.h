/*
 * cn_azcreds.h - Microsoft Entra ID access tokens for the azure_key_vault signer, from the
 * sources Azure's SDKs use (DefaultAzureCredential), in their order:
 *
 *   1. a service principal with a client secret: the signer's client_secret_file /
 *      client_secret_env, else $AZURE_CLIENT_SECRET (with tenant_id/client_id from the config or
 *      $AZURE_TENANT_ID/$AZURE_CLIENT_ID);
 *   2. a service principal with a client certificate: certificate_file, else
 *      $AZURE_CLIENT_CERTIFICATE_PATH: a PEM file holding the RSA private key and its
 *      certificate. The client assertion is a JWT signed RS256 with header x5t and x5t#S256 (the
 *      certificate's thumbprints) and claims aud = the token endpoint, iss = sub = client_id,
 *      jti (random), nbf = iat = now, exp = now + 600 ("Microsoft identity platform application
 *      authentication certificate credentials");
 *      both POST {authority_host}/{tenant_id}/oauth2/v2.0/token (client credentials grant,
 *      scope = {resource}/.default); authority_host defaults to https://login.microsoftonline.com
 *      (https only: a sovereign cloud or a test stand-in);
 *   3. managed identity: the App Service / Container Apps endpoint when $IDENTITY_ENDPOINT and
 *      $IDENTITY_HEADER are set (GET ...?api-version=2019-08-01&resource=..., header
 *      X-IDENTITY-HEADER), else IMDS (GET http://169.254.169.254/metadata/identity/oauth2/token
 *      ?api-version=2018-02-01&resource=..., header "Metadata: true"; the host can be moved with
 *      $AZURE_POD_IDENTITY_AUTHORITY_HOST as in the SDKs). A user-assigned identity is chosen
 *      with client_id (config or $AZURE_CLIENT_ID). Plain http only to the metadata address or a
 *      loopback.
 * Workload identity federation ($AZURE_FEDERATED_TOKEN_FILE) is not supported: when it is set
 * and no credential is configured, start-up fails rather than sign as the node's identity.
 * A tenant_id in the config without a client secret or certificate is refused too (a
 * half-configured service principal never falls through to the managed identity).
 *
 * The client secret lives in locked memory; the certificate's private key in an OpenSSL
 * EVP_PKEY (OpenSSL's heap), freed with the credentials. Errors are secret-free. Fetches run
 * under cn_oauth_cache's fetch lock.
 */
#ifndef CN_AZCREDS_H
#define CN_AZCREDS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_cfg.h"
#include "ak_err.h"
#include "cn_rhttp.h"

#define CN_AZ_ID_MAX   64
#define CN_AZ_PATH_MAX 1024
#define CN_AZ_URL_MAX  256

typedef struct cn_azcreds cn_azcreds;

/* The credential's members of the signer's config object, read by the signer's ak_cfg table
 * with AK_CFG_INLINE(cn_azcreds_fields, CN_AZCREDS_NFIELDS, its_struct, its_member): tenant_id,
 * client_id (1..64 chars, checked here for [A-Za-z0-9.-]), client_secret_file / client_secret_env,
 * certificate_file, authority_host (https base URL). */
typedef struct {
    char tenant_id[CN_AZ_ID_MAX + 1]; /* "": $AZURE_TENANT_ID */
    char client_id[CN_AZ_ID_MAX + 1]; /* "": $AZURE_CLIENT_ID */
    ak_cfg_secret_src client_secret;  /* borrowed from the config tree */
    char certificate_file[CN_AZ_PATH_MAX + 1];
    char authority_host[CN_AZ_URL_MAX + 1];
} cn_azcreds_cfg;
#define CN_AZCREDS_NFIELDS 5
extern const ak_cfg_field cn_azcreds_fields[CN_AZCREDS_NFIELDS];

/*
 * Resolve the credential from cfg (read by the signer's table; its secret source must still be
 * valid: call it while the config tree lives; "where" prefixes errors) and the environment.
 * The client secret is read here (cn_rcfg_secret_load: $AZURE_CLIENT_SECRET too is consumed
 * from the environment and kept for other signers). resource is "https://vault.azure.net" or
 * "https://managedhsm.azure.net"; *http is the signer's HTTP client, borrowed: it may be created
 * after this call but must exist before the first fetch and outlive the credentials.
 */
AK_WUR ak_err cn_azcreds_new(cn_azcreds **out, const cn_azcreds_cfg *cfg, const char *where,
                             const char *resource, cn_rhttp *const *http, long timeout_ms,
                             char *err, size_t err_cap);
void cn_azcreds_free(cn_azcreds *c); /* NULL allowed; wipes */
const char *cn_azcreds_source(const cn_azcreds *c);

/* A cn_oauth_fetch_fn: user is the cn_azcreds. */
AK_WUR ak_err cn_azcreds_fetch(void *user, char *tok, size_t cap, size_t *len, long *ttl_s,
                               char *err, size_t err_cap);

#endif
