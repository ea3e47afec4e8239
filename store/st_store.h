/*
 * st_store.h - shared state (issue 13): what several processes must count together so that
 * they behave as one. Connector replicas: nonces per (chain id, account), spend reserved per
 * (account, rolling window), the paymaster's daily cap per sender and its global daily cap. An
 * HA pair of key servers: each key's cumulative cap, as spend reservations under a tagged id of
 * the key's address (keyserver/ks_policy_window.h). Top-level library ak_store: it links only
 * shared, runtime and libpq, and knows nothing of either daemon.
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
 * Config: the "state" object of the connector's (and the key server's) config, parsed strictly
 * (st_cfg_parse):
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
 * unreachable, a timeout or a lost connection give AK_ERR_UNAVAILABLE (ST_UNAVAILABLE_MSG
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
 * st_open copies the config; st_close frees everything (NULL allowed).
 *
 * Use in eth_sendTransaction (the wiring of connector/rpc/cn_nonce_state.c):
 *   pending = eth_getTransactionCount(from, "pending");
 *   st_tx_reserve_begin(st, &op, chain_id, from, pending, &tx.value, policy_limit_or_NULL);
 *   fill gas and fees from the node               - meanwhile the database runs the statement
 *   st_reserve_end(op, &tx.nonce, &resv);          - one round trip, no lock held meanwhile;
 *                                                    a refusal consumes no nonce
 *   fill failed: release both (below), answer fill's error;
 *   sign, eth_sendRawTransaction;
 *   refused by the node: st_nonce_release(st, NULL, chain_id, from, tx.nonce) and
 *   st_release(st, &resv); on "nonce too low" call st_nonce_next again with the
 *   node's new count. AK_ERR_UNAVAILABLE anywhere: answer -32603 ST_UNAVAILABLE_MSG, sign
 *   nothing, release what was reserved. /ready: st_ready. --migrate: st_migrate.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"
#include "rt_clock.h"

/* The stable text of AK_ERR_UNAVAILABLE from this module (JSON-RPC -32603's message). */
#define ST_UNAVAILABLE_MSG "state store unavailable"

#define ST_URL_MAX     1024
#define ST_PATH_MAX    1024
#define ST_POOL_MAX    256
#define ST_TIMEOUT_MAX 60000    /* statement_timeout_ms */
#define ST_TRUST_MAX   600000   /* nonce_trust_ms */
#define ST_WINDOW_MAX  31622400 /* a spend window: at most 366 days, in seconds */
#define ST_ENTRIES_MAX 16777216 /* memory backend: nonce rows + reservations + cap rows */

typedef enum { ST_MEMORY = 0, ST_POSTGRES = 1 } st_backend;

/* TLS to the database: libpq's sslmode values we accept. */
typedef enum {
    ST_TLS_NONE = 0, /* Unix socket: no TLS object given */
    ST_TLS_DISABLE,
    ST_TLS_REQUIRE,
    ST_TLS_VERIFY_CA,
    ST_TLS_VERIFY_FULL
} st_tls_mode;

/* The parsed "state" object (plain value type; no secrets: the password stays in its file). */
typedef struct {
    st_backend backend;
    char url[ST_URL_MAX];
    char password_file[ST_PATH_MAX]; /* "" = none (peer/cert authentication, .pgpass) */
    st_tls_mode tls_mode;
    char root_cert[ST_PATH_MAX], cert[ST_PATH_MAX], key[ST_PATH_MAX];
    unsigned pool_size;            /* 1..ST_POOL_MAX, default 8 */
    unsigned statement_timeout_ms; /* 50..ST_TIMEOUT_MAX, default 2000 */
    unsigned nonce_trust_ms;       /* 0..ST_TRUST_MAX, default 2000 (as cn_methods) */
    int migrate;                   /* 1 (default): create/migrate the schema on first use */
    size_t max_entries;            /* memory backend bound, default 1048576 */
} st_cfg;

/*
 * Parse the "state" member's value (NULL: the default memory backend). AK_ERR_CONFIG with a
 * message "state.<member>: ..." in err. Reads no file (password_file is read by st_open).
 */
AK_WUR ak_err st_cfg_parse(st_cfg *out, const cJSON *obj, char *err, size_t err_cap);

typedef struct st_store st_store;

/*
 * Open a store. clock: NULL = rt_clock_system(); borrowed, must outlive the store. Does not
 * need the database to be up (the first operation connects and, with migrate, migrates);
 * fails only on a config problem (password_file unreadable: AK_ERR_CONFIG with err set).
 */
AK_WUR ak_err st_open(st_store **out, const st_cfg *cfg, const rt_clock *clock, char *err,
                      size_t err_cap);
void st_close(st_store *st); /* NULL allowed */

/* For `anode-connector --migrate`: connect once, create or migrate the schema, report in msg
 * ("schema version 1 (was 0)"). Memory backend: AK_OK, nothing to do. */
AK_WUR ak_err st_migrate(const st_cfg *cfg, char *msg, size_t msg_cap);

/* The schema version this build creates. */
int st_schema_version(void);

/*
 * Readiness for /ready: AK_OK if the store answers now (postgres: a round trip), else
 * AK_ERR_UNAVAILABLE. what gets "memory" or "postgres <dbname> on <host>" either way, plus
 * ": <reason>" on failure (libpq's text; never a password).
 */
AK_WUR ak_err st_ready(st_store *st, char *what, size_t what_cap);

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
AK_WUR ak_err st_nonce_next(st_store *st, uint64_t *nonce, uint64_t chain_id,
                            const uint8_t account[20], uint64_t node_pending);

/*
 * Give nonce back after the node refused its transaction: if it is still the last one
 * allocated, the next allocation gets it again (*released = 1); otherwise the gap stays until
 * the trust window passes and the node's count wins (*released = 0). released may be NULL.
 */
AK_WUR ak_err st_nonce_release(st_store *st, int *released, uint64_t chain_id,
                               const uint8_t account[20], uint64_t nonce);

/* ---- spend reservations and the paymaster's caps ------------------------------------------ */

/* Why a reservation was refused (AK_ERR_FORBIDDEN). */
typedef enum {
    ST_OK = 0,
    ST_DENY_VALUE,  /* the window's value cap */
    ST_DENY_COUNT,  /* the window's transaction count cap */
    ST_DENY_SENDER, /* the paymaster's daily cap per sender */
    ST_DENY_GLOBAL  /* the paymaster's global daily cap */
} st_deny;

/* The name of a refusal's rule (the account policy's "cumulative_over_cap",
 * "cumulative_tx_over_cap", the paymaster's "daily_cap_wei_per_sender", ...; "" for OK). */
const char *st_deny_rule(st_deny d);

/* One account's limits over a rolling window (from its policy). */
typedef struct {
    uint64_t window_s;  /* 1..ST_WINDOW_MAX */
    int has_max_value;  /* cap the sum of values (wei) */
    ak_u256 max_value;  /* wei; stored exactly as NUMERIC(78,0) */
    uint64_t max_count; /* cap the number of transactions; 0 = none */
} st_spend_limit;

/* A reservation, to release if what it was for did not happen. Plain value; no cleanup. */
typedef struct {
    int kind; /* 0 none, 1 spend, 2 paymaster */
    int64_t id;
    uint8_t account[20];
    uint64_t window_s;
    int64_t day;
    ak_u256 value;
    st_deny deny; /* why it was refused (AK_ERR_FORBIDDEN), else ST_OK */
} st_resv;

/*
 * Reserve value wei (and one transaction) for account in the rolling window lim->window_s
 * ending now, before signing: AK_OK and *out filled, or AK_ERR_FORBIDDEN with out->deny set
 * if the sum over the window would pass max_value or the count max_count (nothing reserved).
 * A reservation counts until it is window_s old or released. Memory backend: AK_ERR_LIMIT
 * past max_entries. AK_ERR_RANGE if a running sum would pass 2^256 - 1 (uncapped counters).
 */
AK_WUR ak_err st_spend_reserve(st_store *st, st_resv *out, const uint8_t account[20],
                               const ak_u256 *value, const st_spend_limit *lim);

/*
 * Reserve cost wei for the paymaster's sponsorship of sender in the current UTC day, against
 * its cap per sender and the global cap (NULL: no such cap; both counters are kept anyway):
 * AK_ERR_FORBIDDEN with out->deny SENDER or GLOBAL, nothing reserved.
 */
AK_WUR ak_err st_pm_reserve(st_store *st, st_resv *out, const uint8_t sender[20],
                            const ak_u256 *cost, const ak_u256 *sender_cap,
                            const ak_u256 *global_cap);

/*
 * Read the paymaster's counters of the current UTC day without reserving anything (the stub
 * stage's early refusal): *sender_spent for sender, *global_spent for all senders together
 * (0 when nothing was reserved today). One round trip on postgres; a reservation made
 * meanwhile by another caller may change them at once (only st_pm_reserve is exact).
 */
AK_WUR ak_err st_pm_spent(st_store *st, ak_u256 *sender_spent, ak_u256 *global_spent,
                          const uint8_t sender[20]);

/*
 * st_spend_reserve (when lim is not NULL) and st_nonce_next for the same account in
 * one atomic call - one round trip on postgres: both or neither. AK_ERR_FORBIDDEN with
 * out->deny set: refused, no nonce consumed. Release as for the two calls.
 */
AK_WUR ak_err st_tx_reserve(st_store *st, uint64_t *nonce, st_resv *out, uint64_t chain_id,
                            const uint8_t account[20], uint64_t node_pending, const ak_u256 *value,
                            const st_spend_limit *lim);

/*
 * The same two reservations in two halves, so the caller does other work - the node calls that
 * fill gas and fees - while the database runs and commits the statement:
 *   begin: postgres sends the statement on a pooled connection that is free now and wanted by
 *          no waiting caller, and returns without waiting (none: nothing is sent yet and end
 *          runs it, waiting for a connection within the deadline as st_tx_reserve does);
 *          memory does all of it.
 *   end:   waits for the result, gives the connection back, frees op and returns exactly what
 *          st_tx_reserve / st_spend_reserve return (nonce NULL for a spend op).
 * AK_OK from begin: *op must be ended exactly once, also when the caller's other work failed
 * (then release what end reserved, as after any failure). An error from begin: nothing reserved,
 * no op (AK_ERR_UNAVAILABLE: the store is down; AK_ERR_ARG, AK_ERR_RANGE as the one-call form;
 * AK_ERR_NOMEM).
 * Nothing may be signed before end returned AK_OK. end waits until statement_timeout_ms after
 * begin, or after end is called if that is later (never longer than st_tx_reserve called then;
 * a result that has arrived is always used). A begun op holds its pooled connection until end
 * (size pool_size for the sends in flight); the statement commits on its own on the server
 * meanwhile, holding no row lock while the caller works.
 */
typedef struct st_op st_op;
AK_WUR ak_err st_tx_reserve_begin(st_store *st, st_op **op, uint64_t chain_id,
                                  const uint8_t account[20], uint64_t node_pending,
                                  const ak_u256 *value, const st_spend_limit *lim);
AK_WUR ak_err st_spend_reserve_begin(st_store *st, st_op **op, const uint8_t account[20],
                                     const ak_u256 *value, const st_spend_limit *lim);
AK_WUR ak_err st_reserve_end(st_op *op, uint64_t *nonce, st_resv *out);

/* Undo a reservation (the node refused the transaction, the signer failed). Releasing twice,
 * or a reservation already out of its window, is harmless. kind 0: AK_OK, nothing done. */
AK_WUR ak_err st_release(st_store *st, const st_resv *r);

#endif
