/*
 * cn_awscreds.h - temporary AWS credentials from where AWS hands them to a workload, for the
 * aws_kms signer when neither its config nor AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY name keys:
 *
 *   container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS task role: http://169.254.170.2<uri>)
 *              or AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity and others; plain http
 *              only to a loopback or the ECS/EKS link-local addresses), with
 *              AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) as the Authorization header if set;
 *   instance:  EC2 instance metadata, IMDSv2 only (PUT /latest/api/token, then the role under
 *              /latest/meta-data/iam/security-credentials/), at AWS_EC2_METADATA_SERVICE_ENDPOINT
 *              (default http://169.254.169.254); AWS_EC2_METADATA_DISABLED=true turns it off.
 *
 * These are the AWS SDKs' own variables and order (container before instance; the SDKs' web
 * identity and profile sources, which come first there, are not supported: the aws_kms signer
 * refuses to start when their variables are set rather than sign as the instance's role). The
 * fetches never use a proxy from the environment. Both answer
 * {"AccessKeyId","SecretAccessKey","Token","Expiration":"YYYY-MM-DDTHH:MM:SSZ"}.
 *
 * The keeper (cn_awscreds_keeper_new) is where one aws_kms signer gets its credentials: its
 * config ("access_key_id", "secret_access_key", optional "session_token"), else the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), both fixed for the signer's life;
 * else the source above, fetched at once and kept current by a cn_oauth cache (refreshed
 * CN_AWSCREDS_MARGIN_S before they expire by ONE caller while the others use the old ones; a
 * failed refresh is retried after 10 s; a document without "Expiration" is fetched again daily).
 *
 * Ownership: cn_awscreds is a plain struct the caller owns; secret and token are secrets: wipe
 * it (ak_wipe) after use. The keeper holds its credentials in locked memory, wiped when freed.
 * Errors are secret-free (URLs without tokens, HTTP statuses, field names). Thread safety: the
 * fetch functions keep no state; a keeper may be used from any thread.
 */
#ifndef CN_AWSCREDS_H
#define CN_AWSCREDS_H

#include <stddef.h>
#include <time.h>

#include "ak_err.h"

#define CN_AWSCREDS_AKID_MAX   128
#define CN_AWSCREDS_SECRET_MAX 256
#define CN_AWSCREDS_TOKEN_MAX  4096
#define CN_AWSCREDS_MARGIN_S   300 /* the SDKs refresh 5-15 minutes early */

typedef struct {
    char akid[CN_AWSCREDS_AKID_MAX + 1];
    char secret[CN_AWSCREDS_SECRET_MAX + 1];
    char token[CN_AWSCREDS_TOKEN_MAX + 1];
    time_t expires; /* 0: no expiry given */
} cn_awscreds;

/*
 * The credentials of one aws_kms signer (above): akid, secret and token as its config gives them
 * (NULL: absent; all three absent: the environment, else the workload). name: the signer's, for
 * logs (outlives the keeper). err names the config member or variable, never a value. Free with
 * cn_awscreds_keeper_free (NULL allowed).
 */
typedef struct cn_awscreds_keeper cn_awscreds_keeper;
AK_WUR ak_err cn_awscreds_keeper_new(cn_awscreds_keeper **out, const char *akid, const char *secret,
                                     const char *token, const char *name, long timeout_ms,
                                     char *err, size_t err_cap);
void cn_awscreds_keeper_free(cn_awscreds_keeper *k);

/* A copy of the current credentials into out (token "" when there is none), refreshing temporary
 * ones as needed (cn_oauth_cache_get: its error when they expired and none could be fetched).
 * Wipe out after use. */
AK_WUR ak_err cn_awscreds_current(cn_awscreds_keeper *k, cn_awscreds *out);

#endif
