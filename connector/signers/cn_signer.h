/*
 * cn_signer.h - the connector's signer interface: every backend (local key, anode-keyserver
 * "keyless", and later PKCS#11 direct, AWS KMS, Vault, ...) implements cn_signer_ops, and the
 * JSON-RPC methods only ever call cn_signer_sign_eth(). Adding a backend never touches the router.
 *
 * A backend signs a 32-byte digest as given and returns either DER (what an HSM, the key server
 * and AWS KMS produce) or raw r||s, optionally with a recovery id it knows for certain (a local
 * libsecp256k1 signer). cn_signer_sign_eth() turns that into Ethereum's (r, s, v): strict DER
 * parse, low-s (EIP-2), and - unless the backend supplied the recovery id - trial recovery
 * against the signer's public key. A signature that recovers to neither id is refused
 * (AK_ERR_RECOVER): never returned to the client.
 *
 * Ownership: a backend's constructor allocates the cn_signer with calloc (and its impl as it
 * likes); cn_signer_free() calls ops->destroy (which frees impl, wiping secrets) then free().
 * Signers are shared by all request threads: ops->sign and ops->health must be thread-safe.
 */
#ifndef CN_SIGNER_H
#define CN_SIGNER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ak_err.h"
#include "ak_intent.h"
#include "ak_sig.h"

/* What the request was, for backends that record or summarise what they sign. */
typedef struct {
    const char *method;     /* JSON-RPC method, e.g. "eth_sendTransaction" */
    const char *request_id; /* correlation id (may be NULL) */
    uint64_t chain_id;      /* 0 if not applicable (personal_sign) */
    time_t time;
    const void *tx; /* const ak_tx * when signing a transaction, else NULL */
    /* issue 11: what digest is the hash of (kind and members), for a backend whose server
     * recomputes it (keyless send_intent); NULL: digest only. Borrowed for the call. */
    const ak_intent *intent;
    char *why; /* if not NULL: the backend's secret-free reason for a failure (why_cap bytes) */
    size_t why_cap;
} cn_sign_ctx;

typedef enum {
    CN_SIG_DER = 0, /* bytes[0..len) is a DER SEQUENCE{r,s} */
    CN_SIG_RS = 1   /* bytes[0..64) is r||s */
} cn_sig_form;

typedef struct {
    cn_sig_form form;
    uint8_t bytes[AK_DER_SIG_MAX];
    size_t len;
    int has_recid; /* the backend knows the recovery id for certain (and s is already low) */
    uint8_t recid;
} cn_raw_sig;

typedef enum {
    CN_LEVEL_DEVELOPMENT = 0,
    CN_LEVEL_TESTING,
    CN_LEVEL_STAGING,
    CN_LEVEL_PRODUCTION,
    CN_LEVEL_ENTERPRISE
} cn_security_level;

typedef struct {
    int can_sign;                 /* 1 if a signature would be attempted now */
    unsigned expected_latency_ms; /* typical latency of one signature */
    unsigned max_concurrency;     /* how many signatures it can make at once */
    char detail[128];             /* short, secret-free reason when it cannot sign */
} cn_signer_health;

typedef struct cn_signer cn_signer;

typedef struct {
    const char *type; /* "local", "keyless", ... */
    AK_WUR ak_err (*sign)(cn_signer *s, cn_raw_sig *out, const uint8_t digest[32],
                          const cn_sign_ctx *ctx);
    AK_WUR ak_err (*health)(cn_signer *s, cn_signer_health *out);
    void (*destroy)(cn_signer *s);
} cn_signer_ops;

struct cn_signer {
    const cn_signer_ops *ops;
    void *impl;           /* backend state, owned by the backend */
    char name[64];        /* configured name, for logs and metrics */
    const char *provider; /* static string, e.g. "anode-keyserver" */
    cn_security_level level;
    uint8_t pubkey[65]; /* 04|X|Y: known at construction time */
    uint8_t address[20];
};

/*
 * THE conversion of a backend's answer to Ethereum's (r, s, recid): strict DER or raw r||s,
 * range and low-s checks, and trial recovery against pubkey unless the backend vouches for the
 * recovery id (has_recid). AK_ERR_RECOVER for a signature by another key.
 */
AK_WUR ak_err cn_raw_sig_to_eth(ak_sig *out, const cn_raw_sig *raw, const uint8_t digest[32],
                                const uint8_t pubkey[65]);

/* Sign digest with s and convert it (cn_raw_sig_to_eth) against s->pubkey. */
AK_WUR ak_err cn_signer_sign_eth(cn_signer *s, ak_sig *out, const uint8_t digest[32],
                                 const cn_sign_ctx *ctx);

void cn_signer_free(cn_signer *s); /* NULL allowed */

const char *cn_security_level_name(cn_security_level level);

#endif
