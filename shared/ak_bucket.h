/*
 * ak_bucket.h - a token bucket, as pure arithmetic over a time the caller supplies (both
 * daemons' per-client signing rate limits: keyserver/ks_rate, connector/cn_rate).
 *
 * The bucket holds at most `burst` tokens and refills at `per_s` tokens a second; a take of n
 * succeeds only when n tokens are there (all or nothing). It starts full. per_s == 0 means no
 * limit. No locking, no clock: the caller serialises takes on one bucket and passes a monotonic
 * time in seconds.
 */
#ifndef AK_BUCKET_H
#define AK_BUCKET_H

typedef struct {
    double tokens, per_s, burst;
    double last; /* the time of the last refill */
} ak_bucket;

void ak_bucket_init(ak_bucket *b, double per_s, double burst, double now);

/* 1 and n tokens taken, or 0 and nothing taken. */
int ak_bucket_take(ak_bucket *b, double n, double now);

#endif
