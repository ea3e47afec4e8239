/*
 * ks_rate.h - per-client signing rate limits: one token bucket per configured client entry that
 * has "max_signatures_per_s" (ks_client_cfg.rate_per_s / rate_burst).
 *
 * A bucket holds at most `burst` tokens and refills at `per_s` tokens a second (monotonic clock);
 * each signature the client asks for takes one, and a request finding the bucket empty is
 * refused (429) before the HSM is called. The point is damage limitation: a stolen client
 * certificate signs at most this fast until it is revoked.
 *
 * Ownership: ks_rate_new() returns an object freed by ks_rate_free() (NULL allowed); it reads
 * cfg only during ks_rate_new(). Thread safety: ks_rate_take() may be called from any thread
 * (one small mutex per bucket).
 */
#ifndef KS_RATE_H
#define KS_RATE_H

#include <stddef.h>

#include "ak_err.h"
#include "ks_config.h"

typedef struct ks_rate ks_rate;

AK_WUR ak_err ks_rate_new(ks_rate **out, const ks_config *cfg);
void ks_rate_free(ks_rate *r);

/* Take a token from client entry `client` (an index into cfg->clients; < 0 or an entry without
 * a limit always succeeds). Returns 1 if the signature may go ahead, 0 if it is refused. */
int ks_rate_take(ks_rate *r, long client);

#endif
