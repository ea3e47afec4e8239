/*
 * cn_state.h - the connector's shared state (issue 13): what several connector replicas must
 * count together so that they behave as one - nonces per (chain id, account), spend reserved per
 * (account, rolling window), the paymaster's daily cap per sender and its global daily cap.
 *
 * Two backends with the same semantics (one test suite runs against both):
 *   - "memory" (the default): in this process only, a mutex and bounded tables; right for a
 *     single connector, nothing to run. Each memory handle is its own state: open one per
 *     process.
 *   - "postgres": PostgreSQL through libpq, shared by every replica. Each operation is one
 *     round trip on a pooled connection (a prepared single atomic statement, or a PL/pgSQL
 *     function that takes a row lock first), so concurrent callers on any replica never
 *     overshoot a cap by one wei and never get the same nonce. The schema (PostgreSQL schema
 * "anode") is versioned in anode.schema_version and created or migrated by this module, serialised
 *     across replicas by an advisory lock (docs/scale-out.md).
 *
 * Config: the "state" object of the connector config, parsed strictly (cn_state_cfg_parse):
 *   {"backend": "memory", "max_entries": 1048576}
 *   {"backend": "postgres", "url": "postgresql://user@host:5432/db", "password_file": path,
 *    "tls": {"mode": "verify-full", "root_cert": path, "cert": path, "key": path},
 *    "pool_size": 8, "statement_timeout_ms": 2000, "migrate": true, "nonce_trust_ms": 2000}
 * Unknown members, a password or TLS options inside the url (they belong in password_file and
 * tls), verify-ca/verify-full without root_cert and TCP without a "tls" object are refused
 * with a message naming the member. A Unix-socket host (url host starting with '/', or the
 * "host" query parameter) needs no tls.
 *
 * Failure: every postgres operation has one deadline, statement_timeout_ms, covering the wait
 * for a pooled connection, (re)connecting and the statement (also set server-side). Database
 * unreachable, a timeout or a lost connection give AK_ERR_UNAVAILABLE (CN_STATE_UNAVAILABLE_MSG
 * is the message to show a client) and the connection is dropped; the next call reconnects,
 * so the service comes back by itself when the database does. A call that failed may still
 * have been applied by the server (a timeout, an answer lost with the server, the one retry on
 * a new connection): a reservation is then counted without being used (never the reverse), a
 * nonce then leaves a gap that is re-used after the trust window.
 *
 * Time: the store reads the injected clock's wall time (windows, UTC days, the trust window),
 * so replicas need synchronised clocks (NTP); a skew moves a window's edge by the skew.
 *
 * Thread-safety: every function may be called from many threads on one handle. Ownership:
 * cn_state_open copies the config; cn_state_close frees everything (NULL allowed).
 *
 * Use in eth_sendTransaction (a sketch of the intended wiring):
 *   pending = eth_getTransactionCount(from, "pending");
 *   cn_state_tx_reserve(st, &tx.nonce, &resv, chain_id, from, pending, &tx.value,
 *                       policy_limit_or_NULL);        - one round trip, no lock held meanwhile;
 *                                                       a refusal consumes no nonce
 *   sign, eth_sendRawTransaction;
 *   refused by the node: cn_state_nonce_release(st, NULL, chain_id, from, tx.nonce) and
 *   cn_state_release(st, &resv); on "nonce too low" call cn_state_nonce_next again with the
 *   node's new count. AK_ERR_UNAVAILABLE anywhere: answer -32603 CN_STATE_UNAVAILABLE_MSG, sign
 *   nothing, release what was reserved. /ready: cn_state_ready. --migrate: cn_state_migrate.
 */
#ifndef CN_STATE_H
#define CN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"
#include "rt_clock.h"

/* The stable text of AK_ERR_UNAVAILABLE from this module (JSON-RPC -32603's message). */
#define CN_STATE_UNAVAILABLE_MSG "state store unavailable"

#define CN_STATE_URL_MAX     1024
#define CN_STATE_PATH_MAX    1024
#define CN_STATE_POOL_MAX    256
#define CN_STATE_TIMEOUT_MAX 60000    /* statement_timeout_ms */
#define CN_STATE_TRUST_MAX   600000   /* nonce_trust_ms */
#define CN_STATE_WINDOW_MAX  31622400 /* a spend window: at most 366 days, in seconds */
#define CN_STATE_ENTRIES_MAX 16777216 /* memory backend: nonce rows + reservations + cap rows */

typedef enum { CN_STATE_MEMORY = 0, CN_STATE_POSTGRES = 1 } cn_state_backend;

/* TLS to the database: libpq's sslmode values we accept. */
typedef enum {
    CN_STATE_TLS_NONE = 0, /* Unix socket: no TLS object given */
    CN_STATE_TLS_DISABLE,
    CN_STATE_TLS_REQUIRE,
    CN_STATE_TLS_VERIFY_CA,
    CN_STATE_TLS_VERIFY_FULL
} cn_state_tls_mode;

/* The parsed "state" object (plain value type; no secrets: the password stays in its file). */
typedef struct {
    cn_state_backend backend;
    char url[CN_STATE_URL_MAX];
    char password_file[CN_STATE_PATH_MAX]; /* "" = none (peer/cert authentication, .pgpass) */
    cn_state_tls_mode tls_mode;
    char root_cert[CN_STATE_PATH_MAX], cert[CN_STATE_PATH_MAX], key[CN_STATE_PATH_MAX];
    unsigned pool_size;            /* 1..CN_STATE_POOL_MAX, default 8 */
    unsigned statement_timeout_ms; /* 50..CN_STATE_TIMEOUT_MAX, default 2000 */
    unsigned nonce_trust_ms;       /* 0..CN_STATE_TRUST_MAX, default 2000 (as cn_methods) */
    int migrate;                   /* 1 (default): create/migrate the schema on first use */
    size_t max_entries;            /* memory backend bound, default 1048576 */
} cn_state_cfg;

/*
 * Parse the "state" member's value (NULL: the default memory backend). AK_ERR_CONFIG with a
 * message "state.<member>: ..." in err. Reads no file (password_file is read by cn_state_open).
 */
AK_WUR ak_err cn_state_cfg_parse(cn_state_cfg *out, const cJSON *obj, char *err, size_t err_cap);

typedef struct cn_state cn_state;

/*
 * Open a store. clock: NULL = rt_clock_system(); borrowed, must outlive the store. Does not
 * need the database to be up (the first operation connects and, with migrate, migrates);
 * fails only on a config problem (password_file unreadable: AK_ERR_CONFIG with err set).
 */
AK_WUR ak_err cn_state_open(cn_state **out, const cn_state_cfg *cfg, const rt_clock *clock,
                            char *err, size_t err_cap);
void cn_state_close(cn_state *st); /* NULL allowed */

/* For `anode-connector --migrate`: connect once, create or migrate the schema, report in msg
 * ("schema version 1 (was 0)"). Memory backend: AK_OK, nothing to do. */
AK_WUR ak_err cn_state_migrate(const cn_state_cfg *cfg, char *msg, size_t msg_cap);

/* The schema version this build creates. */
int cn_state_schema_version(void);

/*
 * Readiness for /ready: AK_OK if the store answers now (postgres: a round trip), else
 * AK_ERR_UNAVAILABLE. what gets "memory" or "postgres <dbname> on <host>" either way, plus
 * ": <reason>" on failure (libpq's text; never a password).
 */
AK_WUR ak_err cn_state_ready(cn_state *st, char *what, size_t what_cap);

/* ---- nonces ------------------------------------------------------------------------------- */

/*
 * Allocate the nonce for the next transaction of account on chain_id, atomically across every
 * handle on the same database. node_pending: the node's pending transaction count
 * (eth_getTransactionCount "pending") read just before. The stored next nonce wins over
 * node_pending while it is larger and the node's count rose (or was last taken over) less than
 * nonce_trust_ms ago: it bridges the moment before the node counts what was just sent. When the
 * node's count stays below it for nonce_trust_ms - a gap: a transaction allocated but never
 * sent or dropped by the node - node_pending is the nonce (the gap is re-used) and a new
 * window starts. This holds under continuous traffic too (a window refreshed by every
 * allocation would never let a gap be filled). Then stored next = nonce + 1.
 * AK_ERR_RANGE if the nonce would reach 2^64 - 1 (EIP-2681).
 */
AK_WUR ak_err cn_state_nonce_next(cn_state *st, uint64_t *nonce, uint64_t chain_id,
                                  const uint8_t account[20], uint64_t node_pending);

/*
 * Give nonce back after the node refused its transaction: if it is still the last one
 * allocated, the next allocation gets it again (*released = 1); otherwise the gap stays until
 * the trust window passes and the node's count wins (*released = 0). released may be NULL.
 */
AK_WUR ak_err cn_state_nonce_release(cn_state *st, int *released, uint64_t chain_id,
                                     const uint8_t account[20], uint64_t nonce);

/* ---- spend reservations and the paymaster's caps ------------------------------------------ */

/* Why a reservation was refused (AK_ERR_FORBIDDEN). */
typedef enum {
    CN_STATE_OK = 0,
    CN_STATE_DENY_VALUE,  /* the window's value cap */
    CN_STATE_DENY_COUNT,  /* the window's transaction count cap */
    CN_STATE_DENY_SENDER, /* the paymaster's daily cap per sender */
    CN_STATE_DENY_GLOBAL  /* the paymaster's global daily cap */
} cn_state_deny;

/* The name of a refusal's rule (the account policy's "cumulative_over_cap",
 * "cumulative_tx_over_cap", the paymaster's "daily_cap_wei_per_sender", ...; "" for OK). */
const char *cn_state_deny_rule(cn_state_deny d);

/* One account's limits over a rolling window (from its policy). */
typedef struct {
    uint64_t window_s;  /* 1..CN_STATE_WINDOW_MAX */
    int has_max_value;  /* cap the sum of values (wei) */
    ak_u256 max_value;  /* wei; stored exactly as NUMERIC(78,0) */
    uint64_t max_count; /* cap the number of transactions; 0 = none */
} cn_state_spend_limit;

/* A reservation, to release if what it was for did not happen. Plain value; no cleanup. */
typedef struct {
    int kind; /* 0 none, 1 spend, 2 paymaster */
    int64_t id;
    uint8_t account[20];
    uint64_t window_s;
    int64_t day;
    ak_u256 value;
    cn_state_deny deny; /* why it was refused (AK_ERR_FORBIDDEN), else CN_STATE_OK */
} cn_state_resv;

/*
 * Reserve value wei (and one transaction) for account in the rolling window lim->window_s
 * ending now, before signing: AK_OK and *out filled, or AK_ERR_FORBIDDEN with out->deny set
 * if the sum over the window would pass max_value or the count max_count (nothing reserved).
 * A reservation counts until it is window_s old or released. Memory backend: AK_ERR_LIMIT
 * past max_entries. AK_ERR_RANGE if a running sum would pass 2^256 - 1 (uncapped counters).
 */
AK_WUR ak_err cn_state_spend_reserve(cn_state *st, cn_state_resv *out, const uint8_t account[20],
                                     const ak_u256 *value, const cn_state_spend_limit *lim);

/*
 * Reserve cost wei for the paymaster's sponsorship of sender in the current UTC day, against
 * its cap per sender and the global cap (NULL: no such cap; both counters are kept anyway):
 * AK_ERR_FORBIDDEN with out->deny SENDER or GLOBAL, nothing reserved.
 */
AK_WUR ak_err cn_state_pm_reserve(cn_state *st, cn_state_resv *out, const uint8_t sender[20],
                                  const ak_u256 *cost, const ak_u256 *sender_cap,
                                  const ak_u256 *global_cap);

/*
 * Read the paymaster's counters of the current UTC day without reserving anything (the stub
 * stage's early refusal): *sender_spent for sender, *global_spent for all senders together
 * (0 when nothing was reserved today). One round trip on postgres; a reservation made
 * meanwhile by another caller may change them at once (only cn_state_pm_reserve is exact).
 */
AK_WUR ak_err cn_state_pm_spent(cn_state *st, ak_u256 *sender_spent, ak_u256 *global_spent,
                                const uint8_t sender[20]);

/*
 * cn_state_spend_reserve (when lim is not NULL) and cn_state_nonce_next for the same account in
 * one atomic call - one round trip on postgres: both or neither. AK_ERR_FORBIDDEN with
 * out->deny set: refused, no nonce consumed. Release as for the two calls.
 */
AK_WUR ak_err cn_state_tx_reserve(cn_state *st, uint64_t *nonce, cn_state_resv *out,
                                  uint64_t chain_id, const uint8_t account[20],
                                  uint64_t node_pending, const ak_u256 *value,
                                  const cn_state_spend_limit *lim);

/* Undo a reservation (the node refused the transaction, the signer failed). Releasing twice,
 * or a reservation already out of its window, is harmless. kind 0: AK_OK, nothing done. */
AK_WUR ak_err cn_state_release(cn_state *st, const cn_state_resv *r);

#endif
