/*
 * ak_rlp.h - Recursive Length Prefix encoding (Ethereum Yellow Paper, appendix B).
 *
 * Encoder: appends to an ak_buf; a list is opened with ak_rlp_list_begin (which remembers the
 * offset) and closed with ak_rlp_list_end (which inserts the header in front of the items).
 * Decoder: strict. It rejects non-canonical forms: a single byte < 0x80 encoded as a string,
 * long forms for lengths < 56, length fields with leading zeros, lengths past the input, and
 * (ak_rlp_decode_all) trailing bytes. Items borrow from the input; nothing is allocated.
 * Integers decoded with ak_rlp_item_u64 / ak_rlp_item_u256 must have no leading zero bytes.
 */
#ifndef AK_RLP_H
#define AK_RLP_H

#include <stddef.h>
#include <stdint.h>

#include "ak_buf.h"
#include "ak_err.h"
#include "ak_u256.h"

/* Deepest list nesting ak_rlp_validate accepts. */
#define AK_RLP_MAX_DEPTH 64

AK_WUR ak_err ak_rlp_put_bytes(ak_buf *b, const uint8_t *in, size_t len);
/* A 32-byte big-endian scalar (a signature's r or s) as a minimal RLP integer. */
AK_WUR ak_err ak_rlp_put_scalar32(ak_buf *b, const uint8_t v[32]);
AK_WUR ak_err ak_rlp_put_u64(ak_buf *b, uint64_t v);
AK_WUR ak_err ak_rlp_put_u256(ak_buf *b, const ak_u256 *v);
/* Append already-encoded RLP verbatim (e.g. an access list). Not validated here. */
AK_WUR ak_err ak_rlp_put_raw(ak_buf *b, const uint8_t *rlp, size_t len);
/* Returns the mark to pass to ak_rlp_list_end. */
size_t ak_rlp_list_begin(const ak_buf *b);
AK_WUR ak_err ak_rlp_list_end(ak_buf *b, size_t mark);

typedef struct {
    int is_list;
    const uint8_t *payload; /* points into the decoded input */
    size_t payload_len;
    const uint8_t *encoded; /* the whole item, header included */
    size_t encoded_len;
} ak_rlp_item;

/* Decode the first item of in[0..len); *consumed = its encoded length. Strict (see above). */
AK_WUR ak_err ak_rlp_decode(ak_rlp_item *out, const uint8_t *in, size_t len, size_t *consumed);
/* Decode exactly one item covering all of in; trailing bytes are AK_ERR_RLP. */
AK_WUR ak_err ak_rlp_decode_all(ak_rlp_item *out, const uint8_t *in, size_t len);

/* Iterate the items of a list: init with the list item, then call next until it returns 0. */
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} ak_rlp_iter;

void ak_rlp_iter_init(ak_rlp_iter *it, const ak_rlp_item *list);
/* 1 and *out set for the next item; 0 at the end; -1 (with *err set) on malformed input. */
int ak_rlp_iter_next(ak_rlp_iter *it, ak_rlp_item *out, ak_err *err);
/* Number of items in a list, or an error. */
AK_WUR ak_err ak_rlp_list_count(const ak_rlp_item *list, size_t *count);

/* Integer views of a string item: canonical (no leading zeros: AK_ERR_RLP; zero is the empty
 * string 0x80, so a single 0x00 byte is rejected too), bounded (longer than 8 / 32 bytes:
 * AK_ERR_RANGE). A list is AK_ERR_RLP. */
AK_WUR ak_err ak_rlp_item_u64(uint64_t *out, const ak_rlp_item *item);
AK_WUR ak_err ak_rlp_item_u256(ak_u256 *out, const ak_rlp_item *item);

/* Walk a whole encoding recursively, strictly, with nesting bounded by max_depth. in must be
 * exactly one item (trailing bytes are AK_ERR_RLP). A list counts one level: max_depth 0 accepts
 * only a string, 1 accepts [] but not [[]]. Deeper input is AK_ERR_LIMIT; max_depth above
 * AK_RLP_MAX_DEPTH is AK_ERR_ARG. Uses no recursion (a fixed stack of AK_RLP_MAX_DEPTH). */
AK_WUR ak_err ak_rlp_validate(const uint8_t *in, size_t len, unsigned max_depth);

#endif
