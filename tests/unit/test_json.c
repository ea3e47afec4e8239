/* ak_json: the NUL and duplicate-key checks cJSON does not make. */
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
