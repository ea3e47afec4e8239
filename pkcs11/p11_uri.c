/*
 * p11_uri.c - RFC 7512 "pkcs11:" URI parser (see p11_uri.h for the supported attributes).
 *
 * Grammar (RFC 7512 section 2.3): "pkcs11:" path-attr *(";" path-attr) ["?" query-attr
 * *("&" query-attr)], each attr "name=value" with the value percent-encoded. We are stricter
 * than the RFC in three ways, all documented in p11_uri.h: unknown attributes are refused
 * (a typo must not silently select "any key"), an attribute may appear once, and values may
 * not be empty. Raw bytes outside 0x21..0x7e must be percent-encoded.
 *
 * Error messages name the attribute and never contain a value (the PIN is one of them).
 */
#include "p11_uri.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ak_secmem.h"

#define P11_URI_SCHEME         "pkcs11:"
#define P11_MAX_SESSIONS_LIMIT 1024

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decode in[0..len) into out (capacity cap). Returns AK_OK, AK_ERR_URI on a bad
 * escape or a raw byte that must have been escaped, AK_ERR_LIMIT if the result exceeds cap.
 */
static AK_WUR ak_err pct_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in,
                                size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b;
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return AK_ERR_URI;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return AK_ERR_URI;
            b = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c < 0x21 || c > 0x7e) {
            return AK_ERR_URI;
        } else {
            b = c;
        }
        if (n >= cap)
            return AK_ERR_LIMIT;
        out[n++] = b;
    }
    *out_len = n;
    return AK_OK;
}

/* Decode a textual value into a NUL-terminated string of at most max bytes; no embedded NUL. */
static AK_WUR ak_err decode_str(char *dst, size_t max, const char *v, size_t vlen)
{
    size_t n = 0;
    ak_err e = pct_decode((uint8_t *)dst, max, &n, v, vlen);
    if (e != AK_OK)
        return e;
    if (memchr(dst, '\0', n) != NULL)
        return AK_ERR_URI;
    dst[n] = '\0';
    return AK_OK;
}

/* Unsigned decimal, digits only, no leading '+'/'-', value <= max. */
static AK_WUR ak_err decode_ulong(unsigned long *out, unsigned long max, const char *v, size_t vlen)
{
    unsigned long x = 0;
    if (vlen == 0 || vlen > 20)
        return AK_ERR_URI;
    for (size_t i = 0; i < vlen; i++) {
        unsigned d;
        if (v[i] < '0' || v[i] > '9')
            return AK_ERR_URI;
        d = (unsigned)(v[i] - '0');
        if (x > (max - d) / 10)
            return AK_ERR_RANGE;
        x = x * 10 + d;
    }
    *out = x;
    return AK_OK;
}

/* Copy an attribute name into a printable, bounded form for an error message. */
static void safe_name(char out[40], const char *name, size_t nlen)
{
    size_t n = nlen < 32 ? nlen : 32;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = (char)((c >= 0x21 && c <= 0x7e) ? c : '?');
    }
    if (nlen > n) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static int name_is(const char *name, size_t nlen, const char *want)
{
    return strlen(want) == nlen && memcmp(name, want, nlen) == 0;
}

/* One "name=value" attribute; in_query tells which attribute set applies. */
#define SEEN_TYPE         1u
#define SEEN_MAX_SESSIONS 2u

static AK_WUR ak_err parse_attr(p11_uri *u, unsigned *seen, const char *a, size_t alen,
                                int in_query, char *err_msg, size_t err_cap)
{
    const char *eq = memchr(a, '=', alen);
    const char *name = a, *v;
    size_t nlen, vlen;
    char shown[40];
    ak_err e = AK_OK;
    int *has = NULL;

    if (eq == NULL) {
        safe_name(shown, a, alen);
        set_msg(err_msg, err_cap, "pkcs11 URI: attribute '%s' has no '=value'", shown);
        return AK_ERR_URI;
    }
    nlen = (size_t)(eq - a);
    v = eq + 1;
    vlen = alen - nlen - 1;
    safe_name(shown, name, nlen);

    if (!in_query && name_is(name, nlen, "token")) {
        has = &u->has_token;
    } else if (!in_query && name_is(name, nlen, "object")) {
        has = &u->has_object;
    } else if (!in_query && name_is(name, nlen, "id")) {
        has = &u->has_id;
    } else if (!in_query && name_is(name, nlen, "slot-id")) {
        has = &u->has_slot_id;
    } else if ((!in_query && name_is(name, nlen, "type")) ||
               (in_query && name_is(name, nlen, "max-sessions"))) {
        has = NULL; /* checked below */
    } else if (in_query && name_is(name, nlen, "module-path")) {
        has = &u->has_module_path;
    } else if (in_query && name_is(name, nlen, "pin-source")) {
        has = &u->has_pin_source;
    } else if (in_query && name_is(name, nlen, "pin-value")) {
        has = &u->has_pin_value;
    } else {
        set_msg(err_msg, err_cap, "pkcs11 URI: unknown %s attribute '%s'",
                in_query ? "query" : "path", shown);
        return AK_ERR_URI;
    }
    if (vlen == 0) {
        set_msg(err_msg, err_cap, "pkcs11 URI: attribute '%s' has an empty value", shown);
        return AK_ERR_URI;
    }
    if ((has != NULL && *has) ||
        (has == NULL && name_is(name, nlen, "type") && (*seen & SEEN_TYPE)) ||
        (has == NULL && name_is(name, nlen, "max-sessions") && (*seen & SEEN_MAX_SESSIONS))) {
        set_msg(err_msg, err_cap, "pkcs11 URI: attribute '%s' given twice", shown);
        return AK_ERR_URI;
    }

    if (has == &u->has_token) {
        e = decode_str(u->token, P11_LABEL_MAX, v, vlen);
    } else if (has == &u->has_object) {
        e = decode_str(u->object, P11_LABEL_MAX, v, vlen);
    } else if (has == &u->has_id) {
        e = pct_decode(u->id, P11_ID_MAX, &u->id_len, v, vlen);
    } else if (has == &u->has_slot_id) {
        e = decode_ulong(&u->slot_id, (unsigned long)-1, v, vlen);
    } else if (has == &u->has_module_path) {
        e = decode_str(u->module_path, P11_PATH_MAX, v, vlen);
    } else if (has == &u->has_pin_source) {
        e = decode_str(u->pin_source, P11_PATH_MAX, v, vlen);
    } else if (has == &u->has_pin_value) {
        e = decode_str(u->pin_value, P11_PIN_MAX, v, vlen);
    } else if (name_is(name, nlen, "type")) {
        char type[16];
        *seen |= SEEN_TYPE;
        e = decode_str(type, sizeof(type) - 1, v, vlen);
        if (e == AK_OK && strcmp(type, "private") != 0) {
            set_msg(err_msg, err_cap,
                    "pkcs11 URI: attribute 'type' must be 'private' (a signing key)");
            return AK_ERR_URI;
        }
    } else { /* max-sessions */
        unsigned long ms = 0;
        *seen |= SEEN_MAX_SESSIONS;
        e = decode_ulong(&ms, P11_MAX_SESSIONS_LIMIT, v, vlen);
        if (e == AK_OK && ms == 0)
            e = AK_ERR_RANGE;
        if (e == AK_OK)
            u->max_sessions = (unsigned)ms;
        if (e == AK_ERR_RANGE) {
            set_msg(err_msg, err_cap, "pkcs11 URI: 'max-sessions' must be 1..%d",
                    P11_MAX_SESSIONS_LIMIT);
            return AK_ERR_URI;
        }
    }

    if (e == AK_ERR_LIMIT) {
        set_msg(err_msg, err_cap, "pkcs11 URI: value of '%s' is too long", shown);
        return AK_ERR_URI;
    }
    if (e == AK_ERR_RANGE) {
        set_msg(err_msg, err_cap, "pkcs11 URI: value of '%s' is out of range", shown);
        return AK_ERR_URI;
    }
    if (e != AK_OK) {
        set_msg(err_msg, err_cap,
                "pkcs11 URI: malformed value of '%s' (bad percent escape or character)", shown);
        return AK_ERR_URI;
    }
    if (has != NULL)
        *has = 1;
    return AK_OK;
}

ak_err p11_uri_parse(p11_uri *out, const char *uri, size_t len, char *err_msg, size_t err_cap)
{
    const size_t slen = sizeof(P11_URI_SCHEME) - 1;
    const char *p, *end, *q;
    unsigned seen = 0;
    ak_err e = AK_OK;

    if (err_msg != NULL && err_cap > 0)
        err_msg[0] = '\0';
    if (out == NULL || (uri == NULL && len > 0)) {
        set_msg(err_msg, err_cap, "pkcs11 URI: illegal argument");
        return AK_ERR_ARG;
    }
    memset(out, 0, sizeof(*out));
    if (len > P11_URI_MAX_LEN) {
        set_msg(err_msg, err_cap, "pkcs11 URI: longer than %d bytes", P11_URI_MAX_LEN);
        e = AK_ERR_URI;
        goto out;
    }
    if (len < slen || memcmp(uri, P11_URI_SCHEME, slen) != 0) {
        set_msg(err_msg, err_cap, "pkcs11 URI: does not start with 'pkcs11:'");
        e = AK_ERR_URI;
        goto out;
    }
    p = uri + slen;
    end = uri + len;
    q = memchr(p, '?', (size_t)(end - p));

    /* path part: p .. (q or end), attributes separated by ';' (may be empty) */
    {
        const char *pend = q != NULL ? q : end;
        while (p < pend) {
            const char *sep = memchr(p, ';', (size_t)(pend - p));
            const char *aend = sep != NULL ? sep : pend;
            if (aend == p) {
                set_msg(err_msg, err_cap, "pkcs11 URI: empty path attribute");
                e = AK_ERR_URI;
                goto out;
            }
            e = parse_attr(out, &seen, p, (size_t)(aend - p), 0, err_msg, err_cap);
            if (e != AK_OK)
                goto out;
            p = sep != NULL ? sep + 1 : pend;
            if (sep != NULL && p == pend) {
                set_msg(err_msg, err_cap, "pkcs11 URI: trailing ';'");
                e = AK_ERR_URI;
                goto out;
            }
        }
    }
    /* query part after '?', attributes separated by '&' */
    if (q != NULL) {
        p = q + 1;
        if (p == end) {
            set_msg(err_msg, err_cap, "pkcs11 URI: empty query after '?'");
            e = AK_ERR_URI;
            goto out;
        }
        while (p < end) {
            const char *sep = memchr(p, '&', (size_t)(end - p));
            const char *aend = sep != NULL ? sep : end;
            if (aend == p) {
                set_msg(err_msg, err_cap, "pkcs11 URI: empty query attribute");
                e = AK_ERR_URI;
                goto out;
            }
            if (memchr(p, '?', (size_t)(aend - p)) != NULL) {
                set_msg(err_msg, err_cap, "pkcs11 URI: more than one '?'");
                e = AK_ERR_URI;
                goto out;
            }
            e = parse_attr(out, &seen, p, (size_t)(aend - p), 1, err_msg, err_cap);
            if (e != AK_OK)
                goto out;
            p = sep != NULL ? sep + 1 : end;
            if (sep != NULL && p == end) {
                set_msg(err_msg, err_cap, "pkcs11 URI: trailing '&'");
                e = AK_ERR_URI;
                goto out;
            }
        }
    }
    if (out->has_pin_source && out->has_pin_value) {
        set_msg(err_msg, err_cap, "pkcs11 URI: 'pin-source' and 'pin-value' are exclusive");
        e = AK_ERR_URI;
        goto out;
    }
out:
    if (e != AK_OK)
        p11_uri_clear(out);
    return e;
}

void p11_uri_clear(p11_uri *u)
{
    if (u == NULL)
        return;
    ak_wipe(u, sizeof(*u));
}
