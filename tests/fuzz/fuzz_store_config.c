/*
 * fuzz_store_config.c - libFuzzer target for st_cfg_parse, the strict parser of the
 * connector's "state" object (store/st_store.h), including libpq's url parser behind
 * it. Any bytes: no crash, no leak; an accepted config keeps the documented invariants, and a
 * memory one opens and closes (no I/O: a postgres one is never opened here).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "st_store.h"

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
    st_cfg cfg;
    char err[256];
    err[0] = '\0';
    ak_err rc = st_cfg_parse(&cfg, doc, err, sizeof(err));
    if (rc != AK_OK) {
        FUZZ_ASSERT(rc == AK_ERR_CONFIG && strncmp(err, "state", 5) == 0);
    } else if (cfg.backend == ST_MEMORY) {
        FUZZ_ASSERT(cfg.url[0] == '\0' && cfg.max_entries >= 1 &&
                    cfg.max_entries <= ST_ENTRIES_MAX);
        st_store *st = NULL;
        if (cfg.max_entries <= 1024 && st_open(&st, &cfg, NULL, err, sizeof(err)) == AK_OK)
            st_close(st);
    } else {
        FUZZ_ASSERT(strncmp(cfg.url, "postgres", 8) == 0);
        FUZZ_ASSERT(cfg.pool_size >= 1 && cfg.pool_size <= ST_POOL_MAX);
        FUZZ_ASSERT(cfg.statement_timeout_ms >= 50 && cfg.statement_timeout_ms <= ST_TIMEOUT_MAX);
        FUZZ_ASSERT(cfg.tls_mode < ST_TLS_VERIFY_CA || cfg.root_cert[0] != '\0');
    }
    FUZZ_ASSERT(cfg.nonce_trust_ms <= ST_TRUST_MAX);
    cJSON_Delete(doc);
    return 0;
}
