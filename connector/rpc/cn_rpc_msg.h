/*
 * cn_rpc_msg.h - one JSON-RPC 2.0 call's id and answer, shared by the router (cn_rpc) and its
 * batches (cn_rpc_batch): the id echoed with its exact text, response and error objects, the
 * forwarding of one call to the node, and the raw-text scanning both need.
 *
 * Raw scanning: cJSON keeps numbers as doubles, so a numeric id is echoed, and a batch member
 * forwarded, as its exact bytes located in the body. Only used on text cJSON has already accepted
 * as valid JSON; every index is still bounds-checked. An id's raw text is used only when it parses
 * to the very same value (at most 127 characters).
 *
 * Ownership: a cn_rpc_answer's text and raw_owned are malloc'd and freed by whoever filled the
 * answer (free() each); id and raw point into the request and are borrowed.
 */
#ifndef CN_RPC_MSG_H
#define CN_RPC_MSG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_downstream.h"

/* A request's id, and its exact text. */
typedef struct {
    const cJSON *id; /* the parsed id (NULL: none) */
    const char *raw; /* its exact text when it is a number and was found, else NULL */
    size_t len;
} cn_rpc_id;

/* One member's answer: text (malloc'd) or nothing for a notification. A batch member to be
 * forwarded is first only recorded (deferred): the batch sends those to the node together. */
typedef struct {
    char *text;
    size_t len;
    int deferred; /* forward raw/raw_len, not done yet */
    int notification;
    const char *raw; /* the member's exact bytes (or raw_owned) */
    size_t raw_len;
    char *raw_owned; /* re-serialised member text when its bytes were unknown */
    cn_rpc_id id;
} cn_rpc_answer;

/* cn_rpc_id for a request's id; raw/raw_len: the request object's text (NULL: unknown). */
cn_rpc_id cn_rpc_msg_id(const cJSON *id, const char *raw, size_t raw_len);

/* A valid id: string, number or null. */
int cn_rpc_msg_id_valid(const cJSON *id);

/* Spans of the members of the JSON array s[0..n); 0 if they cannot be matched one to one. */
int cn_rpc_msg_spans(const char *s, size_t n, const char **p, size_t *len, size_t count);

/* {"jsonrpc":"2.0","id":...} for id (NULL: null); NULL when out of memory. Caller deletes. */
cJSON *cn_rpc_msg_response(const cn_rpc_id *id);

/* Serialise resp (taken) into ans. */
AK_WUR ak_err cn_rpc_msg_finish(cn_rpc_answer *ans, cJSON *resp);

/* An error response into ans (and counted by code); only AK_ERR_NOMEM fails. */
AK_WUR ak_err cn_rpc_msg_error(cn_rpc_answer *ans, const cn_rpc_id *id, int code,
                               const char *message);

/*
 * Forward one request. raw/raw_len: the exact bytes to send. The node's answer is returned
 * byte for byte when it is a JSON object; otherwise -32001 / -32002. A notification gets no
 * answer. Only AK_ERR_NOMEM fails.
 */
AK_WUR ak_err cn_rpc_msg_forward(const cn_transport *ds, cn_rpc_answer *ans, const char *raw,
                                 size_t raw_len, const cn_rpc_id *id, int notification);

/*
 * The call's id as text for the audit record ("rpc_id") and the logs: a string or number id of
 * up to cap - 1 characters of [A-Za-z0-9._:-] copied into buf; NULL otherwise.
 */
const char *cn_rpc_msg_call_id(char *buf, size_t cap, const cn_rpc_id *id);

#endif
