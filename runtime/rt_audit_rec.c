/* rt_audit_rec.c - building an audit record's members: JSON string escaping and bounded appends
 * (see rt_audit.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt_audit.h"

size_t rt_audit_json_str(char *out, size_t cap, const char *in, size_t len)
{
    static const char d[] = "0123456789abcdef";
    size_t o = 0;
    int cut = len > RT_AUDIT_FIELD_MAX;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    if (cut)
        len = RT_AUDIT_FIELD_MAX;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (o + 7 >= cap) {
            out[0] = '\0';
            return 0;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = d[c >> 4];
            out[o + 5] = d[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut) {
        if (o + 4 >= cap) {
            out[0] = '\0';
            return 0;
        }
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return o;
}

int rt_audit_put(char *body, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    if (*len >= cap)
        return 0;
    va_start(ap, fmt);
    int n = vsnprintf(body + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len = n < 0 ? cap : *len + (size_t)n;
    return *len < cap;
}

int rt_audit_put_str(char *body, size_t cap, size_t *len, const char *name, const char *v)
{
    char esc[RT_AUDIT_FIELD_CAP];
    if (*len >= cap)
        return 0;
    rt_audit_json_str(esc, sizeof esc, v ? v : "", v ? strlen(v) : 0);
    const char *sep = *len == 0 || body[*len - 1] == '{' ? "" : ",";
    return rt_audit_put(body, cap, len, "%s\"%s\":\"%s\"", sep, name, esc);
}
