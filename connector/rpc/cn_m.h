/*
 * cn_m.h - the built-in method functions of the table in cn_methods.c, one file per family
 * (private to rpc/): transactions (cn_m_tx.c), EIP-7702 authorizations (cn_m_auth.c), the OP
 * Stack signer (cn_opsigner.c). Each is a cn_method_fn.
 */
#ifndef CN_M_H
#define CN_M_H

#include "ak_sig.h"
#include "cn_methods.h"

cJSON *cn_m_sign_tx(const cn_method_env *env, const cn_call *call, const cJSON *params,
                    cn_rpc_err *e);
cJSON *cn_m_send_tx(const cn_method_env *env, const cn_call *call, const cJSON *params,
                    cn_rpc_err *e);
cJSON *cn_m_sign_authorization(const cn_method_env *env, const cn_call *call, const cJSON *params,
                               cn_rpc_err *e);
cJSON *cn_opsigner_health(const cn_method_env *env, const cn_call *call, const cJSON *params,
                          cn_rpc_err *e);
cJSON *cn_opsigner_sign_block(const cn_method_env *env, const cn_call *call, const cJSON *params,
                              cn_rpc_err *e);

/* "0x" r || s || v (65 bytes, v = 27/28) as a JSON string, or NULL (out of memory). */
cJSON *cn_m_rsv_result(const ak_sig *sig);

#endif
