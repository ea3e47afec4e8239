/*
 * ak_crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF: RFC 3720 appendix B.4), the integrity checksum Google Cloud KMS puts on the data it
 * receives and returns (digestCrc32c, signatureCrc32c, pemCrc32c). Pure computation, no state.
 * Check value: crc32c("123456789") = 0xE3069283.
 */
#ifndef AK_CRC32C_H
#define AK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t ak_crc32c(const uint8_t *data, size_t len);

#endif
