/* ks_gen.c - configuration generations and their atomic swap (see ks_gen.h). */
#include "ks_gen.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_secmem.h"
#include "p11_uri.h"

struct ks_gens {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ks_gen *cur;
    int swapping; /* 1: new requests wait (the cap totals are being handed over) */
};

/* The settings only a restart can change: name, and whether a and b differ. */
static const char *restart_only(const ks_config *a, const ks_config *b)
{
#define KS_DIFF_STR(f, name)                                                                       \
    if (strcmp(a->f, b->f) != 0)                                                                   \
        return name;
#define KS_DIFF(f, name)                                                                           \
    if (a->f != b->f)                                                                              \
        return name;
    KS_DIFF_STR(listen_address, "listen.address")
    KS_DIFF(port, "listen.port")
    KS_DIFF_STR(tls_cert, "tls.cert")
    KS_DIFF_STR(tls_key, "tls.key")
    KS_DIFF_STR(tls_client_ca, "tls.client_ca")
    KS_DIFF_STR(tls_crl, "tls.crl")
    KS_DIFF(tls_crl_required, "tls.crl_required")
    KS_DIFF_STR(tls_client_issuers, "tls.client_issuers")
    KS_DIFF_STR(module, "pkcs11.module")
    KS_DIFF_STR(token_label, "pkcs11.token_label")
    KS_DIFF_STR(pin_file, "pkcs11.pin_file")
    KS_DIFF_STR(pin_env, "pkcs11.pin_env")
    KS_DIFF(max_sessions, "pkcs11.max_sessions")
    KS_DIFF(op_timeout_ms, "pkcs11.op_timeout_ms")
    KS_DIFF(bounded_calls, "pkcs11.bounded_calls")
    KS_DIFF_STR(audit_file, "audit.file")
    KS_DIFF(audit_fsync, "audit.fsync")
    KS_DIFF(audit_interval_ms, "audit.fsync")
    KS_DIFF_STR(audit_anchor_file, "audit.anchor_file")
    KS_DIFF(audit_anchor_ms, "audit.anchor_interval_ms")
    KS_DIFF(max_body, "limits.max_body")
    KS_DIFF(max_connections, "limits.max_connections")
    KS_DIFF(max_per_ip, "limits.max_per_ip")
    KS_DIFF(connection_timeout_s, "limits.connection_timeout_s")
    KS_DIFF(connection_memory, "limits.connection_memory")
    KS_DIFF(threads, "limits.threads")
    KS_DIFF(handshake_timeout_s, "limits.handshake_timeout_s")
    KS_DIFF(header_timeout_s, "limits.header_timeout_s")
    KS_DIFF(max_unauth_per_ip, "limits.max_unauthenticated_per_ip")
    KS_DIFF(max_unauth, "limits.max_unauthenticated")
    KS_DIFF_STR(user, "user")
    KS_DIFF(allow_insecure_secret_files, "allow_insecure_secret_files")
    /* the shared store is opened once, at start */
    KS_DIFF(has_state, "state")
    KS_DIFF_STR(state.url, "state.url")
    KS_DIFF_STR(state.password_file, "state.password_file")
    KS_DIFF(state.tls_mode, "state.tls.mode")
    KS_DIFF_STR(state.root_cert, "state.tls.root_cert")
    KS_DIFF_STR(state.cert, "state.tls.cert")
    KS_DIFF_STR(state.key, "state.tls.key")
    KS_DIFF(state.pool_size, "state.pool_size")
    KS_DIFF(state.statement_timeout_ms, "state.statement_timeout_ms")
    KS_DIFF(state.migrate, "state.migrate")
#undef KS_DIFF
#undef KS_DIFF_STR
    return NULL;
}

/* prev's handle for key i of cfg when its id and URI are unchanged, else NULL. */
static p11_key *reuse_key(const ks_gen *prev, const ks_key_cfg *k)
{
    if (prev == NULL)
        return NULL;
    long j = ks_config_key_index(prev->cfg, k->key_id, strlen(k->key_id));
    if (j < 0 || strcmp(prev->cfg->keys[j].uri, k->uri) != 0)
        return NULL;
    return prev->keys[j];
}

static AK_WUR ak_err find_keys(ks_gen *g, p11_token *tok, const ks_gen *prev, char *msg, size_t cap)
{
    ak_err err = AK_OK;
    char m[256];
    p11_uri uri;
    for (size_t i = 0; i < g->cfg->n_keys && err == AK_OK; i++) {
        const ks_key_cfg *k = &g->cfg->keys[i];
        g->keys[i] = reuse_key(prev, k);
        if (g->keys[i] != NULL)
            continue;
        m[0] = '\0';
        err = p11_uri_parse(&uri, k->uri, strlen(k->uri), m, sizeof m);
        if (err == AK_OK)
            err = p11_token_find_key(tok, &g->keys[i], &uri, m, sizeof m);
        p11_uri_clear(&uri);
        if (err != AK_OK)
            snprintf(msg, cap, "keys.%s: %s", k->key_id, m[0] ? m : ak_strerror(err));
    }
    return err;
}

/* The generation's capped keys reserve in the shared store, by their addresses. */
static ak_err use_store(ks_gen *g, st_store *store, char *msg, size_t msg_cap)
{
    const uint8_t **addr = calloc(g->cfg->n_keys ? g->cfg->n_keys : 1, sizeof *addr);
    if (addr == NULL) {
        snprintf(msg, msg_cap, "out of memory");
        return AK_ERR_NOMEM;
    }
    for (size_t i = 0; i < g->cfg->n_keys; i++)
        addr[i] = g->keys[i] != NULL ? p11_key_address(g->keys[i]) : NULL;
    ks_window_use_store(g->window, store, addr);
    free((void *)addr);
    return AK_OK;
}

ak_err ks_gen_build(ks_gen **out, ks_config *cfg, p11_token *tok, const ks_config *base,
                    const ks_gen *prev, char *msg, size_t msg_cap)
{
    return ks_gen_build_st(out, cfg, tok, base, prev, prev != NULL ? prev->store : NULL, msg,
                           msg_cap);
}

ak_err ks_gen_build_st(ks_gen **out, ks_config *cfg, p11_token *tok, const ks_config *base,
                       const ks_gen *prev, st_store *store, char *msg, size_t msg_cap)
{
    ak_err err = AK_ERR_NOMEM;
    const char *what = NULL;
    ks_gen *g = calloc(1, sizeof *g);
    *out = NULL;
    if (g == NULL) {
        ks_config_free(cfg);
        snprintf(msg, msg_cap, "out of memory");
        goto out;
    }
    g->cfg = cfg;
    if (base != NULL && (what = restart_only(base, cfg)) != NULL) {
        snprintf(msg, msg_cap, "%s changed: it needs a restart", what);
        err = AK_ERR_CONFIG;
        goto out;
    }
    g->keys = calloc(cfg->n_keys ? cfg->n_keys : 1, sizeof *g->keys); /* NOLINT */
    if (g->keys == NULL || ks_rate_new(&g->rate, cfg) != AK_OK) {
        snprintf(msg, msg_cap, "out of memory");
        goto out;
    }
    err = find_keys(g, tok, prev, msg, msg_cap);
    if (err != AK_OK)
        goto out;
    g->store = store;
    /* the audit log is replayed only by a single key server (no shared store) at start */
    if (prev == NULL && store == NULL) {
        err = ks_window_start(&g->window, cfg, msg, msg_cap);
    } else if ((err = ks_window_open(&g->window, cfg, NULL)) != AK_OK) {
        snprintf(msg, msg_cap, "out of memory");
    }
    if (err == AK_OK && store != NULL)
        err = use_store(g, store, msg, msg_cap);
out:
    if (err != AK_OK) {
        ks_gen_free(g);
        return err;
    }
    *out = g;
    return AK_OK;
}

void ks_gen_free(ks_gen *g)
{
    if (g == NULL)
        return;
    ks_window_free(g->window);
    ks_rate_free(g->rate);
    free(g->keys); /* the handles belong to the token */
    ks_config_free(g->cfg);
    free(g);
}

void ks_gen_client(const ks_config *cfg, const char *cn, const uint8_t fp[32], long *cn_client,
                   long *fp_client)
{
    *cn_client = *fp_client = -1;
    for (size_t i = 0; i < cfg->n_clients; i++) {
        const ks_client_cfg *cl = &cfg->clients[i];
        if (cl->by_fingerprint && *fp_client < 0 && ak_ct_equal(cl->fp, fp, 32))
            *fp_client = (long)i;
        if (!cl->by_fingerprint && *cn_client < 0 && cn[0] != '\0' && strcmp(cl->cn, cn) == 0)
            *cn_client = (long)i;
    }
}

ak_err ks_gens_new(ks_gens **out, ks_gen *first)
{
    ks_gens *s = calloc(1, sizeof *s);
    *out = NULL;
    if (s == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    first->number = 1;
    first->refs = 1; /* the "current" reference */
    s->cur = first;
    *out = s;
    return AK_OK;
}

void ks_gens_free(ks_gens *s)
{
    if (s == NULL)
        return;
    ks_gen_free(s->cur);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

ks_gen *ks_gens_acquire(ks_gens *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->swapping)
        pthread_cond_wait(&s->cv, &s->mu);
    ks_gen *g = s->cur;
    g->refs++;
    pthread_mutex_unlock(&s->mu);
    return g;
}

void ks_gens_release(ks_gens *s, ks_gen *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    unsigned left = --g->refs;
    if (left <= 1)
        pthread_cond_broadcast(&s->cv); /* a swap may be waiting for the last request */
    pthread_mutex_unlock(&s->mu);
    if (left == 0)
        ks_gen_free(g);
}

const ks_gen *ks_gens_current(ks_gens *s)
{
    return s->cur; /* written only by the swapping thread, which is the caller */
}

int ks_gens_swap(ks_gens *s, ks_gen *next)
{
    int quiet = 1;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += KS_GEN_QUIESCE_MS / 1000;
    pthread_mutex_lock(&s->mu);
    ks_gen *old = s->cur;
    s->swapping = 1;
    while (old->refs > 1 && quiet)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            quiet = 0;
    ks_window_carry(next->window, old->window);
    next->number = old->number + 1;
    next->refs = 1;
    s->cur = next;
    s->swapping = 0;
    unsigned left = --old->refs;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (left == 0)
        ks_gen_free(old);
    return quiet;
}
