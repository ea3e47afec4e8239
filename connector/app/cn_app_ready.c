/*
 * cn_app_ready.c - the node at start-up (its chain id against --chain-id) and the readiness probe
 * behind GET /ready (see cn_app_ready.h).
 */
#include "cn_app_ready.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ak_hex.h"
#include "cn_log.h"
#include "rt_ticker.h"

typedef struct {
    cn_transport ds;
    cn_gens *gens;          /* the accounts of the generation in force */
    uint64_t chain_id;      /* the chain this connector signs for */
    atomic_int wrong_chain; /* the last probe saw the node on another chain (logged once) */
} ready_ctx;

/*
 * /ready answers from this cache (issue 18: an unauthenticated probe must not make the connector
 * call the key server or the node). One background thread refreshes it every refresh_ms, so the
 * calls /ready causes are bounded by time, whatever the number of probes.
 */
static struct {
    pthread_mutex_t lock; /* guards ok and detail */
    rt_ticker *ticker;    /* every refresh_ms: ready_refresh */
    ready_ctx ctx;
    int ok;
    char detail[256];
} g_ready = {.lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * scheme://host[:port] of a URL, for logs: node providers put API keys in the path or in
 * user:password@, and neither may reach a log line.
 */
void cn_app_url_origin(char *out, size_t cap, const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t auth_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', auth_len);
    if (at != NULL) {
        auth_len -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(out, cap, "%.*s%.*s", (int)(host == url ? 0 : strcspn(url, ":") + 3), url,
             (int)auth_len, host);
}

static ak_err node_chain_id(const cn_transport *t, uint64_t *out, char *why, size_t cap)
{
    cn_ds_reply rep;
    ak_err rc = cn_ds_call(t, &rep, "eth_chainId", NULL);
    if (rc == AK_OK) {
        if (!cJSON_IsString(rep.result) ||
            ak_quantity_parse_u64(out, rep.result->valuestring, strlen(rep.result->valuestring)) !=
                AK_OK ||
            *out == 0) {
            snprintf(why, cap, "malformed eth_chainId answer");
            rc = AK_ERR_UPSTREAM;
        }
    } else {
        snprintf(why, cap, "%s", rep.msg);
    }
    cn_ds_reply_free(&rep);
    return rc;
}

/* The shared state store /ready also checks (cn_app_ready_set_state), or NULL. */
static st_store *g_ready_state;

void cn_app_ready_set_state(st_store *st)
{
    g_ready_state = st;
}

static int ready_probe(void *ctx, char *detail, size_t cap)
{
    ready_ctx *r = ctx;
    uint64_t id = 0;
    char why[192] = "";
    if (node_chain_id(&r->ds, &id, why, sizeof(why)) != AK_OK) {
        snprintf(detail, cap, "downstream not reachable");
        return 0;
    }
    /* The node may have been unreachable at start-up (--chain-id taken unchecked) or been
     * replaced since: a node on another chain makes this connector not ready. */
    if (id != r->chain_id) {
        snprintf(detail, cap, "downstream is on chain %llu, this connector signs for chain %llu",
                 (unsigned long long)id, (unsigned long long)r->chain_id);
        if (atomic_exchange(&r->wrong_chain, 1) == 0)
            cn_log(CN_LOG_ERROR, "the downstream node is on another chain: not ready", "detail",
                   detail, (char *)NULL);
        return 0;
    }
    if (atomic_exchange(&r->wrong_chain, 0) == 1)
        cn_log(CN_LOG_INFO, "the downstream node is on the connector's chain again", (char *)NULL);
    cn_gen *g = cn_gens_acquire(r->gens);
    size_t n = g->acc.n;
    for (size_t i = 0; i < n; i++) {
        cn_signer *sg = g->acc.signers[i];
        cn_signer_health h;
        if (sg->ops->health(sg, &h) != AK_OK || !h.can_sign) {
            snprintf(detail, cap, "signer %zu (%s) cannot sign", i, sg->provider);
            cn_gens_release(r->gens, g);
            return 0;
        }
    }
    cn_gens_release(r->gens, g);
    if (g_ready_state != NULL) {
        char what[192] = "";
        if (st_ready(g_ready_state, what, sizeof(what)) != AK_OK) {
            snprintf(detail, cap, "state store not ready: %s", what);
            return 0;
        }
    }
    snprintf(detail, cap, "downstream and %zu signer(s) ok", n);
    return 1;
}

/* One probe, its result stored for ready_check. */
static void ready_refresh(void *arg)
{
    (void)arg;
    char detail[256] = "";
    int ok = ready_probe(&g_ready.ctx, detail, sizeof(detail));
    pthread_mutex_lock(&g_ready.lock);
    g_ready.ok = ok;
    memcpy(g_ready.detail, detail, sizeof(detail));
    pthread_mutex_unlock(&g_ready.lock);
}

int cn_app_ready_check(void *ctx, char *detail, size_t cap)
{
    (void)ctx;
    pthread_mutex_lock(&g_ready.lock);
    int ok = g_ready.ok;
    snprintf(detail, cap, "%s", g_ready.detail);
    pthread_mutex_unlock(&g_ready.lock);
    return ok;
}

ak_err cn_app_ready_start(const cn_transport *ds, cn_gens *gens, uint64_t chain_id,
                          unsigned refresh_ms)
{
    g_ready.ctx.ds = *ds;
    g_ready.ctx.gens = gens;
    g_ready.ctx.chain_id = chain_id;
    ready_refresh(NULL);
    return rt_ticker_start(&g_ready.ticker, refresh_ms, ready_refresh, NULL);
}

void cn_app_ready_stop(void)
{
    rt_ticker_stop(g_ready.ticker);
    g_ready.ticker = NULL;
}

ak_err cn_app_settle_chain_id(cn_options *o, const cn_transport *t)
{
    char why[192] = "";
    uint64_t id = 0;
    /* Without --chain-id the node is the only source: wait for it a little. */
    int attempts = o->chain_id ? 1 : 40;
    ak_err rc = AK_ERR_NETWORK;
    for (int i = 0; i < attempts; i++) {
        rc = node_chain_id(t, &id, why, sizeof(why));
        if (rc == AK_OK || (rc != AK_ERR_NETWORK && rc != AK_ERR_TIMEOUT))
            break;
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char a[24], b[24];
    snprintf(a, sizeof(a), "%llu", (unsigned long long)o->chain_id);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)id);
    if (rc != AK_OK) {
        if (o->chain_id == 0) {
            cn_log(CN_LOG_ERROR, "cannot learn the chain id from the downstream node", "reason",
                   why, (char *)NULL);
            return AK_ERR_CONFIG;
        }
        cn_log(CN_LOG_WARN, "downstream unreachable at start-up; using --chain-id unchecked",
               "chain_id", a, "reason", why, (char *)NULL);
        return AK_OK;
    }
    if (o->chain_id != 0 && o->chain_id != id) {
        cn_log(CN_LOG_ERROR, "--chain-id does not match the downstream node", "chain_id", a,
               "downstream_chain_id", b, (char *)NULL);
        return AK_ERR_CHAIN_ID;
    }
    o->chain_id = id;
    return AK_OK;
}
