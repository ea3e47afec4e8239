/*
 * fuzz_cn_config.c - the connector's configuration file on hostile text: cn_config_load (read,
 * JSON parse, ${VAR} substitution), cn_config_select_profile and cn_config_settings.
 *
 * Only the parse/validate stage: signers are built later from s.accounts by cn_signer_factory,
 * and some of them contact key servers or cloud KMSs, so they are not constructed here. The
 * first input byte picks the --profile argument (none, "prod", "dev"); the rest is the file
 * (an in-memory file, see fz_memfile.h). FZ_VAR is set so that ${FZ_VAR} expands. Checked:
 * accepted settings hold their documented ranges and point into the document.
 */
#include <stdint.h>
#include <string.h>

#include "cn_config.h"
#include "cn_methods.h"
#include "cn_policy.h"
#include "cn_rate.h"
#include "fz_memfile.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static fz_memfile fz_file;

static void check_settings(const cn_settings *s)
{
    FUZZ_ASSERT(cJSON_IsArray(s->accounts));
    int n = cJSON_GetArraySize(s->accounts);
    FUZZ_ASSERT(n >= 1 && n <= 64);
    FUZZ_ASSERT(s->nonce_retries <= 10);
    FUZZ_ASSERT(s->max_batch >= 1 && s->max_batch <= 10000);
    FUZZ_ASSERT(s->batch_threads >= 1 && s->batch_threads <= 64);
    FUZZ_ASSERT(s->http_threads >= 1 && s->http_threads <= 256);
    FUZZ_ASSERT(s->max_body >= 1024 && s->max_body <= 64 * 1024 * 1024);
    FUZZ_ASSERT(s->failure_threshold >= 1 && s->failure_threshold <= 1000);
    FUZZ_ASSERT(s->health_interval_ms >= 10 && s->health_interval_ms <= 3600000);
    FUZZ_ASSERT(s->auth == NULL || cJSON_IsObject(s->auth));
    FUZZ_ASSERT((s->tls_cert_file == NULL) == (s->tls_key_file == NULL));
    FUZZ_ASSERT(s->ready_refresh_ms >= 100 && s->ready_refresh_ms <= 3600000);
    FUZZ_ASSERT(s->max_sign_per_batch >= 1 && s->max_sign_per_batch <= 10000);
}

/* The parsers main() runs next on an accepted file: each account's "policy" (cn_policy) and
 * "signing_rate_limit" (cn_rate). Either succeeds or names the problem. */
static void check_parts(const cn_settings *s)
{
    char err[256];
    const cJSON *acc;
    const cn_method_table *tables[] = {cn_methods_builtin()};
    FUZZ_ASSERT(cn_methods_publish(tables, 1) == AK_OK); /* allowed_methods' names */
    cJSON_ArrayForEach(acc, s->accounts)
    {
        cn_policy *p = NULL;
        err[0] = '\0';
        if (cn_policy_parse(&p, cJSON_GetObjectItemCaseSensitive(acc, "policy"), err, sizeof err) !=
            AK_OK)
            FUZZ_ASSERT(p == NULL && err[0] != '\0');
        cn_policy_free(p);
    }
    cn_rate *r = NULL;
    err[0] = '\0';
    if (cn_rate_new(&r, s->signing_rate_limit, err, sizeof err) != AK_OK)
        FUZZ_ASSERT(r == NULL && err[0] != '\0');
    else
        FUZZ_ASSERT(cn_rate_take(r, "fuzz", 0) == 1);
    cn_rate_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const profiles[] = {NULL, "prod", "dev"};
    char err[512], chosen[64];
    cJSON *doc = NULL;
    cn_settings s;
    if (fz_file.path[0] == '\0') {
        fz_memfile_init(&fz_file, "fuzz_cn_config");
        setenv("FZ_VAR", "value-from-env", 1);
    }
    if (size < 1 || size > 256 * 1024)
        return 0;
    fz_memfile_set(&fz_file, data + 1, size - 1);
    err[0] = '\0';
    if (cn_config_load(&doc, fz_file.path, err, sizeof err) != AK_OK) {
        FUZZ_ASSERT(doc == NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(cJSON_IsObject(doc));
    if (cn_config_select_profile(doc, profiles[data[0] % 3], chosen, err, sizeof err) == AK_OK &&
        cn_config_settings(&s, doc, err, sizeof err) == AK_OK) {
        check_settings(&s);
        check_parts(&s);
    }
    cJSON_Delete(doc);
    return 0;
}
