/*
 * test_bucket - shared/ak_bucket, the token bucket of both daemons' per-client signing rate
 * limits, over times given by the test (no sleeping): starts full, all-or-nothing takes,
 * refill at per_s capped at burst, per_s 0 = no limit, a clock that steps back takes nothing.
 */
#include "ak_bucket.h"
#include "ak_test.h"

int main(void)
{
    ak_bucket b;
    ak_bucket_init(&b, 2.0, 5.0, 100.0);
    /* full burst at start, then empty */
    for (int i = 0; i < 5; i++)
        CHECK(ak_bucket_take(&b, 1, 100.0));
    CHECK(!ak_bucket_take(&b, 1, 100.0));
    /* 0.5 s at 2/s: one token */
    CHECK(ak_bucket_take(&b, 1, 100.5));
    CHECK(!ak_bucket_take(&b, 1, 100.5));
    /* all or nothing: 3 wanted, 2 there after 1 s; nothing taken, then 2 taken */
    CHECK(!ak_bucket_take(&b, 3, 101.5));
    CHECK(ak_bucket_take(&b, 2, 101.5));
    CHECK(!ak_bucket_take(&b, 1, 101.5));
    /* a long pause refills to burst, not beyond */
    CHECK(!ak_bucket_take(&b, 6, 1000.0));
    CHECK(ak_bucket_take(&b, 5, 1000.0));
    CHECK(!ak_bucket_take(&b, 1, 1000.0));
    /* a clock that steps back adds nothing */
    CHECK(!ak_bucket_take(&b, 1, 900.0));
    CHECK(ak_bucket_take(&b, 1, 1000.5));
    /* per_s 0: no limit */
    ak_bucket_init(&b, 0, 0, 0);
    for (int i = 0; i < 1000; i++)
        CHECK(ak_bucket_take(&b, 10, 0));
    /* a slow bucket (0.001/s, burst 1) */
    ak_bucket_init(&b, 0.001, 1, 0);
    CHECK(ak_bucket_take(&b, 1, 0));
    CHECK(!ak_bucket_take(&b, 1, 999));
    CHECK(ak_bucket_take(&b, 1, 1000));
    return ak_test_report("test_bucket");
}
