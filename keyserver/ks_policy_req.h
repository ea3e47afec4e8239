/*
 * ks_policy_req.h - one /sign item's intent, digest and policy decision (issue 11), between the
 * JSON of the request (ks_api.c) and the HSM call:
 *   1. ks_policy_req_parse: "data" (base64 of a 32-byte digest) and/or "intent" (ak_intent.h);
 *      at least one is required. With an intent the digest signed is the one the key server
 *      computes; a "data" that differs is refused (400 digest_mismatch, audited).
 *   2. ks_policy_req_judge: the policy in force (ks_config_policy: client override, else the
 *      key's) over the intent, or raw_digest for a digest-only item; then the cumulative cap,
 *      reserved under the key's lock, or in the HA pair's shared store (ks_policy_window.h). A
 *      refusal is 403 policy_denied naming the rule in its message, or 503 state_unavailable
 *      when the shared store does not answer; nothing reaches the HSM.
 *   3. ks_policy_req_release: the HSM did not sign: the reservation is given back.
 *
 * Ownership: a ks_sign_req owns its decoded intent (ks_policy_req_clear frees it) and borrows
 * key_id, request_id and the intent's JSON from the request's cJSON tree.
 */
#ifndef KS_POLICY_REQ_H
#define KS_POLICY_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_intent.h"
#include "ks_config.h"
#include "ks_policy_window.h"

typedef struct {
    const char *key_id;
    const char *request_id;
    uint8_t digest[32]; /* what is signed */
    int has_data, has_intent;
    int intent_audited;  /* a single /sign's decision record already holds the intent */
    int mismatch;        /* data given and not the intent's digest */
    const uint8_t *from; /* the key's address once known (for the audit record) */
    ak_intent intent;
    ks_window_ticket ticket;
    const char *rule;  /* the policy rule that refused the item, or NULL */
    char message[320]; /* error message built for this item (bad intent, mismatch, refusal) */
} ks_sign_req;

/* Outcome of a check: 0 = go on; else the HTTP status with code (static) and rq->message. */
typedef struct {
    unsigned status;
    const char *code;
    const char *outcome; /* audit outcome when the refusal is audited, else NULL */
} ks_policy_stop;

/*
 * Parse "data" and "intent" of item into rq (key_id and request_id are the caller's). Returns 1,
 * or 0 with *stop set: 400 missing_field / bad_base64 / bad_digest_length / bad_intent (not
 * audited: nothing about a key was decided) or digest_mismatch (audited: outcome
 * "digest_mismatch").
 */
int ks_policy_req_parse(ks_sign_req *rq, const cJSON *item, ks_policy_stop *stop);

/* The error code of a cumulative cap that could not be reserved because the shared state store
 * (HA pair: ks_policy_window.h) did not answer: 503, audited with outcome "refused_state". */
#define KS_STATE_UNAVAILABLE "state_unavailable"

/* 1: allowed (the cumulative reservation is held in rq->ticket); 0: *stop is 403 policy_denied,
 * outcome "refused_policy", rq->rule and rq->message name the rule; or 503 state_unavailable,
 * outcome "refused_state" (the shared store did not answer: fail closed). */
int ks_policy_req_judge(ks_sign_req *rq, const ks_config *c, ks_window *w, long client, long key,
                        ks_policy_stop *stop);

void ks_policy_req_release(ks_sign_req *rq, ks_window *w);
void ks_policy_req_clear(ks_sign_req *rq);

#endif
