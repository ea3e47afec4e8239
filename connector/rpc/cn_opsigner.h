/*
 * cn_opsigner.h - the OP Stack remote-signer methods the connector answers itself, so that
 * op-batcher, op-proposer and op-node can use it as their `--signer.endpoint`
 * (ethereum-optimism/optimism op-service/signer, served by ethereum-optimism/infra op-signer):
 *
 *   health_status                  -> our version, e.g. "0.1.0" (their client calls it at start-up)
 *   opsigner_signBlockPayload      [BlockPayloadArgs]   -> "0x" r || s || yParity (65 bytes)
 *   opsigner_signBlockPayloadV2    [BlockPayloadArgsV2] -> the same
 *
 * (eth_signTransaction is cn_methods.c's.) Block payloads are signed only with the block-gossip
 * domain (32 zero bytes) and the connector's chain id, by the account named in senderAddress
 * (or the only account), under its policy's "opsigner_signBlockPayload" method. Private to the
 * router (cn_rpc_impl.h).
 */
#ifndef CN_OPSIGNER_H
#define CN_OPSIGNER_H

#include <cjson/cJSON.h>

#include "cn_rpc_impl.h"

/* As cn_methods_dispatch: *handled = 1 and a result (or NULL with e set) for the three methods
 * above; *handled = 0 for any other. */
cJSON *cn_opsigner_dispatch(cn_rpc *r, const char *method, const cJSON *params, cn_call_err *e,
                            int *handled);

#endif
