/*
 * bench_e2e_state.h - bench_e2e --state (issue 13): what the PostgreSQL state store adds to one
 * eth_sendTransaction, against the in-process (memory) store in the same run.
 *
 * On the key server bench_e2e started (SoftHSM2, mTLS), it starts Debian's PostgreSQL in
 * dir/pg (tests/integration/state/pg_lib.sh: a temporary cluster as an unprivileged user, on a
 * Unix socket), anvil (--accounts 0, automine; the HSM account funded with anvil_setBalance) and
 * two anode-connector processes for the same keyless account with a cumulative_cap, one on the
 * memory store and one on the database. In R rounds it sends N eth_sendTransaction one at a
 * time through each (the order alternating per round; every answer must be a transaction hash)
 * and reports the p50 of each, the p50 added by the database, and the CPU per call of the
 * connector on each store plus the database server's own (all its processes).
 *
 * Everything started is stopped by PID (the database by pg_lib.sh's stop) on every path; the
 * caller removes dir. Limits: N <= BES_MAX_CALLS.
 */
#ifndef BENCH_E2E_STATE_H
#define BENCH_E2E_STATE_H

#define BES_MAX_CALLS 2000

/* dir: the run's directory (holds pki/); ks_port: the key server's port. 0 on success. */
int bench_e2e_state(const char *dir, unsigned ks_port, const char *connector, unsigned rounds,
                    unsigned calls);

#endif
