/* ks_audit.c - the key server's audit record format on rt_audit (see ks_audit.h). */
#include "ks_audit.h"

#include <stdio.h>
#include <string.h>

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
    return (size_t)n;
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
