/* ks_policy.c - the key server's policy objects, read by shared/ak_policy_cfg (see ks_policy.h). */
#include "ks_policy.h"

#include <stdlib.h>

#include "ks_config.h"

ak_err ks_policy_parse(ak_policy **out, const cJSON *obj, const char *where, char *msg,
                       size_t msg_cap)
{
    ak_policy *p = calloc(1, sizeof *p);
    ak_err e = AK_OK;
    *out = NULL;
    if (p == NULL)
        return AK_ERR_NOMEM;
    if ((e = ak_policy_cfg_read(p, obj, where, AK_POLICY_CFG_INTENT, NULL, 0, msg, msg_cap)) !=
        AK_OK)
        goto out;
    *out = p;
    p = NULL;
out:
    free(p);
    return e;
}

void ks_policy_free(ak_policy *p)
{
    free(p);
}

const ak_policy *ks_config_policy(const ks_config *c, long client, long k)
{
    /* ak_policy_init's default: every kind, creation allowed, digest-only requests allowed */
    static const ak_policy dflt = {.kinds = AK_INTENT_ALL, .allow_create = 1, .raw_digest = 1};
    if (k < 0 || (size_t)k >= c->n_keys)
        return &dflt;
    if (client >= 0 && (size_t)client < c->n_clients) {
        const ks_client_cfg *cl = &c->clients[client];
        for (size_t i = 0; i < cl->n_policies; i++)
            if ((long)cl->policy_key[i] == k)
                return cl->policies[i];
    }
    return c->keys[k].policy != NULL ? c->keys[k].policy : &dflt;
}
