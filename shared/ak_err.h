/*
 * ak_err.h - the one error type of anode-keyless.
 *
 * Every fallible function in shared/, pkcs11/, keyserver/ and connector/ returns an ak_err:
 * AK_OK (0) on success, a negative code on failure. ak_strerror() gives a short, fixed English
 * text for each code; it never contains request data or secrets, so it is safe to log and to
 * put in an error response. Codes are stable: add new ones at the end of their group.
 */
#ifndef AK_ERR_H
#define AK_ERR_H

#define AK_WUR __attribute__((warn_unused_result))

typedef enum {
    AK_OK = 0,

    /* generic */
    AK_ERR_ARG = -1,    /* illegal argument: API misuse by the caller */
    AK_ERR_NOMEM = -2,  /* allocation failed */
    AK_ERR_BUFFER = -3, /* output buffer too small */
    AK_ERR_LIMIT = -4,  /* input exceeds a documented bound (size, depth, count) */
    AK_ERR_RANGE = -5,  /* numeric value out of range / overflow */
    AK_ERR_INTERNAL = -6,

    /* encodings */
    AK_ERR_HEX = -20,      /* malformed 0x DATA */
    AK_ERR_QUANTITY = -21, /* malformed 0x QUANTITY (leading zeros, empty, bad digit) */
    AK_ERR_DECIMAL = -22,  /* malformed decimal integer */
    AK_ERR_BASE64 = -23,   /* malformed base64 */
    AK_ERR_JSON = -24,     /* malformed or wrongly typed JSON */
    AK_ERR_RLP = -25,      /* malformed or non-canonical RLP */

    /* Ethereum objects */
    AK_ERR_ADDRESS = -40,  /* not a 20-byte 0x address */
    AK_ERR_CHECKSUM = -41, /* mixed-case address with a wrong EIP-55 checksum */
    AK_ERR_TX = -42,       /* invalid transaction fields or encoding */
    AK_ERR_TX_TYPE = -43,  /* unsupported transaction type */
    AK_ERR_CHAIN_ID = -44, /* wrong or missing chain id */
    AK_ERR_EIP712 = -45,   /* invalid typed data */

    /* keys and signatures */
    AK_ERR_DER = -60,     /* malformed or non-strict DER signature */
    AK_ERR_SIG = -61,     /* invalid signature (r or s zero or >= n) */
    AK_ERR_RECOVER = -62, /* signature recovers to neither recovery id's key */
    AK_ERR_PUBKEY = -63,  /* invalid or non-secp256k1 public key */
    AK_ERR_PRIVKEY = -64, /* invalid private key */
    AK_ERR_CRYPTO = -65,  /* a crypto library call failed */

    /* HSM / PKCS#11 */
    AK_ERR_HSM = -80,             /* the HSM refused or failed the operation */
    AK_ERR_HSM_UNAVAILABLE = -81, /* token absent, session lost and not recovered */
    AK_ERR_KEY_NOT_FOUND = -82,   /* no such key on the token */
    AK_ERR_KEY_TYPE = -83,        /* key is not secp256k1 / public key unreadable */
    AK_ERR_PIN = -84,             /* PIN missing or rejected */
    AK_ERR_URI = -85,             /* malformed pkcs11: URI */
    AK_ERR_BUSY = -86,            /* all sessions in use and the wait timed out */

    /* I/O, network, service */
    AK_ERR_IO = -100,         /* file or socket I/O failed */
    AK_ERR_TIMEOUT = -101,    /* a deadline passed */
    AK_ERR_NETWORK = -102,    /* connection refused, reset, TLS failure */
    AK_ERR_UPSTREAM = -103,   /* the remote service answered with an error */
    AK_ERR_CONFIG = -104,     /* invalid configuration */
    AK_ERR_AUTH = -105,       /* authentication failed */
    AK_ERR_FORBIDDEN = -106,  /* authenticated but not allowed */
    AK_ERR_NOT_FOUND = -107,  /* unknown resource */
    AK_ERR_AUDIT = -108,      /* audit record could not be written */
    AK_ERR_UNAVAILABLE = -109 /* service temporarily unavailable */
} ak_err;

/* The reason out-parameter of fallible functions: format it into err (cap bytes) when err is not
 * NULL and cap > 0 (the caller includes <stdio.h>). */
#define AK_SET_ERR(err, cap, ...)                                                                  \
    ((err) != NULL && (cap) > 0 ? (void)snprintf((err), (cap), __VA_ARGS__) : (void)0)

/* A fixed, secret-free description of err. Never NULL; unknown codes give "unknown error". */
const char *ak_strerror(ak_err err);

/* A stable snake_case name of err for machine-readable error codes ("hex", "der", ...). */
const char *ak_errname(ak_err err);

#endif
