/*
 * p11_fault_module.c - a PKCS#11 module for tests that forwards to a real module (SoftHSM) and
 * injects faults on demand. Never part of the product.
 *
 * Environment:
 *   P11_FAULT_TARGET  path of the real module (required)
 *   P11_FAULT_FILE    control file (optional; no file = no faults)
 *
 * The control file holds one command line, prefixed by a sequence number that the test bumps
 * each time it writes a new command; the module re-reads the file on every call and applies a
 * command once per new sequence number (so counts survive re-reads):
 *   "<seq> none"                   no faults
 *   "<seq> sign <rv> <count>"      the next <count> C_Sign calls return <rv> (hex or decimal)
 *                                  without reaching the real module
 *   "<seq> signinit <rv> <count>"  same for C_SignInit
 *   "<seq> all <rv>"               every call we wrap returns <rv> until the next command
 *   "<seq> hang <ms> <count>"      the next <count> C_Sign calls sleep <ms> ms, then forward
 *   "<seq> hangkey <ms> <label>"   every C_Sign with the key labelled <label> (CKA_LABEL, at most
 *                                  63 bytes, as seen at its C_SignInit) sleeps <ms> ms, then
 *                                  forwards; other keys are untouched (one key's calls hang)
 *   "<seq> relogin <rv>"           C_GetSessionInfo reports a public (not logged-in) session and
 *                                  C_Login returns <rv> without reaching the real module
 * Several commands may share a line, separated by ';' ("7 sign 0xb3 1; relogin 0xa0").
 * Every C_Login call (forwarded or not) is counted in "<control file>.logins".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static void *g_dl;
static CK_FUNCTION_LIST *g_real;
static CK_FUNCTION_LIST g_list;

static unsigned long g_seq;
static CK_RV g_sign_rv, g_signinit_rv, g_all_rv;
static unsigned long g_sign_n, g_signinit_n, g_hang_ms, g_hang_n;
static CK_RV g_relogin_rv;
static unsigned long g_logins;
static unsigned long g_hangkey_ms;
static char g_hangkey[64];

/* Sessions whose current signing operation uses the "hangkey" key (by handle; SoftHSM hands out
 * small handles). Under g_mu. */
#define HANG_SESSIONS 4096
static CK_SESSION_HANDLE g_hang_sess[HANG_SESSIONS];
static unsigned char g_hang_on[HANG_SESSIONS];

static void apply(const char *c)
{
    char cmd[32];
    unsigned long a = 0, b = 0;
    const char *hk = c + strspn(c, " ");
    if (strncmp(hk, "hangkey ", 8) == 0) { /* "hangkey <ms> <label>" */
        char *end = NULL;
        a = strtoul(hk + 8, &end, 10);
        end += strspn(end, " ");
        if (end != hk + 8 && *end != '\0') {
            g_hangkey_ms = a;
            snprintf(g_hangkey, sizeof g_hangkey, "%.*s", (int)strcspn(end, " \n"), end);
        }
        return;
    }
    int n = sscanf(c, " %31s %li %li", cmd, (long *)&a, (long *)&b);
    if (n < 1)
        return;
    if (strcmp(cmd, "sign") == 0 && n == 3) {
        g_sign_rv = a;
        g_sign_n = b;
    } else if (strcmp(cmd, "signinit") == 0 && n == 3) {
        g_signinit_rv = a;
        g_signinit_n = b;
    } else if (strcmp(cmd, "all") == 0 && n >= 2) {
        g_all_rv = a;
    } else if (strcmp(cmd, "hang") == 0 && n == 3) {
        g_hang_ms = a;
        g_hang_n = b;
    } else if (strcmp(cmd, "relogin") == 0 && n >= 2) {
        g_relogin_rv = a;
    }
}

/* Re-read the control file; apply a command line with a new sequence number. Under g_mu. */
static void refresh(void)
{
    const char *path = getenv("P11_FAULT_FILE");
    char line[256], *save = NULL, *c;
    unsigned long seq = 0;
    int off = 0;
    FILE *fp;
    if (path == NULL)
        return;
    fp = fopen(path, "r");
    if (fp == NULL)
        return;
    if (fgets(line, sizeof(line), fp) == NULL) {
        fclose(fp);
        return;
    }
    fclose(fp);
    if (sscanf(line, "%lu%n", &seq, &off) != 1 || seq == g_seq)
        return;
    g_seq = seq;
    g_sign_rv = g_signinit_rv = g_all_rv = g_relogin_rv = CKR_OK;
    g_sign_n = g_signinit_n = g_hang_ms = g_hang_n = g_hangkey_ms = 0;
    g_hangkey[0] = '\0';
    for (c = strtok_r(line + off, ";\n", &save); c != NULL; c = strtok_r(NULL, ";\n", &save))
        apply(c);
}

static void count_login(void)
{
    const char *path = getenv("P11_FAULT_FILE");
    char p[512];
    FILE *fp;
    g_logins++;
    if (path == NULL)
        return;
    snprintf(p, sizeof(p), "%s.logins", path);
    fp = fopen(p, "w");
    if (fp != NULL) {
        fprintf(fp, "%lu\n", g_logins);
        fclose(fp);
    }
}

static CK_RV all_fault(void)
{
    CK_RV rv;
    pthread_mutex_lock(&g_mu);
    refresh();
    rv = g_all_rv;
    pthread_mutex_unlock(&g_mu);
    return rv;
}

#define WRAP(name, params, args)                                                                   \
    static CK_RV w_##name params                                                                   \
    {                                                                                              \
        CK_RV rv = all_fault();                                                                    \
        if (rv != CKR_OK)                                                                          \
            return rv;                                                                             \
        return g_real->name args;                                                                  \
    }

WRAP(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), (p, l, n))
WRAP(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i))
WRAP(C_OpenSession,
     (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY cb, CK_SESSION_HANDLE_PTR h),
     (s, f, a, cb, h))
WRAP(C_CloseSession, (CK_SESSION_HANDLE h), (h))
WRAP(C_FindObjectsInit, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n))
WRAP(C_FindObjects, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n),
     (h, o, m, n))
WRAP(C_FindObjectsFinal, (CK_SESSION_HANDLE h), (h))
WRAP(C_GetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
     (h, o, t, n))

static CK_RV w_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i)
{
    CK_RV rv, relogin;
    pthread_mutex_lock(&g_mu);
    refresh();
    rv = g_all_rv;
    relogin = g_relogin_rv;
    pthread_mutex_unlock(&g_mu);
    if (rv != CKR_OK)
        return rv;
    rv = g_real->C_GetSessionInfo(h, i);
    if (rv == CKR_OK && relogin != CKR_OK)
        i->state = CKS_RO_PUBLIC_SESSION;
    return rv;
}

static CK_RV w_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n)
{
    CK_RV rv;
    pthread_mutex_lock(&g_mu);
    refresh();
    count_login();
    rv = g_all_rv != CKR_OK ? g_all_rv : g_relogin_rv;
    pthread_mutex_unlock(&g_mu);
    if (rv != CKR_OK)
        return rv;
    return g_real->C_Login(h, u, p, n);
}

static CK_RV w_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    CK_RV rv;
    pthread_mutex_lock(&g_mu);
    refresh();
    rv = g_all_rv;
    if (rv == CKR_OK && g_signinit_n > 0) {
        g_signinit_n--;
        rv = g_signinit_rv;
    }
    char want[64];
    snprintf(want, sizeof want, "%s", g_hangkey);
    pthread_mutex_unlock(&g_mu);
    if (rv != CKR_OK)
        return rv;
    rv = g_real->C_SignInit(h, m, k);
    if (rv == CKR_OK) {
        char label[64] = "";
        CK_ATTRIBUTE a = {CKA_LABEL, label, sizeof label - 1};
        int on = want[0] != '\0' && g_real->C_GetAttributeValue(h, k, &a, 1) == CKR_OK &&
                 a.ulValueLen == strlen(want) && memcmp(label, want, a.ulValueLen) == 0;
        pthread_mutex_lock(&g_mu);
        g_hang_sess[h % HANG_SESSIONS] = h;
        g_hang_on[h % HANG_SESSIONS] = (unsigned char)on;
        pthread_mutex_unlock(&g_mu);
    }
    return rv;
}

static CK_RV w_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR s,
                      CK_ULONG_PTR sl)
{
    CK_RV rv;
    unsigned long hang = 0;
    pthread_mutex_lock(&g_mu);
    refresh();
    rv = g_all_rv;
    if (rv == CKR_OK && g_sign_n > 0) {
        g_sign_n--;
        rv = g_sign_rv;
    }
    if (rv == CKR_OK && g_hang_n > 0) {
        g_hang_n--;
        hang = g_hang_ms;
    }
    if (rv == CKR_OK && g_hangkey_ms > 0 && g_hang_sess[h % HANG_SESSIONS] == h &&
        g_hang_on[h % HANG_SESSIONS])
        hang = g_hangkey_ms;
    pthread_mutex_unlock(&g_mu);
    if (rv != CKR_OK)
        return rv;
    if (hang > 0) {
        struct timespec ts = {(time_t)(hang / 1000), (long)(hang % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return g_real->C_Sign(h, d, dl, s, sl);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&g_mu);
    if (g_real == NULL) {
        const char *target = getenv("P11_FAULT_TARGET");
        CK_C_GetFunctionList getfl;
        if (target == NULL || (g_dl = dlopen(target, RTLD_NOW | RTLD_LOCAL)) == NULL) {
            rv = CKR_GENERAL_ERROR;
            goto out;
        }
        *(void **)(&getfl) = dlsym(g_dl, "C_GetFunctionList");
        if (getfl == NULL || (rv = getfl(&g_real)) != CKR_OK) {
            rv = CKR_GENERAL_ERROR;
            goto out;
        }
        g_list = *g_real;
        g_list.C_GetSlotList = w_C_GetSlotList;
        g_list.C_GetTokenInfo = w_C_GetTokenInfo;
        g_list.C_OpenSession = w_C_OpenSession;
        g_list.C_CloseSession = w_C_CloseSession;
        g_list.C_GetSessionInfo = w_C_GetSessionInfo;
        g_list.C_Login = w_C_Login;
        g_list.C_FindObjectsInit = w_C_FindObjectsInit;
        g_list.C_FindObjects = w_C_FindObjects;
        g_list.C_FindObjectsFinal = w_C_FindObjectsFinal;
        g_list.C_GetAttributeValue = w_C_GetAttributeValue;
        g_list.C_SignInit = w_C_SignInit;
        g_list.C_Sign = w_C_Sign;
    }
    *out = &g_list;
out:
    pthread_mutex_unlock(&g_mu);
    return rv;
}
