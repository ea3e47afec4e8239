/* ak_crc32c.c - CRC-32C, bit by bit (see ak_crc32c.h). */
#include "ak_crc32c.h"

uint32_t ak_crc32c(const uint8_t *data, size_t len)
{
    /* Eight shifts per byte, no table: what is checksummed here (a 32-byte digest, a DER
     * signature, a PEM public key) is at most a few hundred bytes. */
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
}
