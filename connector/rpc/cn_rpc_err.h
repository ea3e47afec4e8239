/*
 * cn_rpc_err.h - the error a JSON-RPC call answers with: its code, a secret-free message, or the
 * node's own error object passed through unchanged. A leaf: the router, the methods, the
 * transaction parser and filler, and the paymaster all include it; it includes nothing of theirs.
 *
 * Codes: JSON-RPC 2.0 section 5.1 (-32700 .. -32603), and ours: -32000 signer, -32001 the node
 * answered unusably, -32002 the node is unreachable, -32003 refused by the account's policy
 * (EIP-1474 "transaction rejected"), -32005 rate limited (cn_rate), -32010 a sponsorship refused
 * by the paymaster's policy.
 */
#ifndef CN_RPC_ERR_H
#define CN_RPC_ERR_H

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_downstream.h"

#define CN_E_PARSE           (-32700)
#define CN_E_INVALID_REQUEST (-32600)
#define CN_E_METHOD          (-32601)
#define CN_E_PARAMS          (-32602)
#define CN_E_INTERNAL        (-32603)
#define CN_E_SIGNER          (-32000)
#define CN_E_DOWNSTREAM      (-32001)
#define CN_E_NETWORK         (-32002)
#define CN_E_POLICY          (-32003)
#define CN_E_PM_POLICY       (-32010)

typedef struct {
    int code;           /* 0 = no error */
    char message[256];  /* secret-free, sent to the client */
    cJSON *passthrough; /* a node's own error object to return unchanged (owned) */
} cn_rpc_err;

void cn_err_set(cn_rpc_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Map a cn_ds_call failure: the node's error object passes through (taken from reply), else
 * -32002 (network, timeout) or -32001. */
void cn_err_from_ds(cn_rpc_err *e, ak_err rc, cn_ds_reply *reply, const char *method);

/* Free what e holds and zero it (NULL allowed). */
void cn_err_clear(cn_rpc_err *e);

#endif
