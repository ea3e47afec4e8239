/*
 * cn_sigv4.h - AWS Signature Version 4 (header form), pure computation: canonical request, string
 * to sign, the derived signing key (HMAC-SHA256 chain over date, region, service, "aws4_request")
 * and the Authorization header value. Used by the aws_kms signer.
 *
 * What is signed is exactly what the caller lists: every header in req->headers (names in any case,
 * values trimmed and inner whitespace runs collapsed, as SigV4 specifies), so the caller decides
 * whether x-amz-security-token (temporary credentials) and x-amz-content-sha256 are sent - and must
 * then send those same headers, with the same values. "host" and "x-amz-date" are required, and
 * x-amz-date must equal req->amz_date.
 *
 * Limits (exceeding one is AK_ERR_LIMIT, never truncation): CN_SIGV4_MAX_HEADERS headers,
 * CN_SIGV4_MAX_QUERY query parameters, header values up to CN_SIGV4_VALUE_MAX bytes, canonical
 * request up to CN_SIGV4_CREQ_MAX bytes. The path must already be a canonical URI (starts with "/",
 * only RFC 3986 unreserved characters and "/"), which is all AWS JSON services use; other paths are
 * AK_ERR_ARG. Query names and values are given raw and encoded here. Duplicate header names are
 * AK_ERR_ARG (the caller joins values itself).
 *
 * Secrets: the secret access key is read from req->secret_key (the caller keeps it in locked
 * memory); every derived key and the "AWS4"-prefixed copy are wiped before return. The
 * Authorization value contains only the access key id, scope, header names and signature.
 */
#ifndef CN_SIGV4_H
#define CN_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ak_err.h"

#define CN_SIGV4_MAX_HEADERS 16
#define CN_SIGV4_MAX_QUERY   16
#define CN_SIGV4_NAME_MAX    64
#define CN_SIGV4_VALUE_MAX   4096
#define CN_SIGV4_CREQ_MAX    16384
#define CN_SIGV4_AUTH_MAX    2048 /* enough for any Authorization value this module makes */
#define CN_SIGV4_DATE_SIZE   17   /* "YYYYMMDDTHHMMSSZ" + NUL */
#define CN_SIGV4_HASH_SIZE   65   /* 64 lowercase hex + NUL */

typedef struct {
    const char *name;
    const char *value;
} cn_sigv4_pair;

typedef struct {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* canonical URI, e.g. "/" */
    const cn_sigv4_pair *query; /* raw names/values (may be NULL when n_query is 0) */
    size_t n_query;
    const cn_sigv4_pair *headers; /* every header to sign, host and x-amz-date included */
    size_t n_headers;
    const uint8_t *payload; /* request body (may be NULL when payload_len is 0) */
    size_t payload_len;
    const char *region;        /* "us-east-1": [a-z0-9-], 1..32 */
    const char *service;       /* "kms": [a-z0-9-], 1..32 */
    const char *amz_date;      /* "YYYYMMDDTHHMMSSZ" */
    const char *access_key_id; /* [A-Za-z0-9], 1..128 */
    const char *secret_key;    /* secret */
    size_t secret_len;         /* 1..256 */
} cn_sigv4_req;

/* t (UTC) as "YYYYMMDDTHHMMSSZ". */
void cn_sigv4_amz_date(char out[CN_SIGV4_DATE_SIZE], time_t t);

/* Lowercase hex SHA-256 of data (the x-amz-content-sha256 value / the canonical payload hash). */
void cn_sigv4_payload_hash(char out[CN_SIGV4_HASH_SIZE], const uint8_t *data, size_t len);

/* The canonical request text (NUL-terminated), for tests and debugging. */
AK_WUR ak_err cn_sigv4_canonical_request(char *out, size_t cap, const cn_sigv4_req *req);

/* The string to sign (NUL-terminated). */
AK_WUR ak_err cn_sigv4_string_to_sign(char *out, size_t cap, const cn_sigv4_req *req);

/*
 * The Authorization header value (without "Authorization: "), NUL-terminated: "AWS4-HMAC-SHA256
 * Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex". cap >=
 * CN_SIGV4_AUTH_MAX always suffices.
 */
AK_WUR ak_err cn_sigv4_authorization(char *out, size_t cap, const cn_sigv4_req *req);

#endif
