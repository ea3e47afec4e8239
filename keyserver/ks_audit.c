/* ks_audit.c - the key server's audit record format on rt_audit (see ks_audit.h). */
#include "ks_audit.h"

#include <stdio.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"

ak_err ks_audit_open_anchored(ks_audit **out, const char *path, unsigned interval_ms,
                              const char *anchor_path, unsigned anchor_ms, char *msg,
                              size_t msg_cap)
{
    rt_audit_opts o = {path, interval_ms, anchor_path, anchor_ms, "anode-keyserver"};
    return rt_audit_open(out, &o, msg, msg_cap);
}

ak_err ks_audit_open(ks_audit **out, const char *path, unsigned interval_ms, char *msg,
                     size_t msg_cap)
{
    return ks_audit_open_anchored(out, path, interval_ms, NULL, 0, msg, msg_cap);
}

void ks_audit_close(ks_audit *a)
{
    rt_audit_close(a);
}

static int put_addr(char *body, size_t cap, size_t *len, const char *name, const uint8_t a[20])
{
    char s[AK_ADDR_STR_SIZE];
    ak_addr_to_checksum(s, a);
    return rt_audit_put(body, cap, len, ",\"%s\":\"%s\"", name, s);
}

static int put_dec(char *body, size_t cap, size_t *len, const char *name, const ak_u256 *v)
{
    char s[AK_U256_DECIMAL_MAX];
    if (ak_u256_format_decimal(s, sizeof s, v) != AK_OK)
        return 0;
    return rt_audit_put(body, cap, len, ",\"%s\":\"%s\"", name, s);
}

static int put_u64(char *body, size_t cap, size_t *len, const char *name, uint64_t v)
{
    ak_u256 x;
    ak_u256_from_u64(&x, v);
    return put_dec(body, cap, len, name, &x);
}

static int put_h32(char *body, size_t cap, size_t *len, const char *name, const uint8_t h[32])
{
    char s[65];
    rt_audit_hex32(s, h);
    return rt_audit_put(body, cap, len, ",\"%s\":\"0x%s\"", name, s);
}

/* A string member of typed data's domain, JSON-escaped and bounded. */
static int put_domain_str(char *body, size_t cap, size_t *len, const ak_intent *in,
                          const char *name)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(in->typed_data, "domain");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, name);
    return !cJSON_IsString(v) || rt_audit_put_str(body, cap, len, name, v->valuestring);
}

/* The decoded intent (ks_audit.h lists its members per kind). */
static int put_intent(char *body, size_t cap, size_t *len, const ak_intent *in)
{
    const ak_tx *tx = &in->tx;
    char hex[65];
    int ok =
        rt_audit_put(body, cap, len, ",\"intent\":{\"kind\":\"%s\"", ak_intent_kind_name(in->kind));
    if (ok && in->has_chain_id)
        ok = put_dec(body, cap, len, "chain_id", &in->chain_id);
    switch (in->kind) {
    case AK_INTENT_ETH_TRANSACTION:
        ok = ok && rt_audit_put(body, cap, len, ",\"tx_type\":%d", (int)tx->type) &&
             put_u64(body, cap, len, "nonce", tx->nonce) &&
             (tx->has_to ? put_addr(body, cap, len, "to", tx->to)
                         : rt_audit_put(body, cap, len, ",\"to\":null")) &&
             put_dec(body, cap, len, "value", &tx->value);
        if (ok && tx->data_len >= 4)
            ok = rt_audit_put(body, cap, len, ",\"selector\":\"0x%02x%02x%02x%02x\"", tx->data[0],
                              tx->data[1], tx->data[2], tx->data[3]);
        break;
    case AK_INTENT_EIP191_MESSAGE:
        ok = ok && rt_audit_put(body, cap, len, ",\"message_len\":%zu", in->message_len);
        break;
    case AK_INTENT_EIP712_TYPED_DATA:
        rt_audit_hex32(hex, in->td.domain_hash);
        ok = ok && rt_audit_put(body, cap, len, ",\"domain\":{\"hash\":\"0x%s\"", hex) &&
             put_domain_str(body, cap, len, in, "name") &&
             put_domain_str(body, cap, len, in, "version") &&
             (!in->td.has_verifying_contract ||
              put_addr(body, cap, len, "verifyingContract", in->td.verifying_contract)) &&
             rt_audit_put(body, cap, len, "}");
        break;
    case AK_INTENT_ERC4337_PAYMASTER:
        ok = ok && put_h32(body, cap, len, "userop_hash", in->userop_hash) &&
             put_addr(body, cap, len, "sender", in->op.sender) &&
             put_dec(body, cap, len, "nonce", &in->op.nonce) &&
             put_addr(body, cap, len, "paymaster", in->paymaster) &&
             put_u64(body, cap, len, "valid_until", in->valid_until) &&
             put_u64(body, cap, len, "valid_after", in->valid_after);
        break;
    case AK_INTENT_EIP7702_AUTHORIZATION:
        ok = ok && put_addr(body, cap, len, "delegate", in->auth.address) &&
             put_u64(body, cap, len, "nonce", in->auth.nonce);
        break;
    default:
        ok = ok && put_h32(body, cap, len, "payload_hash", in->blk.payload_hash);
        break;
    }
    return ok && rt_audit_put(body, cap, len, "}");
}

/* The record's members (between the frame's "time" and "prev"); 0 if they do not fit. */
static size_t format_body(char *body, size_t cap, const ks_audit_rec *r)
{
    char cn[RT_AUDIT_FIELD_CAP], key[RT_AUDIT_FIELD_CAP], rid[RT_AUDIT_FIELD_CAP];
    char fp[65], dg[2 * 64 + 1];
    rt_audit_json_str(cn, sizeof cn, r->client_cn ? r->client_cn : "",
                      r->client_cn ? strlen(r->client_cn) : 0);
    rt_audit_json_str(key, sizeof key, r->key_id ? r->key_id : "", r->key_id ? r->key_id_len : 0);
    rt_audit_json_str(rid, sizeof rid, r->request_id ? r->request_id : "",
                      r->request_id ? r->request_id_len : 0);
    if (r->client_fp != NULL)
        rt_audit_hex32(fp, r->client_fp);
    else
        fp[0] = '\0';
    size_t dl = r->digest != NULL ? (r->digest_len > 64 ? 64 : r->digest_len) : 0;
    for (size_t i = 0; i < dl; i++)
        snprintf(dg + 2 * i, 3, "%02x", r->digest[i]);
    dg[2 * dl] = '\0';
    int n = snprintf(
        body, cap,
        "\"client_cn\":\"%s\",\"client_fp\":\"%s\",\"key_id\":\"%s\",\"digest\":\"%s\","
        "\"request_id\":\"%s\",\"outcome\":\"%s\",\"latency_us\":%llu",
        cn, fp, key, dg, rid, r->outcome ? r->outcome : "", (unsigned long long)r->latency_us);
    if (n <= 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    if (r->rule != NULL && !rt_audit_put(body, cap, &len, ",\"rule\":\"%s\"", r->rule))
        return 0;
    if (r->from != NULL && !put_addr(body, cap, &len, "from", r->from))
        return 0;
    if (r->intent != NULL && !put_intent(body, cap, &len, r->intent))
        return 0;
    return len;
}

ak_err ks_audit_write(ks_audit *a, const ks_audit_rec *rec, uint64_t *ticket)
{
    char body[RT_AUDIT_LINE_MAX];
    size_t n = format_body(body, sizeof body, rec);
    if (n == 0) {
        rt_audit_intent_cancel(a, 1);
        return AK_ERR_AUDIT;
    }
    return rt_audit_write(a, body, n, ticket);
}

ak_err ks_audit_sync(ks_audit *a, uint64_t ticket)
{
    return rt_audit_sync(a, ticket);
}

ak_err ks_audit_append(ks_audit *a, const ks_audit_rec *rec)
{
    uint64_t ticket = 0;
    ak_err err = ks_audit_write(a, rec, &ticket);
    if (err == AK_OK)
        err = ks_audit_sync(a, ticket);
    return err;
}

void ks_audit_intent(ks_audit *a)
{
    rt_audit_intent(a);
}

void ks_audit_intent_cancel(ks_audit *a, size_t n)
{
    rt_audit_intent_cancel(a, n);
}

void ks_audit_last(ks_audit *a, uint64_t *seq, uint8_t hash[32])
{
    rt_audit_last(a, seq, hash);
}

void ks_audit_hex32(char out[65], const uint8_t in[32])
{
    rt_audit_hex32(out, in);
}

uint64_t ks_audit_records(const ks_audit *a)
{
    return rt_audit_records(a);
}

uint64_t ks_audit_failures(const ks_audit *a)
{
    return rt_audit_failures(a);
}

uint64_t ks_audit_syncs(const ks_audit *a)
{
    return rt_audit_syncs(a);
}

ak_err ks_audit_verify_file(const char *path, uint64_t *records, char *msg, size_t msg_cap)
{
    uint8_t last[32];
    return ks_audit_verify_file_last(path, records, last, msg, msg_cap);
}

ak_err ks_audit_verify_file_last(const char *path, uint64_t *records, uint8_t last[32], char *msg,
                                 size_t msg_cap)
{
    rt_audit_verdict v;
    ak_err err = rt_audit_verify(path, NULL, &v, msg, msg_cap);
    *records = v.records;
    memcpy(last, v.last, 32);
    return err;
}
