/*
 * p11_uri.h - RFC 7512 "pkcs11:" URIs naming a key on a token.
 *
 * Supported path attributes: token, object, id, slot-id, type (must be "private" if present);
 * query attributes: module-path, pin-source, pin-value, max-sessions. Values are percent-decoded
 * (RFC 7512 section 2.3); "id" is raw bytes (usually percent-encoded). Unknown attributes, a
 * duplicated attribute, bad percent escapes and over-long values are AK_ERR_URI, with a message
 * naming the attribute in err_msg (never the PIN value).
 *
 * Ownership: the struct owns everything in it; p11_uri_clear() wipes pin_value and resets it.
 */
#ifndef P11_URI_H
#define P11_URI_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define P11_URI_MAX_LEN 4096
#define P11_LABEL_MAX   64 /* token labels are 32 bytes, object labels bounded by us */
#define P11_ID_MAX      64
#define P11_PATH_MAX    1024
#define P11_PIN_MAX     256

typedef struct {
    char token[P11_LABEL_MAX + 1];
    int has_token;
    char object[P11_LABEL_MAX + 1];
    int has_object;
    uint8_t id[P11_ID_MAX];
    size_t id_len;
    int has_id;
    unsigned long slot_id;
    int has_slot_id;
    char module_path[P11_PATH_MAX + 1];
    int has_module_path;
    char pin_source[P11_PATH_MAX + 1]; /* file path (or "file:" URI) holding the PIN */
    int has_pin_source;
    char pin_value[P11_PIN_MAX + 1]; /* secret: wiped by p11_uri_clear */
    int has_pin_value;
    unsigned max_sessions; /* 0 = not given */
} p11_uri;

/*
 * Parse uri (len bytes, need not be NUL-terminated). On error err_msg (may be NULL) gets a
 * NUL-terminated, secret-free reason of at most err_cap bytes.
 */
AK_WUR ak_err p11_uri_parse(p11_uri *out, const char *uri, size_t len, char *err_msg,
                            size_t err_cap);

/* Wipe the PIN and zero the struct. */
void p11_uri_clear(p11_uri *u);

#endif
