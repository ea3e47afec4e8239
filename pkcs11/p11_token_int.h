/*
 * p11_token_int.h - internals of p11_token shared by p11_token.c (open/close, keys, the session
 * pool and its worker threads, fault recovery) and p11_token_many.c (p11_token_sign_many).
 * Not a public API: only these two files include it. See p11_token.c for the design.
 */
#ifndef P11_TOKEN_INT_H
#define P11_TOKEN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "p11_module.h"
#include "p11_token.h"

#define P11_DEFAULT_SESSIONS   8
#define P11_MAX_SESSIONS       1024
#define P11_DEFAULT_TIMEOUT_MS 5000
#define P11_MAX_KEYS           1024
#define P11_WORKER_STACK       (256 * 1024)

struct p11_key {
    p11_key *next;
    _Atomic CK_OBJECT_HANDLE priv;
    char label[P11_LABEL_MAX + 1];
    int has_label;
    uint8_t id[P11_ID_MAX];
    size_t id_len;
    int has_id;
    uint8_t pub[65];
    uint8_t addr[20];
};

enum { JOB_NONE, JOB_SIGN, JOB_HEALTH };
enum { SLOT_IDLE, SLOT_BUSY, SLOT_DONE };

typedef struct {
    p11_token *t;
    unsigned index;
    pthread_t thr;
    int thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;     /* SLOT_*, under mu */
    int abandoned; /* the caller gave up waiting: the worker releases the slot */
    int quit;
    int job;
    /* the session: touched only by the thread that holds the slot (caller or worker) */
    CK_SESSION_HANDLE sess;
    unsigned gen;
    unsigned long mod_gen; /* the module generation sess belongs to (p11_module_reinit) */
    /* job data, owned by the slot so that an abandoned job has somewhere to write */
    p11_key *key;
    uint8_t digest[32];
    uint8_t rs[64];
    ak_err result;
    struct p11_batch *batch; /* p11_token_sign_many: whom to tell when done (NULL = run_job) */
} p11_slot;

/* One p11_token_sign_many call: its workers count completions here (under mu). */
typedef struct p11_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned completed; /* jobs finished since the caller last looked */
} p11_batch;

struct p11_token {
    p11_module *mod;
    CK_FUNCTION_LIST *f;
    char label[P11_LABEL_MAX + 1];
    int by_label;
    _Atomic CK_SLOT_ID slot_id;
    char *pin; /* ak_secure_alloc, pin_len + 1 bytes */
    size_t pin_len;
    unsigned max_sessions;
    unsigned op_timeout_ms;
    _Atomic int inline_calls; /* p11_token_set_inline: HSM calls on the caller's thread */

    p11_slot *slots;
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    unsigned *free_stack; /* indexes of idle slots; top = most recently used */
    unsigned nfree;

    pthread_mutex_t rec_mu; /* token-level recovery, the anchor session and the key list */
    CK_SESSION_HANDLE anchor;
    _Atomic unsigned gen;
    p11_key *keys;
    unsigned nkeys;

    _Atomic uint64_t sign_ok, sign_errors, reconnects, timeouts;
    _Atomic unsigned sessions_open, sessions_in_use;
    _Atomic CK_RV last_rv;
    /* module re-initialisation (p11_token_reinit.c) */
    _Atomic unsigned long mod_gen;    /* module generation the anchor and key handles belong to */
    _Atomic long long next_reinit_ms; /* monotonic ms before which no re-initialisation */
    _Atomic unsigned reinit_backoff_ms;
    _Atomic int pin_rejected; /* the token refused our PIN: never retry it (it could lock) */
};

/* Shared helpers (p11_token.c). Pool: acquire waits for a free slot until dl (AK_ERR_BUSY). */
struct timespec p11i_deadline_after_ms(unsigned ms);
int p11i_deadline_passed(const struct timespec *dl);
int p11i_init_cond(pthread_cond_t *cv); /* CLOCK_MONOTONIC; 0 on success */
AK_WUR ak_err p11i_pool_acquire(p11_token *t, p11_slot **out, const struct timespec *dl);
void p11i_pool_release(p11_token *t, p11_slot *sl);
AK_WUR ak_err p11i_slot_start_worker(p11_slot *sl); /* by the thread that holds the slot */

/* Re-initialisation policy (p11_token_reinit.c). */
#define P11_REINIT_BACKOFF_MIN_MS 250
#define P11_REINIT_BACKOFF_MAX_MS 2000
/* 1 if a re-initialisation may be tried now (and the next one is pushed back). */
int p11i_reinit_due(p11_token *t);
/* A job succeeded: the next fault starts the back-off again from its minimum. */
void p11i_reinit_reset(p11_token *t);

#endif
