/*
 * cn_pm_cap.h - the paymaster's two daily caps (daily_cap_wei_per_sender, daily_cap_wei_global;
 * issue 13) counted on the connector's state store (store/st_store.h), so that every
 * replica on one PostgreSQL counts against the same totals: the final stage reserves an
 * operation's maximum cost on both caps in one atomic call (st_pm_reserve) before
 * signing and gives it back if signing fails; the stub stage only reads the day's totals.
 *
 * Which store: the one given by cn_pm_cap_set_state (the connector's, memory or postgres;
 * borrowed), else a memory store of its own opened at creation (this process only), whose clock
 * is the paymaster's (cn_pm_cap_set_clock: tests move the UTC day by hand).
 *
 * Errors: AK_ERR_FORBIDDEN with *rule the cap's rule name ("daily_cap_wei_per_sender",
 * "daily_cap_wei_global"), nothing reserved; AK_ERR_UNAVAILABLE: the store did not answer
 * (ST_UNAVAILABLE_MSG), nothing reserved; AK_ERR_LIMIT: a memory store is full (too many
 * senders today). Without any cap configured, nothing touches the store and all calls succeed.
 * Thread-safe (the store is).
 */
#ifndef CN_PM_CAP_H
#define CN_PM_CAP_H

#include <stdint.h>
#include <time.h>

#include "ak_err.h"
#include "ak_u256.h"
#include "st_store.h"

typedef struct cn_pm_cap cn_pm_cap;

/* sender_cap, global_cap: NULL = no such cap (copied). */
AK_WUR ak_err cn_pm_cap_new(cn_pm_cap **out, const ak_u256 *sender_cap, const ak_u256 *global_cap);
void cn_pm_cap_free(cn_pm_cap *c); /* NULL allowed; does not close a borrowed store */

/* Count on st from now on (borrowed: must outlive c; NULL: back to the own memory store). */
void cn_pm_cap_set_state(cn_pm_cap *c, st_store *st);
/* The wall clock of the own memory store (NULL: time(NULL)). */
void cn_pm_cap_set_clock(cn_pm_cap *c, time_t (*now)(void));

/* Stub stage: refused if the sender (or everyone) has nothing left today, or cost would not
 * fit. Reserves nothing. */
AK_WUR ak_err cn_pm_cap_check(cn_pm_cap *c, const char **rule, const uint8_t sender[20],
                              const ak_u256 *cost);
/* Final stage: reserve cost on both caps before signing (out->kind 0 when there is no cap). */
AK_WUR ak_err cn_pm_cap_reserve(cn_pm_cap *c, st_resv *out, const char **rule,
                                const uint8_t sender[20], const ak_u256 *cost);
/* Give a reservation back (signing failed). A store that does not answer keeps it counted
 * (the safe side); that is logged. */
void cn_pm_cap_release(cn_pm_cap *c, const st_resv *r);

#endif
