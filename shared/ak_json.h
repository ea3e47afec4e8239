/*
 * ak_json.h - checks on JSON text and cJSON trees that cJSON itself does not make.
 *
 * cJSON cuts a string at an escaped NUL (\u0000) and keeps every duplicate object key (lookups
 * return the first, while JavaScript's JSON.parse keeps the last). A signer that hashed such input
 * could sign something other than what the client or a policy proxy in front of it saw, so the
 * daemons refuse both before looking at a request. No allocation; bounded recursion.
 *
 * Also the one writer of a 256-bit quantity member (ak_json_add_quantity), shared by every
 * JSON-RPC answer that carries one.
 */
#ifndef AK_JSON_H
#define AK_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"

/* Deepest nesting ak_json_check_keys walks (cJSON's own parse limit is 1000), and the most
 * members one object may have (the duplicate check is quadratic in it). */
#define AK_JSON_MAX_DEPTH   1000
#define AK_JSON_MAX_MEMBERS 4096

/* 1 if the text contains a raw NUL byte or a \u0000 escape (a "\\u0000" literal is not one). */
int ak_json_has_nul(const char *text, size_t len);

/*
 * 1 if the text is not well-formed UTF-8 (RFC 3629 section 4: no overlong form, no encoded
 * surrogate U+D800..U+DFFF, nothing above U+10FFFF, no truncated or stray continuation byte),
 * or if it holds a \u escape of a surrogate that is not a high (\uD800-\uDBFF) directly
 * followed by a low (\uDC00-\uDFFF) escape: JSON text is Unicode (RFC 8259 section 8.1) and
 * a lone surrogate names no character, so both would be turned into bytes nobody meant to sign.
 * The scan skips escaped characters as ak_json_has_nul does ("\\uD800" is not an escape).
 */
int ak_json_has_bad_utf8(const char *text, size_t len);

/* 1 if s[0..len) is well-formed UTF-8 as above (no escapes looked at), else 0. */
int ak_json_utf8_valid(const unsigned char *s, size_t len);

/* AK_ERR_JSON if any object in the tree has two members with the same key; AK_ERR_LIMIT past
 * the depth or member bounds; AK_OK otherwise. */
AK_WUR ak_err ak_json_check_keys(const cJSON *root);

/* Add member name = v as an Ethereum JSON-RPC quantity ("0x" and lowercase hex, no leading
 * zero; "0x0") to object o. AK_ERR_NOMEM (the tree unchanged) or AK_OK. */
AK_WUR ak_err ak_json_add_quantity(cJSON *o, const char *name, const ak_u256 *v);

#endif
