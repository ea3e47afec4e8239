/* cn_nonce.c - per-sender nonce allocation and its in-process store (see cn_nonce.h). */
#include "cn_nonce.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cn_log.h"
#include "cn_metrics.h"

#define LOCAL_MAX 64

struct cn_nonce {
    const cn_nonce_store_ops *ops;
    void *st;
    unsigned retries;
    const rt_clock *clock;
};

/* ---- the in-process store: one slot per sender, made at start ---------------------------- */

typedef struct {
    uint8_t addr[20];
    pthread_mutex_t lock; /* held from begin to end */
    int have;
    uint64_t next;
    int64_t set_ms;
} slot;

/* Slots [0, n) are complete; only cn_nonce_add (one thread) appends, publishing n last. */
typedef struct {
    slot *s;
    size_t cap;
    _Atomic size_t n;
} local_store;

static slot *slot_of(local_store *l, const uint8_t addr[20])
{
    size_t n = atomic_load_explicit(&l->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (memcmp(l->s[i].addr, addr, 20) == 0)
            return &l->s[i];
    return NULL;
}

static ak_err local_begin(void *st, const uint8_t addr[20])
{
    slot *s = slot_of(st, addr);
    if (s == NULL)
        return AK_ERR_ARG;
    pthread_mutex_lock(&s->lock);
    return AK_OK;
}

static ak_err local_get(void *st, const uint8_t addr[20], int *have, uint64_t *next,
                        int64_t *set_ms)
{
    const slot *s = slot_of(st, addr);
    if (s == NULL)
        return AK_ERR_ARG;
    *have = s->have;
    *next = s->next;
    *set_ms = s->set_ms;
    return AK_OK;
}

static ak_err local_put(void *st, const uint8_t addr[20], uint64_t next, int64_t set_ms)
{
    slot *s = slot_of(st, addr);
    if (s == NULL)
        return AK_ERR_ARG;
    s->have = 1;
    s->next = next;
    s->set_ms = set_ms;
    return AK_OK;
}

static void local_end(void *st, const uint8_t addr[20])
{
    slot *s = slot_of(st, addr);
    if (s != NULL)
        pthread_mutex_unlock(&s->lock);
}

static void local_destroy(void *st)
{
    local_store *l = st;
    if (l == NULL)
        return;
    for (size_t i = 0; i < atomic_load(&l->n); i++)
        pthread_mutex_destroy(&l->s[i].lock);
    free(l->s);
    free(l);
}

static const cn_nonce_store_ops k_local = {local_begin, local_get, local_put, local_end,
                                           local_destroy};

ak_err cn_nonce_new_store(cn_nonce **out, const cn_nonce_store_ops *ops, void *st, unsigned retries,
                          const rt_clock *clock)
{
    cn_nonce *n = NULL;
    *out = NULL;
    if (retries > CN_NONCE_MAX_RETRIES) {
        ops->destroy(st);
        return AK_ERR_ARG;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        ops->destroy(st);
        return AK_ERR_NOMEM;
    }
    n->ops = ops;
    n->st = st;
    n->retries = retries;
    n->clock = clock != NULL ? clock : rt_clock_system();
    *out = n;
    return AK_OK;
}

/* An empty in-process store of cap slots. */
static local_store *local_new(size_t cap)
{
    local_store *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->s = calloc(cap, sizeof(*l->s));
    if (l->s == NULL) {
        free(l);
        return NULL;
    }
    l->cap = cap;
    return l;
}

/* Append the senders of addrs that have no slot yet (one thread at a time). */
static ak_err local_add(local_store *l, const uint8_t (*addrs)[20], size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (slot_of(l, addrs[i]) != NULL)
            continue;
        size_t n = atomic_load_explicit(&l->n, memory_order_relaxed);
        if (n == l->cap)
            return AK_ERR_RANGE;
        memcpy(l->s[n].addr, addrs[i], 20);
        l->s[n].have = 0;
        if (pthread_mutex_init(&l->s[n].lock, NULL) != 0)
            return AK_ERR_INTERNAL;
        atomic_store_explicit(&l->n, n + 1, memory_order_release);
    }
    return AK_OK;
}

ak_err cn_nonce_new(cn_nonce **out, const uint8_t (*addrs)[20], size_t n, unsigned retries,
                    const rt_clock *clock)
{
    *out = NULL;
    if (n == 0 || n > LOCAL_MAX)
        return AK_ERR_ARG;
    local_store *l = local_new(n);
    if (l == NULL)
        return AK_ERR_NOMEM;
    ak_err rc = local_add(l, addrs, n);
    if (rc != AK_OK) {
        local_destroy(l);
        return rc;
    }
    return cn_nonce_new_store(out, &k_local, l, retries, clock);
}

ak_err cn_nonce_new_shared(cn_nonce **out, size_t cap, unsigned retries, const rt_clock *clock)
{
    *out = NULL;
    if (cap == 0 || cap > CN_NONCE_SHARED_MAX)
        return AK_ERR_ARG;
    local_store *l = local_new(cap);
    if (l == NULL)
        return AK_ERR_NOMEM;
    return cn_nonce_new_store(out, &k_local, l, retries, clock);
}

ak_err cn_nonce_add(cn_nonce *n, const uint8_t (*addrs)[20], size_t count)
{
    if (n->ops != &k_local)
        return AK_ERR_ARG;
    return local_add(n->st, addrs, count);
}

void cn_nonce_free(cn_nonce *n)
{
    if (n == NULL)
        return;
    n->ops->destroy(n->st);
    free(n);
}

/* ---- allocation ----------------------------------------------------------------------------- */

int cn_nonce_retryable(const char *node_msg)
{
    static const char *const k[] = {"nonce too low", "already known",
                                    "replacement transaction underpriced",
                                    "transaction already imported"};
    char low[192];
    size_t i;
    for (i = 0; node_msg[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)node_msg[i]);
    low[i] = '\0';
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (strstr(low, k[i]) != NULL)
            return 1;
    return 0;
}

/* The nonce to try: our next one while it is fresh and ahead of the node, else the node's. */
static ak_err pick(const cn_nonce *n, const uint8_t addr[20], uint64_t pending, uint64_t *nonce)
{
    int have = 0;
    uint64_t next = 0;
    int64_t set_ms = 0;
    ak_err rc = n->ops->get(n->st, addr, &have, &next, &set_ms);
    if (rc != AK_OK)
        return rc;
    int fresh = have && rt_clock_mono_ms(n->clock) - set_ms < CN_NONCE_TRUST_MS;
    *nonce = fresh && next > pending ? next : pending;
    return AK_OK;
}

ak_err cn_nonce_run(cn_nonce *n, const uint8_t addr[20], cn_nonce_pending_fn pending,
                    cn_nonce_try_fn attempt, void *ctx, cn_rpc_err *e)
{
    ak_err rc = n->ops->begin(n->st, addr);
    if (rc != AK_OK) {
        cn_err_set(e, CN_E_INTERNAL, "nonce store unavailable: %s", ak_strerror(rc));
        return rc;
    }
    for (unsigned tries = 0;; tries++) {
        uint64_t node = 0, nonce = 0;
        int sent = 0, used = 0;
        if ((rc = pending(ctx, &node, e)) != AK_OK)
            break;
        if ((rc = pick(n, addr, node, &nonce)) != AK_OK) {
            cn_err_set(e, CN_E_INTERNAL, "nonce store unavailable: %s", ak_strerror(rc));
            break;
        }
        rc = attempt(ctx, nonce, &sent, &used, e);
        if (rc == AK_OK && !sent)
            break;
        if (rc != AK_OK && (!used || tries >= n->retries))
            break;
        if (n->ops->put(n->st, addr, nonce + 1, rt_clock_mono_ms(n->clock)) != AK_OK)
            cn_log(CN_LOG_WARN, "nonce store: the next nonce was not recorded", (char *)NULL);
        if (rc == AK_OK)
            break;
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(e->passthrough, "message"));
        cn_metrics_nonce_retry();
        cn_log(CN_LOG_INFO, "nonce refused by the node, retrying with a fresh one", "reason",
               why ? why : e->message, (char *)NULL);
        cn_err_clear(e);
    }
    n->ops->end(n->st, addr);
    return rc;
}
