/*
 * ak_buf.h - a bounded byte buffer over caller-owned storage (s2n "blob" / curl "dynbuf" style).
 *
 * The buffer never allocates and never grows past cap: an append that does not fit returns
 * AK_ERR_BUFFER and leaves the buffer unchanged. Used by the RLP encoder and the transaction
 * serializer so that every output has a size fixed by its caller.
 */
#ifndef AK_BUF_H
#define AK_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

typedef struct {
    uint8_t *data; /* caller-owned storage of cap bytes */
    size_t len;
    size_t cap;
} ak_buf;

static inline ak_buf ak_buf_init(uint8_t *storage, size_t cap)
{
    ak_buf b = {storage, 0, cap};
    return b;
}

AK_WUR ak_err ak_buf_append(ak_buf *b, const uint8_t *in, size_t len);
AK_WUR ak_err ak_buf_append_byte(ak_buf *b, uint8_t byte);
/* Insert len bytes at offset off (off <= b->len), moving the tail up. */
AK_WUR ak_err ak_buf_insert(ak_buf *b, size_t off, const uint8_t *in, size_t len);

#endif
