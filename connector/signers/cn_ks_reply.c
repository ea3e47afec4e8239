/*
 * cn_ks_reply.c - the key server's advertised intent kinds and refusal reasons (cn_ks_reply.h).
 */
#include "cn_ks_reply.h"

#include <stdio.h>

#include "ak_intent.h"

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
