/*
 * cn_rate.h - the connector's per-client signing rate limit (issue 18): one token bucket
 * (shared/ak_bucket, the key server's design) per client identity - "token:<n>" for the n-th
 * bearer token of the token file, "jwt:<sub>" for a Cloudflare Access JWT subject, "anonymous"
 * without authentication (see cn_auth_client_id).
 *
 * Config (top level of the connector's file):
 *   "signing_rate_limit": {"per_second": 20, "burst": 40}   // per client; absent: no limit
 * A request takes one token per signing call it carries (a batch takes them all at once or
 * none); without enough tokens the whole request is refused with JSON-RPC error -32005
 * ("limit exceeded", EIP-1474) before any signer is asked, and counted in
 * anode_connector_rate_limited_total.
 *
 * Bounds: at most CN_RATE_MAX_CLIENTS identities have their own bucket; identities seen after
 * the table is full share one overflow bucket (so a flood of JWT subjects cannot grow memory).
 * Identities are cut to CN_RATE_ID_MAX bytes. Thread-safe (one mutex; a take is a few
 * arithmetic operations). Ownership: cn_rate_new() -> cn_rate_free() (NULL allowed).
 */
#ifndef CN_RATE_H
#define CN_RATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "rt_clock.h"

#define CN_RATE_MAX_CLIENTS 3072
#define CN_RATE_ID_MAX      128

typedef struct cn_rate cn_rate;

/* From the "signing_rate_limit" object (NULL: *out NULL = no limit). AK_ERR_CONFIG with err. */
AK_WUR ak_err cn_rate_new(cn_rate **out, const cJSON *cfg, char *err, size_t err_cap);
void cn_rate_free(cn_rate *r);

/* Use clock from now on (NULL: the system clock), with every bucket full again (tests). */
void cn_rate_set_clock(cn_rate *r, const rt_clock *clock);

#define CN_RATE_E_BATCH (-32600) /* JSON-RPC invalid request: too many signing calls */
#define CN_RATE_E_LIMIT (-32005) /* EIP-1474 "limit exceeded" */

/*
 * Admit one parsed JSON-RPC body (a request object or a batch) of client: 1 to go on; 0 with
 * *code and msg when a batch carries more than max_sign signing calls (CN_RATE_E_BATCH) or the
 * client's bucket lacks one token per signing call (CN_RATE_E_LIMIT; counted in the metrics and
 * logged). Signing calls: cn_policy_is_signing_method(). r NULL: only the batch bound applies.
 */
int cn_rate_admit(cn_rate *r, const char *client, const cJSON *doc, unsigned max_sign, int *code,
                  char *msg, size_t msg_cap);

/* Take n tokens from client's bucket (client NULL = "anonymous"): 1 if they were there (or r is
 * NULL, or n is 0), 0 if not (nothing taken). */
int cn_rate_take(cn_rate *r, const char *client, unsigned n);

#endif
