/*
 * p11_module.c - PKCS#11 module loading (dlopen + C_GetFunctionList, C_Initialize with OS
 * locking, reference counted per path) and raw-API helpers. See p11_module.h.
 */
#include "p11_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "p11_uri.h"

const uint8_t P11_SECP256K1_PARAMS[7] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

struct p11_module {
    struct p11_module *next;
    char path[P11_PATH_MAX + 1];
    void *dl;
    CK_FUNCTION_LIST *f;
    unsigned refs;
    int we_initialized;
    pthread_rwlock_t rw; /* shared: a call is running; exclusive: p11_module_reinit */
    atomic_ulong gen;    /* bumped by every re-initialisation */
};

/* All loaded modules; tiny list, only touched at start-up and shutdown. */
static pthread_mutex_t g_mod_mu = PTHREAD_MUTEX_INITIALIZER;
static p11_module *g_modules;

ak_err p11_module_load(p11_module **out, const char *path, char *err_msg, size_t err_cap)
{
    p11_module *m = NULL;
    CK_C_GetFunctionList getfl;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;
    ak_err e = AK_OK;

    if (out == NULL || path == NULL || path[0] == '\0' || strlen(path) > P11_PATH_MAX) {
        if (err_msg != NULL && err_cap > 0)
            snprintf(err_msg, err_cap, "PKCS#11 module path missing or too long");
        return AK_ERR_ARG;
    }
    *out = NULL;
    pthread_mutex_lock(&g_mod_mu);
    for (m = g_modules; m != NULL; m = m->next) {
        if (strcmp(m->path, path) == 0) {
            m->refs++;
            *out = m;
            goto out;
        }
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        e = AK_ERR_NOMEM;
        goto out;
    }
    snprintf(m->path, sizeof(m->path), "%s", path);
    {
        /* Writers first: a re-initialisation waiting for running calls is not starved by new
         * ones (no thread ever takes the shared lock twice). */
        pthread_rwlockattr_t ra;
        pthread_rwlockattr_init(&ra);
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&m->rw, &ra);
        pthread_rwlockattr_destroy(&ra);
    }
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        if (err_msg != NULL && err_cap > 0)
            snprintf(err_msg, err_cap, "cannot load PKCS#11 module %s: %s", path, dlerror());
        e = AK_ERR_CONFIG;
        goto out;
    }
    *(void **)(&getfl) = dlsym(m->dl, "C_GetFunctionList");
    if (getfl == NULL) {
        if (err_msg != NULL && err_cap > 0)
            snprintf(err_msg, err_cap, "%s is not a PKCS#11 module (no C_GetFunctionList)", path);
        e = AK_ERR_CONFIG;
        goto out;
    }
    rv = getfl(&m->f);
    if (rv != CKR_OK || m->f == NULL) {
        if (err_msg != NULL && err_cap > 0)
            snprintf(err_msg, err_cap, "C_GetFunctionList failed: %s", p11_rv_name(rv));
        e = AK_ERR_HSM;
        goto out;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->f->C_Initialize(&args);
    if (rv == CKR_OK) {
        m->we_initialized = 1;
    } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        if (err_msg != NULL && err_cap > 0)
            snprintf(err_msg, err_cap, "C_Initialize failed: %s", p11_rv_name(rv));
        e = AK_ERR_HSM_UNAVAILABLE;
        goto out;
    }
    m->refs = 1;
    m->next = g_modules;
    g_modules = m;
    *out = m;
    m = NULL;
out:
    if (e != AK_OK && m != NULL) {
        if (m->dl != NULL)
            dlclose(m->dl);
        pthread_rwlock_destroy(&m->rw);
        free(m);
    }
    pthread_mutex_unlock(&g_mod_mu);
    return e;
}

void p11_module_release(p11_module *m)
{
    p11_module **pp;
    if (m == NULL)
        return;
    pthread_mutex_lock(&g_mod_mu);
    if (--m->refs > 0) {
        pthread_mutex_unlock(&g_mod_mu);
        return;
    }
    for (pp = &g_modules; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    pthread_mutex_unlock(&g_mod_mu);
    if (m->we_initialized)
        (void)m->f->C_Finalize(NULL);
    dlclose(m->dl);
    pthread_rwlock_destroy(&m->rw);
    free(m);
}

CK_FUNCTION_LIST *p11_module_functions(const p11_module *m)
{
    return m->f;
}

unsigned long p11_module_gen(p11_module *m)
{
    return atomic_load(&m->gen);
}

void p11_module_enter(p11_module *m)
{
    (void)pthread_rwlock_rdlock(&m->rw);
}

void p11_module_leave(p11_module *m)
{
    (void)pthread_rwlock_unlock(&m->rw);
}

ak_err p11_module_reinit(p11_module *m, unsigned long seen_gen, unsigned wait_ms, CK_RV *rv)
{
    CK_C_INITIALIZE_ARGS args;
    struct timespec dl;
    ak_err e = AK_OK;
    *rv = CKR_OK;
    if (!m->we_initialized)
        return AK_ERR_HSM_UNAVAILABLE;  /* another part of the process owns its life */
    clock_gettime(CLOCK_REALTIME, &dl); /* pthread_rwlock_timedwrlock takes CLOCK_REALTIME */
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    if (pthread_rwlock_timedwrlock(&m->rw, &dl) != 0)
        return AK_ERR_TIMEOUT; /* a call that does not return: try again later */
    if (atomic_load(&m->gen) != seen_gen)
        goto out; /* someone re-initialised it since the caller's failure */
    (void)m->f->C_Finalize(NULL);
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    *rv = m->f->C_Initialize(&args);
    if (*rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
        *rv = CKR_OK;
    /* Every session and object handle of the old generation is void, whatever happened. */
    atomic_fetch_add(&m->gen, 1);
    if (*rv != CKR_OK)
        e = AK_ERR_HSM_UNAVAILABLE;
out:
    pthread_rwlock_unlock(&m->rw);
    return e;
}

const char *p11_rv_name(CK_RV rv)
{
    static __thread char unknown[32];
    switch (rv) {
#define RV(x)                                                                                      \
    case x:                                                                                        \
        return #x
        RV(CKR_OK);
        RV(CKR_CANCEL);
        RV(CKR_HOST_MEMORY);
        RV(CKR_SLOT_ID_INVALID);
        RV(CKR_GENERAL_ERROR);
        RV(CKR_FUNCTION_FAILED);
        RV(CKR_ARGUMENTS_BAD);
        RV(CKR_ATTRIBUTE_SENSITIVE);
        RV(CKR_ATTRIBUTE_TYPE_INVALID);
        RV(CKR_ATTRIBUTE_VALUE_INVALID);
        RV(CKR_DATA_INVALID);
        RV(CKR_DATA_LEN_RANGE);
        RV(CKR_DEVICE_ERROR);
        RV(CKR_DEVICE_MEMORY);
        RV(CKR_DEVICE_REMOVED);
        RV(CKR_FUNCTION_CANCELED);
        RV(CKR_FUNCTION_NOT_SUPPORTED);
        RV(CKR_KEY_HANDLE_INVALID);
        RV(CKR_KEY_TYPE_INCONSISTENT);
        RV(CKR_KEY_FUNCTION_NOT_PERMITTED);
        RV(CKR_MECHANISM_INVALID);
        RV(CKR_MECHANISM_PARAM_INVALID);
        RV(CKR_OBJECT_HANDLE_INVALID);
        RV(CKR_OPERATION_ACTIVE);
        RV(CKR_OPERATION_NOT_INITIALIZED);
        RV(CKR_PIN_INCORRECT);
        RV(CKR_PIN_LOCKED);
        RV(CKR_SESSION_CLOSED);
        RV(CKR_SESSION_COUNT);
        RV(CKR_SESSION_HANDLE_INVALID);
        RV(CKR_TEMPLATE_INCOMPLETE);
        RV(CKR_TEMPLATE_INCONSISTENT);
        RV(CKR_TOKEN_NOT_PRESENT);
        RV(CKR_TOKEN_NOT_RECOGNIZED);
        RV(CKR_USER_ALREADY_LOGGED_IN);
        RV(CKR_USER_NOT_LOGGED_IN);
        RV(CKR_USER_PIN_NOT_INITIALIZED);
        RV(CKR_USER_TYPE_INVALID);
        RV(CKR_DOMAIN_PARAMS_INVALID);
        RV(CKR_CURVE_NOT_SUPPORTED);
        RV(CKR_BUFFER_TOO_SMALL);
        RV(CKR_CRYPTOKI_NOT_INITIALIZED);
        RV(CKR_CRYPTOKI_ALREADY_INITIALIZED);
        RV(CKR_FUNCTION_REJECTED);
#undef RV
    default:
        snprintf(unknown, sizeof(unknown), "CKR_0x%lx", (unsigned long)rv);
        return unknown;
    }
}

ak_err p11_find_slot_by_label(CK_FUNCTION_LIST *f, CK_SLOT_ID *slot, CK_RV *rv, const char *label)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    unsigned char want[32];
    size_t llen = strlen(label);
    unsigned matches = 0;

    *rv = CKR_OK;
    if (llen > sizeof(want))
        return AK_ERR_CONFIG;
    memset(want, ' ', sizeof(want));
    memcpy(want, label, llen);
    *rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    if (*rv == CKR_BUFFER_TOO_SMALL)
        return AK_ERR_LIMIT; /* more than 64 tokens: not a configuration we support */
    if (*rv != CKR_OK)
        return AK_ERR_HSM_UNAVAILABLE;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        CK_RV r = f->C_GetTokenInfo(slots[i], &ti);
        if (r != CKR_OK) {
            *rv = r; /* a token that vanished between the calls is not the one */
            continue;
        }
        if (memcmp(ti.label, want, sizeof(want)) == 0) {
            if (matches++ == 0)
                *slot = slots[i];
        }
    }
    if (matches == 0)
        return AK_ERR_HSM_UNAVAILABLE;
    *rv = CKR_OK;
    return matches == 1 ? AK_OK : AK_ERR_CONFIG;
}

ak_err p11_open_login(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE *sess, CK_RV *rv, CK_SLOT_ID slot,
                      int rw, const char *pin, size_t pin_len)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_SESSION_INFO si;
    CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
    ak_err e = AK_OK;

    *rv = f->C_OpenSession(slot, flags, NULL, NULL, &s);
    if (*rv != CKR_OK) {
        e = AK_ERR_HSM_UNAVAILABLE;
        s = CK_INVALID_HANDLE;
        goto out;
    }
    *rv = f->C_GetSessionInfo(s, &si);
    if (*rv != CKR_OK) {
        e = AK_ERR_HSM_UNAVAILABLE;
        goto out;
    }
    if (si.state == CKS_RO_PUBLIC_SESSION || si.state == CKS_RW_PUBLIC_SESSION) {
        *rv = f->C_Login(s, CKU_USER, (unsigned char *)(uintptr_t)pin, (CK_ULONG)pin_len);
        if (*rv == CKR_USER_ALREADY_LOGGED_IN) {
            *rv = CKR_OK;
        } else if (*rv == CKR_PIN_INCORRECT || *rv == CKR_PIN_LOCKED || *rv == CKR_PIN_LEN_RANGE ||
                   *rv == CKR_PIN_EXPIRED) {
            e = AK_ERR_PIN;
            goto out;
        } else if (*rv != CKR_OK) {
            e = AK_ERR_HSM_UNAVAILABLE;
            goto out;
        }
    }
    *sess = s;
    s = CK_INVALID_HANDLE;
out:
    if (s != CK_INVALID_HANDLE)
        (void)f->C_CloseSession(s);
    return e;
}

ak_err p11_get_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
                    CK_ATTRIBUTE_TYPE type, void *buf, size_t cap, size_t *len, CK_RV *rv)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    *rv = f->C_GetAttributeValue(s, obj, &a, 1);
    if (*rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return AK_ERR_HSM;
    if (a.ulValueLen > cap)
        return AK_ERR_BUFFER;
    a.pValue = buf;
    *rv = f->C_GetAttributeValue(s, obj, &a, 1);
    if (*rv != CKR_OK)
        return AK_ERR_HSM;
    *len = a.ulValueLen;
    return AK_OK;
}

ak_err p11_find_objects(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                        const char *label, const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *out,
                        size_t max, size_t *n, int *more, CK_RV *rv)
{
    CK_ATTRIBUTE tmpl[3];
    CK_ULONG nt = 0, got = 0;
    CK_OBJECT_HANDLE extra;
    ak_err e = AK_OK;

    tmpl[nt].type = CKA_CLASS;
    tmpl[nt].pValue = &cls;
    tmpl[nt++].ulValueLen = sizeof(cls);
    if (label != NULL) {
        tmpl[nt].type = CKA_LABEL;
        tmpl[nt].pValue = (void *)(uintptr_t)label;
        tmpl[nt++].ulValueLen = strlen(label);
    }
    if (id != NULL) {
        tmpl[nt].type = CKA_ID;
        tmpl[nt].pValue = (void *)(uintptr_t)id;
        tmpl[nt++].ulValueLen = id_len;
    }
    *n = 0;
    *more = 0;
    *rv = f->C_FindObjectsInit(s, tmpl, nt);
    if (*rv != CKR_OK)
        return AK_ERR_HSM;
    *rv = f->C_FindObjects(s, out, (CK_ULONG)max, &got);
    if (*rv != CKR_OK) {
        e = AK_ERR_HSM;
        goto out;
    }
    *n = got;
    if (got == max) {
        CK_ULONG x = 0;
        *rv = f->C_FindObjects(s, &extra, 1, &x);
        if (*rv != CKR_OK) {
            e = AK_ERR_HSM;
            goto out;
        }
        *more = x > 0;
    }
out : {
    CK_RV r = f->C_FindObjectsFinal(s);
    if (e == AK_OK && r != CKR_OK) {
        *rv = r;
        e = AK_ERR_HSM;
    }
}
    return e;
}

/* ---- keys ------------------------------------------------------------------------------------ */

ak_err p11_ec_key_lookup(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const char *label,
                         const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *priv, uint8_t pub[65],
                         char *err_msg, size_t err_cap)
{
    CK_OBJECT_HANDLE objs[2], pubobj = CK_INVALID_HANDLE;
    CK_KEY_TYPE kt = 0;
    uint8_t buf[160];
    size_t n = 0, len = 0;
    int more = 0;
    CK_RV rv = CKR_OK;
    ak_err e;

    e = p11_find_objects(f, s, CKO_PRIVATE_KEY, label, id, id_len, objs, 2, &n, &more, &rv);
    if (e != AK_OK) {
        set_msg(err_msg, err_cap, "searching the private key failed: %s", p11_rv_name(rv));
        return AK_ERR_HSM_UNAVAILABLE;
    }
    if (n == 0) {
        set_msg(err_msg, err_cap, "no private key with this label/id on the token");
        return AK_ERR_KEY_NOT_FOUND;
    }
    if (n > 1) {
        set_msg(err_msg, err_cap, "more than one private key matches this label/id");
        return AK_ERR_KEY_NOT_FOUND;
    }
    *priv = objs[0];
    e = p11_get_attr(f, s, *priv, CKA_KEY_TYPE, &kt, sizeof(kt), &len, &rv);
    if (e != AK_OK || len != sizeof(kt)) {
        set_msg(err_msg, err_cap, "cannot read CKA_KEY_TYPE: %s", p11_rv_name(rv));
        return AK_ERR_KEY_TYPE;
    }
    if (kt != CKK_EC) {
        set_msg(err_msg, err_cap, "key is not an EC key (CKA_KEY_TYPE 0x%lx): secp256k1 needed",
                (unsigned long)kt);
        return AK_ERR_KEY_TYPE;
    }
    e = p11_get_attr(f, s, *priv, CKA_EC_PARAMS, buf, sizeof(buf), &len, &rv);
    if (e != AK_OK) {
        set_msg(err_msg, err_cap, "cannot read CKA_EC_PARAMS of the key: %s", p11_rv_name(rv));
        return AK_ERR_KEY_TYPE;
    }
    if (len != sizeof(P11_SECP256K1_PARAMS) || memcmp(buf, P11_SECP256K1_PARAMS, len) != 0) {
        set_msg(err_msg, err_cap,
                "key is not on secp256k1 (CKA_EC_PARAMS is not OID 1.3.132.0.10): Ethereum "
                "needs secp256k1");
        return AK_ERR_KEY_TYPE;
    }
    /* The public key: the public key object with the same label/id, else the private object. */
    e = p11_find_objects(f, s, CKO_PUBLIC_KEY, label, id, id_len, objs, 2, &n, &more, &rv);
    if (e == AK_OK && n == 1)
        pubobj = objs[0];
    e = AK_ERR_HSM;
    if (pubobj != CK_INVALID_HANDLE)
        e = p11_get_attr(f, s, pubobj, CKA_EC_POINT, buf, sizeof(buf), &len, &rv);
    if (e != AK_OK)
        e = p11_get_attr(f, s, *priv, CKA_EC_POINT, buf, sizeof(buf), &len, &rv);
    if (e != AK_OK) {
        set_msg(err_msg, err_cap,
                "cannot read the public key (CKA_EC_POINT) of the key or of a public key object "
                "with the same label/id");
        return AK_ERR_KEY_TYPE;
    }
    if (ak_pubkey_parse(pub, buf, len) != AK_OK) {
        set_msg(err_msg, err_cap, "CKA_EC_POINT is not a valid secp256k1 point");
        return AK_ERR_KEY_TYPE;
    }
    return AK_OK;
}

CK_RV p11_sign_ecdsa(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                     const uint8_t digest[32], uint8_t rs[64])
{
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    CK_ULONG len = 64;
    CK_RV rv = f->C_SignInit(s, &mech, key);
    if (rv != CKR_OK)
        return rv;
    rv = f->C_Sign(s, (unsigned char *)(uintptr_t)digest, 32, rs, &len);
    if (rv == CKR_OK && len != 64)
        rv = CKR_FUNCTION_FAILED; /* not a 256-bit curve's r||s: treat as a device fault */
    return rv;
}
