/* ak_json: the NUL, UTF-8 and duplicate-key checks cJSON does not make. */
#include "ak_json.h"
#include "ak_test.h"

static int nul(const char *s)
{
    return ak_json_has_nul(s, strlen(s));
}

static ak_err keys(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", text);
        abort();
    }
    ak_err err = ak_json_check_keys(j);
    cJSON_Delete(j);
    return err;
}

static int bad(const char *s)
{
    return ak_json_has_bad_utf8(s, strlen(s));
}

/* RFC 3629 well-formedness and lone surrogate escapes (RFC 8259 section 8.2). */
static void test_utf8(void)
{
    /* well formed: ASCII, 2/3/4-byte forms at their bounds, a surrogate pair escape */
    CHECK(!bad("{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"));
    CHECK(!bad("\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"));
    CHECK(!bad("{\"a\":\"\\uD83D\\uDE00\"}"));
    CHECK(!bad("{\"a\":\"\\ud7ff \\ue000 \\uFFFF\"}"));
    CHECK(!bad("{\"a\":\"\\\\uD800\"}")); /* an escaped backslash, then the text uD800 */
    CHECK(!bad(""));
    /* raw bytes: stray continuation, truncated, overlong, surrogate, above U+10FFFF, 0xff */
    CHECK(bad("{\"a\":\"\x80\"}"));
    CHECK(bad("{\"a\":\"\xc3\"}"));
    CHECK(bad("\xe2\x82"));
    CHECK(bad("\xc0\xaf"));
    CHECK(bad("\xc1\xbf"));
    CHECK(bad("\xe0\x80\xaf"));
    CHECK(bad("\xf0\x80\x80\xaf"));
    CHECK(bad("\xed\xa0\x80"));
    CHECK(bad("\xed\xbf\xbf"));
    CHECK(bad("\xf4\x90\x80\x80"));
    CHECK(bad("\xf5\x80\x80\x80"));
    CHECK(bad("\xff"));
    CHECK(bad("\xfe\xff"));
    /* lone surrogate escapes */
    CHECK(bad("{\"a\":\"\\uD800\"}"));
    CHECK(bad("{\"a\":\"\\udbff\"}"));
    CHECK(bad("{\"a\":\"\\uDC00\"}"));
    CHECK(bad("{\"a\":\"\\uD800\\u0041\"}"));
    CHECK(bad("{\"a\":\"\\uD800x\\uDC00\"}"));
    CHECK(bad("{\"a\":\"\\uDE00\\uD83D\"}")); /* pair in the wrong order */
    CHECK(bad("\\uD800"));
    CHECK(bad("\\\\\\uD800")); /* backslash, then a real \uD800 escape */
    CHECK(ak_json_utf8_valid((const unsigned char *)"", 0));
    CHECK(!ak_json_utf8_valid((const unsigned char *)"\xc3", 1));
}

int main(void)
{
    CHECK(nul("{\"a\":\"x\\u0000y\"}"));
    CHECK(nul("\\u0000"));
    CHECK(!nul("{\"a\":\"x\\\\u0000y\"}"));  /* an escaped backslash, then the text u0000 */
    CHECK(nul("{\"a\":\"x\\\\\\u0000y\"}")); /* backslash, then a real \u0000 escape */
    CHECK(!nul("{\"a\":\"\\u0001\"}"));
    CHECK(!nul("{\"a\":\"\\u000\"}"));
    CHECK(!nul(""));
    CHECK(ak_json_has_nul("a\0b", 3));

    test_utf8();

    CHECK_EQ_INT(keys("{\"a\":1,\"b\":2}"), AK_OK);
    CHECK_EQ_INT(keys("{\"a\":1,\"a\":2}"), AK_ERR_JSON);
    CHECK_EQ_INT(keys("[{\"x\":[{\"k\":1,\"k\":1}]}]"), AK_ERR_JSON);
    CHECK_EQ_INT(keys("{\"a\":{\"b\":1},\"c\":{\"b\":1}}"), AK_OK); /* same key, other objects */
    CHECK_EQ_INT(keys("[1,1,1]"), AK_OK);

    /* Bounds: more members than AK_JSON_MAX_MEMBERS in one object. */
    size_t cap = (AK_JSON_MAX_MEMBERS + 1) * 16 + 8;
    char *big = malloc(cap);
    size_t o = 0;
    big[o++] = '{';
    for (int i = 0; i <= AK_JSON_MAX_MEMBERS; i++)
        o += (size_t)snprintf(big + o, cap - o, "%s\"k%d\":1", i ? "," : "", i);
    big[o++] = '}';
    big[o] = '\0';
    CHECK_EQ_INT(keys(big), AK_ERR_LIMIT);
    free(big);
    CHECK_EQ_INT(ak_json_check_keys(NULL), AK_ERR_ARG);
    return ak_test_report("json");
}
