/*
 * fuzz_cn_pm_config.c - libFuzzer target for cn_pm_conf_parse, the strict reader of the
 * connector's "paymaster" section (connector/paymaster/cn_pm_config.h): addresses and their
 * EIP-55 checksums, per-chain addresses, the lists and their bounds, the two daily caps in wei.
 * Any bytes: no crash, no leak; a refusal names "paymaster..."; an accepted section keeps the
 * documented bounds and finds its account among the signers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cn_pm_config.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The account the corpus names: 0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F. */
    static const uint8_t k_addr[20] = {0x9d, 0x8a, 0x62, 0xf6, 0x56, 0xa8, 0xd1, 0x61, 0x5c, 0x12,
                                       0x94, 0xfd, 0x71, 0xe9, 0xcf, 0xb3, 0xe4, 0x85, 0x5a, 0x4f};
    cn_signer signer, *signers[1] = {&signer};
    cn_pm_conf c;
    char err[256];
    if (size > 1 << 16)
        return 0;
    memset(&signer, 0, sizeof(signer));
    memcpy(signer.address, k_addr, 20);
    cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
    err[0] = '\0';
    ak_err rc = cn_pm_conf_parse(&c, doc, signers, 1, 31337, err, sizeof(err));
    if (rc != AK_OK) {
        FUZZ_ASSERT(rc == AK_ERR_CONFIG || rc == AK_ERR_NOMEM);
        FUZZ_ASSERT(rc != AK_ERR_CONFIG || strncmp(err, "paymaster", 9) == 0);
        FUZZ_ASSERT(c.senders == NULL && c.signer == NULL);
    } else {
        FUZZ_ASSERT(c.signer == &signer);
        FUZZ_ASSERT(c.n_chains >= 1 && c.n_chains <= CN_PM_MAX_CHAINS);
        FUZZ_ASSERT(c.n_entry_points >= 1 && c.n_entry_points <= CN_PM_MAX_ENTRY_POINTS);
        FUZZ_ASSERT(c.all_senders || c.n_senders <= CN_PM_MAX_SENDERS);
        FUZZ_ASSERT(c.validity_s >= 10 && c.skew_s <= 3600);
        for (size_t i = 0; i < c.n_chains; i++)
            FUZZ_ASSERT(c.chains[i] != 0 && cn_pm_conf_chain(&c, c.chains[i]) >= 0);
        FUZZ_ASSERT(cn_pm_conf_has_entry_point(&c, c.entry_points[0]));
    }
    cn_pm_conf_clear(&c);
    cJSON_Delete(doc);
    return 0;
}
