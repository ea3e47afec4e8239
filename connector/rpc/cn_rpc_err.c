/* cn_rpc_err.c - the JSON-RPC call error (see cn_rpc_err.h). */
#include "cn_rpc_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cn_err_set(cn_rpc_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

void cn_err_from_ds(cn_rpc_err *e, ak_err rc, cn_ds_reply *reply, const char *method)
{
    if (reply->error != NULL) {
        cJSON_Delete(e->passthrough);
        e->passthrough = reply->error;
        reply->error = NULL;
        e->code = 0;
        return;
    }
    if (rc == AK_ERR_NETWORK || rc == AK_ERR_TIMEOUT)
        cn_err_set(e, CN_E_NETWORK, "%s (%s)", reply->msg[0] ? reply->msg : "network error",
                   method);
    else
        cn_err_set(e, CN_E_DOWNSTREAM, "%s", reply->msg[0] ? reply->msg : "downstream error");
}

void cn_err_clear(cn_rpc_err *e)
{
    if (e == NULL)
        return;
    cJSON_Delete(e->passthrough);
    memset(e, 0, sizeof(*e));
}
