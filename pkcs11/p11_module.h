/*
 * p11_module.h - loading a PKCS#11 module and the small raw-API helpers shared by p11_token.c,
 * anode-keytool and the benchmarks.
 *
 * A module is dlopen()ed once per path per process and C_Initialize()d with CKF_OS_LOCKING_OK
 * (the module must be thread-safe: we call it from many threads). Loads are reference counted:
 * two p11_tokens on the same module share it, and C_Finalize runs when the last one releases it,
 * and only if our C_Initialize was the one that initialised it (CKR_CRYPTOKI_ALREADY_INITIALIZED
 * means someone else in the process owns the module's life).
 *
 * Ownership: p11_module_load() returns a reference the caller gives back with
 * p11_module_release(). The helpers below take and return no heap memory.
 */
#ifndef P11_MODULE_H
#define P11_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "ak_err.h"

typedef struct p11_module p11_module;

AK_WUR ak_err p11_module_load(p11_module **out, const char *path, char *err_msg, size_t err_cap);
void p11_module_release(p11_module *m); /* NULL allowed */
CK_FUNCTION_LIST *p11_module_functions(const p11_module *m);

/*
 * Re-initialisation (SoftHSM, like several vendor modules, sees a token that was removed and
 * put back only after C_Finalize + C_Initialize). Callers that may race a re-initialisation
 * make their calls between p11_module_enter() and p11_module_leave() (a shared lock; never
 * taken twice by one thread). p11_module_reinit() takes it exclusively (waiting at most
 * wait_ms for running calls: AK_ERR_TIMEOUT if one does not return), and, unless the module's
 * generation has moved past seen_gen meanwhile (another caller did it: AK_OK), calls
 * C_Finalize + C_Initialize and bumps the generation. Every session and object handle obtained
 * before is then void and must never be passed to the module again (the numbers may be reused
 * for new objects). Only for a module we initialised (else AK_ERR_HSM_UNAVAILABLE); *rv gets
 * C_Initialize's result (AK_ERR_HSM_UNAVAILABLE if it failed: the generation moved anyway).
 */
unsigned long p11_module_gen(p11_module *m);
void p11_module_enter(p11_module *m);
void p11_module_leave(p11_module *m);
AK_WUR ak_err p11_module_reinit(p11_module *m, unsigned long seen_gen, unsigned wait_ms, CK_RV *rv);

/* Symbolic name of a CK_RV ("CKR_DEVICE_REMOVED"), or "CKR_0x..." for unknown values. */
const char *p11_rv_name(CK_RV rv);

/*
 * The slot holding the token labelled `label` (compared against the 32-byte blank-padded
 * CK_TOKEN_INFO label). Exactly one token must match: none is AK_ERR_HSM_UNAVAILABLE, two or
 * more AK_ERR_CONFIG. *rv gets the last CK_RV seen (CKR_OK when no PKCS#11 call failed).
 */
AK_WUR ak_err p11_find_slot_by_label(CK_FUNCTION_LIST *f, CK_SLOT_ID *slot, CK_RV *rv,
                                     const char *label);

/*
 * Open a serial (read-only unless rw) session on slot and make sure the user is logged in:
 * C_Login is called only if the session state is public; CKR_USER_ALREADY_LOGGED_IN is fine.
 * On failure nothing stays open; *rv gets the failing CK_RV (CKR_PIN_INCORRECT -> AK_ERR_PIN).
 */
AK_WUR ak_err p11_open_login(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE *sess, CK_RV *rv,
                             CK_SLOT_ID slot, int rw, const char *pin, size_t pin_len);

/*
 * Read attribute `type` of obj into buf (capacity cap); *len gets its length. AK_ERR_BUFFER if
 * it does not fit, AK_ERR_HSM if unreadable (*rv says why).
 */
AK_WUR ak_err p11_get_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
                           CK_ATTRIBUTE_TYPE type, void *buf, size_t cap, size_t *len, CK_RV *rv);

/*
 * Up to max handles of objects of class cls whose CKA_LABEL / CKA_ID match (NULL / 0 = any).
 * *n gets how many were found (at most max; *more is set if there were more than max).
 */
AK_WUR ak_err p11_find_objects(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                               const char *label, const uint8_t *id, size_t id_len,
                               CK_OBJECT_HANDLE *out, size_t max, size_t *n, int *more, CK_RV *rv);

/* CKA_EC_PARAMS of secp256k1: the DER OID 1.3.132.0.10 (06 05 2b 81 04 00 0a). */
extern const uint8_t P11_SECP256K1_PARAMS[7];

/*
 * Find the one private key with CKA_LABEL label and/or CKA_ID id (NULL = any) on session s,
 * check it is EC on secp256k1, and read its public key (CKA_EC_POINT of the public key object
 * with the same label/id, else of the private key object) into pub as 04|X|Y. *priv gets the
 * handle. AK_ERR_KEY_NOT_FOUND (none, or more than one), AK_ERR_KEY_TYPE (not secp256k1, public
 * key unreadable or invalid), AK_ERR_HSM_UNAVAILABLE (the search itself failed); err_msg says
 * which.
 */
AK_WUR ak_err p11_ec_key_lookup(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const char *label,
                                const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *priv,
                                uint8_t pub[65], char *err_msg, size_t err_cap);

/* C_SignInit + C_Sign (CKM_ECDSA) of a 32-byte digest -> raw r||s; any length but 64 is
 * CKR_FUNCTION_FAILED. Returns the CK_RV of the failing call. */
CK_RV p11_sign_ecdsa(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                     const uint8_t digest[32], uint8_t rs[64]);

#endif
