/* cn_signer_pkcs11.c - direct PKCS#11 signing in the connector (see cn_signer_pkcs11.h). */
#include "cn_signer_pkcs11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_secmem.h"
#include "cn_log.h"
#include "cn_rcfg.h"
#include "cn_backend.h"
#include "p11_token.h"
#include "p11_uri.h"

typedef struct {
    p11_token *tok;
    p11_key *key; /* owned by tok */
    unsigned max_sessions;
} p11_impl;

static ak_err p11s_sign(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                        const cn_sign_ctx *ctx)
{
    (void)ctx;
    p11_impl *p = s->impl;
    ak_err rc = p11_token_sign_raw(p->tok, p->key, digest, out->bytes);
    if (rc != AK_OK) {
        unsigned long rv = p11_token_last_rv(p->tok);
        cn_log(CN_LOG_WARN, "pkcs11 signature failed", "signer", s->name, "error", ak_strerror(rc),
               "ckr", p11_token_rv_name(rv), (char *)NULL);
        return rc;
    }
    out->form = CN_SIG_RS;
    out->len = 64;
    out->has_recid = 0; /* recovered against the public key by the caller */
    return AK_OK;
}

static ak_err p11s_health(cn_signer *s, cn_signer_health *out)
{
    p11_impl *p = s->impl;
    /* 2 ms: SoftHSM ~1 ms per C_Sign; hardware HSMs similar or less */
    return cn_backend_health(out, p11_token_health(p->tok), p->max_sessions, 2000, "token");
}

static void p11s_destroy(cn_signer *s)
{
    p11_impl *p = s->impl;
    if (p == NULL)
        return;
    p11_token_close(p->tok);
    free(p);
    s->impl = NULL;
}

static const cn_signer_ops k_p11_ops = {"pkcs11", p11s_sign, p11s_health, p11s_destroy};

/* The member as written; the table reads into p11_impl's cfg (borrowed from the tree, used
 * only while the signer is built). */
typedef struct {
    const char *name, *module, *label, *key;
    long max_sessions, timeout_ms;
    ak_cfg_secret_src pin;
} p11_cfg;

static const ak_cfg_field k_fields[] = {
    AK_CFG_KNOWN("type"),
    AK_CFG_REF("module", AK_CFG_REQUIRED | AK_CFG_PATH, p11_cfg, module, P11_PATH_MAX - 1),
    AK_CFG_REF("token_label", AK_CFG_REQUIRED, p11_cfg, label, 32),
    AK_CFG_REF("key", AK_CFG_REQUIRED, p11_cfg, key, P11_URI_MAX_LEN - 1),
    AK_CFG_INT("max_sessions", 0, p11_cfg, max_sessions, 1, 1024, 8),
    AK_CFG_INT("timeout_ms", 0, p11_cfg, timeout_ms, 1, 600000, 5000),
    AK_CFG_KNOWN("name"), /* the registry reads it; default: the token label */
    AK_CFG_SECRET("pin", AK_CFG_REQUIRED, p11_cfg, pin),
};

/* Read the config, open the token with the PIN (then wiped), find the key. */
static AK_WUR ak_err p11s_configure(cn_signer *s, cn_backend_start *st, const cJSON *cfg, char *err,
                                    size_t err_cap)
{
    p11_impl *p = s->impl;
    cn_rcfg_secret pin = {0};
    p11_cfg c;
    char e2[200] = "";
    p11_uri *uri = calloc(1, sizeof *uri); /* large: not on the stack */
    ak_err rc = AK_ERR_NOMEM;
    (void)st;
    if (uri == NULL)
        goto out;
    if ((rc = ak_cfg_read(&c, k_fields, AK_CFG_COUNT(k_fields), cfg, "pkcs11", err, err_cap)) !=
        AK_OK)
        goto out;
    rc = AK_ERR_CONFIG;
    if (p11_uri_parse(uri, c.key, strlen(c.key), e2, sizeof e2) != AK_OK) {
        snprintf(err, err_cap, "pkcs11.key: %s", e2);
        goto out;
    }
    if (uri->has_pin_value || uri->has_pin_source) {
        snprintf(err, err_cap, "pkcs11.key: give the PIN with pin_file or pin_env, not in the URI");
        goto out;
    }
    if (!uri->has_object && !uri->has_id) {
        snprintf(err, err_cap, "pkcs11.key: the URI must name the key (object= and/or id=)");
        goto out;
    }
    rc = cn_rcfg_secret_load(&pin, &c.pin, P11_PIN_MAX, 0, "pkcs11", err, err_cap);
    if (rc != AK_OK)
        goto out;
    p->max_sessions = (unsigned)c.max_sessions;
    snprintf(s->name, sizeof s->name, "%s", c.label);
    p11_token_config tc = {.module_path = c.module,
                           .token_label = c.label,
                           .pin = pin.s,
                           .pin_len = pin.len,
                           .max_sessions = (unsigned)c.max_sessions,
                           .op_timeout_ms = (unsigned)c.timeout_ms};
    rc = p11_token_open(&p->tok, &tc, e2, sizeof e2);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "pkcs11: cannot open token \"%s\": %s", c.label, e2);
        goto out;
    }
    rc = p11_token_find_key(p->tok, &p->key, uri, e2, sizeof e2);
    if (rc != AK_OK) {
        snprintf(err, err_cap, "pkcs11.key: %s", e2);
        goto out;
    }
    memcpy(s->pubkey, p11_key_pubkey(p->key), 65);
    memcpy(s->address, p11_key_address(p->key), 20);
out:
    cn_rcfg_secret_free(&pin);
    if (uri != NULL)
        p11_uri_clear(uri);
    free(uri);
    return rc;
}

static const cn_backend k_pkcs11 = {
    "pkcs11",         "pkcs11",   "pkcs11",      CN_LEVEL_PRODUCTION,
    sizeof(p11_impl), &k_p11_ops, p11s_configure};

ak_err cn_pkcs11_signer_new(cn_signer **out, const cJSON *cfg, char *err, size_t err_cap)
{
    return cn_backend_new(out, &k_pkcs11, cfg, err, err_cap);
}
