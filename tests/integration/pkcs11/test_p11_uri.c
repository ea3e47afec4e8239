/*
 * test_p11_uri.c - RFC 7512 pkcs11: URI parser: positive cases (examples shaped after RFC 7512
 * section 3), percent-decoding, and every refusal (unknown / duplicate / empty attributes, bad
 * escapes, over-long values, bad numbers), plus "the PIN never appears in an error message".
 */
#include <string.h>

#include "ak_test.h"
#include "p11_uri.h"

static ak_err parse(p11_uri *u, const char *s, char *msg, size_t cap)
{
    return p11_uri_parse(u, s, strlen(s), msg, cap);
}

static void test_positive(void)
{
    p11_uri u;
    char msg[256];
    /* RFC 7512 section 3 style: token + object + type */
    CHECK_EQ_INT(parse(&u,
                       "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;object=my-key;"
                       "type=private",
                       msg, sizeof(msg)),
                 AK_OK);
    CHECK(u.has_token);
    CHECK_STR(u.token, "The Software PKCS#11 Softtoken");
    CHECK(u.has_object);
    CHECK_STR(u.object, "my-key");
    CHECK(!u.has_id && !u.has_slot_id && !u.has_pin_value && u.max_sessions == 0);
    p11_uri_clear(&u);

    /* id as percent-encoded bytes (RFC 7512: "id=%14%ac..."), query attributes */
    CHECK_EQ_INT(parse(&u,
                       "pkcs11:id=%01%FF%00%7a;slot-id=42?module-path=/usr/lib/softhsm/"
                       "libsofthsm2.so&pin-value=12%2034&max-sessions=16",
                       msg, sizeof(msg)),
                 AK_OK);
    CHECK(u.has_id);
    CHECK_EQ_INT(u.id_len, 4);
    CHECK_MEM(u.id, "\x01\xff\x00\x7a", 4);
    CHECK(u.has_slot_id);
    CHECK_EQ_INT(u.slot_id, 42);
    CHECK_STR(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
    CHECK(u.has_pin_value);
    CHECK_STR(u.pin_value, "12 34");
    CHECK_EQ_INT(u.max_sessions, 16);
    p11_uri_clear(&u);
    CHECK(!u.has_pin_value && u.pin_value[0] == '\0');

    CHECK_EQ_INT(parse(&u, "pkcs11:object=k1?pin-source=file:/run/secrets/pin", msg, sizeof(msg)),
                 AK_OK);
    CHECK_STR(u.pin_source, "file:/run/secrets/pin");
    p11_uri_clear(&u);

    CHECK_EQ_INT(parse(&u, "pkcs11:", msg, sizeof(msg)), AK_OK); /* empty: valid */
    CHECK(!u.has_token && !u.has_object);
    p11_uri_clear(&u);

    /* not NUL-terminated input: length is honoured */
    CHECK_EQ_INT(p11_uri_parse(&u, "pkcs11:object=abcXYZ", 17, msg, sizeof(msg)), AK_OK);
    CHECK_STR(u.object, "abc");
    p11_uri_clear(&u);

    /* maximal lengths accepted */
    {
        char buf[512], lbl[P11_LABEL_MAX + 1];
        memset(lbl, 'a', P11_LABEL_MAX);
        lbl[P11_LABEL_MAX] = '\0';
        snprintf(buf, sizeof(buf), "pkcs11:object=%s", lbl);
        CHECK_EQ_INT(parse(&u, buf, msg, sizeof(msg)), AK_OK);
        CHECK_EQ_INT(strlen(u.object), P11_LABEL_MAX);
        p11_uri_clear(&u);
        snprintf(buf, sizeof(buf), "pkcs11:slot-id=18446744073709551615");
        CHECK_EQ_INT(parse(&u, buf, msg, sizeof(msg)), AK_OK);
        CHECK(u.slot_id == (unsigned long)-1);
        p11_uri_clear(&u);
    }
}

/* Each must fail with AK_ERR_URI and a message containing `want`. */
static void expect_fail(const char *uri, const char *want)
{
    p11_uri u;
    char msg[256];
    ak_err e = parse(&u, uri, msg, sizeof(msg));
    CHECK_EQ_INT(e, AK_ERR_URI);
    if (strstr(msg, want) == NULL) {
        fprintf(stderr, "for %s: message '%s' lacks '%s'\n", uri, msg, want);
        CHECK(0);
    }
    CHECK(!u.has_pin_value && !u.has_object); /* cleared on failure */
}

static void test_negative(void)
{
    char big[P11_URI_MAX_LEN + 64];
    expect_fail("pkcs12:object=x", "pkcs11:");
    expect_fail("PKCS11:object=x", "pkcs11:");
    expect_fail("pkcs11:objekt=x", "unknown path attribute 'objekt'");
    expect_fail("pkcs11:object=x?module-name=softhsm2", "unknown query attribute 'module-name'");
    expect_fail("pkcs11:module-path=/x", "unknown path attribute 'module-path'");
    expect_fail("pkcs11:object=k?token=t", "unknown query attribute 'token'");
    expect_fail("pkcs11:manufacturer=x", "unknown path attribute 'manufacturer'");
    expect_fail("pkcs11:object=a;object=b", "'object' given twice");
    expect_fail("pkcs11:type=private;type=private", "'type' given twice");
    expect_fail("pkcs11:?max-sessions=2&max-sessions=3", "'max-sessions' given twice");
    expect_fail("pkcs11:object=", "empty value");
    expect_fail("pkcs11:object", "no '=value'");
    expect_fail("pkcs11:object=a;;id=%01", "empty path attribute");
    expect_fail("pkcs11:object=a;", "trailing ';'");
    expect_fail("pkcs11:object=a?", "empty query");
    expect_fail("pkcs11:object=a?pin-value=1&", "trailing '&'");
    expect_fail("pkcs11:object=a?pin-value=1?x=2", "more than one '?'");
    expect_fail("pkcs11:object=a%2", "malformed value of 'object'");
    expect_fail("pkcs11:object=a%", "malformed value of 'object'");
    expect_fail("pkcs11:object=a%zz", "malformed value of 'object'");
    expect_fail("pkcs11:object=a b", "malformed value of 'object'");
    expect_fail("pkcs11:object=a%00b", "malformed value of 'object'"); /* NUL in a label */
    expect_fail("pkcs11:type=public", "'type' must be 'private'");
    expect_fail("pkcs11:type=cert", "'type' must be 'private'");
    expect_fail("pkcs11:slot-id=-1", "'slot-id'");
    expect_fail("pkcs11:slot-id=0x10", "'slot-id'");
    expect_fail("pkcs11:slot-id=18446744073709551616", "out of range");
    expect_fail("pkcs11:?max-sessions=0", "'max-sessions' must be 1..");
    expect_fail("pkcs11:?max-sessions=1025", "'max-sessions' must be 1..");
    expect_fail("pkcs11:?pin-value=1&pin-source=/f", "exclusive");
    {
        char buf[512], lbl[P11_LABEL_MAX + 2];
        memset(lbl, 'a', P11_LABEL_MAX + 1);
        lbl[P11_LABEL_MAX + 1] = '\0';
        snprintf(buf, sizeof(buf), "pkcs11:object=%s", lbl);
        expect_fail(buf, "value of 'object' is too long");
        /* 65 percent-encoded id bytes */
        strcpy(buf, "pkcs11:id=");
        for (int i = 0; i < P11_ID_MAX + 1; i++)
            strcat(buf, "%01");
        expect_fail(buf, "value of 'id' is too long");
    }
    memset(big, 'a', sizeof(big));
    memcpy(big, "pkcs11:object=", 14);
    {
        p11_uri u;
        char msg[128];
        CHECK_EQ_INT(p11_uri_parse(&u, big, sizeof(big), msg, sizeof(msg)), AK_ERR_URI);
        CHECK(strstr(msg, "longer than") != NULL);
    }
    /* attribute names are shown bounded and printable */
    expect_fail("pkcs11:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", "...'");
    expect_fail("pkcs11:x%01=1", "unknown path attribute 'x%01'");
    /* API misuse */
    {
        p11_uri u;
        CHECK_EQ_INT(p11_uri_parse(NULL, "pkcs11:", 7, NULL, 0), AK_ERR_ARG);
        CHECK_EQ_INT(p11_uri_parse(&u, NULL, 3, NULL, 0), AK_ERR_ARG);
        CHECK_EQ_INT(p11_uri_parse(&u, "pkcs11:objekt=1", 15, NULL, 0), AK_ERR_URI);
    }
}

/* The PIN value must never be copied into an error message, whatever fails after it. */
static void test_pin_not_echoed(void)
{
    static const char *uris[] = {
        "pkcs11:object=k?pin-value=S3cretPIN&bogus=1",
        "pkcs11:object=k?pin-value=S3cretPIN&pin-value=S3cretPIN",
        "pkcs11:object=k?pin-value=S3cretPIN%zz",
        "pkcs11:object=k?pin-value=S3cretPIN&pin-source=/x",
        "pkcs11:object=k?pin-value=S3cretPIN&max-sessions=S3cretPIN",
    };
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        p11_uri u;
        char msg[256];
        CHECK_EQ_INT(parse(&u, uris[i], msg, sizeof(msg)), AK_ERR_URI);
        CHECK(strstr(msg, "S3cret") == NULL);
        CHECK(msg[0] != '\0');
        CHECK(u.pin_value[0] == '\0');
    }
}

int main(void)
{
    test_positive();
    test_negative();
    test_pin_not_echoed();
    return ak_test_report("test_p11_uri");
}
