/*
 * p11_latency_module.c - a PKCS#11 module for benchmarks and tests that emulates a network HSM
 * (Luna, nShield Connect, CloudHSM...) on top of a local one (SoftHSM2): every function is
 * forwarded unchanged, and each signing call takes a fixed wall-clock time L, at most S of them
 * at once. Capacity S/L signatures per second, and none of the waiting uses CPU (a sleep).
 * Never part of the product: the key server and the connector's pkcs11 signer load it like any
 * vendor module ("module": ".../libp11_latency_module.so").
 *
 * Environment (read once, by the first C_GetFunctionList):
 *   P11_LATENCY_TARGET    path of the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   P11_LATENCY_MS        L, the wall-clock time of one signing call in milliseconds, decimals
 *                         allowed ("4", "0.5"); 0..10000, default 0 (no delay)
 *   P11_LATENCY_SESSIONS  S, the most signing calls served at once (the HSM's parallelism);
 *                         0..4096, default 0 (no cap). A call over the cap waits for a free
 *                         one (the HSM's queue) before its L starts.
 * A malformed value makes C_GetFunctionList fail with CKR_ARGUMENTS_BAD and a line on stderr
 * naming the variable: a benchmark never runs with a latency it did not ask for.
 *
 * Signing calls are C_Sign and C_SignFinal with an output buffer (a length query, pSignature
 * NULL, is forwarded at once). L counts from the moment the call holds one of the S places and
 * includes the real module's own time: the call returns at start + L (or when the real module
 * returns, if that is later), so the real signature's CPU is inside L, as in a network HSM
 * whose latency includes its own signing. C_SignInit and every other function are forwarded
 * without delay.
 *
 * Limits: one real module per process; the function list is built once and never freed (the
 * dlopen handle is kept for the process's life, so a C_Finalize + C_Initialize works).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_LATENCY_MS 10000.0
#define MAX_SESSIONS   4096

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the set-up */
static void *g_dl;
static CK_FUNCTION_LIST *g_real;
static CK_FUNCTION_LIST g_list;
static long long g_latency_ns;
static unsigned g_cap; /* 0 = no cap */

static pthread_mutex_t g_cap_mu = PTHREAD_MUTEX_INITIALIZER; /* guards g_busy */
static pthread_cond_t g_cap_cv = PTHREAD_COND_INITIALIZER;
static unsigned g_busy;

/* Take one of the S places (waits while all are taken). */
static void place_take(void)
{
    if (g_cap == 0)
        return;
    pthread_mutex_lock(&g_cap_mu);
    while (g_busy >= g_cap)
        pthread_cond_wait(&g_cap_cv, &g_cap_mu);
    g_busy++;
    pthread_mutex_unlock(&g_cap_mu);
}

static void place_give(void)
{
    if (g_cap == 0)
        return;
    pthread_mutex_lock(&g_cap_mu);
    g_busy--;
    pthread_cond_signal(&g_cap_cv);
    pthread_mutex_unlock(&g_cap_mu);
}

static struct timespec deadline_from_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = (long long)ts.tv_nsec + g_latency_ns;
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

/* Sleep (no CPU) until dl; restarted after signals. */
static void sleep_until(const struct timespec *dl)
{
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, dl, NULL) == EINTR) {
    }
}

static CK_RV w_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR s,
                      CK_ULONG_PTR sl)
{
    CK_RV rv;
    struct timespec end;
    if (s == NULL || (g_latency_ns == 0 && g_cap == 0))
        return g_real->C_Sign(h, d, dl, s, sl);
    place_take();
    end = deadline_from_now();
    rv = g_real->C_Sign(h, d, dl, s, sl);
    sleep_until(&end);
    place_give();
    return rv;
}

static CK_RV w_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG_PTR sl)
{
    CK_RV rv;
    struct timespec end;
    if (s == NULL || (g_latency_ns == 0 && g_cap == 0))
        return g_real->C_SignFinal(h, s, sl);
    place_take();
    end = deadline_from_now();
    rv = g_real->C_SignFinal(h, s, sl);
    sleep_until(&end);
    place_give();
    return rv;
}

/* The value of env variable name as a number in [0, max]; 0 if unset; -1 if malformed. */
static int env_number(double *out, const char *name, double max)
{
    const char *v = getenv(name);
    char *end = NULL;
    *out = 0;
    if (v == NULL || v[0] == '\0')
        return 0;
    errno = 0;
    *out = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(*out >= 0 && *out <= max)) {
        fprintf(stderr, "p11_latency_module: %s=\"%.32s\": a number 0..%.0f\n", name, v, max);
        return -1;
    }
    return 0;
}

static CK_RV w_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

/* Reads the environment and loads the real module; under g_mu. */
static CK_RV setup(void)
{
    const char *target = getenv("P11_LATENCY_TARGET");
    CK_C_GetFunctionList getfl = NULL;
    double ms = 0, cap = 0;
    CK_RV rv = CKR_OK;
    if (env_number(&ms, "P11_LATENCY_MS", MAX_LATENCY_MS) != 0 ||
        env_number(&cap, "P11_LATENCY_SESSIONS", MAX_SESSIONS) != 0 || cap != (unsigned)cap) {
        if (cap != (unsigned)cap)
            fprintf(stderr, "p11_latency_module: P11_LATENCY_SESSIONS: a whole number\n");
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (target == NULL || target[0] == '\0')
        target = DEFAULT_TARGET;
    g_dl = dlopen(target, RTLD_NOW | RTLD_LOCAL);
    if (g_dl == NULL) {
        fprintf(stderr, "p11_latency_module: cannot load %s: %s\n", target, dlerror());
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    *(void **)(&getfl) = dlsym(g_dl, "C_GetFunctionList");
    if (getfl == NULL || getfl(&g_real) != CKR_OK || g_real == NULL) {
        fprintf(stderr, "p11_latency_module: %s has no usable C_GetFunctionList\n", target);
        g_real = NULL;
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    g_latency_ns = (long long)(ms * 1e6 + 0.5);
    g_cap = (unsigned)cap;
    g_list = *g_real;
    g_list.C_GetFunctionList = w_C_GetFunctionList;
    g_list.C_Sign = w_C_Sign;
    g_list.C_SignFinal = w_C_SignFinal;
out:
    return rv;
}

static CK_RV w_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    CK_RV rv = CKR_OK;
    if (out == NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&g_mu);
    if (g_real == NULL)
        rv = setup();
    if (rv == CKR_OK)
        *out = &g_list;
    pthread_mutex_unlock(&g_mu);
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    return w_C_GetFunctionList(out);
}
