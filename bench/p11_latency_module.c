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
 * A signing operation is C_SignInit followed by C_Sign, or by C_SignUpdate... C_SignFinal. It
 * takes one of the S places at C_SignInit (waiting for one if all are taken: the HSM's queue),
 * and its L counts from there and includes the real module's own time: the closing C_Sign or
 * C_SignFinal returns at start + L (or when the real module returns, if that is later), so the
 * real module's work for the operation - SoftHSM's key checks in C_SignInit (~0.1 ms of file
 * locking and stat calls per operation, measured) as well as the signature's CPU - is inside L,
 * as it is inside a network HSM's latency. A length query (pSignature NULL) or a buffer too
 * small leaves the operation running; an error, C_CloseSession or C_CloseAllSessions ends it
 * and gives its place back at once. A C_Sign with no C_SignInit seen (one over OPS_MAX
 * operations at once) takes its place and starts its L itself. Every other function is
 * forwarded without delay.
 *
 * Limits: one real module per process; the function list is built once and never freed (the
 * dlopen handle is kept for the process's life, so a C_Finalize + C_Initialize works); at most
 * OPS_MAX operations tracked at once; C_CloseAllSessions ends the operations of every slot.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_LATENCY_MS 10000.0
#define MAX_SESSIONS   4096
#define OPS_MAX        4096 /* signing operations tracked at once */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the set-up */
static void *g_dl;
static CK_FUNCTION_LIST *g_real;
static CK_FUNCTION_LIST g_list;
static long long g_latency_ns;
static unsigned g_cap; /* 0 = no cap */

static pthread_mutex_t g_cap_mu = PTHREAD_MUTEX_INITIALIZER; /* guards g_busy and g_ops */
static pthread_cond_t g_cap_cv = PTHREAD_COND_INITIALIZER;
static unsigned g_busy;

/* A signing operation between its C_SignInit and its last call: it holds a place until end. */
typedef struct {
    CK_SESSION_HANDLE h;
    struct timespec end;
    int used;
} op_slot;
static op_slot g_ops[OPS_MAX];

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

/* Records session h's operation, which holds a place, ending at end; 0 if the table is full. */
static int op_put(CK_SESSION_HANDLE h, const struct timespec *end)
{
    int done = 0;
    pthread_mutex_lock(&g_cap_mu);
    for (size_t i = 0; i < OPS_MAX && !done; i++)
        if (!g_ops[i].used) {
            g_ops[i] = (op_slot){.h = h, .end = *end, .used = 1};
            done = 1;
        }
    pthread_mutex_unlock(&g_cap_mu);
    return done;
}

/* Whether session h has an operation; end gets its end. */
static int op_peek(CK_SESSION_HANDLE h, struct timespec *end)
{
    int found = 0;
    pthread_mutex_lock(&g_cap_mu);
    for (size_t i = 0; i < OPS_MAX && !found; i++)
        if (g_ops[i].used && g_ops[i].h == h) {
            *end = g_ops[i].end;
            found = 1;
        }
    pthread_mutex_unlock(&g_cap_mu);
    return found;
}

/* Removes session h's operations (every one if all) and says how many there were; the caller
 * gives their places back. */
static int op_take(CK_SESSION_HANDLE h, int all)
{
    int n = 0;
    pthread_mutex_lock(&g_cap_mu);
    for (size_t i = 0; i < OPS_MAX; i++)
        if (g_ops[i].used && (all || g_ops[i].h == h)) {
            g_ops[i].used = 0;
            n++;
        }
    pthread_mutex_unlock(&g_cap_mu);
    return n;
}

/* Ends the operations of session h (of every session if all) and gives their places back. */
static void op_end(CK_SESSION_HANDLE h, int all)
{
    for (int n = op_take(h, all); n > 0; n--)
        place_give();
}

/*
 * Sleep (no CPU) until dl; restarted after signals. The calling thread's timer slack is set to
 * 1 ns first: Linux lets a timed sleep of a normal thread end up to 50 us late by default, and
 * a network HSM's answer wakes its reader when it arrives, not a slack later (without this the
 * module itself added ~50 us to every figure measured through it).
 */
static void sleep_until(const struct timespec *dl)
{
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, dl, NULL) == EINTR) {
    }
}

static CK_RV w_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
    CK_RV rv;
    struct timespec end;
    if (g_latency_ns == 0 && g_cap == 0)
        return g_real->C_SignInit(h, m, key);
    op_end(h, 0); /* an operation still open on h is replaced (or cancelled: m NULL) */
    if (m == NULL)
        return g_real->C_SignInit(h, m, key);
    place_take();
    end = deadline_from_now();
    rv = g_real->C_SignInit(h, m, key);
    if (rv != CKR_OK || !op_put(h, &end))
        place_give();
    return rv;
}

/* The last call of an operation (C_Sign or C_SignFinal, sig != NULL): real is its result. */
static CK_RV sign_end(CK_SESSION_HANDLE h, CK_RV real, int tracked, const struct timespec *end)
{
    if (real == CKR_BUFFER_TOO_SMALL) {
        if (!tracked) /* still running, but not in the table: no place held from here */
            place_give();
        return real; /* the operation goes on (PKCS#11 5.2) */
    }
    if (tracked)
        (void)op_take(h, 0);
    sleep_until(end);
    place_give();
    return real;
}

static CK_RV w_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR s,
                      CK_ULONG_PTR sl)
{
    struct timespec end;
    int tracked;
    if (s == NULL || (g_latency_ns == 0 && g_cap == 0))
        return g_real->C_Sign(h, d, dl, s, sl);
    tracked = op_peek(h, &end);
    if (!tracked) {
        place_take();
        end = deadline_from_now();
    }
    return sign_end(h, g_real->C_Sign(h, d, dl, s, sl), tracked, &end);
}

static CK_RV w_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n)
{
    CK_RV rv = g_real->C_SignUpdate(h, p, n);
    if (rv != CKR_OK && (g_latency_ns != 0 || g_cap != 0))
        op_end(h, 0); /* an error ends the operation */
    return rv;
}

static CK_RV w_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG_PTR sl)
{
    struct timespec end;
    int tracked;
    if (s == NULL || (g_latency_ns == 0 && g_cap == 0))
        return g_real->C_SignFinal(h, s, sl);
    tracked = op_peek(h, &end);
    if (!tracked) {
        place_take();
        end = deadline_from_now();
    }
    return sign_end(h, g_real->C_SignFinal(h, s, sl), tracked, &end);
}

static CK_RV w_C_CloseSession(CK_SESSION_HANDLE h)
{
    op_end(h, 0);
    return g_real->C_CloseSession(h);
}

static CK_RV w_C_CloseAllSessions(CK_SLOT_ID slot)
{
    op_end(0, 1);
    return g_real->C_CloseAllSessions(slot);
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
    g_list.C_SignInit = w_C_SignInit;
    g_list.C_Sign = w_C_Sign;
    g_list.C_SignUpdate = w_C_SignUpdate;
    g_list.C_SignFinal = w_C_SignFinal;
    g_list.C_CloseSession = w_C_CloseSession;
    g_list.C_CloseAllSessions = w_C_CloseAllSessions;
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
