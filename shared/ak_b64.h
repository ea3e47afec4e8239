/*
 * ak_b64.h - standard base64 (RFC 4648 section 4, with '=' padding), strict: no whitespace,
 * no missing or extra padding, non-zero pad bits rejected. Used by the key server's JSON API.
 * Also base64url decoding (RFC 4648 section 5, '-' and '_', no padding, as JWS/JWK use it,
 * RFC 7515 section 2), equally strict.
 */
#ifndef AK_B64_H
#define AK_B64_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define AK_B64_ENCODED_SIZE(n) ((((size_t)(n) + 2) / 3) * 4 + 1) /* with NUL */

/* NUL-terminated encoding into out (cap >= AK_B64_ENCODED_SIZE(len)). */
AK_WUR ak_err ak_b64_encode(char *out, size_t cap, const uint8_t *in, size_t len);
/* Strict decode; AK_ERR_BASE64 on malformed input, AK_ERR_LIMIT if it does not fit out_cap. */
AK_WUR ak_err ak_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in,
                            size_t len);
/*
 * Strict unpadded base64url decode: AK_ERR_BASE64 on '=', whitespace, a character outside the
 * URL-safe alphabet, a length of 4k+1 or non-zero unused bits; AK_ERR_LIMIT if the result
 * would not fit out_cap. *out_len is set only on success (0 otherwise).
 */
AK_WUR ak_err ak_b64url_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in,
                               size_t len);

#endif
