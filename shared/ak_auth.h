/*
 * ak_auth.h - EIP-7702 set-code authorizations: the digest an authority signs, the signed tuple
 * [chain_id, address, nonce, y_parity, r, s] as it appears in a type-4 transaction's
 * authorization_list, and that list (built, checked, read back by index, authority recovered).
 *
 *   digest = keccak256(MAGIC 0x05 || rlp([chain_id, address, nonce]))          (EIP-7702)
 *
 * Rules (EIP-7702, "Behavior" and "Authorization list"): chain_id < 2^256 (0 means "any chain"),
 * nonce < 2^64, y_parity 0 or 1, r and s in [1, n-1] with s <= n/2. The protocol would keep a
 * transaction whose tuple breaks the signature rules (that tuple is skipped); we refuse it
 * (AK_ERR_SIG), since a client who sends one cannot mean it to take effect.
 *
 * A list is carried as its RLP encoding (like ak_tx's access list): built with ak_auth_list_*,
 * or borrowed from a decoded transaction. Bounds: at most AK_AUTH_MAX_LIST tuples, the list's
 * encoding at most AK_AUTH_MAX_LIST_RLP bytes; more is AK_ERR_LIMIT. Nothing allocated.
 */
#ifndef AK_AUTH_H
#define AK_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "ak_buf.h"
#include "ak_err.h"
#include "ak_sig.h"
#include "ak_u256.h"

#define AK_AUTH_MAGIC    0x05
#define AK_AUTH_MAX_LIST 64 /* tuples in one authorization list */
/* One signed tuple: header 2 + chain_id 33 + address 21 + nonce 9 + y_parity 1 + r 33 + s 33. */
#define AK_AUTH_MAX_TUPLE_RLP 132u
#define AK_AUTH_MAX_LIST_RLP  ((size_t)AK_AUTH_MAX_LIST * AK_AUTH_MAX_TUPLE_RLP + 3u)

typedef struct {
    ak_u256 chain_id;    /* 0: valid on every chain (policy decides whether to sign that) */
    uint8_t address[20]; /* the delegate whose code the authority's account will run */
    uint64_t nonce;      /* the authority's account nonce when the authorization is applied */
} ak_auth;

typedef struct {
    ak_auth auth;
    ak_sig sig; /* sig.recid is y_parity */
} ak_auth_signed;

/* keccak256(0x05 || rlp([chain_id, address, nonce])). */
AK_WUR ak_err ak_auth_digest(uint8_t out[32], const ak_auth *auth);

/* The authority: the address sa->sig over ak_auth_digest(&sa->auth) recovers to. */
AK_WUR ak_err ak_auth_recover_authority(uint8_t addr[20], const ak_auth_signed *sa);

/*
 * List builder: mark = ak_auth_list_begin(b); ak_auth_list_add for each tuple (the signature
 * is checked: AK_ERR_SIG); ak_auth_list_end(b, mark). b then holds the RLP list to put in
 * ak_tx.auth_list_rlp. On error the partial tuple is dropped from b.
 */
size_t ak_auth_list_begin(const ak_buf *b);
AK_WUR ak_err ak_auth_list_add(ak_buf *b, const ak_auth_signed *sa);
AK_WUR ak_err ak_auth_list_end(ak_buf *b, size_t mark);

/*
 * Strict check of an encoded list: one RLP list (no trailing bytes) of 1..AK_AUTH_MAX_LIST
 * tuples, each exactly six canonical items with the ranges above. *count gets the number of
 * tuples. Empty list: AK_ERR_TX (EIP-7702 requires at least one); malformed: AK_ERR_RLP or
 * AK_ERR_TX; bad signature values: AK_ERR_SIG; too many or too long: AK_ERR_LIMIT.
 */
AK_WUR ak_err ak_auth_list_check(size_t *count, const uint8_t *rlp, size_t len);

/* The index-th tuple (0-based) of a list that ak_auth_list_check accepts. AK_ERR_ARG past the
 * end. */
AK_WUR ak_err ak_auth_list_get(ak_auth_signed *out, const uint8_t *rlp, size_t len, size_t index);

#endif
