/*
 * fuzz_ak_cfg: the configuration-schema walker (shared/ak_cfg) on arbitrary JSON. The input is
 * parsed with cJSON and walked with a table that uses every field type and flag (strings with
 * URL/ID/PATH checks, borrowed strings, 32- and 64-bit integers, booleans, JSON members, a
 * nested object, an inline group, a secret pair). Checked: the walk finishes; on success every
 * value holds its documented range and strings their bounds and character rules; on failure
 * the message is non-empty and NUL-terminated within its buffer.
 * Seeds: tests/fuzz/corpus/ak_cfg/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

typedef struct {
    long timeout_ms;
    int retries;
} http_part;

typedef struct {
    char addr[64];
    char id[16];
    char mount[16];
    const char *file;
    int64_t big;
    unsigned small;
    int neg;
    int flag;
    const cJSON *list;
    char method[16];
    ak_cfg_secret_src token;
    http_part http;
} conf;

static const ak_cfg_field k_http[] = {
    AK_CFG_INT("timeout_ms", 0, http_part, timeout_ms, 1, 600000, 5000),
    AK_CFG_INT("retries", 0, http_part, retries, 0, 10, 2),
};

static const ak_cfg_field k_auth[] = {
    AK_CFG_STR("method", AK_CFG_REQUIRED, conf, method, NULL),
    AK_CFG_SECRET("token", 0, conf, token),
};

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_STR("addr", AK_CFG_URL, conf, addr, "https://default"),
    AK_CFG_STR("id", AK_CFG_ID, conf, id, NULL),
    AK_CFG_STR("mount", 0, conf, mount, "secret"),
    AK_CFG_REF("file", AK_CFG_PATH, conf, file, 100),
    AK_CFG_INT("big", 0, conf, big, 0, 64LL * 1024 * 1024 * 1024, 7),
    AK_CFG_INT("small", 0, conf, small, 1, 4000000000LL, 3),
    AK_CFG_INT("neg", 0, conf, neg, -5, 5, -1),
    AK_CFG_BOOL("flag", 0, conf, flag, 1),
    AK_CFG_JSON("list", 0, conf, list, cJSON_Array),
    AK_CFG_OBJ("auth", 0, k_auth),
    AK_CFG_INLINE(k_http, AK_CFG_COUNT(k_http), conf, http),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char err[128];
    conf c;
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cJSON *j = cJSON_Parse(text);
    memset(&c, 0, sizeof c);
    memset(err, 'x', sizeof err);
    err[0] = '\0';
    ak_err rc = ak_cfg_read(&c, k_fields, AK_CFG_COUNT(k_fields), j, "fz", err, sizeof err);
    if (rc == AK_OK) {
        FUZZ_ASSERT(cJSON_IsObject(j) || j == NULL);
        FUZZ_ASSERT(ak_cfg_https_url(c.addr, sizeof c.addr - 1));
        FUZZ_ASSERT(c.id[0] == '\0' || ak_cfg_safe_id(c.id, sizeof c.id - 1, 0));
        FUZZ_ASSERT(strlen(c.mount) >= 1 && strlen(c.mount) <= 15);
        FUZZ_ASSERT(c.file == NULL || (strlen(c.file) >= 1 && strlen(c.file) <= 100));
        FUZZ_ASSERT(c.big >= 0 && c.big <= 64LL * 1024 * 1024 * 1024);
        FUZZ_ASSERT(c.small >= 1 && c.small <= 4000000000u);
        FUZZ_ASSERT(c.neg >= -5 && c.neg <= 5);
        FUZZ_ASSERT(c.flag == 0 || c.flag == 1);
        FUZZ_ASSERT(c.list == NULL || cJSON_IsArray(c.list));
        FUZZ_ASSERT(c.token.file == NULL || c.token.env == NULL);
        FUZZ_ASSERT(c.http.timeout_ms >= 1 && c.http.timeout_ms <= 600000);
        FUZZ_ASSERT(c.http.retries >= 0 && c.http.retries <= 10);
    } else {
        FUZZ_ASSERT(rc == AK_ERR_CONFIG);
        FUZZ_ASSERT(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    }
    cJSON_Delete(j);
    free(text);
    return 0;
}
