/* cn_http.c - the connector's routes on net/cn_server (see cn_http.h). */
#include "cn_http.h"

#include <stdio.h>
#include <stdlib.h>

#include "cn_audit.h"
#include "cn_metrics.h"
#include "cn_server.h"
#include "cn_signer_manager.h"

_Static_assert(CN_SERVER_IDENTITY_MAX == CN_AUDIT_CLIENT_MAX, "the audit client fits");

struct cn_http {
    cn_server *srv;
    cn_http_config cfg;
};

/* JSON-RPC on generation g. */
static ak_err rpc_on(cn_gen *g, const cn_server_req *q, cn_server_resp *a)
{
    char *out = NULL;
    size_t out_len = 0;
    if (cn_rpc_handle_as(g->rpc, q->client, q->body, q->len, &out, &out_len) != AK_OK) {
        cn_server_resp_static(a, 500,
                              "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                              "\"message\":\"internal error: out of memory\"}}");
        return AK_OK;
    }
    if (out == NULL) /* only notifications: nothing to answer */
        cn_server_resp_static(a, 200, "");
    else
        cn_server_resp_take(a, 200, NULL, out, out_len);
    return AK_OK;
}

static ak_err route_rpc(void *ctx, const cn_server_req *q, cn_server_resp *a)
{
    const cn_http *h = ctx;
    cn_audit_set_client(q->identity);
    cn_gen *g = cn_gens_acquire(h->cfg.gens);
    ak_err rc = rpc_on(g, q, a);
    cn_gens_release(h->cfg.gens, g);
    return rc;
}

/* The paymaster's REST call, or JSON-RPC when this generation has no paymaster. */
static ak_err route_post(void *ctx, const cn_server_req *q, cn_server_resp *a)
{
    const cn_http *h = ctx;
    char *out = NULL;
    size_t out_len = 0;
    unsigned status = 500;
    ak_err rc = AK_OK;
    cn_audit_set_client(q->identity);
    cn_gen *g = cn_gens_acquire(h->cfg.gens);
    if (g->pm == NULL)
        rc = rpc_on(g, q, a);
    else if (cn_pm_rest_sponsor(g->pm, q->body, q->len, &out, &out_len, &status) != AK_OK)
        cn_server_resp_static(a, 500, "{\"error\":\"internal error: out of memory\"}");
    else
        cn_server_resp_take(a, status, NULL, out, out_len);
    cn_gens_release(h->cfg.gens, g);
    return rc;
}

static ak_err route_health(void *ctx, const cn_server_req *q, cn_server_resp *a)
{
    (void)ctx;
    (void)q;
    cn_server_resp_static(a, 200, "{\"status\":\"ok\"}");
    return AK_OK;
}

static ak_err route_ready(void *ctx, const cn_server_req *q, cn_server_resp *a)
{
    const cn_http *h = ctx;
    if (q->draining) {
        cn_server_resp_static(a, 503, "{\"status\":\"not ready\",\"detail\":\"draining\"}");
        return AK_OK;
    }
    char detail[256] = "", *body = malloc(384);
    int ok = h->cfg.ready ? h->cfg.ready(h->cfg.ready_ctx, detail, sizeof(detail)) : 1;
    if (body == NULL)
        return AK_ERR_NOMEM;
    /* detail is produced by our own code: no quotes or backslashes in it. */
    int n = snprintf(body, 384, "{\"status\":\"%s\",\"detail\":\"%s\"}", ok ? "ready" : "not ready",
                     detail);
    cn_server_resp_take(a, ok ? 200 : 503, NULL, body, n > 0 && n < 384 ? (size_t)n : 0);
    return AK_OK;
}

static ak_err route_metrics(void *ctx, const cn_server_req *q, cn_server_resp *a)
{
    char *text = NULL;
    size_t len = 0;
    (void)ctx;
    (void)q;
    ak_err rc = cn_metrics_render(&text, &len);
    if (rc == AK_OK)
        cn_server_resp_take(a, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    return rc;
}

static ak_err route_signers(void *ctx, const cn_server_req *q, cn_server_resp *a)
{
    const cn_http *h = ctx;
    char *text = NULL;
    size_t len = 0;
    (void)q;
    cn_gen *g = cn_gens_acquire(h->cfg.gens);
    ak_err rc = cn_signer_manager_status_json(g->acc.signers, g->acc.n, &text, &len);
    cn_gens_release(h->cfg.gens, g);
    if (rc == AK_OK)
        cn_server_resp_take(a, 200, NULL, text, len);
    return rc;
}

ak_err cn_http_start(cn_http **out, const cn_http_config *cfg, char *err, size_t err_cap)
{
    cn_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return AK_ERR_NOMEM;
    h->cfg = *cfg;
    h->cfg.server.tls_cert_pem = h->cfg.server.tls_key_pem = NULL;
    /* First match wins: the paymaster's exact path before the JSON-RPC catch-all. */
    cn_route routes[6];
    size_t n = 0;
    routes[n++] = (cn_route){"POST", "/api/v1/paymaster/sponsor", CN_PATH_RPC, 1, route_post, h};
    routes[n++] = (cn_route){"POST", NULL, CN_PATH_RPC, 1, route_rpc, h};
    routes[n++] = (cn_route){"GET", "/health", CN_PATH_HEALTH, 0, route_health, h};
    routes[n++] = (cn_route){"GET", "/ready", CN_PATH_READY, 0, route_ready, h};
    routes[n++] = (cn_route){"GET", "/metrics", CN_PATH_METRICS, 1, route_metrics, h};
    routes[n++] = (cn_route){"GET", "/signers", CN_PATH_SIGNERS, 1, route_signers, h};
    cn_server_config sc = cfg->server;
    sc.identify = cn_audit_enabled();
    sc.routes = routes;
    sc.n_routes = n;
    ak_err rc = cn_server_start(&h->srv, &sc, err, err_cap);
    if (rc != AK_OK) {
        free(h);
        return rc;
    }
    *out = h;
    return AK_OK;
}

unsigned cn_http_port(const cn_http *h)
{
    return cn_server_port(h->srv);
}

const cn_auth *cn_http_swap_auth(cn_http *h, const cn_auth *auth)
{
    return cn_server_swap_auth(h->srv, auth);
}

size_t cn_http_drain(cn_http *h, unsigned timeout_ms)
{
    return cn_server_drain(h->srv, timeout_ms);
}

void cn_http_stop(cn_http *h)
{
    if (h == NULL)
        return;
    cn_server_stop(h->srv);
    free(h);
}
