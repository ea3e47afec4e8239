/* ak_bucket.c - token bucket arithmetic (see ak_bucket.h). */
#include "ak_bucket.h"

void ak_bucket_init(ak_bucket *b, double per_s, double burst, double now)
{
    b->per_s = per_s;
    b->burst = burst;
    b->tokens = burst; /* a client may start with a full burst */
    b->last = now;
}

int ak_bucket_take(ak_bucket *b, double n, double now)
{
    if (b->per_s == 0)
        return 1;
    if (now > b->last) {
        b->tokens += (now - b->last) * b->per_s;
        b->last = now;
    }
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    if (b->tokens < n)
        return 0;
    b->tokens -= n;
    return 1;
}
