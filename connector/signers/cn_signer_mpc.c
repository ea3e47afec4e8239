/*
 * cn_signer_mpc.c - the "mpc_kms" signer (see cn_signer_mpc.h, docs/mpc-kms-protocol.md).
 *
 * Owns: the configuration, a cn_rhttp client, the HMAC secret in locked memory. Each attempt
 * of a request is signed afresh (new timestamp and nonce), so a retry is never a replay.
 */
#include "cn_signer_mpc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_secmem.h"
#include "ak_tx.h"
#include "ak_u256.h"
#include "cn_rcfg.h"
#include "cn_rhttp.h"
#include "cn_backend.h"
#include "cn_ksproto.h"

#define W          "mpc_kms"
#define ID_MAX     128
#define REQ_ID_MAX 64
#define REMARK_MAX 200
#define SCHEME     "MPC-HMAC-SHA256"

typedef struct {
    cn_rhttp *http;
    char endpoint[257], access_key_id[ID_MAX + 1], key_id[ID_MAX + 1], native[17], address[43];
    cn_rcfg_http http_cfg;
    ak_cfg_secret_src secret_src; /* during configure only */
    int summary;
    cn_rcfg_secret secret;
    _Atomic uint64_t seq;
    _Atomic uint32_t latency_us;
} mpc;

static int64_t now_us(void) /* the one clock (rt_clock) */
{
    const rt_clock *c = rt_clock_system();
    return c->mono_ns(c->ctx) / 1000;
}

ak_err cn_mpc_sign_request(char out_hex[65], char content_sha256_hex[65], const char *secret,
                           size_t secret_len, const char *method, const char *path,
                           const char *timestamp, const char *nonce, const char *body,
                           size_t body_len)
{
    uint8_t dg[32], mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    char canon[CN_RHTTP_URL_MAX + 256];
    SHA256((const unsigned char *)(body ? body : ""), body ? body_len : 0, dg);
    ak_hex_bare(content_sha256_hex, dg, 32);
    int n = snprintf(canon, sizeof canon, SCHEME "\n%s\n%s\n%s\n%s\n%s", method, path, timestamp,
                     nonce, content_sha256_hex);
    if (n < 0 || (size_t)n >= sizeof canon)
        return AK_ERR_LIMIT;
    if (secret_len > (size_t)0x7fffffff ||
        HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)canon, (size_t)n, mac,
             &mac_len) == NULL ||
        mac_len != 32) {
        ak_wipe(mac, sizeof mac);
        return AK_ERR_CRYPTO;
    }
    ak_hex_bare(out_hex, mac, 32);
    ak_wipe(mac, sizeof mac);
    return AK_OK;
}

static ak_err mpc_headers(void *user, struct curl_slist **out, const char *method, const char *path,
                          const char *body, size_t body_len)
{
    mpc *m = user;
    char ts[24], nonce[33], sig[65], dg[65];
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return AK_ERR_CRYPTO;
    ak_hex_bare(nonce, rnd, sizeof rnd);
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    ak_err rc = cn_mpc_sign_request(sig, dg, m->secret.s, m->secret.len, method, path, ts, nonce,
                                    body, body_len);
    rc = cn_rhttp_header_add(out, rc, "Content-Type: application/json");
    rc = cn_rhttp_header_add(out, rc, "Expect:");
    rc = cn_rhttp_header_add(out, rc, "Authorization: " SCHEME " Credential=%s,Signature=%s",
                             m->access_key_id, sig);
    rc = cn_rhttp_header_add(out, rc, "X-MPC-Timestamp: %s", ts);
    rc = cn_rhttp_header_add(out, rc, "X-MPC-Nonce: %s", nonce);
    return cn_rhttp_header_add(out, rc, "X-MPC-Content-SHA256: %s", dg);
}

/* Non-200 answer -> ak_err (docs/mpc-kms-protocol.md "Errors"). */
static ak_err mpc_status_err(long status)
{
    if (status == 422)
        return AK_ERR_FORBIDDEN; /* the MPC policy refused what the summary describes */
    if (status == 404)
        return AK_ERR_KEY_NOT_FOUND;
    return cn_rhttp_status_err(status);
}

/* One request; on AK_OK *j is the 200 answer's JSON object (caller deletes). */
static AK_WUR ak_err mpc_call(mpc *m, cJSON **j, const char *method, const char *path,
                              const char *body)
{
    cn_rhttp_resp r = {0};
    cn_rhttp_req q = {method, m->endpoint, path, body, body ? strlen(body) : 0, mpc_headers, m};
    ak_err rc = cn_rhttp_resp_init(&r);
    *j = NULL;
    if (rc == AK_OK)
        rc = cn_rhttp_call(m->http, &q, &r);
    if (rc == AK_OK && r.status != 200)
        rc = mpc_status_err(r.status);
    if (rc == AK_OK) {
        *j = cJSON_ParseWithLength(r.body, r.len);
        if (!cJSON_IsObject(*j)) {
            cJSON_Delete(*j);
            *j = NULL;
            rc = AK_ERR_UPSTREAM;
        }
    }
    cn_rhttp_resp_clear(&r);
    return rc;
}

static int str_is(const cJSON *obj, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

/* Keep only [A-Za-z0-9._:-] of src (request ids, method names) in dst. */
static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (size_t i = 0; src != NULL && src[i] != '\0' && o + 1 < cap; i++) {
        char c = src[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == ':' || c == '-')
            dst[o++] = c;
    }
    dst[o] = '\0';
}

/*
 * The summary of docs/mpc-kms-protocol.md from the transaction: native transfer, contract
 * call, contract creation, or an ERC-20 transfer(address,uint256) (token = contract).
 */
static AK_WUR ak_err build_summary(char *out, size_t cap, const cn_signer *s, const mpc *m,
                                   const ak_tx *tx, const cn_sign_ctx *ctx, const char *rid)
{
    char from[AK_ADDR_STR_SIZE], to[AK_ADDR_STR_SIZE] = "", token[AK_ADDR_STR_SIZE];
    char amount[AK_U256_DECIMAL_MAX], meth[48], remark[REMARK_MAX];
    const char *type = "transfer";
    ak_u256 amt = tx->value;
    ak_addr_to_checksum(from, s->address);
    snprintf(token, sizeof token, "%s", m->native);
    if (!tx->has_to) {
        type = "contract_creation";
    } else {
        ak_addr_to_checksum(to, tx->to);
        static const uint8_t sel[4] = {0xa9, 0x05, 0x9c, 0xbb}; /* transfer(address,uint256) */
        if (tx->data_len == 68 && memcmp(tx->data, sel, 4) == 0 && ak_u256_is_zero(&tx->value)) {
            static const uint8_t zero12[12] = {0};
            if (memcmp(tx->data + 4, zero12, 12) == 0 &&
                ak_u256_from_be(&amt, tx->data + 36, 32) == AK_OK) {
                type = "erc20_transfer";
                ak_addr_to_checksum(token, tx->to);
                ak_addr_to_checksum(to, tx->data + 16);
            } else {
                type = "contract_call";
            }
        } else if (tx->data_len > 0) {
            type = "contract_call";
        }
    }
    if (ak_u256_format_decimal(amount, sizeof amount, &amt) != AK_OK)
        return AK_ERR_INTERNAL;
    sanitize(meth, sizeof meth, ctx && ctx->method ? ctx->method : "");
    snprintf(remark, sizeof remark, "method=%s chain_id=%llu nonce=%llu tx_type=%d request_id=%s",
             meth[0] ? meth : "unknown", (unsigned long long)tx->chain_id,
             (unsigned long long)tx->nonce, (int)tx->type, rid);
    int n = snprintf(out, cap,
                     "{\"type\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"amount\":\"%s\","
                     "\"token\":\"%s\",\"remark\":\"%s\"}",
                     type, from, to, amount, token, remark);
    return n > 0 && (size_t)n < cap ? AK_OK : AK_ERR_LIMIT;
}

/*
 * The signature field: hex of a strict DER SEQUENCE{r,s}, of r||s (64 bytes) or of r||s||v (65,
 * v ignored: the recovery id is found by trial recovery against the public key). A DER
 * encoding is recognised by parsing it strictly; r||s is never valid strict DER except with
 * negligible probability.
 */
static AK_WUR ak_err parse_signature(cn_raw_sig *out, const char *hex)
{
    uint8_t buf[AK_DER_SIG_MAX + 2], r[32], s[32];
    size_t len = 0;
    if (ak_hex_decode(buf, sizeof buf, &len, hex, strlen(hex)) != AK_OK)
        return AK_ERR_UPSTREAM;
    out->has_recid = 0;
    if (len <= sizeof out->bytes && ak_der_sig_parse(r, s, buf, len) == AK_OK) {
        out->form = CN_SIG_DER;
    } else if (len == 64 || len == 65) {
        out->form = CN_SIG_RS;
        len = 64;
    } else {
        return AK_ERR_UPSTREAM;
    }
    memcpy(out->bytes, buf, len);
    out->len = len;
    return AK_OK;
}

static ak_err mpc_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                       const cn_sign_ctx *ctx)
{
    mpc *m = s->impl;
    char dhex[67], rid[REQ_ID_MAX + 1], summary[1024], body[2048];
    cJSON *j = NULL;
    int64_t t0 = now_us();
    const ak_tx *tx = ctx ? (const ak_tx *)ctx->tx : NULL;
    ak_err rc = AK_OK;
    dhex[0] = '0';
    dhex[1] = 'x';
    ak_hex_bare(dhex + 2, digest, 32);
    sanitize(rid, sizeof rid, ctx ? ctx->request_id : NULL);
    if (rid[0] == '\0')
        snprintf(rid, sizeof rid, "cn-%ld-%llu", (long)getpid(),
                 (unsigned long long)atomic_fetch_add(&m->seq, 1));
    const char *path = "/v1/sign";
    if (m->summary && tx != NULL) {
        rc = build_summary(summary, sizeof summary, s, m, tx, ctx, rid);
        if (rc != AK_OK)
            goto out;
        path = "/v1/sign_with_summary";
        snprintf(body, sizeof body,
                 "{\"key_id\":\"%s\",\"data\":\"%s\",\"request_id\":\"%s\",\"summary\":%s}",
                 m->key_id, dhex, rid, summary);
    } else {
        snprintf(body, sizeof body, "{\"key_id\":\"%s\",\"data\":\"%s\",\"request_id\":\"%s\"}",
                 m->key_id, dhex, rid);
    }
    rc = mpc_call(m, &j, "POST", path, body);
    if (rc != AK_OK)
        goto out;
    rc = AK_ERR_UPSTREAM;
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(j, "signature");
    if (!str_is(j, "key_id", m->key_id) || !str_is(j, "request_id", rid) || !cJSON_IsString(sig))
        goto out;
    rc = parse_signature(out, sig->valuestring);
    if (rc != AK_OK)
        goto out;
    uint32_t us = (uint32_t)(now_us() - t0);
    uint32_t old = atomic_load(&m->latency_us);
    atomic_store(&m->latency_us, old == 0 ? us : (old * 7 + us) / 8);
out:
    cJSON_Delete(j);
    return rc;
}

static ak_err mpc_health(cn_signer *s, cn_signer_health *out)
{
    mpc *m = s->impl;
    cJSON *j = NULL;
    ak_err rc = mpc_call(m, &j, "GET", "/v1/health", NULL);
    cJSON_Delete(j);
    return cn_backend_health(out, rc, 16, atomic_load(&m->latency_us), "mpc-kms");
}

static void mpc_destroy(cn_signer *s)
{
    mpc *m = s->impl;
    if (m == NULL)
        return;
    cn_rhttp_free(m->http);
    cn_rcfg_secret_free(&m->secret);
    free(m);
    s->impl = NULL;
}

static const cn_signer_ops mpc_ops = {"mpc_kms", mpc_sign, mpc_health, mpc_destroy};

/* GET /v1/keys/{key_id}: public key, its address checked (the key server's /pubkey shape,
 * cn_ksproto_pubkey_at), and the configured one if any. */
static AK_WUR ak_err fetch_key(mpc *m, cn_signer *s, int has_want, const uint8_t want[20],
                               char *err, size_t cap)
{
    char path[ID_MAX + 16];
    cJSON *j = NULL;
    snprintf(path, sizeof path, "/v1/keys/%s", m->key_id);
    ak_err rc = mpc_call(m, &j, "GET", path, NULL);
    if (rc != AK_OK)
        cn_rcfg_err(err, cap, W ": GET /v1/keys/%s failed: %s", m->key_id, ak_strerror(rc));
    else
        rc = cn_ksproto_pubkey_at(s->pubkey, s->address, j, m->key_id, W ": key", err, cap);
    if (rc == AK_OK && has_want && memcmp(s->address, want, 20) != 0) {
        char got[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(got, s->address);
        rc = AK_ERR_PRIVKEY;
        cn_rcfg_err(err, cap, W ": key %s is %s, not the configured address", m->key_id, got);
    }
    cJSON_Delete(j);
    return rc;
}

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_KNOWN("name"),
    AK_CFG_STR("endpoint", AK_CFG_REQUIRED | AK_CFG_URL, mpc, endpoint, NULL),
    AK_CFG_STR("access_key_id", AK_CFG_REQUIRED | AK_CFG_ID, mpc, access_key_id, NULL),
    AK_CFG_SECRET("secret_key", AK_CFG_REQUIRED, mpc, secret_src),
    AK_CFG_STR("key_id", AK_CFG_REQUIRED | AK_CFG_ID, mpc, key_id, NULL),
    AK_CFG_BOOL("summary", 0, mpc, summary, 1),
    AK_CFG_STR("native_token", AK_CFG_ID, mpc, native, "ETH"),
    AK_CFG_STR("address", 0, mpc, address, NULL),
    AK_CFG_INLINE(cn_rcfg_http_fields, CN_RCFG_HTTP_NFIELDS, mpc, http_cfg),
};

static AK_WUR ak_err mpc_start(cn_signer *s, int has_want, const uint8_t want[20], char *err,
                               size_t cap)
{
    return fetch_key(s->impl, s, has_want, want, err, cap);
}

static AK_WUR ak_err mpc_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg, char *err,
                                   size_t cap)
{
    mpc *m = s->impl;
    ak_err rc;
    if ((rc = ak_cfg_read(m, k_fields, AK_CFG_COUNT(k_fields), cfg, W, err, cap)) != AK_OK ||
        (rc = cn_rcfg_secret_load(&m->secret, &m->secret_src, CN_RCFG_SECRET_MAX,
                                  CN_RCFG_TRIM_SPACE, W, err, cap)) != AK_OK)
        return rc;
    if (!cJSON_HasObjectItem(cfg, "timeout_ms"))
        m->http_cfg.timeout_ms = 10000; /* MPC rounds are slower than a single HSM */
    snprintf(s->name, sizeof s->name, "%.63s", m->key_id);
    *st = (cn_backend_start){
        .http = &m->http_cfg, .client = &m->http, .address = m->address, .start = mpc_start};
    return AK_OK;
}

static const cn_backend k_mpc = {"mpc_kms", "mpc-kms",    W, CN_LEVEL_ENTERPRISE, sizeof(mpc),
                                 &mpc_ops,  mpc_configure};

ak_err cn_mpc_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_mpc, cfg, err, err_cap);
}
