/*
 * cn_ks_reply.h - the keyless signer's intent rules (issue 11): which intent text a signature
 * carries under "send_intent", and the two things read from anode-keyserver's answers beyond the
 * signature: the intent kinds its GET /health advertises ("intents": [kind...]) and the reason
 * of a refusal ({"error":{"code","message"}}), for the JSON-RPC error. Pure: no I/O, no state;
 * any bytes are accepted (fuzz_cn_ks_reply).
 *
 * Limits: bodies are bounded by the caller (CN_KEYLESS_MAX_BODY); the reason is cut to the
 * caller's buffer, code to 64 and message to 160 characters, and only printable ASCII is kept
 * (anything else becomes '?'), so a key server cannot put control characters into our logs.
 */
#ifndef CN_KS_REPLY_H
#define CN_KS_REPLY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"

/* "send_intent" */
typedef enum { CN_KS_SEND_AUTO = 0, CN_KS_SEND_ALWAYS, CN_KS_SEND_NEVER } cn_ks_send;

/* The mode named s ("auto", "always", "never"), or -1 (s NULL or anything else). */
int cn_ks_send_parse(const char *s);

/*
 * The intent JSON text (malloc'd) to send with the signature of ctx, or *out NULL: digest only.
 * advertised: the kinds the key server listed (bits as cn_ks_reply_intents). "never": none;
 * "auto": ctx->intent when its kind is advertised; "always": that, else AK_ERR_FORBIDDEN with the
 * reason in ctx->why (no intent, or a kind not advertised). AK_ERR_NOMEM out of memory.
 */
AK_WUR ak_err cn_ks_intent_text(char **out, int mode, unsigned advertised, const cn_sign_ctx *ctx);

/* The kinds listed in body's "intents" (bit 1 << ak_intent_kind; unknown names ignored); *ok is
 * 1 when body is a JSON object (a key server without the member advertises none), else 0. */
unsigned cn_ks_reply_intents(const char *body, size_t len, int *ok);

/* "key server: <code>: <message>" of j's "error" member into why (NUL-terminated when cap > 0);
 * why untouched when j has no error code. */
void cn_ks_reply_why(char *why, size_t cap, const cJSON *j);

/* The same from a body's bytes. */
void cn_ks_reply_body_why(char *why, size_t cap, const char *body, size_t len);

/* The error of a key server answer's HTTP status: 404 AK_ERR_KEY_NOT_FOUND, the others as
 * cn_rhttp_status_err. */
ak_err cn_ks_reply_status_err(long status);

/* 1 if the answer is 503 "state_unavailable": the key server could not reserve this request
 * against its key's cumulative cap (its PostgreSQL store is down). That is a refusal of this
 * request, not a failure of the server (it still signs uncapped keys): no retry, no failover
 * mark, and the signature ends there - a backup of another kind (a cloud KMS holding the same
 * key) would sign past the cap. */
int cn_ks_reply_state_refusal(long status, const char *body, size_t len);

/* An answer of HTTP status with body[0..len) (body may be NULL): for 200 its JSON object into
 * *out (the caller deletes it; AK_ERR_UPSTREAM when it is not one); a state refusal (above) is
 * AK_ERR_FORBIDDEN; else the status's error; the reason into why (cn_ks_reply_body_why; why may
 * be NULL). */
AK_WUR ak_err cn_ks_reply_parse(cJSON **out, long status, const char *body, size_t len, char *why,
                                size_t why_cap);

#endif
