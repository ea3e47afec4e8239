/*
 * cn_budget.h - the connector's memory budget for request bodies and their parse trees: a
 * per-request limit and a global one shared by every request in flight, so that memory is
 * bounded by configuration, not by what clients send (issue 17).
 *
 * A request reserves its body (from Content-Length before one byte is read, or chunk by chunk)
 * and, once complete, the estimated cost of its cJSON tree (cn_budget_json_cost: an upper bound
 * computed by one scan, without allocating) before it is parsed; everything is released when the
 * request completes. A reservation past either limit is refused and the caller answers 413 (the
 * request alone is too large) or 503 (the global budget is in use: retry later). When enough
 * memory has been released since the last time, it is returned to the system (malloc_trim).
 *
 * Thread-safe (atomics); nothing allocates after cn_budget_new.
 */
#ifndef CN_BUDGET_H
#define CN_BUDGET_H

#include <stddef.h>

#include "ak_err.h"

/* Upper bound of one cJSON node with its key and string copies, allocator overhead included. */
#define CN_BUDGET_NODE_COST 128

typedef struct cn_budget cn_budget;

/* per_request <= global, both > 0. *out freed with cn_budget_free. */
AK_WUR ak_err cn_budget_new(cn_budget **out, size_t per_request, size_t global);
void cn_budget_free(cn_budget *b); /* NULL allowed */

/*
 * Reserve n more bytes for a request that already holds *held (updated on success).
 * AK_OK; AK_ERR_LIMIT when *held + n is over the per-request limit; AK_ERR_UNAVAILABLE when
 * the global budget has no room now. Nothing is reserved on failure.
 */
AK_WUR ak_err cn_budget_reserve(cn_budget *b, size_t *held, size_t n);

/* Release everything a request holds (*held becomes 0). */
void cn_budget_release(cn_budget *b, size_t *held);

/*
 * Upper bound of the memory a cJSON tree of body[0..len) takes: values * CN_BUDGET_NODE_COST +
 * len, where values <= 1 + commas + brackets/braces outside strings. Pure; any bytes accepted.
 */
size_t cn_budget_json_cost(const char *body, size_t len);

size_t cn_budget_per_request(const cn_budget *b);
size_t cn_budget_global(const cn_budget *b);

#endif
