/*
 * fuzz_json: ak_json's text checks on arbitrary bytes. ak_json_utf8_valid must agree with a
 * second, differently written reading of RFC 3629 section 4's well-formed byte sequences (the
 * table of first/second byte ranges); ak_json_has_bad_utf8 must report every invalid text; and
 * when the text parses, ak_json_check_keys must finish with one of its documented results.
 * Seeds: tests/fuzz/corpus/json/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 3629 section 4: UTF8-2 = C2-DF tail; UTF8-3 = E0 A0-BF tail / E1-EC 2tail / ED 80-9F
 * tail / EE-EF 2tail; UTF8-4 = F0 90-BF 2tail / F1-F3 3tail / F4 80-8F 2tail. */
static int reference_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t tails;
        uint8_t lo = 0x80, hi = 0xbf;
        if (b <= 0x7f) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            tails = 1;
        else if (b == 0xe0)
            tails = 2, lo = 0xa0;
        else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef)
            tails = 2;
        else if (b == 0xed)
            tails = 2, hi = 0x9f;
        else if (b == 0xf0)
            tails = 3, lo = 0x90;
        else if (b >= 0xf1 && b <= 0xf3)
            tails = 3;
        else if (b == 0xf4)
            tails = 3, hi = 0x8f;
        else
            return 0;
        if (n - i - 1 < tails || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= tails; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        i += tails + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int valid = ak_json_utf8_valid(data, size);
    if (valid != reference_valid(data, size))
        abort();
    if (!valid && !ak_json_has_bad_utf8((const char *)data, size))
        abort();
    (void)ak_json_has_nul((const char *)data, size);
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j != NULL) {
        ak_err err = ak_json_check_keys(j);
        if (err != AK_OK && err != AK_ERR_JSON && err != AK_ERR_LIMIT)
            abort();
        cJSON_Delete(j);
    }
    return 0;
}
