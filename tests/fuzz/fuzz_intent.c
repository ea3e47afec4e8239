/*
 * fuzz_intent: arbitrary bytes as the "intent" object of a /sign request (ak_intent_parse), and
 * as an unsigned transaction signing payload (ak_intent_tx_decode). A parsed intent must encode
 * (ak_intent_to_json) and parse back to the same kind and digest, and pass through the policy
 * (ak_policy_intent_ok under a limited policy) without a crash; a refused one gives a known error
 * code, a non-empty NUL-terminated `why` and a cleared intent. A decoded payload must re-encode
 * to exactly the input. Seeds: tests/fuzz/corpus/intent/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_intent.h"
#include "ak_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void payload(const uint8_t *data, size_t size)
{
    ak_tx tx;
    size_t len = 0;
    if (ak_intent_tx_decode(&tx, data, size) != AK_OK)
        return;
    uint8_t *again = malloc(size + 1);
    if (again == NULL)
        return;
    if (ak_tx_signing_payload(again, size + 1, &len, &tx) != AK_OK || len != size ||
        memcmp(again, data, size) != 0)
        abort();
    free(again);
}

static void judge(const ak_intent *in)
{
    static ak_policy p;
    ak_policy_verdict v;
    ak_policy_init(&p);
    p.raw_digest = 0;
    p.has_max_value = 1;
    ak_u256_from_u64(&p.max_value, 1000);
    p.n_to = 1;
    memset(p.to[0], 0x35, 20);
    p.n_chains = 1;
    ak_u256_from_u64(&p.chains[0], 1);
    p.n_selectors = 1;
    memset(p.selector_to[0], 0x35, 20);
    p.n_domains = 1;
    p.domains[0].has_name = 1;
    p.n_delegates = 1;
    int ok = ak_policy_intent_ok(&p, in, &v);
    if (!ok && (v.rule == NULL || strnlen(v.why, sizeof v.why) == sizeof v.why))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[AK_INTENT_WHY_MAX];
    ak_intent in, again;
    payload(data, size);
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j == NULL)
        return 0;
    memset(why, 'x', sizeof why);
    ak_err err = ak_intent_parse(&in, j, why, sizeof why);
    if (strnlen(why, sizeof why) == sizeof why)
        abort();
    if (err != AK_OK) {
        /* cleared: nothing owned or borrowed left behind */
        if (why[0] == '\0' || err == AK_ERR_ARG || in.kind != 0 || in.payload != NULL ||
            in.message != NULL || in.typed_data != NULL || in.user_operation != NULL ||
            in.op.call_data != NULL || in.op.factory_data != NULL || in.op.paymaster_data != NULL ||
            in.op.signature != NULL)
            abort();
        cJSON_Delete(j);
        return 0;
    }
    judge(&in);
    cJSON *enc = ak_intent_to_json(&in);
    if (enc != NULL) {
        if (ak_intent_parse(&again, enc, why, sizeof why) != AK_OK || again.kind != in.kind ||
            memcmp(again.digest, in.digest, 32) != 0)
            abort();
        ak_intent_clear(&again);
        cJSON_Delete(enc);
    }
    ak_intent_clear(&in);
    cJSON_Delete(j);
    return 0;
}
