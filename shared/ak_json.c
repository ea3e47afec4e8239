/* ak_json.c - NUL and duplicate-key checks for JSON input (see ak_json.h). */
#include "ak_json.h"

#include <string.h>

int ak_json_has_nul(const char *text, size_t len)
{
    if (memchr(text, '\0', len) != NULL)
        return 1;
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* skip the escaped character, so "\\u0000" is not taken for an escape */
    }
    return 0;
}

static ak_err ak_json_keys(const cJSON *node, unsigned depth)
{
    size_t members = 0;
    if (depth > AK_JSON_MAX_DEPTH)
        return AK_ERR_LIMIT;
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
        if (++members > AK_JSON_MAX_MEMBERS)
            return AK_ERR_LIMIT;
        if (cJSON_IsObject(node) && c->string != NULL) {
            for (const cJSON *d = c->next; d != NULL; d = d->next) {
                if (d->string != NULL && strcmp(c->string, d->string) == 0)
                    return AK_ERR_JSON;
            }
        }
        if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            ak_err err = ak_json_keys(c, depth + 1);
            if (err != AK_OK)
                return err;
        }
    }
    return AK_OK;
}

ak_err ak_json_check_keys(const cJSON *root)
{
    if (root == NULL)
        return AK_ERR_ARG;
    return ak_json_keys(root, 0);
}

int ak_json_has_bad_utf8(const char *text, size_t len)
{
    (void)text;
    (void)len;
    return 0; /* filled in next */
}
