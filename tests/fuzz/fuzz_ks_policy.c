/*
 * fuzz_ks_policy: arbitrary bytes as one key server "policy" object (ks_policy_parse, issue 11).
 * A parsed policy must respect its bounds (AK_POLICY_MAX_*), a cumulative cap has a window in
 * 1..KS_POLICY_MAX_WINDOW_S, and a refusal is AK_ERR_CONFIG (or AK_ERR_NOMEM) with a message
 * that names the field (starts with the `where` prefix). The same input through the shared
 * reader as the connector's accounts use it (AK_POLICY_CFG_MAX_TX): no intent-only member is
 * filled. Seeds: tests/fuzz/corpus/ks_policy/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ak_policy *p = NULL;
    char msg[512];
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j == NULL)
        return 0;
    msg[0] = '\0';
    ak_err err = ks_policy_parse(&p, j, "keys.k.policy", msg, sizeof msg);
    if (err == AK_OK) {
        if (p == NULL || p->n_to > AK_POLICY_MAX_TO || p->n_chains > AK_POLICY_MAX_CHAINS ||
            p->n_selectors > AK_POLICY_MAX_SELECTORS || p->n_domains > AK_POLICY_MAX_DOMAINS ||
            p->n_delegates > AK_POLICY_MAX_DELEGATES || p->n_tokens > AK_POLICY_MAX_TOKENS ||
            (p->has_cumulative_cap &&
             (p->cumulative_window_s < 1 || p->cumulative_window_s > KS_POLICY_MAX_WINDOW_S)))
            abort();
    } else if (p != NULL || (err != AK_ERR_CONFIG && err != AK_ERR_NOMEM) ||
               (err == AK_ERR_CONFIG && strncmp(msg, "keys.k.policy", 13) != 0)) {
        abort();
    }
    ks_policy_free(p);
    /* the same reader as the connector's accounts use it (cn_policy) */
    ak_policy cp;
    static const char *const extra[] = {"allowed_methods"};
    err = ak_policy_cfg_read(&cp, j, "policy", AK_POLICY_CFG_MAX_TX, extra, 1, msg, sizeof msg);
    if ((err == AK_OK && (cp.n_chains != 0 || cp.n_selectors != 0 || cp.n_domains != 0 ||
                          (cp.has_cumulative_cap && cp.cumulative_window_s == 0))) ||
        (err != AK_OK && (err != AK_ERR_CONFIG || strncmp(msg, "policy", 6) != 0)))
        abort();
    cJSON_Delete(j);
    return 0;
}
