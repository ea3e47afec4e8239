/* ak_buf.c - bounded byte buffer over caller-owned storage (see ak_buf.h). */
#include "ak_buf.h"

#include <string.h>

ak_err ak_buf_append(ak_buf *b, const uint8_t *in, size_t len)
{
    if (len > b->cap - b->len)
        return AK_ERR_BUFFER;
    if (len)
        memcpy(b->data + b->len, in, len);
    b->len += len;
    return AK_OK;
}

ak_err ak_buf_append_byte(ak_buf *b, uint8_t byte)
{
    return ak_buf_append(b, &byte, 1);
}

ak_err ak_buf_insert(ak_buf *b, size_t off, const uint8_t *in, size_t len)
{
    if (off > b->len)
        return AK_ERR_ARG;
    if (len > b->cap - b->len)
        return AK_ERR_BUFFER;
    memmove(b->data + off + len, b->data + off, b->len - off);
    memcpy(b->data + off, in, len);
    b->len += len;
    return AK_OK;
}
