/* fuzz_permit - libFuzzer target: arbitrary bytes as eth_signTypedData_v4 JSON text; when
 * ak_eip712_hash_json accepts it, ak_permit_decode and ak_policy_typed_ok (under a limited
 * policy) must neither crash nor break their contracts: a decode error leaves nothing decoded,
 * grants stay within AK_PERMIT_MAX_GRANTS, a refusal names a rule. Seeds: tests/fuzz/corpus/permit/
 * (the real permit structures of tests/unit/permit_vectors.js). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_eip712.h"
#include "ak_permit.h"
#include "ak_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ak_eip712_result h;
    ak_permit pm;
    ak_policy p;
    ak_policy_verdict v = {0};
    if (ak_eip712_hash_json(&h, (const char *)data, size) != AK_OK)
        return 0;
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (root == NULL)
        abort(); /* ak_eip712_hash_json parsed the same text */
    ak_err rc = ak_permit_decode(&pm, root);
    if (rc != AK_OK && rc != AK_ERR_EIP712 && rc != AK_ERR_LIMIT)
        abort();
    if (rc != AK_OK && (pm.kind != AK_PERMIT_NONE || pm.n != 0))
        abort();
    if (pm.n > AK_PERMIT_MAX_GRANTS || (pm.kind == AK_PERMIT_NONE && pm.n != 0))
        abort();
    ak_policy_init(&p);
    p.has_max_value = 1;
    ak_u256_from_u64(&p.max_value, 1000000);
    memset(p.to[0], 0x3f, 20);
    p.n_to = 1;
    p.allow_typed_data_without_chain_id = (size & 1) != 0;
    if (!ak_policy_typed_ok(&p, root, &h, &v) && (v.rule == NULL || v.why[0] == '\0'))
        abort();
    cJSON_Delete(root);
    return 0;
}
