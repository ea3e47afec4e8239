/* fuzz_eip712 - libFuzzer target: arbitrary bytes as eth_signTypedData_v4 JSON text into
 * ak_eip712_hash_json_why. Checks that every input either hashes or fails with a known error,
 * that a failure leaves the result zeroed and writes a non-empty, NUL-terminated `why` with no
 * control character in it, that success empties `why`, and that ak_eip712_hash_json agrees.
 * Seeds: tests/fuzz/corpus/eip712/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_eip712.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ak_eip712_result zero;
    ak_eip712_result r, r2;
    char why[AK_EIP712_WHY_MAX];
    size_t n;
    memset(why, 'x', sizeof why);
    ak_err err = ak_eip712_hash_json_why(&r, (const char *)data, size, why, sizeof why);
    if (ak_eip712_hash_json(&r2, (const char *)data, size) != err || memcmp(&r, &r2, sizeof r) != 0)
        abort();
    n = strnlen(why, sizeof why);
    if (n == sizeof why)
        abort(); /* not NUL-terminated */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)why[i] < 0x20 || why[i] == 0x7f)
            abort();
    if (err == AK_OK)
        return n == 0 ? 0 : (abort(), 0);
    if (n == 0)
        abort();
    if (err != AK_ERR_EIP712 && err != AK_ERR_LIMIT && err != AK_ERR_JSON && err != AK_ERR_NOMEM)
        abort();
    if (memcmp(&r, &zero, sizeof(r)) != 0)
        abort();
    return 0;
}
