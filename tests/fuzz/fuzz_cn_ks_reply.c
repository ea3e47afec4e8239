/*
 * fuzz_cn_ks_reply.c - libFuzzer target for cn_ks_reply (what the keyless signer reads from the
 * key server's /health, /sign, /pubkey and error answers): any bytes; the advertised kinds stay
 * within AK_INTENT_ALL, the reason is NUL-terminated within its buffer and printable ASCII only,
 * and an answer is handed back only as a JSON object (none for a refusal).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_intent.h"
#include "cn_ks_reply.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[96];
    int ok = 0;
    if (size > 1 << 16)
        return 0;
    unsigned mask = cn_ks_reply_intents((const char *)data, size, &ok);
    FUZZ_ASSERT((mask & ~AK_INTENT_ALL) == 0u);
    FUZZ_ASSERT(ok || mask == 0u);
    memset(why, 'x', sizeof why);
    why[0] = '\0';
    cn_ks_reply_body_why(why, sizeof why, (const char *)data, size);
    size_t n = strnlen(why, sizeof why);
    FUZZ_ASSERT(n < sizeof why);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(why[i] >= 0x20 && why[i] <= 0x7e);
    cJSON *j = NULL;
    ak_err rc = cn_ks_reply_parse(&j, 200, (const char *)data, size, NULL, 0);
    FUZZ_ASSERT(rc == AK_OK ? cJSON_IsObject(j) : j == NULL);
    cJSON_Delete(j);
    rc = cn_ks_reply_parse(&j, 403, (const char *)data, size, why, sizeof why);
    FUZZ_ASSERT(rc == AK_ERR_FORBIDDEN && j == NULL && strnlen(why, sizeof why) < sizeof why);
    /* 503: a refusal exactly when the body says state_unavailable, else unavailable */
    int refusal = cn_ks_reply_state_refusal(503, (const char *)data, size);
    rc = cn_ks_reply_parse(&j, 503, (const char *)data, size, why, sizeof why);
    FUZZ_ASSERT(j == NULL && rc == (refusal ? AK_ERR_FORBIDDEN : AK_ERR_UNAVAILABLE));
    FUZZ_ASSERT(!cn_ks_reply_state_refusal(500, (const char *)data, size));
    return 0;
}
