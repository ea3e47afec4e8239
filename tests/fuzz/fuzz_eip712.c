/* fuzz_eip712 - libFuzzer target: arbitrary bytes as eth_signTypedData_v4 JSON text into
 * ak_eip712_hash_json. Checks that every input either hashes or fails with a known error, and
 * that a failure leaves the result zeroed. Seeds: tests/fuzz/corpus/eip712/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_eip712.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ak_eip712_result zero;
    ak_eip712_result r;
    ak_err err = ak_eip712_hash_json(&r, (const char *)data, size);
    if (err == AK_OK)
        return 0;
    if (err != AK_ERR_EIP712 && err != AK_ERR_LIMIT && err != AK_ERR_JSON && err != AK_ERR_NOMEM)
        abort();
    if (memcmp(&r, &zero, sizeof(r)) != 0)
        abort();
    return 0;
}
