/*
 * p11_token.c - a logged-in PKCS#11 token, its secp256k1 keys, a bounded session pool and
 * fault recovery (see p11_token.h for the contract).
 *
 * Why raw PKCS#11 and not libp11: fault recovery needs the CK_RV of each failed call (libp11
 * maps them away), and concurrency needs one session per in-flight signature (libp11's
 * session handling is not fully thread-safe). bench/bench_p11_paths.c measures the cost.
 *
 * Deadlines. A PKCS#11 call cannot be interrupted (C_SessionCancel is PKCS#11 3.0, which
 * SoftHSM 2.6 and most deployed modules lack), so every pool slot has its own worker thread
 * (started on first use) and the HSM calls of a signature - including recovery and the retry -
 * run on it. The caller hands the job over and waits on a condition variable until the
 * deadline; if it passes, the caller gets AK_ERR_TIMEOUT and the slot is quarantined (not lent
 * to anyone) until the hung call returns, after which the worker puts it back. A module that
 * never returns therefore costs one slot for good, and p11_token_close() waits for it.
 * The hand-over costs two thread wake-ups per signature; bench_p11_paths shows it against raw.
 *
 * Recovery levels (rv_level): "session" errors drop this slot's session and open a new one
 * (logging in again if the token forgot the login); "token" errors additionally find the token
 * again by label, log in and re-find every key by its label/id, checking the public key is
 * unchanged, and bump a generation counter so that every other slot re-opens its session
 * lazily. Either way the operation is retried once. The token-level work is serialised by
 * rec_mu and skipped if another thread already did it since our failure.
 *
 * p11_token_sign_many (several items at once over the pool) is in p11_token_many.c; the types
 * and pool helpers both files use are in p11_token_int.h. A slot whose job belongs to such a
 * batch reports completion to the batch (slot_worker) instead of to a waiting run_job caller.
 */
#include "p11_token.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_addr.h"
#include "ak_secmem.h"
#include "ak_sig.h"
#include "p11_module.h"
#include "p11_token_int.h"

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* ---- recovery classification ---------------------------------------------------------------- */

enum { LEVEL_NONE, LEVEL_SESSION, LEVEL_TOKEN };

static int rv_level(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_OPERATION_ACTIVE: /* a stale operation left on a session */
    case CKR_OPERATION_NOT_INITIALIZED:
        return LEVEL_SESSION;
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
    case CKR_SLOT_ID_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_SESSION_COUNT:
    case CKR_CRYPTOKI_NOT_INITIALIZED: /* the module lost its state: re-initialise it */
        return LEVEL_TOKEN;
    default:
        return LEVEL_NONE;
    }
}

/* ---- time ------------------------------------------------------------------------------------ */

struct timespec p11i_deadline_after_ms(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int p11i_deadline_passed(const struct timespec *dl)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > dl->tv_sec || (now.tv_sec == dl->tv_sec && now.tv_nsec >= dl->tv_nsec);
}

int p11i_init_cond(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

/* ---- module re-initialisation back-off --------------------------------------------------------
 */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int p11i_reinit_due(p11_token *t)
{
    long long now = mono_ms();
    long long next = atomic_load(&t->next_reinit_ms);
    unsigned b = atomic_load(&t->reinit_backoff_ms);
    if (now < next)
        return 0;
    b = b == 0 ? P11_REINIT_BACKOFF_MIN_MS : b * 2;
    if (b > P11_REINIT_BACKOFF_MAX_MS)
        b = P11_REINIT_BACKOFF_MAX_MS;
    if (!atomic_compare_exchange_strong(&t->next_reinit_ms, &next, now + b))
        return 0; /* another thread took this turn */
    atomic_store(&t->reinit_backoff_ms, b);
    return 1;
}

void p11i_reinit_reset(p11_token *t)
{
    if (atomic_load(&t->reinit_backoff_ms) != 0) {
        atomic_store(&t->reinit_backoff_ms, 0);
        atomic_store(&t->next_reinit_ms, 0);
    }
}

/* ---- sessions and recovery (run on the thread holding the slot) ----------------------------- */

/*
 * p11_open_login with the token's PIN, but never again once the token has refused it: every
 * retry with a wrong PIN would count towards locking the user PIN.
 */
static CK_RV token_open_session(p11_token *t, CK_SESSION_HANDLE *s, CK_SLOT_ID slot)
{
    CK_RV rv = CKR_OK;
    ak_err e;
    if (atomic_load(&t->pin_rejected))
        return CKR_PIN_INCORRECT;
    e = p11_open_login(t->f, s, &rv, slot, 0, t->pin, t->pin_len);
    if (e == AK_ERR_PIN)
        atomic_store(&t->pin_rejected, 1);
    if (e != AK_OK) {
        *s = CK_INVALID_HANDLE;
        return rv != CKR_OK ? rv : CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

static void slot_drop_session(p11_slot *sl)
{
    if (sl->sess != CK_INVALID_HANDLE) {
        /* a handle from before a module re-initialisation may now name someone else's
         * session: forget it, never close it */
        if (sl->mod_gen == p11_module_gen(sl->t->mod))
            (void)sl->t->f->C_CloseSession(sl->sess);
        sl->sess = CK_INVALID_HANDLE;
        atomic_fetch_sub(&sl->t->sessions_open, 1);
    }
}

static CK_RV slot_ensure_session(p11_slot *sl)
{
    p11_token *t = sl->t;
    unsigned g = atomic_load(&t->gen);
    unsigned long mg = p11_module_gen(t->mod);
    CK_RV rv = CKR_OK;
    if (sl->sess != CK_INVALID_HANDLE && sl->gen == g && sl->mod_gen == mg)
        return CKR_OK;
    slot_drop_session(sl);
    rv = token_open_session(t, &sl->sess, atomic_load(&t->slot_id));
    if (rv != CKR_OK)
        return rv;
    sl->gen = g;
    sl->mod_gen = mg;
    atomic_fetch_add(&t->sessions_open, 1);
    return CKR_OK;
}

/*
 * Token-level re-establishment after a LEVEL_TOKEN fault seen at generation seen_gen: find the
 * token again, log in, re-find every key and check its public key is unchanged.
 */
static void token_reestablish(p11_token *t, unsigned seen_gen)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_SLOT_ID slot = atomic_load(&t->slot_id);
    CK_RV rv = CKR_OK;
    p11_key *k;
    unsigned long mg = p11_module_gen(t->mod); /* stable: we hold the module's shared lock */
    int stale = atomic_load(&t->mod_gen) != mg;

    pthread_mutex_lock(&t->rec_mu);
    if (stale)
        t->anchor = CK_INVALID_HANDLE; /* void since the module was re-initialised: not closed */
    if (atomic_load(&t->gen) != seen_gen && !stale)
        goto out; /* another thread recovered since our failure */
    if (t->by_label && p11_find_slot_by_label(t->f, &slot, &rv, t->label) != AK_OK)
        goto out;
    if (token_open_session(t, &s, slot) != CKR_OK)
        goto out;
    for (k = t->keys; k != NULL; k = k->next) {
        CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
        uint8_t pub[65];
        /*
         * The token is back but this key is gone, or another key now has its name: the old
         * handle may name a different object on the new token, so it must not be used again.
         * An invalid handle makes the next signature fail with CKR_KEY_HANDLE_INVALID, which
         * brings us back here to look again.
         */
        if (p11_ec_key_lookup(t->f, s, k->has_label ? k->label : NULL, k->has_id ? k->id : NULL,
                              k->id_len, &h, pub, NULL, 0) != AK_OK ||
            memcmp(pub, k->pub, 65) != 0)
            h = CK_INVALID_HANDLE;
        atomic_store(&k->priv, h);
    }
    atomic_store(&t->slot_id, slot);
    if (t->anchor != CK_INVALID_HANDLE)
        (void)t->f->C_CloseSession(t->anchor);
    t->anchor = s; /* the new session keeps the login and the new object handles alive */
    s = CK_INVALID_HANDLE;
    atomic_store(&t->mod_gen, mg);
    atomic_fetch_add(&t->gen, 1);
    atomic_fetch_add(&t->reconnects, 1);
out:
    if (s != CK_INVALID_HANDLE)
        (void)t->f->C_CloseSession(s);
    pthread_mutex_unlock(&t->rec_mu);
}

static ak_err rv_to_err(CK_RV rv, int retried)
{
    if (rv_level(rv) != LEVEL_NONE || retried)
        return AK_ERR_HSM_UNAVAILABLE;
    return AK_ERR_HSM;
}

/*
 * Past the normal retry, a token-level fault (the token stays absent, CKR_CRYPTOKI_NOT_INITIALIZED,
 * device errors) re-initialises the module (C_Finalize + C_Initialize), at most once per back-off
 * interval (P11_REINIT_BACKOFF_*), then finds the token and its keys again. Called with the
 * module's shared lock held; gives it up while waiting for the exclusive one. 1: done, retry.
 */
static int slot_try_reinit(p11_slot *sl)
{
    p11_token *t = sl->t;
    CK_RV rv = CKR_OK;
    unsigned long mg = p11_module_gen(t->mod);
    unsigned wait = t->op_timeout_ms < 2000 ? t->op_timeout_ms : 2000;
    if (!p11i_reinit_due(t))
        return 0;
    p11_module_leave(t->mod);
    ak_err e = p11_module_reinit(t->mod, mg, wait, &rv);
    p11_module_enter(t->mod);
    if (e != AK_OK) {
        if (rv != CKR_OK)
            atomic_store(&t->last_rv, rv);
        return 0;
    }
    atomic_fetch_add(&t->reconnects, 1);
    slot_drop_session(sl); /* void now: forgotten, not closed */
    token_reestablish(t, atomic_load(&t->gen));
    return 1;
}

/* One attempt's PKCS#11 work on the slot's session. */
static CK_RV slot_attempt(p11_slot *sl)
{
    p11_token *t = sl->t;
    CK_FUNCTION_LIST *f = t->f;
    CK_RV rv;
    /* After a module re-initialisation the key handles are void until the token and its keys
     * are found again: never sign with one (its number may name another object now). */
    if (atomic_load(&t->mod_gen) != p11_module_gen(t->mod)) {
        token_reestablish(t, atomic_load(&t->gen));
        if (atomic_load(&t->mod_gen) != p11_module_gen(t->mod))
            return CKR_TOKEN_NOT_PRESENT;
    }
    rv = slot_ensure_session(sl);
    if (rv != CKR_OK)
        return rv;
    if (sl->job == JOB_SIGN)
        return p11_sign_ecdsa(f, sl->sess, atomic_load(&sl->key->priv), sl->digest, sl->rs);
    CK_SESSION_INFO si;
    CK_TOKEN_INFO ti;
    rv = f->C_GetSessionInfo(sl->sess, &si);
    if (rv == CKR_OK)
        rv = f->C_GetTokenInfo(atomic_load(&t->slot_id), &ti);
    return rv;
}

/* Called with the module's shared lock held. */
static ak_err slot_run_job_locked(p11_slot *sl)
{
    p11_token *t = sl->t;
    int reinit_done = 0;

    for (int attempt = 0;; attempt++) {
        unsigned g = atomic_load(&t->gen);
        CK_RV rv = slot_attempt(sl);
        if (rv == CKR_OK) {
            if (sl->job == JOB_SIGN)
                atomic_fetch_add(&t->sign_ok, 1);
            p11i_reinit_reset(t);
            return AK_OK;
        }
        atomic_store(&t->last_rv, rv);
        int level = rv_level(rv);
        if (level == LEVEL_NONE && sl->sess == CK_INVALID_HANDLE)
            return AK_ERR_HSM_UNAVAILABLE; /* no session and nothing to recover (PIN refused) */
        if (sl->job == JOB_SIGN)
            atomic_fetch_add(&t->sign_errors, 1);
        if (level == LEVEL_TOKEN && attempt >= 1 && !reinit_done && slot_try_reinit(sl)) {
            reinit_done = 1;
            continue;
        }
        if (level == LEVEL_NONE || attempt >= 1)
            return rv_to_err(rv, attempt >= 1);
        slot_drop_session(sl);
        if (level == LEVEL_TOKEN)
            token_reestablish(t, g);
        else
            atomic_fetch_add(&t->reconnects, 1);
    }
}

/* The job of a slot: sign (or health-check) with one recovery + retry, and a module
 * re-initialisation + one more retry when the token-level recovery did not help. */
static ak_err slot_run_job(p11_slot *sl)
{
    ak_err e;
    p11_module_enter(sl->t->mod);
    e = slot_run_job_locked(sl);
    p11_module_leave(sl->t->mod);
    return e;
}

/* ---- pool ------------------------------------------------------------------------------------ */

void p11i_pool_release(p11_token *t, p11_slot *sl)
{
    pthread_mutex_lock(&t->pool_mu);
    t->free_stack[t->nfree++] = sl->index;
    atomic_fetch_sub(&t->sessions_in_use, 1);
    pthread_cond_signal(&t->pool_cv);
    pthread_mutex_unlock(&t->pool_mu);
}

AK_WUR ak_err p11i_pool_acquire(p11_token *t, p11_slot **out, const struct timespec *dl)
{
    ak_err e = AK_OK;
    pthread_mutex_lock(&t->pool_mu);
    while (t->nfree == 0) {
        int rc = pthread_cond_timedwait(&t->pool_cv, &t->pool_mu, dl);
        if (rc == ETIMEDOUT && t->nfree == 0) {
            e = AK_ERR_BUSY;
            goto out;
        }
    }
    *out = &t->slots[t->free_stack[--t->nfree]];
    atomic_fetch_add(&t->sessions_in_use, 1);
out:
    pthread_mutex_unlock(&t->pool_mu);
    return e;
}

static void *slot_worker(void *arg)
{
    p11_slot *sl = arg;
    pthread_mutex_lock(&sl->mu);
    for (;;) {
        ak_err r;
        while (sl->state != SLOT_BUSY && !sl->quit)
            pthread_cond_wait(&sl->cv, &sl->mu);
        if (sl->quit)
            break;
        pthread_mutex_unlock(&sl->mu);
        r = slot_run_job(sl);
        pthread_mutex_lock(&sl->mu);
        sl->result = r;
        if (sl->abandoned) {
            /* the caller is gone: wipe the job and give the slot back ourselves */
            sl->abandoned = 0;
            sl->state = SLOT_IDLE;
            ak_wipe(sl->rs, sizeof(sl->rs));
            pthread_mutex_unlock(&sl->mu);
            p11i_pool_release(sl->t, sl);
            pthread_mutex_lock(&sl->mu);
        } else if (sl->batch != NULL) {
            /* still holding sl->mu: the caller cannot see SLOT_DONE (and free the batch)
             * before we are done with it */
            p11_batch *b = sl->batch;
            sl->state = SLOT_DONE;
            pthread_mutex_lock(&b->mu);
            b->completed++;
            pthread_cond_signal(&b->cv);
            pthread_mutex_unlock(&b->mu);
        } else {
            /* woken after the unlock, the caller does not wake into a mutex we still hold (a
             * second sleep and wake on its path: ~0.05 ms at one request in flight). A late
             * wake-up of the slot's next job is harmless: every wait re-checks the state. */
            sl->state = SLOT_DONE;
            pthread_mutex_unlock(&sl->mu);
            pthread_cond_broadcast(&sl->cv);
            pthread_mutex_lock(&sl->mu);
        }
    }
    pthread_mutex_unlock(&sl->mu);
    return NULL;
}

AK_WUR ak_err p11i_slot_start_worker(p11_slot *sl)
{
    pthread_attr_t a;
    int rc;
    if (sl->thr_started)
        return AK_OK;
    if (pthread_attr_init(&a) != 0)
        return AK_ERR_INTERNAL;
    (void)pthread_attr_setstacksize(&a, P11_WORKER_STACK);
    rc = pthread_create(&sl->thr, &a, slot_worker, sl);
    pthread_attr_destroy(&a);
    if (rc != 0)
        return AK_ERR_NOMEM;
    sl->thr_started = 1;
    return AK_OK;
}

/*
 * Run a job on a pooled slot within the token's deadline. during (may be NULL) runs on the
 * caller's thread while the worker makes the HSM call (before the call in inline mode); if it
 * fails, its error is returned and the job's result is never read (the slot is quarantined
 * like a timed-out one until the call returns, then the worker releases it).
 */
static AK_WUR ak_err run_job(p11_token *t, int job, p11_key *k, const uint8_t digest[32],
                             uint8_t rs[64], p11_during_fn during, void *during_arg)
{
    struct timespec dl = p11i_deadline_after_ms(t->op_timeout_ms);
    p11_slot *sl = NULL;
    ak_err e = p11i_pool_acquire(t, &sl, &dl);
    if (e != AK_OK) {
        atomic_fetch_add(&t->timeouts, 1);
        return e;
    }
    if (atomic_load(&t->inline_calls)) {
        /* the deadline bounded the wait for a session; the call itself is not bounded */
        if (during != NULL && (e = during(during_arg)) != AK_OK) {
            p11i_pool_release(t, sl);
            return e;
        }
        sl->job = job;
        sl->key = k;
        if (digest != NULL)
            memcpy(sl->digest, digest, 32);
        e = slot_run_job(sl);
        if (e == AK_OK && rs != NULL)
            memcpy(rs, sl->rs, 64);
        ak_wipe(sl->rs, sizeof(sl->rs));
        p11i_pool_release(t, sl);
        return e;
    }
    e = p11i_slot_start_worker(sl); /* the slot is ours: nobody else touches thr_started */
    if (e != AK_OK) {
        p11i_pool_release(t, sl);
        return e;
    }
    pthread_mutex_lock(&sl->mu);
    sl->job = job;
    sl->key = k;
    if (digest != NULL)
        memcpy(sl->digest, digest, 32);
    sl->state = SLOT_BUSY;
    pthread_mutex_unlock(&sl->mu);
    pthread_cond_broadcast(&sl->cv); /* after the unlock, as the worker's answer (slot_worker) */
    if (during != NULL) {
        ak_err de = during(during_arg); /* overlaps the HSM call */
        pthread_mutex_lock(&sl->mu);
        if (de != AK_OK) {
            if (sl->state == SLOT_DONE) {
                ak_wipe(sl->rs, sizeof(sl->rs));
                sl->state = SLOT_IDLE;
                pthread_mutex_unlock(&sl->mu);
                p11i_pool_release(t, sl);
            } else {
                sl->abandoned = 1; /* the worker wipes the answer and releases the slot */
                pthread_mutex_unlock(&sl->mu);
            }
            return de;
        }
    } else {
        pthread_mutex_lock(&sl->mu);
    }
    while (sl->state != SLOT_DONE) {
        int rc = pthread_cond_timedwait(&sl->cv, &sl->mu, &dl);
        if (rc == ETIMEDOUT && sl->state != SLOT_DONE) {
            sl->abandoned = 1; /* quarantined: the worker releases it when the call returns */
            pthread_mutex_unlock(&sl->mu);
            atomic_fetch_add(&t->timeouts, 1);
            return AK_ERR_TIMEOUT;
        }
    }
    e = sl->result;
    if (e == AK_OK && rs != NULL)
        memcpy(rs, sl->rs, 64);
    ak_wipe(sl->rs, sizeof(sl->rs));
    sl->state = SLOT_IDLE;
    pthread_mutex_unlock(&sl->mu);
    p11i_pool_release(t, sl);
    return e;
}

/* ---- public API ------------------------------------------------------------------------------ */

ak_err p11_token_open(p11_token **out, const p11_token_config *cfg, char *err_msg, size_t err_cap)
{
    p11_token *t = NULL;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_SLOT_ID slot = 0;
    CK_RV rv = CKR_OK;
    ak_err e = AK_OK;

    if (err_msg != NULL && err_cap > 0)
        err_msg[0] = '\0';
    if (out == NULL || cfg == NULL || cfg->module_path == NULL ||
        (cfg->token_label == NULL && !cfg->has_slot_id) || cfg->pin == NULL || cfg->pin_len == 0 ||
        cfg->pin_len > P11_PIN_MAX || cfg->max_sessions > P11_MAX_SESSIONS ||
        (cfg->token_label != NULL && strlen(cfg->token_label) > 32)) {
        set_msg(err_msg, err_cap,
                "PKCS#11 token config: module path, token label (<= 32 bytes) or slot id, and a "
                "PIN (1..%d bytes) are required; max_sessions <= %d",
                P11_PIN_MAX, P11_MAX_SESSIONS);
        return AK_ERR_ARG;
    }
    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return AK_ERR_NOMEM;
    t->anchor = CK_INVALID_HANDLE;
    t->max_sessions = cfg->max_sessions ? cfg->max_sessions : P11_DEFAULT_SESSIONS;
    t->op_timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : P11_DEFAULT_TIMEOUT_MS;
    pthread_mutex_init(&t->pool_mu, NULL);
    pthread_mutex_init(&t->rec_mu, NULL);
    if (p11i_init_cond(&t->pool_cv) != 0) {
        free(t);
        return AK_ERR_INTERNAL;
    }
    t->pin_len = cfg->pin_len;
    t->pin = ak_secure_alloc(cfg->pin_len + 1);
    t->slots = calloc(t->max_sessions, sizeof(*t->slots));
    t->free_stack = calloc(t->max_sessions, sizeof(*t->free_stack));
    if (t->pin == NULL || t->slots == NULL || t->free_stack == NULL) {
        e = AK_ERR_NOMEM;
        goto out;
    }
    memcpy(t->pin, cfg->pin, cfg->pin_len);
    for (unsigned i = 0; i < t->max_sessions; i++) {
        p11_slot *sl = &t->slots[i];
        sl->t = t;
        sl->index = i;
        sl->sess = CK_INVALID_HANDLE;
        pthread_mutex_init(&sl->mu, NULL);
        if (p11i_init_cond(&sl->cv) != 0) {
            e = AK_ERR_INTERNAL;
            goto out;
        }
        /* slot 0 on top of the stack: the most recently used slot is reused first */
        t->free_stack[t->max_sessions - 1 - i] = i;
    }
    t->nfree = t->max_sessions;

    e = p11_module_load(&t->mod, cfg->module_path, err_msg, err_cap);
    if (e != AK_OK)
        goto out;
    t->f = p11_module_functions(t->mod);
    atomic_store(&t->mod_gen, p11_module_gen(t->mod));
    if (cfg->token_label != NULL) {
        snprintf(t->label, sizeof(t->label), "%s", cfg->token_label);
        t->by_label = 1;
        e = p11_find_slot_by_label(t->f, &slot, &rv, t->label);
        if (e != AK_OK) {
            if (e == AK_ERR_CONFIG)
                set_msg(err_msg, err_cap, "more than one token is labelled '%s'", t->label);
            else
                set_msg(err_msg, err_cap, "no token labelled '%s' in %s (%s)", t->label,
                        cfg->module_path, p11_rv_name(rv));
            goto out;
        }
    } else {
        CK_TOKEN_INFO ti;
        slot = cfg->slot_id;
        rv = t->f->C_GetTokenInfo(slot, &ti);
        if (rv != CKR_OK) {
            set_msg(err_msg, err_cap, "no token in slot %lu: %s", (unsigned long)slot,
                    p11_rv_name(rv));
            e = AK_ERR_HSM_UNAVAILABLE;
            goto out;
        }
    }
    atomic_store(&t->slot_id, slot);
    /* The anchor session: proves the PIN now and keeps the login and the object handles alive
     * while pool sessions come and go (SoftHSM, for one, forgets both when a slot's last
     * session closes). Pool sessions are opened on first use. */
    e = p11_open_login(t->f, &s, &rv, slot, 0, t->pin, t->pin_len);
    if (e != AK_OK) {
        set_msg(err_msg, err_cap, "%s: %s",
                e == AK_ERR_PIN ? "login refused (PIN)" : "cannot open a session / log in",
                p11_rv_name(rv));
        goto out;
    }
    t->anchor = s;
    *out = t;
    t = NULL;
out:
    if (t != NULL)
        p11_token_close(t);
    return e;
}

void p11_token_close(p11_token *t)
{
    p11_key *k, *next;
    if (t == NULL)
        return;
    if (t->slots != NULL) {
        for (unsigned i = 0; i < t->max_sessions; i++) {
            p11_slot *sl = &t->slots[i];
            if (sl->thr_started) {
                pthread_mutex_lock(&sl->mu);
                sl->quit = 1;
                pthread_cond_broadcast(&sl->cv);
                pthread_mutex_unlock(&sl->mu);
                pthread_join(sl->thr, NULL); /* waits for a hung call to return */
            }
            if (t->f != NULL)
                slot_drop_session(sl);
            pthread_mutex_destroy(&sl->mu);
            pthread_cond_destroy(&sl->cv);
        }
    }
    if (t->f != NULL && t->anchor != CK_INVALID_HANDLE &&
        atomic_load(&t->mod_gen) == p11_module_gen(t->mod))
        (void)t->f->C_CloseSession(t->anchor);
    for (k = t->keys; k != NULL; k = next) {
        next = k->next;
        free(k);
    }
    p11_module_release(t->mod);
    if (t->pin != NULL)
        ak_secure_free(t->pin, t->pin_len + 1);
    free(t->slots);
    free(t->free_stack);
    pthread_mutex_destroy(&t->pool_mu);
    pthread_mutex_destroy(&t->rec_mu);
    pthread_cond_destroy(&t->pool_cv);
    free(t);
}

ak_err p11_token_find_key(p11_token *t, p11_key **out, const p11_uri *uri, char *err_msg,
                          size_t err_cap)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    p11_key *k = NULL;
    CK_RV rv = CKR_OK;
    ak_err e;
    static const uint8_t probe[32] = {0x61, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x6b, 0x65,
                                      0x79, 0x6c, 0x65, 0x73, 0x73, 0x20, 0x73, 0x65,
                                      0x6c, 0x66, 0x2d, 0x74, 0x65, 0x73, 0x74};
    uint8_t rs[64];
    ak_sig sig;

    if (err_msg != NULL && err_cap > 0)
        err_msg[0] = '\0';
    if (t == NULL || out == NULL || uri == NULL || (!uri->has_object && !uri->has_id)) {
        set_msg(err_msg, err_cap, "key URI must name the key by 'object' and/or 'id'");
        return AK_ERR_ARG;
    }
    if (t->nkeys >= P11_MAX_KEYS) {
        set_msg(err_msg, err_cap, "more than %d keys", P11_MAX_KEYS);
        return AK_ERR_LIMIT;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return AK_ERR_NOMEM;
    if (uri->has_object) {
        snprintf(k->label, sizeof(k->label), "%s", uri->object);
        k->has_label = 1;
    }
    if (uri->has_id) {
        memcpy(k->id, uri->id, uri->id_len);
        k->id_len = uri->id_len;
        k->has_id = 1;
    }
    p11_module_enter(t->mod);
    e = p11_open_login(t->f, &s, &rv, atomic_load(&t->slot_id), 0, t->pin, t->pin_len);
    if (e != AK_OK) {
        set_msg(err_msg, err_cap, "cannot open a session: %s", p11_rv_name(rv));
        s = CK_INVALID_HANDLE;
        goto out;
    }
    e = p11_ec_key_lookup(t->f, s, k->has_label ? k->label : NULL, k->has_id ? k->id : NULL,
                          k->id_len, &h, k->pub, err_msg, err_cap);
    if (e != AK_OK)
        goto out;
    /* Self-test: the private key must sign for this public key (a mismatched pair would make
     * every signature unrecoverable). One signature per key at start-up. */
    rv = p11_sign_ecdsa(t->f, s, h, probe, rs);
    if (rv != CKR_OK) {
        set_msg(err_msg, err_cap, "test signature with the key failed: %s", p11_rv_name(rv));
        e = AK_ERR_KEY_TYPE;
        goto out;
    }
    e = ak_sig_from_raw64(&sig, rs, probe, k->pub);
    if (e != AK_OK) {
        set_msg(err_msg, err_cap,
                "the key's test signature does not verify against its public key (CKA_EC_POINT "
                "belongs to another key?)");
        e = AK_ERR_KEY_TYPE;
        goto out;
    }
    atomic_store(&k->priv, h);
    ak_addr_from_pubkey(k->addr, k->pub);
    pthread_mutex_lock(&t->rec_mu);
    k->next = t->keys;
    t->keys = k;
    t->nkeys++;
    pthread_mutex_unlock(&t->rec_mu);
    *out = k;
    k = NULL;
out:
    if (s != CK_INVALID_HANDLE)
        (void)t->f->C_CloseSession(s);
    p11_module_leave(t->mod);
    free(k);
    return e;
}

const uint8_t *p11_key_pubkey(const p11_key *k)
{
    return k->pub;
}

const uint8_t *p11_key_address(const p11_key *k)
{
    return k->addr;
}

ak_err p11_token_sign_raw(p11_token *t, p11_key *k, const uint8_t digest[32], uint8_t rs[64])
{
    if (t == NULL || k == NULL || digest == NULL || rs == NULL)
        return AK_ERR_ARG;
    return run_job(t, JOB_SIGN, k, digest, rs, NULL, NULL);
}

ak_err p11_token_sign(p11_token *t, p11_key *k, const uint8_t digest[32], uint8_t *der,
                      size_t der_cap, size_t *der_len)
{
    return p11_token_sign_during(t, k, digest, der, der_cap, der_len, NULL, NULL);
}

ak_err p11_token_sign_during(p11_token *t, p11_key *k, const uint8_t digest[32], uint8_t *der,
                             size_t der_cap, size_t *der_len, p11_during_fn during,
                             void *during_arg)
{
    uint8_t rs[64];
    ak_err e;
    if (t == NULL || k == NULL || digest == NULL || der == NULL || der_len == NULL)
        return AK_ERR_ARG;
    e = run_job(t, JOB_SIGN, k, digest, rs, during, during_arg);
    if (e == AK_OK)
        e = ak_der_sig_encode(der, der_cap, der_len, rs, rs + 32);
    ak_wipe(rs, sizeof(rs));
    return e;
}

ak_err p11_token_health(p11_token *t)
{
    if (t == NULL)
        return AK_ERR_ARG;
    return run_job(t, JOB_HEALTH, NULL, NULL, NULL, NULL, NULL);
}

void p11_token_stats_get(p11_token *t, p11_token_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (t == NULL)
        return;
    out->sign_ok = atomic_load(&t->sign_ok);
    out->sign_errors = atomic_load(&t->sign_errors);
    out->reconnects = atomic_load(&t->reconnects);
    out->timeouts = atomic_load(&t->timeouts);
    out->sessions_open = atomic_load(&t->sessions_open);
    out->sessions_in_use = atomic_load(&t->sessions_in_use);
    out->max_sessions = t->max_sessions;
}

void p11_token_set_inline(p11_token *t, int on)
{
    if (t != NULL)
        atomic_store(&t->inline_calls, on != 0);
}

unsigned long p11_token_last_rv(p11_token *t)
{
    return t != NULL ? (unsigned long)atomic_load(&t->last_rv) : 0;
}

const char *p11_token_rv_name(unsigned long rv)
{
    return p11_rv_name((CK_RV)rv);
}
