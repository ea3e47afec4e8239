/*
 * st_schema.c - the SQL of the postgres backend: the versioned migrations (everything in
 * the PostgreSQL schema "anode"; the version in anode.schema_version) and the statements each
 * pooled connection prepares. docs/scale-out.md describes the tables.
 *
 * Each operation is one round trip. The nonce is one INSERT ... ON CONFLICT DO UPDATE (the row
 * lock makes concurrent allocations queue). The reservations are PL/pgSQL functions that first
 * lock one row (per (account, window), or the day's global paymaster row), then read the sums:
 * in READ COMMITTED each statement of a volatile function takes a new snapshot, so the sums
 * include everything committed by whoever held the lock before.
 *
 * Parameters are text; accounts are bytea ("\x" + 40 hex digits), values NUMERIC(78,0) (every
 * u256 fits), nonces and chain ids NUMERIC(20,0) (u64), times bigint milliseconds.
 */
#include <stddef.h>

#include "st_impl.h"

/* NONCE_STORED (below) with the function's parameter names. */
#define TX_STORED                                                                                  \
    "(n.next_nonce > p_pending AND (CASE WHEN p_pending > n.seen_pending THEN p_now_ms"            \
    " ELSE n.seen_ms END) > p_now_ms - p_trust_ms)"

static const char *const V1[] = {
    "CREATE TABLE anode.nonce ("
    " chain_id numeric(20,0) NOT NULL,"
    " account bytea NOT NULL CHECK (length(account) = 20),"
    " next_nonce numeric(20,0) NOT NULL CHECK (next_nonce >= 0 AND"
    "  next_nonce <= 18446744073709551615),"
    " seen_pending numeric(20,0) NOT NULL," /* the highest node count seen */
    " seen_ms bigint NOT NULL," /* when it last rose, or the node's count was last taken */
    " PRIMARY KEY (chain_id, account))",

    "CREATE TABLE anode.spend_lock ("
    " account bytea NOT NULL, window_s bigint NOT NULL, PRIMARY KEY (account, window_s))",

    "CREATE TABLE anode.spend ("
    " id bigserial PRIMARY KEY,"
    " account bytea NOT NULL CHECK (length(account) = 20),"
    " window_s bigint NOT NULL CHECK (window_s > 0),"
    " value numeric(78,0) NOT NULL CHECK (value >= 0),"
    " at_ms bigint NOT NULL)",

    "CREATE INDEX spend_account_window ON anode.spend (account, window_s, at_ms)",

    "CREATE TABLE anode.pm_spend ("
    " day bigint NOT NULL,"
    " sender bytea NOT NULL," /* '' = the day's global row */
    " spent numeric(78,0) NOT NULL CHECK (spent >= 0),"
    " PRIMARY KEY (day, sender))",

    "CREATE FUNCTION anode.spend_reserve(p_account bytea, p_window_s bigint, p_value numeric,"
    " p_now_ms bigint, p_max_value numeric, p_max_count bigint) RETURNS bigint"
    " LANGUAGE plpgsql VOLATILE AS $$\n"
    "DECLARE v_used numeric; v_n bigint; v_id bigint;\n"
    "BEGIN\n"
    "  INSERT INTO anode.spend_lock (account, window_s) VALUES (p_account, p_window_s)\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  PERFORM 1 FROM anode.spend_lock\n"
    "    WHERE account = p_account AND window_s = p_window_s FOR UPDATE;\n"
    "  DELETE FROM anode.spend WHERE account = p_account AND window_s = p_window_s\n"
    "    AND at_ms <= p_now_ms - p_window_s * 1000;\n"
    "  SELECT coalesce(sum(value), 0), count(*) INTO v_used, v_n FROM anode.spend\n"
    "    WHERE account = p_account AND window_s = p_window_s;\n"
    "  IF p_max_count IS NOT NULL AND v_n + 1 > p_max_count THEN RETURN -2; END IF;\n"
    "  IF p_max_value IS NOT NULL AND v_used + p_value > p_max_value THEN RETURN -1; END IF;\n"
    "  INSERT INTO anode.spend (account, window_s, value, at_ms)\n"
    "    VALUES (p_account, p_window_s, p_value, p_now_ms) RETURNING id INTO v_id;\n"
    "  RETURN v_id;\n"
    "END $$",

    "CREATE FUNCTION anode.pm_reserve(p_day bigint, p_sender bytea, p_cost numeric,"
    " p_sender_cap numeric, p_global_cap numeric) RETURNS integer"
    " LANGUAGE plpgsql VOLATILE AS $$\n"
    "DECLARE v_g numeric; v_s numeric; v_new integer;\n"
    "BEGIN\n"
    "  INSERT INTO anode.pm_spend (day, sender, spent) VALUES (p_day, ''::bytea, 0)\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  GET DIAGNOSTICS v_new = ROW_COUNT;\n"
    "  IF v_new = 1 THEN DELETE FROM anode.pm_spend WHERE day < p_day - 1; END IF;\n"
    "  SELECT spent INTO v_g FROM anode.pm_spend\n"
    "    WHERE day = p_day AND sender = ''::bytea FOR UPDATE;\n"
    "  INSERT INTO anode.pm_spend (day, sender, spent) VALUES (p_day, p_sender, 0)\n"
    "    ON CONFLICT DO NOTHING;\n"
    "  SELECT spent INTO v_s FROM anode.pm_spend\n"
    "    WHERE day = p_day AND sender = p_sender FOR UPDATE;\n"
    "  IF p_sender_cap IS NOT NULL AND v_s + p_cost > p_sender_cap THEN RETURN -1; END IF;\n"
    "  IF p_global_cap IS NOT NULL AND v_g + p_cost > p_global_cap THEN RETURN -2; END IF;\n"
    "  UPDATE anode.pm_spend SET spent = spent + p_cost\n"
    "    WHERE day = p_day AND sender IN (''::bytea, p_sender);\n"
    "  RETURN 0;\n"
    "END $$",

    /* spend (if limited) then nonce, in one transaction: a refusal consumes no nonce, a nonce
     * error (EIP-2681) undoes the reservation. The nonce rule is CN_ST_NONCE_NEXT's. */
    "CREATE FUNCTION anode.tx_reserve(p_chain numeric, p_account bytea, p_pending numeric,"
    " p_now_ms bigint, p_trust_ms bigint, p_window_s bigint, p_value numeric,"
    " p_max_value numeric, p_max_count bigint, OUT o_nonce numeric, OUT o_resv bigint)"
    " LANGUAGE plpgsql VOLATILE AS $$\n"
    "BEGIN\n"
    "  o_resv := 0;\n"
    "  IF p_window_s IS NOT NULL THEN\n"
    "    o_resv := anode.spend_reserve(p_account, p_window_s, p_value, p_now_ms, p_max_value,\n"
    "                                  p_max_count);\n"
    "    IF o_resv < 0 THEN RETURN; END IF;\n"
    "  END IF;\n"
    "  INSERT INTO anode.nonce AS n (chain_id, account, next_nonce, seen_pending, seen_ms)\n"
    "    VALUES (p_chain, p_account, p_pending + 1, p_pending, p_now_ms)\n"
    "    ON CONFLICT (chain_id, account) DO UPDATE SET\n"
    "    next_nonce = CASE WHEN " TX_STORED " THEN n.next_nonce ELSE p_pending END + 1,\n"
    "    seen_ms = CASE WHEN p_pending > n.seen_pending OR NOT (" TX_STORED ")\n"
    "      THEN p_now_ms ELSE n.seen_ms END,\n"
    "    seen_pending = GREATEST(n.seen_pending, p_pending)\n"
    "    RETURNING n.next_nonce - 1 INTO o_nonce;\n"
    "END $$",

    /* the global row first, as pm_reserve: the two never wait on each other in a circle */
    "CREATE FUNCTION anode.pm_release(p_day bigint, p_sender bytea, p_cost numeric)"
    " RETURNS void LANGUAGE plpgsql VOLATILE AS $$\n"
    "BEGIN\n"
    "  PERFORM 1 FROM anode.pm_spend WHERE day = p_day AND sender = ''::bytea FOR UPDATE;\n"
    "  UPDATE anode.pm_spend SET spent = GREATEST(spent - p_cost, 0)\n"
    "    WHERE day = p_day AND sender = p_sender;\n"
    "  IF FOUND THEN\n"
    "    UPDATE anode.pm_spend SET spent = GREATEST(spent - p_cost, 0)\n"
    "      WHERE day = p_day AND sender = ''::bytea;\n"
    "  END IF;\n"
    "END $$",
    NULL};

static const st_migration K_STEPS[] = {{V1}};

size_t st_schema_steps(const st_migration **steps)
{
    *steps = K_STEPS;
    return sizeof(K_STEPS) / sizeof(*K_STEPS);
}

int st_schema_version(void)
{
    return (int)(sizeof(K_STEPS) / sizeof(*K_STEPS));
}

/* The stored next nonce outranks the node's count $3: it is ahead, and the node's count rose (or
 * was taken over) less than $5 ms before $4. Every SET expression sees the old row. */
#define NONCE_STORED                                                                               \
    "(n.next_nonce > $3::numeric AND (CASE WHEN $3::numeric > n.seen_pending THEN $4::bigint"      \
    " ELSE n.seen_ms END) > $4::bigint - $5::bigint)"

static const st_stmt_def K_STMTS[CN_ST_COUNT] = {
    /* $1 chain id, $2 account, $3 node pending, $4 now ms, $5 trust ms */
    [CN_ST_NONCE_NEXT] =
        {"INSERT INTO anode.nonce AS n"
         " (chain_id, account, next_nonce, seen_pending, seen_ms)"
         " VALUES ($1::numeric, $2::bytea, $3::numeric + 1, $3::numeric, $4::bigint)"
         " ON CONFLICT (chain_id, account) DO UPDATE SET"
         " next_nonce = CASE WHEN " NONCE_STORED " THEN n.next_nonce"
         " ELSE $3::numeric END + 1,"
         " seen_ms = CASE WHEN $3::numeric > n.seen_pending OR NOT (" NONCE_STORED
         ") THEN $4::bigint ELSE n.seen_ms END,"
         " seen_pending = GREATEST(n.seen_pending, $3::numeric)"
         " RETURNING n.next_nonce - 1",
         5},
    /* $1 chain id, $2 account, $3 nonce */
    [CN_ST_NONCE_RELEASE] = {"UPDATE anode.nonce SET next_nonce = $3::numeric"
                             " WHERE chain_id = $1::numeric AND account = $2::bytea"
                             " AND next_nonce = $3::numeric + 1",
                             3},
    /* $1 account, $2 window s, $3 value, $4 now ms, $5 max value|NULL, $6 max count|NULL */
    [CN_ST_SPEND_RESERVE] = {"SELECT anode.spend_reserve($1::bytea, $2::bigint, $3::numeric,"
                             " $4::bigint, $5::numeric, $6::bigint)",
                             6},
    [CN_ST_SPEND_RELEASE] = {"DELETE FROM anode.spend WHERE id = $1::bigint", 1},
    /* $1 day, $2 sender, $3 cost, $4 sender cap|NULL, $5 global cap|NULL */
    [CN_ST_PM_RESERVE] = {"SELECT anode.pm_reserve($1::bigint, $2::bytea, $3::numeric,"
                          " $4::numeric, $5::numeric)",
                          5},
    /* $1 day, $2 sender, $3 cost: both rows, floored at zero, only if the sender row exists */
    [CN_ST_PM_RELEASE] = {"SELECT anode.pm_release($1::bigint, $2::bytea, $3::numeric)", 3},
    /* $1 chain, $2 account, $3 pending, $4 now ms, $5 trust ms, $6 window s|NULL, $7 value,
     * $8 max value|NULL, $9 max count|NULL */
    [CN_ST_TX_RESERVE] = {"SELECT o_nonce, o_resv FROM anode.tx_reserve($1::numeric, $2::bytea,"
                          " $3::numeric, $4::bigint, $5::bigint, $6::bigint, $7::numeric,"
                          " $8::numeric, $9::bigint)",
                          9},
    [CN_ST_PING] = {"SELECT 1", 0},
    /* $1 day, $2 sender: the sender's and the global spent of the day (no row: 0) */
    [CN_ST_PM_SPENT] = {"SELECT coalesce(max(spent) FILTER (WHERE sender = $2::bytea), 0),"
                        " coalesce(max(spent) FILTER (WHERE sender = ''::bytea), 0)"
                        " FROM anode.pm_spend WHERE day = $1::bigint"
                        " AND sender IN ($2::bytea, ''::bytea)",
                        2},
};

const st_stmt_def *st_schema_stmt(st_stmt s)
{
    return &K_STMTS[s];
}
