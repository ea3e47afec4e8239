/* ak_intent.c - signing intents: strict JSON parser, digests, encoder (see ak_intent.h). */
#include "ak_intent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_eip191.h"
#include "ak_hex.h"

static const char *const KIND_NAMES[AK_INTENT_COUNT] = {
    "eth_transaction",   "eip191_message",        "eip712_typed_data",
    "erc4337_paymaster", "eip7702_authorization", "op_block_payload"};

/* The members of each kind besides "kind" (NULL-terminated). */
static const char *const MEMBERS[AK_INTENT_COUNT][7] = {
    {"payload", NULL},
    {"message", NULL},
    {"typed_data", NULL},
    {"user_operation", "entry_point", "paymaster", "chain_id", "valid_until", "valid_after", NULL},
    {"chain_id", "address", "nonce", NULL},
    {"domain", "chain_id", "payload_hash", NULL}};

const char *ak_intent_kind_name(ak_intent_kind k)
{
    return (unsigned)k < AK_INTENT_COUNT ? KIND_NAMES[k] : NULL;
}

int ak_intent_kind_parse(const char *s)
{
    for (int i = 0; i < AK_INTENT_COUNT; i++)
        if (strcmp(s, KIND_NAMES[i]) == 0)
            return i;
    return -1;
}

__attribute__((format(printf, 4, 5))) static ak_err bad(ak_err e, char *why, size_t cap,
                                                        const char *fmt, ...)
{
    if (why != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return e;
}

/* A member name safe to echo: printable ASCII, no quotes, at most 48 characters. */
static void safe_name(char out[52], const char *s)
{
    size_t m = 0;
    for (; s != NULL && *s && m < 48; s++) {
        char c = *s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            c = '?';
        out[m++] = c;
    }
    out[m] = '\0';
}

static ak_err check_members(const cJSON *obj, ak_intent_kind k, char *why, size_t cap)
{
    char name[52];
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        int ok = c->string != NULL && strcmp(c->string, "kind") == 0;
        for (size_t i = 0; !ok && c->string != NULL && MEMBERS[k][i] != NULL; i++)
            ok = strcmp(c->string, MEMBERS[k][i]) == 0;
        if (!ok) {
            safe_name(name, c->string);
            return bad(AK_ERR_JSON, why, cap, "intent.%s: unknown member for %s", name,
                       KIND_NAMES[k]);
        }
        for (const cJSON *d = c->next; d != NULL; d = d->next)
            if (d->string != NULL && strcmp(d->string, c->string) == 0)
                return bad(AK_ERR_JSON, why, cap, "intent.%s: repeated", c->string);
    }
    for (size_t i = 0; MEMBERS[k][i] != NULL; i++)
        if (cJSON_GetObjectItemCaseSensitive(obj, MEMBERS[k][i]) == NULL)
            return bad(AK_ERR_JSON, why, cap, "intent.%s: missing (required for %s)", MEMBERS[k][i],
                       KIND_NAMES[k]);
    return AK_OK;
}

static const char *str_of(const cJSON *obj, const char *name, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return NULL;
    *len = strlen(v->valuestring);
    return v->valuestring;
}

/* 0x DATA member into a new buffer of at most max bytes (NULL when empty). */
static ak_err get_bytes(uint8_t **out, size_t *out_len, const cJSON *obj, const char *name,
                        size_t max, char *why, size_t cap)
{
    size_t n = 0;
    const char *s = str_of(obj, name, &n);
    ak_err e;
    *out = NULL;
    *out_len = 0;
    if (s == NULL)
        return bad(AK_ERR_JSON, why, cap, "intent.%s: must be a 0x hex string", name);
    if (n < 2 || (n - 2) / 2 > max)
        return bad(n < 2 ? AK_ERR_HEX : AK_ERR_LIMIT, why, cap,
                   "intent.%s: 0x hex of at most %zu bytes", name, max);
    if (n == 2)
        return s[0] == '0' && s[1] == 'x'
                   ? AK_OK
                   : bad(AK_ERR_HEX, why, cap, "intent.%s: not 0x hex", name);
    *out = malloc((n - 2) / 2);
    if (*out == NULL)
        return AK_ERR_NOMEM;
    if ((e = ak_hex_decode(*out, (n - 2) / 2, out_len, s, n)) != AK_OK) {
        free(*out);
        *out = NULL;
        *out_len = 0;
        return bad(e, why, cap, "intent.%s: not 0x hex with an even number of digits", name);
    }
    return AK_OK;
}

static ak_err get_quantity(ak_u256 *out, const cJSON *obj, const char *name, char *why, size_t cap)
{
    size_t n = 0;
    const char *s = str_of(obj, name, &n);
    ak_err e = s != NULL ? ak_u256_parse_quantity(out, s, n) : AK_ERR_JSON;
    if (e != AK_OK)
        return bad(e, why, cap, "intent.%s: must be a 0x QUANTITY string (no leading zeros)", name);
    return AK_OK;
}

static ak_err get_u64(uint64_t *out, const cJSON *obj, const char *name, char *why, size_t cap)
{
    ak_u256 v;
    ak_err e = get_quantity(&v, obj, name, why, cap);
    if (e == AK_OK && !ak_u256_to_u64(out, &v))
        return bad(AK_ERR_RANGE, why, cap, "intent.%s: above 2^64 - 1", name);
    return e;
}

static ak_err get_address(uint8_t out[20], const cJSON *obj, const char *name, char *why,
                          size_t cap)
{
    size_t n = 0;
    const char *s = str_of(obj, name, &n);
    ak_err e = s != NULL ? ak_addr_parse(out, s, n) : AK_ERR_JSON;
    if (e != AK_OK)
        return bad(e, why, cap, "intent.%s: must be an address (0x + 40 hex, EIP-55 if mixed case)",
                   name);
    return AK_OK;
}

static ak_err get_hash(uint8_t out[32], const cJSON *obj, const char *name, char *why, size_t cap)
{
    size_t n = 0;
    const char *s = str_of(obj, name, &n);
    if (s == NULL || n != 66 || ak_hex_decode_exact(out, 32, s, n) != AK_OK)
        return bad(AK_ERR_HEX, why, cap, "intent.%s: must be 0x and 64 hex digits", name);
    return AK_OK;
}

static ak_err parse_tx(ak_intent *in, const cJSON *obj, char *why, size_t cap)
{
    ak_err e =
        get_bytes(&in->payload, &in->payload_len, obj, "payload", AK_TX_MAX_ENCODED, why, cap);
    if (e != AK_OK)
        return e;
    if (in->payload == NULL)
        return bad(AK_ERR_TX, why, cap, "intent.payload: empty");
    if ((e = ak_intent_tx_decode(&in->tx, in->payload, in->payload_len)) != AK_OK)
        return bad(e, why, cap, "intent.payload: not an unsigned transaction signing payload (%s)",
                   ak_strerror(e));
    in->has_chain_id = !in->tx.pre155;
    ak_u256_from_u64(&in->chain_id, in->tx.chain_id);
    return ak_tx_signing_hash(in->digest, &in->tx);
}

static ak_err parse_typed(ak_intent *in, const cJSON *obj, char *why, size_t cap)
{
    char w[AK_EIP712_WHY_MAX];
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(obj, "typed_data");
    if (!cJSON_IsObject(td))
        return bad(AK_ERR_JSON, why, cap, "intent.typed_data: must be an object");
    ak_err e = ak_eip712_hash_why(&in->td, td, w, sizeof w);
    if (e != AK_OK)
        return bad(e, why, cap, "intent.typed_data.%s", w);
    in->typed_data = td;
    in->has_chain_id = in->td.has_chain_id;
    in->chain_id = in->td.chain_id;
    memcpy(in->digest, in->td.digest, 32);
    return AK_OK;
}

static ak_err parse_paymaster(ak_intent *in, const cJSON *obj, char *why, size_t cap)
{
    char w[128];
    uint64_t chain = 0;
    uint8_t h[32];
    const cJSON *uo = cJSON_GetObjectItemCaseSensitive(obj, "user_operation");
    ak_err e = ak_userop_from_json(&in->op, uo, w, sizeof w);
    if (e != AK_OK)
        return bad(e, why, cap, "intent.user_operation: %s", w);
    in->user_operation = uo;
    if ((e = get_address(in->entry_point, obj, "entry_point", why, cap)) != AK_OK ||
        (e = get_address(in->paymaster, obj, "paymaster", why, cap)) != AK_OK ||
        (e = get_u64(&chain, obj, "chain_id", why, cap)) != AK_OK ||
        (e = get_u64(&in->valid_until, obj, "valid_until", why, cap)) != AK_OK ||
        (e = get_u64(&in->valid_after, obj, "valid_after", why, cap)) != AK_OK)
        return e;
    if (chain == 0)
        return bad(AK_ERR_CHAIN_ID, why, cap, "intent.chain_id: must not be 0");
    if (in->valid_until > AK_USEROP_UINT48_MAX || in->valid_after > AK_USEROP_UINT48_MAX)
        return bad(AK_ERR_RANGE, why, cap, "intent.valid_until/valid_after: above 2^48 - 1");
    if (in->op.has_paymaster && memcmp(in->op.paymaster, in->paymaster, 20) != 0)
        return bad(AK_ERR_JSON, why, cap,
                   "intent.user_operation.paymaster: differs from intent.paymaster");
    in->has_chain_id = 1;
    ak_u256_from_u64(&in->chain_id, chain);
    if ((e = ak_userop_vp_hash(h, &in->op, chain, in->paymaster, in->valid_until,
                               in->valid_after)) != AK_OK ||
        (e = ak_userop_hash(in->userop_hash, &in->op, in->entry_point, chain)) != AK_OK)
        return bad(e, why, cap, "intent.user_operation: a gas value is too wide for its field");
    ak_eip191_hash(in->digest, h, 32);
    return AK_OK;
}

static ak_err parse_auth(ak_intent *in, const cJSON *obj, char *why, size_t cap)
{
    ak_err e;
    if ((e = get_quantity(&in->auth.chain_id, obj, "chain_id", why, cap)) != AK_OK ||
        (e = get_address(in->auth.address, obj, "address", why, cap)) != AK_OK ||
        (e = get_u64(&in->auth.nonce, obj, "nonce", why, cap)) != AK_OK)
        return e;
    in->has_chain_id = 1;
    in->chain_id = in->auth.chain_id;
    return ak_auth_digest(in->digest, &in->auth);
}

static ak_err parse_block(ak_intent *in, const cJSON *obj, char *why, size_t cap)
{
    ak_err e;
    if ((e = get_hash(in->blk.domain, obj, "domain", why, cap)) != AK_OK ||
        (e = get_quantity(&in->blk.chain_id, obj, "chain_id", why, cap)) != AK_OK ||
        (e = get_hash(in->blk.payload_hash, obj, "payload_hash", why, cap)) != AK_OK)
        return e;
    if (ak_u256_is_zero(&in->blk.chain_id))
        return bad(AK_ERR_CHAIN_ID, why, cap, "intent.chain_id: must not be 0");
    in->has_chain_id = 1;
    in->chain_id = in->blk.chain_id;
    ak_opsig_signing_hash(in->digest, &in->blk);
    return AK_OK;
}

ak_err ak_intent_parse(ak_intent *out, const cJSON *obj, char *why, size_t why_cap)
{
    size_t n = 0;
    ak_err e;
    char name[52];
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (out == NULL)
        return AK_ERR_ARG;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj))
        return bad(AK_ERR_JSON, why, why_cap, "intent: must be an object");
    const char *k = str_of(obj, "kind", &n);
    int kind = k != NULL ? ak_intent_kind_parse(k) : -1;
    if (kind < 0) {
        safe_name(name, k);
        return bad(AK_ERR_JSON, why, why_cap, "intent.kind: %s%s%s", k ? "unknown kind \"" : "",
                   k ? name : "missing (a string naming the kind)", k ? "\"" : "");
    }
    out->kind = (ak_intent_kind)kind;
    if ((e = check_members(obj, out->kind, why, why_cap)) != AK_OK)
        goto out;
    switch (out->kind) {
    case AK_INTENT_ETH_TRANSACTION:
        e = parse_tx(out, obj, why, why_cap);
        break;
    case AK_INTENT_EIP191_MESSAGE:
        e = get_bytes(&out->message, &out->message_len, obj, "message", AK_INTENT_MAX_MESSAGE, why,
                      why_cap);
        if (e == AK_OK)
            ak_eip191_hash(out->digest, out->message, out->message_len);
        break;
    case AK_INTENT_EIP712_TYPED_DATA:
        e = parse_typed(out, obj, why, why_cap);
        break;
    case AK_INTENT_ERC4337_PAYMASTER:
        e = parse_paymaster(out, obj, why, why_cap);
        break;
    case AK_INTENT_EIP7702_AUTHORIZATION:
        e = parse_auth(out, obj, why, why_cap);
        break;
    default:
        e = parse_block(out, obj, why, why_cap);
        break;
    }
out:
    if (e != AK_OK)
        ak_intent_clear(out);
    return e;
}

void ak_intent_clear(ak_intent *in)
{
    if (in == NULL)
        return;
    free(in->payload);
    free(in->message);
    ak_userop_clear(&in->op);
    memset(in, 0, sizeof *in);
}

/* ---- encoder ---------------------------------------------------------------------------- */

static int add_hex(cJSON *o, const char *name, const uint8_t *b, size_t len)
{
    size_t cap = AK_HEX_ENCODED_SIZE(len);
    char *s = malloc(cap);
    int ok = s != NULL && ak_hex_encode(s, cap, b, len) == AK_OK &&
             cJSON_AddStringToObject(o, name, s) != NULL;
    free(s);
    return ok;
}

static int add_qty(cJSON *o, const char *name, const ak_u256 *v)
{
    char s[AK_U256_QUANTITY_MAX];
    return ak_u256_format_quantity(s, sizeof s, v) == AK_OK &&
           cJSON_AddStringToObject(o, name, s) != NULL;
}

static int add_u64(cJSON *o, const char *name, uint64_t v)
{
    ak_u256 x;
    ak_u256_from_u64(&x, v);
    return add_qty(o, name, &x);
}

static int add_addr(cJSON *o, const char *name, const uint8_t a[20])
{
    char s[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(s, a);
    return cJSON_AddStringToObject(o, name, s) != NULL;
}

static int add_dup(cJSON *o, const char *name, const cJSON *v)
{
    cJSON *d = v != NULL ? cJSON_Duplicate(v, 1) : NULL;
    if (d == NULL)
        return 0;
    if (!cJSON_AddItemToObject(o, name, d)) {
        cJSON_Delete(d);
        return 0;
    }
    return 1;
}

static int encode_tx(cJSON *o, const ak_tx *tx)
{
    size_t cap = tx->data_len + tx->access_list_rlp_len + tx->auth_list_rlp_len + 1200, len = 0;
    uint8_t *buf = malloc(cap);
    int ok = buf != NULL && ak_tx_signing_payload(buf, cap, &len, tx) == AK_OK &&
             add_hex(o, "payload", buf, len);
    free(buf);
    return ok;
}

cJSON *ak_intent_to_json(const ak_intent *in)
{
    cJSON *o = in != NULL ? cJSON_CreateObject() : NULL;
    int ok = o != NULL && ak_intent_kind_name(in->kind) != NULL &&
             cJSON_AddStringToObject(o, "kind", ak_intent_kind_name(in->kind)) != NULL;
    if (!ok)
        goto out;
    switch (in->kind) {
    case AK_INTENT_ETH_TRANSACTION:
        ok = encode_tx(o, &in->tx);
        break;
    case AK_INTENT_EIP191_MESSAGE:
        ok = add_hex(o, "message", in->message, in->message_len);
        break;
    case AK_INTENT_EIP712_TYPED_DATA:
        ok = add_dup(o, "typed_data", in->typed_data);
        break;
    case AK_INTENT_ERC4337_PAYMASTER:
        ok = add_dup(o, "user_operation", in->user_operation) &&
             add_addr(o, "entry_point", in->entry_point) &&
             add_addr(o, "paymaster", in->paymaster) && add_qty(o, "chain_id", &in->chain_id) &&
             add_u64(o, "valid_until", in->valid_until) &&
             add_u64(o, "valid_after", in->valid_after);
        break;
    case AK_INTENT_EIP7702_AUTHORIZATION:
        ok = add_qty(o, "chain_id", &in->auth.chain_id) &&
             add_addr(o, "address", in->auth.address) && add_u64(o, "nonce", in->auth.nonce);
        break;
    default:
        ok = add_hex(o, "domain", in->blk.domain, 32) &&
             add_qty(o, "chain_id", &in->blk.chain_id) &&
             add_hex(o, "payload_hash", in->blk.payload_hash, 32);
        break;
    }
out:
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}
