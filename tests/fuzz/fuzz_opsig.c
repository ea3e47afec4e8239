/*
 * fuzz_opsig: arbitrary bytes as the params object of opsigner_signBlockPayload (V1) and
 * opsigner_signBlockPayloadV2 (ak_opsig_block_v1/v2_from_json). Each parse either succeeds, and
 * then the signing hash is computed, or fails with AK_ERR_JSON / AK_ERR_NOMEM, a zeroed result
 * and a non-empty, NUL-terminated `why`. Seeds: tests/fuzz/corpus/opsig/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_opsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(int v2, const cJSON *j)
{
    static const ak_opsig_block zero;
    ak_opsig_block b;
    uint8_t h[32];
    char why[96];
    memset(why, 'x', sizeof why);
    ak_err err = v2 ? ak_opsig_block_v2_from_json(&b, j, why, sizeof why)
                    : ak_opsig_block_v1_from_json(&b, j, why, sizeof why);
    if (strnlen(why, sizeof why) == sizeof why)
        abort();
    if (err == AK_OK) {
        if (why[0] != '\0')
            abort();
        ak_opsig_signing_hash(h, &b);
        return;
    }
    if ((err != AK_ERR_JSON && err != AK_ERR_NOMEM) || why[0] == '\0' ||
        memcmp(&b, &zero, sizeof b) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j == NULL)
        return 0;
    one(0, j);
    one(1, j);
    cJSON_Delete(j);
    return 0;
}
