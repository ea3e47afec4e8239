/* test_rt_prom.c - the Prometheus text writer: exact exposition text of a head, a sample and a
 * histogram (with and without labels, format 0.0.4), a fixed buffer that is too small fails and
 * stays failed, a growable one grows, and the histogram's bucket choice (a bound is inclusive). */
#include <stdlib.h>
#include <string.h>

#include "ak_test.h"
#include "rt_prom.h"

static const uint64_t k_bounds[] = {1000, 250000};

static void test_text(void)
{
    char buf[1024];
    rt_prom o;
    rt_prom_init(&o, buf, sizeof buf);
    rt_prom_one(&o, "x_total", "counter", "Things.", 7);
    rt_prom_head(&o, "d_seconds", "histogram", "Durations.");
    uint64_t counts[] = {1, 2, 3};
    rt_prom_histogram(&o, "d_seconds", NULL, k_bounds, 2, counts, 1500000);
    rt_prom_histogram(&o, "d_seconds", "a=\"b\"", k_bounds, 2, counts, 250);
    CHECK(!o.failed);
    CHECK_STR(buf, "# HELP x_total Things.\n# TYPE x_total counter\nx_total 7\n"
                   "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
                   "d_seconds_bucket{le=\"0.001\"} 1\nd_seconds_bucket{le=\"0.25\"} 3\n"
                   "d_seconds_bucket{le=\"+Inf\"} 6\nd_seconds_sum 1.500000\nd_seconds_count 6\n"
                   "d_seconds_bucket{a=\"b\",le=\"0.001\"} 1\n"
                   "d_seconds_bucket{a=\"b\",le=\"0.25\"} 3\n"
                   "d_seconds_bucket{a=\"b\",le=\"+Inf\"} 6\nd_seconds_sum{a=\"b\"} 0.000250\n"
                   "d_seconds_count{a=\"b\"} 6\n");
    CHECK_EQ_INT(o.len, strlen(buf));
}

static void test_limits(void)
{
    char small[16];
    rt_prom o;
    rt_prom_init(&o, small, sizeof small);
    rt_prom_printf(&o, "%s", "0123456789");
    CHECK(!o.failed);
    rt_prom_printf(&o, "%s", "0123456789"); /* does not fit: failed, and stays so */
    CHECK(o.failed);
    rt_prom_printf(&o, "x");
    CHECK(o.failed);
    CHECK_EQ_INT(o.len, 10);
    rt_prom_init(&o, small, 0);
    CHECK(o.failed);

    CHECK_EQ_INT(rt_prom_init_grow(&o, 4), AK_OK);
    for (int i = 0; i < 100; i++)
        rt_prom_printf(&o, "line %d\n", i);
    CHECK(!o.failed);
    CHECK(strstr(o.p, "line 0\n") == o.p);
    CHECK(strstr(o.p, "line 99\n") != NULL);
    free(o.p);
}

static void test_hist(void)
{
    static rt_prom_hist h;
    char buf[512];
    rt_prom o;
    rt_prom_observe(&h, k_bounds, 2, 0);
    rt_prom_observe(&h, k_bounds, 2, 1000); /* on the bound: that bucket */
    rt_prom_observe(&h, k_bounds, 2, 1001);
    rt_prom_observe(&h, k_bounds, 2, 9000000);
    rt_prom_init(&o, buf, sizeof buf);
    rt_prom_hist_write(&o, "h", NULL, k_bounds, 2, &h);
    CHECK_STR(buf, "h_bucket{le=\"0.001\"} 2\nh_bucket{le=\"0.25\"} 3\nh_bucket{le=\"+Inf\"} 4\n"
                   "h_sum 9.002001\nh_count 4\n");
    /* more bounds than a histogram holds: refused */
    uint64_t many[RT_PROM_MAX_BOUNDS + 1] = {0};
    rt_prom_init(&o, buf, sizeof buf);
    rt_prom_hist_write(&o, "h", NULL, many, RT_PROM_MAX_BOUNDS + 1, &h);
    CHECK(o.failed);
}

int main(void)
{
    test_text();
    test_limits();
    test_hist();
    return ak_test_report("test_rt_prom");
}
