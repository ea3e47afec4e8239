/* ak_opsig.c - OP Stack block-payload signing: digest, result form and the two JSON parameter
 * forms (see ak_opsig.h). */
#include "ak_opsig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_hex.h"
#include "ak_keccak.h"

void ak_opsig_signing_hash(uint8_t out[32], const ak_opsig_block *blk)
{
    uint8_t in[96];
    memcpy(in, blk->domain, 32);
    ak_u256_to_be(in + 32, &blk->chain_id);
    memcpy(in + 64, blk->payload_hash, 32);
    ak_keccak256(out, in, sizeof in);
}

void ak_opsig_payload_hash(uint8_t out[32], const uint8_t *payload, size_t len)
{
    ak_keccak256(out, payload, len);
}

int ak_opsig_domain_is_blocks_v1(const uint8_t domain[32])
{
    uint8_t acc = 0;
    for (size_t i = 0; i < 32; i++)
        acc |= domain[i];
    return acc == 0;
}

void ak_opsig_signature65(uint8_t out[65], const ak_sig *sig)
{
    memcpy(out, sig->r, 32);
    memcpy(out + 32, sig->s, 32);
    out[64] = sig->recid;
}

/* JSON numbers are doubles: only integers up to 2^53 - 1 are exact (Number.MAX_SAFE_INTEGER). */
#define MAX_SAFE 9007199254740991.0

static ak_err bad(char *why, size_t cap, const char *member, const char *problem)
{
    if (why != NULL && cap > 0)
        snprintf(why, cap, "%s: %s", member, problem);
    return AK_ERR_JSON;
}

/* name's character, or '?' for a control character, a quote or a backslash. */
static char safe_char(char ch)
{
    unsigned char c = (unsigned char)ch;
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
        return '?';
    return ch;
}

/* Every member of obj is one of names[0..n), each at most once. */
static ak_err only_members(const cJSON *obj, const char *const *names, size_t n, char *why,
                           size_t cap)
{
    char name[64];
    if (!cJSON_IsObject(obj))
        return bad(why, cap, "params[0]", "must be an object");
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        size_t k = 0, m = 0;
        while (c->string != NULL && k < n && strcmp(c->string, names[k]) != 0)
            k++;
        if (c->string == NULL || k == n) {
            for (const char *p = c->string != NULL ? c->string : ""; *p && m + 1 < sizeof name; p++)
                name[m++] = safe_char(*p);
            name[m] = '\0';
            return bad(why, cap, name, "unknown member");
        }
        for (const cJSON *d = c->next; d != NULL; d = d->next)
            if (d->string != NULL && strcmp(d->string, c->string) == 0)
                return bad(why, cap, names[k], "repeated");
    }
    return AK_OK;
}

/* senderAddress: absent or null (no sender named) or a 0x address. */
static ak_err sender(ak_opsig_block *out, const cJSON *obj, char *why, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "senderAddress");
    if (v == NULL || cJSON_IsNull(v))
        return AK_OK;
    if (!cJSON_IsString(v) || v->valuestring == NULL ||
        ak_addr_parse(out->sender, v->valuestring, strlen(v->valuestring)) != AK_OK)
        return bad(why, cap, "senderAddress", "must be a 0x address or null");
    out->has_sender = 1;
    return AK_OK;
}

/* V1 domain: Go's [32]byte, a JSON array of 32 integers 0..255. */
static ak_err v1_domain(uint8_t out[32], const cJSON *v, char *why, size_t cap)
{
    size_t i = 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 32)
        return bad(why, cap, "domain", "must be an array of 32 numbers 0..255");
    for (const cJSON *e = v->child; e != NULL; e = e->next, i++) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1.0;
        if (!(d >= 0.0 && d <= 255.0) || (double)(int)d != d)
            return bad(why, cap, "domain", "must be an array of 32 numbers 0..255");
        out[i] = (uint8_t)d;
    }
    return AK_OK;
}

/* V1 chainId: Go's *big.Int, a JSON number; 1..2^53-1 (exact as a double). */
static ak_err v1_chain_id(ak_u256 *out, const cJSON *v, char *why, size_t cap)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0.0;
    if (!(d >= 1.0 && d <= MAX_SAFE) || (double)(uint64_t)d != d)
        return bad(why, cap, "chainId",
                   "must be a JSON integer from 1 to 2^53-1 (larger numbers are not exact)");
    ak_u256_from_u64(out, (uint64_t)d);
    return AK_OK;
}

/* V1 payloadHash (32 bytes) and the older PayloadBytes (keccak must match), both base64. */
static ak_err v1_payload(ak_opsig_block *out, const cJSON *obj, char *why, size_t cap)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(obj, "payloadHash");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, "PayloadBytes");
    uint8_t *bytes = NULL, mine[32];
    size_t n = 0;
    ak_err err = AK_OK;
    if (!cJSON_IsString(h) || h->valuestring == NULL ||
        ak_b64_decode(out->payload_hash, 32, &n, h->valuestring, strlen(h->valuestring)) != AK_OK ||
        n != 32)
        return bad(why, cap, "payloadHash", "must be the base64 of 32 bytes");
    if (b == NULL || cJSON_IsNull(b))
        return AK_OK;
    if (!cJSON_IsString(b) || b->valuestring == NULL)
        return bad(why, cap, "PayloadBytes", "must be base64, at most 10 MiB, or null");
    n = strlen(b->valuestring);
    if (n / 4 * 3 > AK_OPSIG_MAX_PAYLOAD)
        return bad(why, cap, "PayloadBytes", "must be base64, at most 10 MiB, or null");
    if ((bytes = malloc(n / 4 * 3 + 3)) == NULL)
        return AK_ERR_NOMEM;
    if (ak_b64_decode(bytes, n / 4 * 3 + 3, &n, b->valuestring, n) != AK_OK) {
        err = bad(why, cap, "PayloadBytes", "must be base64, at most 10 MiB, or null");
        goto out;
    }
    ak_opsig_payload_hash(mine, bytes, n);
    if (memcmp(mine, out->payload_hash, 32) != 0)
        err = bad(why, cap, "PayloadBytes", "its keccak256 is not payloadHash");
out:
    free(bytes);
    return err;
}

ak_err ak_opsig_block_v1_from_json(ak_opsig_block *out, const cJSON *obj, char *why, size_t why_cap)
{
    static const char *const names[] = {"domain", "chainId", "payloadHash", "senderAddress",
                                        "PayloadBytes"};
    ak_err err;
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (out == NULL || obj == NULL)
        return AK_ERR_ARG;
    memset(out, 0, sizeof *out);
    if ((err = only_members(obj, names, 5, why, why_cap)) != AK_OK ||
        (err = v1_domain(out->domain, cJSON_GetObjectItemCaseSensitive(obj, "domain"), why,
                         why_cap)) != AK_OK ||
        (err = v1_chain_id(&out->chain_id, cJSON_GetObjectItemCaseSensitive(obj, "chainId"), why,
                           why_cap)) != AK_OK ||
        (err = v1_payload(out, obj, why, why_cap)) != AK_OK ||
        (err = sender(out, obj, why, why_cap)) != AK_OK)
        memset(out, 0, sizeof *out);
    return err;
}

/* A "0x" + 64 hex string (eth.Bytes32 / common.Hash text form). */
static int hex32(uint8_t out[32], const cJSON *v)
{
    size_t n = cJSON_IsString(v) && v->valuestring != NULL ? strlen(v->valuestring) : 0;
    return n == 66 && v->valuestring[0] == '0' && v->valuestring[1] == 'x' &&
           ak_hex_decode_exact(out, 32, v->valuestring, n) == AK_OK;
}

ak_err ak_opsig_block_v2_from_json(ak_opsig_block *out, const cJSON *obj, char *why, size_t why_cap)
{
    static const char *const names[] = {"domain", "chainId", "payloadHash", "senderAddress"};
    static const uint8_t zero[32];
    const cJSON *c;
    size_t n;
    ak_err err;
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (out == NULL || obj == NULL)
        return AK_ERR_ARG;
    memset(out, 0, sizeof *out);
    if ((err = only_members(obj, names, 4, why, why_cap)) != AK_OK)
        goto out;
    if (!hex32(out->domain, cJSON_GetObjectItemCaseSensitive(obj, "domain"))) {
        err = bad(why, why_cap, "domain", "must be 0x and 64 hex digits");
        goto out;
    }
    /* eth.ChainID: decimal text (what Go writes) or a 0x quantity (what it also reads). */
    c = cJSON_GetObjectItemCaseSensitive(obj, "chainId");
    n = cJSON_IsString(c) && c->valuestring != NULL ? strlen(c->valuestring) : 0;
    if (n == 0 ||
        (n > 1 && c->valuestring[0] == '0' && c->valuestring[1] == 'x'
             ? ak_u256_parse_quantity(&out->chain_id, c->valuestring, n)
             : ak_u256_parse_decimal(&out->chain_id, c->valuestring, n)) != AK_OK ||
        ak_u256_is_zero(&out->chain_id)) {
        err = bad(why, why_cap, "chainId", "must be a non-zero decimal or 0x string");
        goto out;
    }
    if (!hex32(out->payload_hash, cJSON_GetObjectItemCaseSensitive(obj, "payloadHash")) ||
        memcmp(out->payload_hash, zero, 32) == 0) {
        err = bad(why, why_cap, "payloadHash", "must be 0x and 64 hex digits, not all zero");
        goto out;
    }
    err = sender(out, obj, why, why_cap);
out:
    if (err != AK_OK)
        memset(out, 0, sizeof *out);
    return err;
}
