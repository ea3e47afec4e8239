/*
 * fuzz_cn_state_config.c - libFuzzer target for cn_state_cfg_parse, the strict parser of the
 * connector's "state" object (connector/state/cn_state.h), including libpq's url parser behind
 * it. Any bytes: no crash, no leak; an accepted config keeps the documented invariants, and a
 * memory one opens and closes (no I/O: a postgres one is never opened here).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cn_state.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 14)
        return 0;
    cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
    cn_state_cfg cfg;
    char err[256];
    err[0] = '\0';
    ak_err rc = cn_state_cfg_parse(&cfg, doc, err, sizeof(err));
    if (rc != AK_OK) {
        FUZZ_ASSERT(rc == AK_ERR_CONFIG && strncmp(err, "state", 5) == 0);
    } else if (cfg.backend == CN_STATE_MEMORY) {
        FUZZ_ASSERT(cfg.url[0] == '\0' && cfg.max_entries >= 1 &&
                    cfg.max_entries <= CN_STATE_ENTRIES_MAX);
        cn_state *st = NULL;
        if (cfg.max_entries <= 1024 && cn_state_open(&st, &cfg, NULL, err, sizeof(err)) == AK_OK)
            cn_state_close(st);
    } else {
        FUZZ_ASSERT(strncmp(cfg.url, "postgres", 8) == 0);
        FUZZ_ASSERT(cfg.pool_size >= 1 && cfg.pool_size <= CN_STATE_POOL_MAX);
        FUZZ_ASSERT(cfg.statement_timeout_ms >= 50 &&
                    cfg.statement_timeout_ms <= CN_STATE_TIMEOUT_MAX);
        FUZZ_ASSERT(cfg.tls_mode < CN_STATE_TLS_VERIFY_CA || cfg.root_cert[0] != '\0');
    }
    FUZZ_ASSERT(cfg.nonce_trust_ms <= CN_STATE_TRUST_MAX);
    cJSON_Delete(doc);
    return 0;
}
