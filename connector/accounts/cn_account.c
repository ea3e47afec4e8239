/* cn_account.c - signing as an account (see cn_account.h). */
#include "cn_account.h"

#include <string.h>

#include "cn_audit.h"
#include "cn_log.h"
#include "cn_metrics.h"

const cn_account *cn_accounts_find(const cn_account *list, size_t n, const uint8_t addr[20])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(list[i].signer->address, addr, 20) == 0)
            return &list[i];
    return NULL;
}

ak_err cn_account_sign_eth(const cn_account *a, ak_sig *out, const uint8_t digest[32],
                           const cn_sign_ctx *ctx)
{
    const rt_clock *clk = a->clock != NULL ? a->clock : rt_clock_system();
    int64_t t0 = clk->mono_ns(clk->ctx);
    ak_err rc = cn_audit_sign_eth(a->signer, out, digest, ctx); /* signs and audits */
    cn_metrics_sign(a->index, rc == AK_OK, (double)(clk->mono_ns(clk->ctx) - t0) / 1e9);
    if (rc != AK_OK)
        cn_log(CN_LOG_WARN, "signing failed", "method", ctx->method, "signer", a->signer->name,
               "error", ak_errname(rc), (char *)NULL);
    return rc;
}
