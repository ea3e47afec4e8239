/*
 * ks_api.h - the key server's HTTP API semantics, independent of the HTTP library.
 *
 * ks_api_handle() takes one complete request (method, path, key_id query argument, body) from
 * a client whose certificate already verified (ks_tls_conn) and produces the status and JSON
 * body: POST /sign (single and {"requests":[...]} batch), GET|POST /pubkey, GET|POST /health,
 * GET /metrics. A sign item may carry an intent instead of (or besides) its digest: the digest
 * is then recomputed, judged by the key's policy and reserved against its cumulative cap
 * (ks_policy_req.h) before any HSM call; GET /health lists the intent kinds. Errors are
 * {"error":{"code":"<snake_case>","message":"..."}}; a key the client may not use and a key
 * that does not exist give the same 403 (same code, same message, same
 * audit outcome), so a client cannot probe for key ids. A body with a NUL (raw or \u0000) or a
 * key repeated in one object is 400 invalid_json (ak_json.h). Every signing decision is audited
 * before the reply is produced; if the audit record cannot be written the reply is 503 and
 * carries no signature.
 *
 * Generations (hot reload, ks_gen.h): with ctx->gens set, each call takes the current generation
 * once and uses its configuration, key handles, rate limits and caps for the whole request (a
 * reload during the request does not change what it sees); the client is found again in that
 * generation's clients by the certificate's CN and fingerprint. Without gens, ctx->cfg, keys,
 * rate and window are used as they are (tests).
 * HA pair (ctx->store, the "state" section): a capped item whose cumulative-cap reservation the
 * shared store cannot make (it does not answer) is 503 state_unavailable, audited as
 * "refused_state", with no HSM call; GET /health then carries "state" (the status stays the HSM's).
 * Ownership: ks_ctx is owned by the daemon (ks_main.c); ks_reply.body is malloc()ed by
 * ks_api_handle() and freed by the caller with free().
 * Limits: bodies are bounded by the HTTP layer (cfg->max_body); JSON nesting by
 * cfg->max_json_depth; a batch by cfg->max_batch; key ids by KS_KEY_ID_MAX; request ids by
 * KS_REQUEST_ID_MAX.
 */
#ifndef KS_API_H
#define KS_API_H

#include <stddef.h>

#include "ks_audit.h"
#include "ks_config.h"
#include "ks_gen.h"
#include "ks_metrics.h"
#include "ks_policy_req.h"
#include "ks_policy_window.h"
#include "ks_rate.h"
#include "ks_tls.h"
#include "p11_token.h"

#define KS_REQUEST_ID_MAX 128

typedef struct {
    const ks_config *cfg; /* with gens: the first generation's (restart-only settings) */
    p11_token *tok;
    p11_key **keys; /* cfg->n_keys handles, same order as cfg->keys */
    ks_audit *audit;
    ks_rate *rate;     /* per-client rate limits (NULL: none) */
    ks_window *window; /* cumulative caps (NULL: none configured) */
    ks_metrics metrics;
    ks_gens *gens;   /* NULL: cfg, keys, rate and window above are the configuration in force */
    st_store *store; /* the HA pair's shared store ("state"; opened once at start), or NULL */
} ks_ctx;

typedef struct {
    unsigned status;
    char *body; /* JSON or Prometheus text; free() */
    size_t len;
    const char *content_type;
    const char *allow; /* for 405: the Allow header value */
    ks_endpoint ep;
} ks_reply;

/* Never fails: allocation failures become a static 500 body (body NULL, len 0 -> caller
 * sends a fixed text). */
void ks_api_handle(ks_ctx *ctx, const ks_tls_conn *id, const char *method, const char *path,
                   const char *query_key_id, const char *body, size_t body_len, ks_reply *out);

/* The error reply for conditions found by the HTTP layer (413, 400 on a bad upload). */
void ks_api_error(ks_reply *out, unsigned status, const char *code, const char *message);

#endif
