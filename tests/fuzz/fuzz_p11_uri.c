/*
 * fuzz_p11_uri.c - libFuzzer target for the RFC 7512 pkcs11: URI parser (pkcs11/p11_uri.c).
 *
 * Whatever the input: the error message is NUL-terminated within its capacity and a failed
 * parse leaves the struct zeroed. Whatever parses is re-encoded (every value percent-encoded)
 * and must parse back to the same struct.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_uri.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static size_t put_pct(char *out, size_t pos, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pos += (size_t)sprintf(out + pos, "%%%02X", v[i]);
    return pos;
}

static size_t put_attr(char *out, size_t pos, char sep, const char *name, const uint8_t *v,
                       size_t n)
{
    if (sep != 0)
        out[pos++] = sep;
    pos += (size_t)sprintf(out + pos, "%s=", name);
    return put_pct(out, pos, v, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static p11_uri u, v;
    static const p11_uri zero;
    char msg[96];
    static char enc[4 * P11_URI_MAX_LEN];
    size_t pos = 0;
    int first = 1;
    char sep;

    memset(msg, 'x', sizeof(msg));
    if (p11_uri_parse(&u, (const char *)data, size, msg, sizeof(msg)) != AK_OK) {
        FUZZ_ASSERT(memchr(msg, '\0', sizeof(msg)) != NULL);
        FUZZ_ASSERT(memcmp(&u, &zero, sizeof(u)) == 0);
        return 0;
    }
    FUZZ_ASSERT(u.token[P11_LABEL_MAX] == '\0' && u.object[P11_LABEL_MAX] == '\0');
    FUZZ_ASSERT(u.id_len <= P11_ID_MAX);
    /* re-encode */
    pos = (size_t)sprintf(enc, "pkcs11:");
#define PATH(cond, name, val, len)                                                                 \
    if (cond) {                                                                                    \
        pos = put_attr(enc, pos, first ? 0 : ';', name, (const uint8_t *)(val), len);              \
        first = 0;                                                                                 \
    }
    PATH(u.has_token, "token", u.token, strlen(u.token))
    PATH(u.has_object, "object", u.object, strlen(u.object))
    PATH(u.has_id, "id", u.id, u.id_len)
    if (u.has_slot_id) {
        pos += (size_t)sprintf(enc + pos, "%sslot-id=%lu", first ? "" : ";", u.slot_id);
        first = 0;
    }
    sep = '?';
#define QUERY(cond, name, val, len)                                                                \
    if (cond) {                                                                                    \
        pos = put_attr(enc, pos, sep, name, (const uint8_t *)(val), len);                          \
        sep = '&';                                                                                 \
    }
    QUERY(u.has_module_path, "module-path", u.module_path, strlen(u.module_path))
    QUERY(u.has_pin_source, "pin-source", u.pin_source, strlen(u.pin_source))
    QUERY(u.has_pin_value, "pin-value", u.pin_value, strlen(u.pin_value))
    if (u.max_sessions != 0)
        pos += (size_t)sprintf(enc + pos, "%cmax-sessions=%u", sep, u.max_sessions);
    if (pos > P11_URI_MAX_LEN)
        return 0; /* the encoded form may exceed the input bound: nothing to compare */
    FUZZ_ASSERT(p11_uri_parse(&v, enc, pos, msg, sizeof(msg)) == AK_OK);
    FUZZ_ASSERT(memcmp(&u, &v, sizeof(u)) == 0);
    p11_uri_clear(&u);
    p11_uri_clear(&v);
    return 0;
}
