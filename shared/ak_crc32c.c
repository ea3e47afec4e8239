/* ak_crc32c.c - CRC-32C, bytewise with a table built once (see ak_crc32c.h). */
#include "ak_crc32c.h"

static uint32_t table_entry(uint32_t c)
{
    for (int k = 0; k < 8; k++)
        c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    return c;
}

uint32_t ak_crc32c(const uint8_t *data, size_t len)
{
    /* Built on every call into a local table would cost 2 KiB of work; 256 entries computed
     * lazily per byte value is simpler and still fast enough for signatures and PEM keys. */
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = (crc >> 8) ^ table_entry((crc ^ data[i]) & 0xFFu);
    return crc ^ 0xFFFFFFFFu;
}
