/* ks_policy_req.c - a /sign item's intent, digest and policy decision (see ks_policy_req.h). */
#include "ks_policy_req.h"

#include <stdio.h>
#include <string.h>

#include "ak_b64.h"
#include "ak_secmem.h"

static int stop_at(ks_policy_stop *s, unsigned status, const char *code, const char *outcome)
{
    s->status = status;
    s->code = code;
    s->outcome = outcome;
    return 0;
}

int ks_policy_req_parse(ks_sign_req *rq, const cJSON *item, ks_policy_stop *stop)
{
    char why[AK_INTENT_WHY_MAX];
    uint8_t tmp[48], data[32];
    size_t dl = 0;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(item, "data");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(item, "intent");
    memset(stop, 0, sizeof *stop);
    if (d == NULL && in == NULL) {
        snprintf(rq->message, sizeof rq->message, "key_id and data (or intent) are required");
        return stop_at(stop, 400, "missing_field", NULL);
    }
    if (d != NULL) {
        ak_err e = ak_b64_decode(tmp, sizeof tmp, &dl, d->valuestring, strlen(d->valuestring));
        if (e == AK_ERR_BASE64) {
            snprintf(rq->message, sizeof rq->message, "data is not valid base64");
            return stop_at(stop, 400, "bad_base64", NULL);
        }
        if (e != AK_OK || dl != 32) {
            snprintf(rq->message, sizeof rq->message, "data must be a 32-byte digest");
            return stop_at(stop, 400, "bad_digest_length", NULL);
        }
        memcpy(data, tmp, 32);
        memcpy(rq->digest, data, 32);
        rq->has_data = 1;
    }
    if (in == NULL)
        return 1;
    ak_err e = ak_intent_parse(&rq->intent, in, why, sizeof why);
    if (e != AK_OK) {
        snprintf(rq->message, sizeof rq->message, "%s", why[0] ? why : ak_strerror(e));
        return stop_at(stop, 400, "bad_intent", NULL);
    }
    rq->has_intent = 1;
    memcpy(rq->digest, rq->intent.digest, 32);
    if (rq->has_data && !ak_ct_equal(data, rq->intent.digest, 32)) {
        snprintf(rq->message, sizeof rq->message,
                 "data is not the digest of the intent (the key server computed it from the "
                 "%s; nothing was signed)",
                 ak_intent_kind_name(rq->intent.kind));
        /* the audit record shows what the client sent as data */
        memcpy(rq->digest, data, 32);
        return stop_at(stop, 400, "digest_mismatch", "digest_mismatch");
    }
    return 1;
}

int ks_policy_req_judge(ks_sign_req *rq, const ks_config *c, ks_window *w, long client, long key,
                        ks_policy_stop *stop)
{
    ak_policy_verdict v;
    ak_u256 value;
    const ak_policy *p = ks_config_policy(c, client, key);
    memset(stop, 0, sizeof *stop);
    memset(&v, 0, sizeof v);
    rq->ticket.key = -1;
    int ok = rq->has_intent ? ak_policy_intent_ok(p, &rq->intent, &v) : ak_policy_raw_ok(p, &v);
    if (ok) {
        /* the cumulative cap is the key's own, whatever override applies */
        if (rq->has_intent)
            ak_policy_intent_value(&value, &rq->intent);
        else
            ak_u256_from_u64(&value, 0);
        ok = ks_window_reserve(w, key, &value, &rq->ticket, &v);
    }
    if (ok < 0) {
        rq->rule = NULL;
        snprintf(rq->message, sizeof rq->message,
                 "the shared state store that counts this key's cumulative_cap is unavailable; "
                 "nothing was signed");
        return stop_at(stop, 503, KS_STATE_UNAVAILABLE, "refused_state");
    }
    if (ok)
        return 1;
    rq->rule = v.rule;
    snprintf(rq->message, sizeof rq->message, "policy rule %s: %s", v.rule, v.why);
    return stop_at(stop, 403, "policy_denied", "refused_policy");
}

void ks_policy_req_release(ks_sign_req *rq, ks_window *w)
{
    ks_window_release(w, &rq->ticket);
    rq->ticket.key = -1;
}

void ks_policy_req_clear(ks_sign_req *rq)
{
    ak_intent_clear(&rq->intent);
}
