/*
 * fuzz_ks_config.c - the key server's configuration parser (ks_config_load) on hostile text.
 *
 * The input is the whole configuration file (an in-memory file, see fz_memfile.h). Whatever
 * loads must satisfy the documented invariants: 1..KS_MAX_KEYS keys with valid, distinct ids
 * and a URI, 1..KS_MAX_CLIENTS clients whose key indexes are in range, exactly one PIN source,
 * and limits within their ranges. ks_config_read_pin() is not called: a fuzzed pin_file could
 * name a FIFO or a terminal. Seeds name /dev/null for the files that must be readable.
 */
#include <stdint.h>
#include <string.h>

#include "fz_memfile.h"
#include "ks_config.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static fz_memfile fz_file;

static void check_config(const ks_config *c)
{
    FUZZ_ASSERT(c->n_keys >= 1 && c->n_keys <= KS_MAX_KEYS);
    FUZZ_ASSERT(c->n_clients >= 1 && c->n_clients <= KS_MAX_CLIENTS);
    for (size_t i = 0; i < c->n_keys; i++) {
        size_t l = strlen(c->keys[i].key_id);
        FUZZ_ASSERT(l >= 1 && l <= KS_KEY_ID_MAX && c->keys[i].uri != NULL);
        FUZZ_ASSERT(ks_config_key_index(c, c->keys[i].key_id, l) == (long)i);
    }
    for (size_t i = 0; i < c->n_clients; i++) {
        const ks_client_cfg *cl = &c->clients[i];
        FUZZ_ASSERT(cl->by_fingerprint || cl->cn[0] != '\0');
        for (size_t k = 0; k < cl->n_keys; k++)
            FUZZ_ASSERT(cl->key_idx[k] < c->n_keys);
    }
    FUZZ_ASSERT((c->pin_file[0] != '\0') != (c->pin_env[0] != '\0'));
    FUZZ_ASSERT(c->port <= 65535 && c->max_sessions >= 1 && c->max_sessions <= 256);
    FUZZ_ASSERT(c->max_batch >= 1 && c->max_batch <= 4096);
    FUZZ_ASSERT(c->max_json_depth >= 2 && c->max_json_depth <= 64);
    FUZZ_ASSERT(c->max_body >= 256 && c->max_body <= 16 * 1024 * 1024);
    FUZZ_ASSERT(c->audit_fsync == KS_FSYNC_ALWAYS ||
                (c->audit_interval_ms >= 1 && c->audit_interval_ms <= 10000));
    /* the key server takes only a postgres store, with a url and a bounded pool */
    FUZZ_ASSERT(!c->has_state || (c->state.backend == ST_POSTGRES && c->state.url[0] != '\0' &&
                                  c->state.pool_size >= 1 && c->state.pool_size <= ST_POOL_MAX));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[KS_MSG_MAX];
    ks_config *c = NULL;
    if (fz_file.path[0] == '\0')
        fz_memfile_init(&fz_file, "fuzz_ks_config");
    if (size > 256 * 1024)
        return 0;
    fz_memfile_set(&fz_file, data, size);
    msg[0] = '\0';
    ak_err e = ks_config_load(&c, fz_file.path, msg, sizeof msg);
    if (e == AK_OK) {
        FUZZ_ASSERT(c != NULL);
        check_config(c);
    } else {
        FUZZ_ASSERT(c == NULL);
        FUZZ_ASSERT(e != AK_ERR_CONFIG || (msg[0] != '\0' && memchr(msg, '\0', sizeof msg)));
    }
    ks_config_free(c);
    return 0;
}
