/* cn_nonce_state.c - nonces and spend reservations from the shared store (see cn_nonce_state.h). */
#include "cn_nonce_state.h"

#include "cn_log.h"
#include "cn_metrics.h"

/* Give back what one failed attempt reserved (both calls are harmless when already done). */
static void give_back(st_store *st, uint64_t chain_id, const uint8_t addr[20], uint64_t nonce,
                      int nonce_too, const st_resv *resv)
{
    if (nonce_too && st_nonce_release(st, NULL, chain_id, addr, nonce) != AK_OK)
        cn_log(CN_LOG_WARN,
               "state store: a nonce was not given back (re-used after the trust window)",
               (char *)NULL);
    if (st_release(st, resv) != AK_OK)
        cn_log(CN_LOG_WARN, "state store: a spend reservation was not released", (char *)NULL);
}

static void reserve_error(cn_rpc_err *e, ak_err rc, const st_resv *resv)
{
    if (rc == AK_ERR_UNAVAILABLE)
        cn_err_set(e, CN_E_INTERNAL, "%s", ST_UNAVAILABLE_MSG);
    else if (rc == AK_ERR_FORBIDDEN)
        cn_err_set(e, CN_E_POLICY, "transaction rejected by the account's policy: %s",
                   st_deny_rule(resv->deny));
    else
        cn_err_set(e, CN_E_INTERNAL, "state store: %s", ak_strerror(rc));
}

/*
 * Begin the reservation (nonce NULL: the spend alone), run prep meanwhile, end it. AK_OK: *nonce
 * and *resv reserved. prep failed: everything the reservation took given back, prep's error.
 */
static ak_err reserve(st_store *st, uint64_t *nonce, st_resv *resv, uint64_t chain_id,
                      const uint8_t addr[20], uint64_t node, const ak_u256 *value,
                      const st_spend_limit *lim, cn_spend_fn prep, void *ctx, cn_rpc_err *e)
{
    st_op *op = NULL;
    ak_err rc = nonce != NULL ? st_tx_reserve_begin(st, &op, chain_id, addr, node, value, lim)
                              : st_spend_reserve_begin(st, &op, addr, value, lim);
    if (rc != AK_OK) {
        reserve_error(e, rc, resv);
        return rc;
    }
    ak_err prep_rc = prep != NULL ? prep(ctx, e) : AK_OK;
    rc = st_reserve_end(op, nonce, resv); /* every begun reservation ends, prep or not */
    if (prep_rc != AK_OK) {
        if (rc == AK_OK)
            give_back(st, chain_id, addr, nonce != NULL ? *nonce : 0, nonce != NULL, resv);
        return prep_rc;
    }
    if (rc != AK_OK)
        reserve_error(e, rc, resv);
    return rc;
}

ak_err cn_spend_run(st_store *st, const uint8_t addr[20], const ak_u256 *value,
                    const st_spend_limit *lim, cn_spend_fn prep, cn_spend_fn fn, void *ctx,
                    cn_rpc_err *e)
{
    st_resv resv = {0};
    ak_err rc;
    if (lim == NULL) {
        rc = prep != NULL ? prep(ctx, e) : AK_OK;
        return rc == AK_OK ? fn(ctx, e) : rc;
    }
    if ((rc = reserve(st, NULL, &resv, 0, addr, 0, value, lim, prep, ctx, e)) != AK_OK)
        return rc;
    rc = fn(ctx, e);
    if (rc != AK_OK && e->code != CN_E_NETWORK && e->code != CN_E_DOWNSTREAM &&
        st_release(st, &resv) != AK_OK)
        cn_log(CN_LOG_WARN, "state store: a spend reservation was not released", (char *)NULL);
    return rc;
}

ak_err cn_nonce_run_state(st_store *st, uint64_t chain_id, const uint8_t addr[20],
                          const ak_u256 *value, const st_spend_limit *lim, unsigned retries,
                          cn_spend_fn prep, cn_nonce_pending_fn pending, cn_nonce_try_fn attempt,
                          void *ctx, cn_rpc_err *e)
{
    ak_err rc = AK_OK;
    for (unsigned tries = 0;; tries++) {
        uint64_t node = 0, nonce = 0;
        int sent = 0, used = 0;
        st_resv resv = {0};
        if ((rc = pending(ctx, &node, e)) != AK_OK)
            break;
        if ((rc = reserve(st, &nonce, &resv, chain_id, addr, node, value, lim,
                          tries == 0 ? prep : NULL, ctx, e)) != AK_OK)
            break;
        rc = attempt(ctx, nonce, &sent, &used, e);
        if (rc == AK_OK) {
            if (!sent) /* eth_signTransaction: only sent nonces are recorded */
                give_back(st, chain_id, addr, nonce, 1, &(st_resv){0});
            break;
        }
        if (used) { /* spent by another transaction: this one was not taken */
            give_back(st, chain_id, addr, nonce, 0, &resv);
            if (tries >= retries)
                break;
            const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(e->passthrough, "message"));
            cn_metrics_nonce_retry();
            cn_log(CN_LOG_INFO, "nonce refused by the node, retrying with a fresh one", "reason",
                   why ? why : e->message, (char *)NULL);
            cn_err_clear(e);
            continue;
        }
        /* Not answered (the node may have it): keep both. Otherwise nothing was taken. */
        if (e->code != CN_E_NETWORK && e->code != CN_E_DOWNSTREAM)
            give_back(st, chain_id, addr, nonce, 1, &resv);
        break;
    }
    return rc;
}
