/* ak_json.c - NUL, UTF-8 and duplicate-key checks for JSON input (see ak_json.h). */
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

int ak_json_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], n, cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0; /* a continuation byte, 0xc0/0xc1 (always overlong) or 0xf5..0xff */
        }
        if (len - i <= n)
            return 0;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* The value of the 4 hex digits at p (all checked to be hex), or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

int ak_json_has_bad_utf8(const char *text, size_t len)
{
    if (!ak_json_utf8_valid((const unsigned char *)text, len))
        return 1;
    for (size_t i = 0; i + 1 < len; i++) {
        long u, lo;
        if (text[i] != '\\')
            continue;
        i++; /* the escaped character: in "\\\\uD800" the u is not an escape */
        if (text[i] != 'u' || len - i < 5 || (u = hex4(text + i + 1)) < 0)
            continue;
        if (u >= 0xdc00 && u <= 0xdfff)
            return 1; /* a low surrogate with no high one before it */
        if (u < 0xd800 || u > 0xdbff)
            continue;
        /* a high surrogate must be followed at once by the escape of a low one */
        if (len - i < 11 || text[i + 5] != '\\' || text[i + 6] != 'u' ||
            (lo = hex4(text + i + 7)) < 0xdc00 || lo > 0xdfff)
            return 1;
        i += 10;
    }
    return 0;
}

ak_err ak_json_add_quantity(cJSON *o, const char *name, const ak_u256 *v)
{
    char q[AK_U256_QUANTITY_MAX];
    if (ak_u256_format_quantity(q, sizeof(q), v) != AK_OK)
        return AK_ERR_INTERNAL;
    return cJSON_AddStringToObject(o, name, q) != NULL ? AK_OK : AK_ERR_NOMEM;
}
