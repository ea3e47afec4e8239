/*
 * ks_policy_window.h - the cumulative value cap per rolling window of each key (issue 11): the
 * running total a key signed, reserved under a lock BEFORE the HSM call (so concurrent
 * requests can never together pass the cap, not by one wei) and released if the HSM fails.
 *
 * A key's window is cut into KS_WINDOW_BUCKETS buckets of ceil(window_ms / KS_WINDOW_BUCKETS)
 * ms; a value counts from the moment it is reserved while its bucket is at most
 * KS_WINDOW_BUCKETS buckets old: between window and window + two buckets (at most 0.2 % longer),
 * never shorter, so the cap may hold back a little longer than the window, never less.
 *
 * Single key server (no "state" section): ks_window_rebuild() replays the audit log at start-up
 * (records with outcome "signed" and an intent carrying "value"), with each record's own time,
 * so a restart never resets a cap. A record whose time is in the future (a clock set back)
 * counts as now.
 *
 * HA pair (a "state" section, ks_window_use_store): a capped key's reservation of a non-zero
 * value is instead one atomic call to the shared PostgreSQL store (st_spend_reserve: a row lock
 * per (id, window), the sum over the rolling window, the insert), so every key server on the
 * same database counts one total per key. The id is KS_WINDOW_STORE_TAG's hash of the key's
 * address (ks_window_store_id), never the bare address, so that a connector's own spend rows for
 * the same account (same table) are never mixed with the key server's. The store's window is
 * exactly window_s (no buckets); the audit log is not replayed (the store outlives restarts).
 * A store that does not answer (AK_ERR_UNAVAILABLE within its statement_timeout_ms) refuses the
 * reservation (-1): fail closed; the next call reconnects. A zero value (digest-only items,
 * messages) needs no reservation and never asks the store.
 *
 * Ownership: ks_window_open() allocates; ks_window_free() frees (NULL allowed).
 * Memory: (KS_WINDOW_BUCKETS + 1) * 40 bytes per key that has a cumulative_cap.
 * Thread safety: reserve/release from any number of threads (one mutex per key).
 */
#ifndef KS_POLICY_WINDOW_H
#define KS_POLICY_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ak_policy.h"
#include "ks_config.h"
#include "rt_clock.h"
#include "st_store.h"

#define KS_WINDOW_BUCKETS 1024
/* The domain tag of a key's id in the shared store (ks_window_store_id). */
#define KS_WINDOW_STORE_TAG "anode-keyserver/cumulative_cap/"

typedef struct ks_window ks_window;

/* What a reservation took, to give it back (ks_window_release). */
typedef struct {
    long key; /* -1: nothing reserved */
    uint64_t epoch;
    ak_u256 value;
    st_resv resv; /* kind 0: nothing reserved in the store */
} ks_window_ticket;

/* One window per key of c whose policy sets a cumulative_cap. clock NULL: the system clock. */
AK_WUR ak_err ks_window_open(ks_window **out, const ks_config *c, const rt_clock *clock);
void ks_window_free(ks_window *w);

/*
 * Replay the audit log at path (a missing file is an empty log). Lines that do not parse as
 * records are skipped (the chain itself is rt_audit's and keytool's business); a line longer
 * than RT_AUDIT_LINE_MAX is AK_ERR_AUDIT. *counted gets the number of records replayed.
 */
AK_WUR ak_err ks_window_rebuild(ks_window *w, const char *path, uint64_t *counted, char *msg,
                                size_t msg_cap);

/* ks_window_open (system clock) then ks_window_rebuild from c->audit_file; on failure msg says
 * why and *out is NULL. */
AK_WUR ak_err ks_window_start(ks_window **out, const ks_config *c, char *msg, size_t msg_cap);

/*
 * Use the shared store st (borrowed: it must outlive w) for every capped key, with the ids of
 * the keys' addresses (addresses: c->n_keys pointers to 20 bytes in the order of c->keys, as
 * ks_gen holds the keys; a NULL entry gives the id of the zero address). Call before w is in
 * use. st NULL: nothing changes.
 */
void ks_window_use_store(ks_window *w, st_store *st, const uint8_t *const *addresses);

/* The store id of an address: the last 20 bytes of keccak256(KS_WINDOW_STORE_TAG || address). */
void ks_window_store_id(uint8_t id[20], const uint8_t address[20]);

/*
 * Reserve value against key's cap: 1 (reserved, *t set) or 0 with *v naming
 * cumulative_over_cap. A key without a cap always gives 1 with t->key = -1.
 * With a store: -1 when the store did not answer (nothing reserved; v untouched).
 */
int ks_window_reserve(ks_window *w, long key, const ak_u256 *value, ks_window_ticket *t,
                      ak_policy_verdict *v);
/* Give back a reservation whose signature was not made (HSM failure). A store that does not
 * answer keeps it counted until its window passes (errs on the side of refusing). */
void ks_window_release(ks_window *w, const ks_window_ticket *t);

/* Hot reload (ks_gen.h): copy from's running totals into to, for every key id that has a cap
 * in both with the same window length (others start empty). to must not be in use yet. */
void ks_window_carry(ks_window *to, ks_window *from);

/* The key's total in the window now (0 without a cap); for tests and /metrics. */
void ks_window_used(ks_window *w, long key, ak_u256 *out);

#endif
