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

#include "ak_err.h"
#include "cn_rhttp.h"

#define CN_AZ_ID_MAX 64

typedef struct cn_azcreds cn_azcreds;

/* The config fields read here (the signer lists them among its known fields). */
#define CN_AZCREDS_FIELDS                                                                          \
    "tenant_id", "client_id", "client_secret_file", "client_secret_env", "certificate_file",       \
        "authority_host"

/*
 * Resolve the credential from cfg (the signer's object; "where" prefixes errors) and the
 * environment. resource is "https://vault.azure.net" or "https://managedhsm.azure.net"; http is
 * borrowed (must outlive the credentials).
 */
AK_WUR ak_err cn_azcreds_new(cn_azcreds **out, const cJSON *cfg, const char *where,
                             const char *resource, cn_rhttp *http, long timeout_ms, char *err,
                             size_t err_cap);
void cn_azcreds_free(cn_azcreds *c); /* NULL allowed; wipes */
const char *cn_azcreds_source(const cn_azcreds *c);

/* A cn_oauth_fetch_fn: user is the cn_azcreds. */
AK_WUR ak_err cn_azcreds_fetch(void *user, char *tok, size_t cap, size_t *len, long *ttl_s,
                               char *err, size_t err_cap);

#endif
