/* cn_audit.c - the connector's audit records on rt_audit (see cn_audit.h). */
#include "cn_audit.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_secmem.h"
#include "ak_tx.h"
#include "ak_u256.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "rt_audit.h"
#include "rt_clock.h"

#define NOTE_STR 129 /* typed-data members kept for the record (longer ones are cut) */

/* Per-thread details of the request being signed (see cn_audit.h). */
typedef struct {
    char client[CN_AUDIT_CLIENT_MAX];
    int has_msg;
    size_t msg_len;
    int has_td;
    char td_primary[NOTE_STR], td_name[NOTE_STR], td_version[NOTE_STR], td_chain[NOTE_STR],
        td_contract[NOTE_STR];
    char be_name[64], be_type[32];
    char rpc_id[CN_AUDIT_RID_MAX]; /* the JSON-RPC call's id, "" if none or not a short token */
} note;

static _Thread_local note t_note;

static rt_audit *g_log;
static char g_path[CN_AUDIT_PATH_MAX];
static char g_boot[17]; /* random per process: request ids stay unique across restarts */
static atomic_uint_fast64_t g_rid_seq;
static pthread_once_t g_boot_once = PTHREAD_ONCE_INIT;

static const ak_cfg_field k_audit_fields[] = {
    AK_CFG_BOOL("enabled", 0, cn_audit_cfg, enabled, 1),
    AK_CFG_STR("path", AK_CFG_PATH, cn_audit_cfg, path, NULL),
    AK_CFG_KNOWN("fsync"), /* "always" or a number: read below */
    AK_CFG_STR("anchor_path", AK_CFG_PATH, cn_audit_cfg, anchor_path, NULL),
    AK_CFG_INT("anchor_interval_ms", 0, cn_audit_cfg, anchor_interval_ms, 100, 3600000,
               RT_AUDIT_ANCHOR_DEFAULT_MS),
    AK_CFG_KNOWN("comment"),
};

ak_err cn_audit_config(cn_audit_cfg *out, const cJSON *a, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (a == NULL)
        return AK_OK;
    if (ak_cfg_read(out, k_audit_fields, AK_CFG_COUNT(k_audit_fields), a, "audit", err, err_cap) !=
        AK_OK)
        return AK_ERR_CONFIG;
    if (out->enabled && out->path[0] == '\0') {
        cn_rcfg_err(err, err_cap, "audit: missing required field \"path\" (or \"enabled\": false)");
        return AK_ERR_CONFIG;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(a, "fsync");
    if (f == NULL || (cJSON_IsString(f) && strcmp(f->valuestring, "always") == 0))
        return AK_OK;
    if (cJSON_IsNumber(f) && f->valuedouble >= 1 && f->valuedouble <= 10000 &&
        f->valuedouble == (double)(unsigned)f->valuedouble) {
        out->interval_ms = (unsigned)f->valuedouble;
        return AK_OK;
    }
    cn_rcfg_err(err, err_cap,
                "config: audit.fsync must be \"always\" or an interval in ms "
                "(1..10000)");
    return AK_ERR_CONFIG;
}

static void boot_id(void)
{
    uint8_t r[8];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r); /* still unique within the process (the counter) */
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(g_boot + 2 * i, 3, "%02x", r[i]);
}

ak_err cn_audit_start(const cn_audit_cfg *cfg, char *err, size_t err_cap)
{
    pthread_once(&g_boot_once, boot_id);
    if (!cfg->enabled || g_log != NULL)
        return AK_OK;
    rt_audit_opts o = {cfg->path, cfg->interval_ms, cfg->anchor_path, cfg->anchor_interval_ms,
                       "anode-connector"};
    ak_err e = rt_audit_open(&g_log, &o, err, err_cap);
    if (e == AK_OK)
        snprintf(g_path, sizeof g_path, "%s", cfg->path);
    return e;
}

void cn_audit_stop(void)
{
    if (g_log == NULL)
        return;
    uint64_t seq = 0;
    uint8_t last[32];
    char hex[65], s[24];
    rt_audit_last(g_log, &seq, last);
    rt_audit_hex32(hex, last);
    snprintf(s, sizeof s, "%llu", (unsigned long long)seq);
    rt_audit_close(g_log);
    g_log = NULL;
    cn_log(CN_LOG_INFO, "audit log closed", "path", g_path, "last_seq", s, "sha256", hex,
           (char *)NULL);
}

int cn_audit_enabled(void)
{
    return g_log != NULL;
}

void cn_audit_set_client(const char *id)
{
    if (id == t_note.client)
        return;
    snprintf(t_note.client, sizeof t_note.client, "%s", id ? id : "");
}

const char *cn_audit_client(void)
{
    return t_note.client;
}

void cn_audit_note_rpc_id(const char *id)
{
    snprintf(t_note.rpc_id, sizeof t_note.rpc_id, "%s", id ? id : "");
}

void cn_audit_note_message(size_t len)
{
    t_note.has_msg = 1;
    t_note.msg_len = len;
}

static void note_str(char dst[NOTE_STR], const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v))
        snprintf(dst, NOTE_STR, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(dst, NOTE_STR, "%.0f", v->valuedouble);
    else
        dst[0] = '\0';
}

void cn_audit_note_typed(const cJSON *td)
{
    cJSON *parsed = NULL;
    if (g_log == NULL)
        return;
    if (cJSON_IsString(td))
        td = parsed = cJSON_Parse(td->valuestring);
    if (cJSON_IsObject(td)) {
        const cJSON *dom = cJSON_GetObjectItemCaseSensitive(td, "domain");
        t_note.has_td = 1;
        note_str(t_note.td_primary, td, "primaryType");
        note_str(t_note.td_name, dom, "name");
        note_str(t_note.td_version, dom, "version");
        note_str(t_note.td_chain, dom, "chainId");
        note_str(t_note.td_contract, dom, "verifyingContract");
    }
    cJSON_Delete(parsed);
}

void cn_audit_note_signer(const cn_signer *b)
{
    snprintf(t_note.be_name, sizeof t_note.be_name, "%s", b->name);
    snprintf(t_note.be_type, sizeof t_note.be_type, "%s", b->ops->type ? b->ops->type : "");
}

const cn_sign_ctx *cn_audit_begin(cn_audit_sig *au, const cn_sign_ctx *ctx)
{
    pthread_once(&g_boot_once, boot_id);
    memset(au, 0, sizeof *au);
    au->t0_ns = rt_clock_system()->mono_ns(NULL);
    if (ctx != NULL)
        au->ctx = *ctx;
    if (au->ctx.request_id == NULL) {
        snprintf(au->rid, sizeof au->rid, "cn-%s-%llu", g_boot,
                 (unsigned long long)atomic_fetch_add(&g_rid_seq, 1) + 1);
        au->ctx.request_id = au->rid;
    }
    t_note.be_name[0] = t_note.be_type[0] = '\0';
    if (g_log != NULL)
        rt_audit_intent(g_log);
    return &au->ctx;
}

/* What was decoded: the transaction, the message length or the typed data. */
static int add_request(char *b, size_t cap, size_t *n, const ak_tx *tx)
{
    if (tx != NULL) {
        char to[AK_ADDR_STR_SIZE] = "", value[AK_U256_QUANTITY_MAX];
        if (tx->has_to)
            ak_addr_to_checksum(to, tx->to);
        if (ak_u256_format_quantity(value, sizeof value, &tx->value) != AK_OK)
            return 0;
        return rt_audit_put(b, cap, n,
                            ",\"tx\":{\"type\":%d,\"nonce\":%llu,\"to\":\"%s\",\"value\":\"%s\","
                            "\"gas_limit\":%llu,\"data_len\":%zu}",
                            (int)tx->type, (unsigned long long)tx->nonce, to, value,
                            (unsigned long long)tx->gas_limit, tx->data_len);
    }
    if (t_note.has_msg)
        return rt_audit_put(b, cap, n, ",\"message_len\":%zu", t_note.msg_len);
    if (!t_note.has_td)
        return 1;
    size_t m = 0;
    char td[4 * RT_AUDIT_FIELD_CAP];
    int ok = rt_audit_put_str(td, sizeof td, &m, "name", t_note.td_name) &&
             rt_audit_put_str(td, sizeof td, &m, "version", t_note.td_version) &&
             rt_audit_put_str(td, sizeof td, &m, "chain_id", t_note.td_chain) &&
             rt_audit_put_str(td, sizeof td, &m, "verifying_contract", t_note.td_contract);
    return ok && rt_audit_put(b, cap, n, ",\"typed_data\":{") &&
           rt_audit_put_str(b, cap, n, "primary_type", t_note.td_primary) &&
           rt_audit_put(b, cap, n, ",\"domain\":{%s}}", td);
}

static size_t format_body(char *b, size_t cap, const cn_audit_sig *au, const cn_signer *s,
                          const uint8_t digest[32], ak_err rc, const ak_sig *sig)
{
    char account[AK_ADDR_STR_SIZE], dg[AK_HEX_ENCODED_SIZE(32)], sg[AK_HEX_ENCODED_SIZE(65)] = "";
    uint8_t rsv[65];
    size_t n = 0;
    const cn_sign_ctx *c = &au->ctx;
    ak_addr_to_checksum(account, s->address);
    if (ak_hex_encode(dg, sizeof dg, digest, 32) != AK_OK)
        return 0;
    if (rc == AK_OK) {
        ak_sig_to_rsv(rsv, sig);
        if (ak_hex_encode(sg, sizeof sg, rsv, sizeof rsv) != AK_OK)
            return 0;
    }
    int64_t us = (rt_clock_system()->mono_ns(NULL) - au->t0_ns) / 1000;
    int ok = rt_audit_put_str(b, cap, &n, "method", c->method) &&
             rt_audit_put_str(b, cap, &n, "request_id", c->request_id) &&
             rt_audit_put_str(b, cap, &n, "rpc_id", t_note.rpc_id) &&
             rt_audit_put_str(b, cap, &n, "client", t_note.client) &&
             rt_audit_put_str(b, cap, &n, "account", account) &&
             rt_audit_put_str(b, cap, &n, "account_name", s->name) &&
             rt_audit_put_str(b, cap, &n, "signer", t_note.be_name[0] ? t_note.be_name : s->name) &&
             rt_audit_put_str(b, cap, &n, "signer_type",
                              t_note.be_name[0] ? t_note.be_type : s->ops->type) &&
             rt_audit_put(b, cap, &n, ",\"chain_id\":%llu", (unsigned long long)c->chain_id) &&
             rt_audit_put_str(b, cap, &n, "digest", dg) &&
             rt_audit_put_str(b, cap, &n, "outcome", rc == AK_OK ? "signed" : "failed") &&
             rt_audit_put_str(b, cap, &n, "error", rc == AK_OK ? "" : ak_errname(rc)) &&
             rt_audit_put_str(b, cap, &n, "signature", sg) &&
             add_request(b, cap, &n, (const ak_tx *)c->tx) &&
             rt_audit_put(b, cap, &n, ",\"latency_us\":%lld", (long long)(us > 0 ? us : 0));
    ak_wipe(rsv, sizeof rsv);
    return ok ? n : 0;
}

static void clear_notes(void)
{
    t_note.has_msg = t_note.has_td = 0;
    t_note.be_name[0] = t_note.be_type[0] = t_note.rpc_id[0] = '\0';
}

ak_err cn_audit_end(cn_audit_sig *au, const cn_signer *s, const uint8_t digest[32], ak_err rc,
                    ak_sig *sig)
{
    char body[RT_AUDIT_LINE_MAX];
    uint64_t ticket = 0;
    ak_err e = AK_OK;
    if (g_log == NULL)
        goto out;
    size_t n = format_body(body, sizeof body, au, s, digest, rc, sig);
    if (n == 0) {
        rt_audit_intent_cancel(g_log, 1);
        e = AK_ERR_AUDIT;
    } else {
        e = rt_audit_write(g_log, body, n, &ticket);
        /* Only a signature waits for durability: a failure record releases nothing. */
        if (e == AK_OK && rc == AK_OK)
            e = rt_audit_sync(g_log, ticket);
    }
    if (e != AK_OK && rc == AK_OK) {
        cn_log(CN_LOG_ERROR, "audit record not durable: signature withheld", "method",
               au->ctx.method ? au->ctx.method : "", "request_id", au->ctx.request_id,
               (char *)NULL);
        ak_wipe(sig, sizeof *sig);
        rc = AK_ERR_AUDIT;
    }
out:
    clear_notes();
    return rc;
}

ak_err cn_audit_sign_eth(cn_signer *s, ak_sig *out, const uint8_t digest[32],
                         const cn_sign_ctx *ctx)
{
    cn_audit_sig au;
    const cn_sign_ctx *c = cn_audit_begin(&au, ctx);
    return cn_audit_end(&au, s, digest, cn_signer_sign_eth(s, out, digest, c), out);
}
