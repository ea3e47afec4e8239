/* fuzz_userop - libFuzzer target: arbitrary bytes as an ERC-4337 v0.7 UserOperation in JSON into
 * ak_userop_from_json, then every hash and layout function of ak_userop on what parsed, and the
 * raw bytes into ak_userop_vp_data_parse. Checks that a failed parse leaves the struct cleared
 * and that every success keeps its documented sizes. Seeds: tests/fuzz/corpus/userop/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ak_userop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ak_userop zero;
    static const uint8_t ep[20] = {1}, pm[20] = {2};
    uint64_t until, after;
    const uint8_t *sig;
    size_t sig_len, pad_len;
    if (ak_userop_vp_data_parse(&until, &after, &sig, &sig_len, data, size) == AK_OK &&
        (until > AK_USEROP_UINT48_MAX || after > AK_USEROP_UINT48_MAX || sig_len != size - 64))
        abort();
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j == NULL)
        return 0;
    ak_userop op;
    char why[64];
    ak_err rc = ak_userop_from_json(&op, j, why, sizeof(why));
    cJSON_Delete(j);
    if (rc != AK_OK) {
        if (memcmp(&op, &zero, sizeof(op)) != 0)
            abort();
        return 0;
    }
    uint8_t h[32], pad[AK_USEROP_PM_DATA_OFFSET + AK_USEROP_MAX_SMALL];
    ak_u256 cost, gas;
    if (ak_userop_vp_hash(h, &op, 1, pm, until & AK_USEROP_UINT48_MAX, 0) != AK_OK ||
        ak_userop_hash(h, &op, ep, 1) != AK_OK)
        abort(); /* every value was range-checked by the parser */
    if (op.has_paymaster &&
        (ak_userop_paymaster_and_data(pad, sizeof(pad), &pad_len, &op) != AK_OK ||
         pad_len != AK_USEROP_PM_DATA_OFFSET + op.paymaster_data_len))
        abort();
    if (ak_userop_max_cost(&cost, &gas, &op) != AK_OK && ak_u256_bits(&op.max_fee_per_gas) < 100)
        abort(); /* 5 x 2^128 gas x < 2^100 fee cannot overflow 256 bits */
    ak_userop_clear(&op);
    return 0;
}
