/*
 * cn_ks_reply.h - the two things the keyless signer reads from anode-keyserver's answers beyond
 * the signature (issue 11): the intent kinds its GET /health advertises ("intents": [kind...])
 * and the reason of a refusal ({"error":{"code","message"}}), for the JSON-RPC error. Pure: no
 * I/O, no state; any bytes are accepted (fuzz_cn_ks_reply).
 *
 * Limits: bodies are bounded by the caller (CN_KEYLESS_MAX_BODY); the reason is cut to the
 * caller's buffer, code to 64 and message to 160 characters, and only printable ASCII is kept
 * (anything else becomes '?'), so a key server cannot put control characters into our logs.
 */
#ifndef CN_KS_REPLY_H
#define CN_KS_REPLY_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The kinds listed in body's "intents" (bit 1 << ak_intent_kind; unknown names ignored); *ok is
 * 1 when body is a JSON object (a key server without the member advertises none), else 0. */
unsigned cn_ks_reply_intents(const char *body, size_t len, int *ok);

/* "key server: <code>: <message>" of j's "error" member into why (NUL-terminated when cap > 0);
 * why untouched when j has no error code. */
void cn_ks_reply_why(char *why, size_t cap, const cJSON *j);

/* The same from a body's bytes. */
void cn_ks_reply_body_why(char *why, size_t cap, const char *body, size_t len);

#endif
