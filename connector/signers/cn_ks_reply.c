/*
 * cn_ks_reply.c - the keyless signer's intent rules and what it reads from the key server's
 * answers (cn_ks_reply.h).
 */
#include "cn_ks_reply.h"

#include <stdio.h>
#include <string.h>

#include "ak_intent.h"
#include "cn_rhttp.h"

unsigned cn_ks_reply_intents(const char *body, size_t len, int *ok)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *it;
    unsigned mask = 0;
    *ok = cJSON_IsObject(j);
    if (*ok) {
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "intents"))
        {
            int kind = cJSON_IsString(it) ? ak_intent_kind_parse(it->valuestring) : -1;
            if (kind >= 0 && kind < AK_INTENT_COUNT)
                mask |= 1u << (unsigned)kind;
        }
    }
    cJSON_Delete(j);
    return mask;
}

void cn_ks_reply_why(char *why, size_t cap, const cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
    if (why == NULL || cap == 0 || c == NULL)
        return;
    snprintf(why, cap, "key server: %.64s%s%.160s", c, m != NULL ? ": " : "", m ? m : "");
    for (char *p = why; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
}

void cn_ks_reply_body_why(char *why, size_t cap, const char *body, size_t len)
{
    cJSON *j = why != NULL && cap > 0 ? cJSON_ParseWithLength(body, len) : NULL;
    cn_ks_reply_why(why, cap, j);
    cJSON_Delete(j);
}

int cn_ks_send_parse(const char *s)
{
    static const char *const names[] = {"auto", "always", "never"}; /* cn_ks_send order */
    for (int i = 0; s != NULL && i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

ak_err cn_ks_intent_text(char **out, int mode, unsigned advertised, const cn_sign_ctx *ctx)
{
    const ak_intent *in = ctx != NULL ? ctx->intent : NULL;
    char *why = ctx != NULL ? ctx->why : NULL;
    size_t cap = ctx != NULL ? ctx->why_cap : 0;
    *out = NULL;
    if (mode == CN_KS_SEND_NEVER)
        return AK_OK;
    unsigned bit =
        in != NULL && (unsigned)in->kind < AK_INTENT_COUNT ? 1u << (unsigned)in->kind : 0;
    if (bit == 0 || (advertised & bit) == 0) {
        if (mode == CN_KS_SEND_AUTO)
            return AK_OK;
        if (bit == 0)
            AK_SET_ERR(why, cap, "send_intent is \"always\" but %s has no intent",
                       ctx != NULL && ctx->method ? ctx->method : "this signature");
        else
            AK_SET_ERR(why, cap,
                       "send_intent is \"always\" but the key server does not advertise intent "
                       "kind %s",
                       ak_intent_kind_name(in->kind));
        return AK_ERR_FORBIDDEN;
    }
    cJSON *j = ak_intent_to_json(in);
    *out = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (*out == NULL) {
        AK_SET_ERR(why, cap, "cannot encode the %s intent", ak_intent_kind_name(in->kind));
        return AK_ERR_NOMEM;
    }
    return AK_OK;
}

ak_err cn_ks_reply_status_err(long status)
{
    return status == 404 ? AK_ERR_KEY_NOT_FOUND : cn_rhttp_status_err(status);
}

int cn_ks_reply_state_refusal(long status, const char *body, size_t len)
{
    if (status != 503 || body == NULL)
        return 0;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
    int yes = c != NULL && strcmp(c, "state_unavailable") == 0;
    cJSON_Delete(j);
    return yes;
}

ak_err cn_ks_reply_parse(cJSON **out, long status, const char *body, size_t len, char *why,
                         size_t why_cap)
{
    *out = NULL;
    if (status != 200) {
        cn_ks_reply_body_why(why, why_cap, body, body ? len : 0);
        return cn_ks_reply_state_refusal(status, body, len) ? AK_ERR_FORBIDDEN
                                                            : cn_ks_reply_status_err(status);
    }
    *out = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (*out == NULL || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return AK_ERR_UPSTREAM;
    }
    return AK_OK;
}
