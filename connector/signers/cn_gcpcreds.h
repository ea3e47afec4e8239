/*
 * cn_gcpcreds.h - OAuth 2.0 access tokens for the gcp_kms signer, from the sources Google's
 * client libraries use (Application Default Credentials), in their order:
 *
 *   1. a credentials file: the signer's "credentials_file", else $GOOGLE_APPLICATION_CREDENTIALS.
 *      Only {"type": "service_account"} is supported: a JWT assertion (RS256, header kid =
 *      private_key_id; claims iss = client_email, scope = the Cloud KMS scope, aud = token_uri,
 *      iat, exp = iat + 3600) exchanged at the file's token_uri (https only) with grant_type
 *      urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523; Google's "OAuth 2.0 for Server to
 *      Server Applications"). Other types (external_account: workload identity federation,
 *      authorized_user, impersonated_service_account) are refused at start-up, naming the type.
 *   2. the GCE/GKE metadata server: GET http://metadata.google.internal/computeMetadata/v1/
 *      instance/service-accounts/default/token with "Metadata-Flavor: Google"
 *      ($GCE_METADATA_HOST overrides the host, as in Google's libraries; plain http only to
 *      the metadata host or a loopback).
 *
 * The service-account private key lives in locked memory while the file is parsed and in an
 * OpenSSL EVP_PKEY afterwards (OpenSSL's heap, freed with the credentials). Token fetches go
 * through the signer's cn_rhttp client (so its "ca", timeouts and retries apply). Errors are
 * secret-free. Thread safety: cn_gcpcreds_fetch is called under cn_oauth_cache's fetch lock.
 */
#ifndef CN_GCPCREDS_H
#define CN_GCPCREDS_H

#include <stddef.h>

#include "ak_err.h"
#include "cn_rhttp.h"

#define CN_GCP_SCOPE     "https://www.googleapis.com/auth/cloudkms"
#define CN_GCP_FILE_MAX  ((size_t)64 * 1024)
#define CN_GCP_EMAIL_MAX 256
#define CN_GCP_KEYID_MAX 128
#define CN_GCP_URI_MAX   512

typedef struct cn_gcpcreds cn_gcpcreds;

/* The fields of a service-account key file that we use (private key excluded). */
typedef struct {
    char client_email[CN_GCP_EMAIL_MAX + 1];
    char private_key_id[CN_GCP_KEYID_MAX + 1];
    char token_uri[CN_GCP_URI_MAX + 1];
} cn_gcp_sa;

/*
 * file: a credentials file path, or NULL for $GOOGLE_APPLICATION_CREDENTIALS, else the metadata
 * server. http is borrowed (must outlive the credentials).
 */
AK_WUR ak_err cn_gcpcreds_new(cn_gcpcreds **out, const char *file, cn_rhttp *http, long timeout_ms,
                              char *err, size_t err_cap);
void cn_gcpcreds_free(cn_gcpcreds *c); /* NULL allowed */
const char *cn_gcpcreds_source(const cn_gcpcreds *c);

/* A cn_oauth_fetch_fn: user is the cn_gcpcreds. */
AK_WUR ak_err cn_gcpcreds_fetch(void *user, char *tok, size_t cap, size_t *len, long *ttl_s,
                                char *err, size_t err_cap);

/*
 * Parse a credentials file's JSON text: sa gets the fields, *key the RSA private key (caller:
 * EVP_PKEY_free). The cJSON copy of the key text is wiped. err names the field at fault.
 */
AK_WUR ak_err cn_gcpcreds_parse_file(cn_gcp_sa *sa, void **key, const char *text, size_t len,
                                     char *err, size_t err_cap);

#endif
