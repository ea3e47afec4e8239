/*
 * ak_test.h - a minimal unit-test harness: CHECK-style assertions that count and report, and
 * a closing "N passed, N failed" line. Each test file is one ctest executable.
 */
#ifndef AK_TEST_H
#define AK_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int ak_test_passed;
static int ak_test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            ak_test_passed++;                                                                      \
        } else {                                                                                   \
            ak_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long ak_a_ = (long long)(a), ak_b_ = (long long)(b);                                  \
        if (ak_a_ == ak_b_) {                                                                      \
            ak_test_passed++;                                                                      \
        } else {                                                                                   \
            ak_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    ak_a_, ak_b_);                                                                 \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b)    CHECK(strcmp((a), (b)) == 0)

/* Decode bare hex test vectors; aborts on malformed vectors (a bug in the test itself). */
static inline size_t ak_test_unhex(unsigned char *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap) {
        fprintf(stderr, "bad test vector: %s\n", hex);
        abort();
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            fprintf(stderr, "bad test vector: %s\n", hex);
            abort();
        }
        out[i] = (unsigned char)v;
    }
    return n / 2;
}

/* Monotonic time in seconds, for tests that bound how long something took. */
static inline double ak_test_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int ak_test_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, ak_test_passed, ak_test_failed);
    return ak_test_failed == 0 ? 0 : 1;
}

#endif
