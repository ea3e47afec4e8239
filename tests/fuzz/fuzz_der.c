/*
 * fuzz_der: strict DER ECDSA signature parsing (ak_der_sig_parse). Whatever parses must be the
 * unique DER encoding of (r, s): re-encoding gives back the input byte for byte. Parsed
 * signatures also go through trial recovery against a fixed key, which may only succeed or
 * report AK_ERR_RECOVER.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_sig.h"

/* The EIP-155 example key's public key (ethers SigningKey("0x46..46").publicKey). */
static const uint8_t k_pub[65] = {0x04, 0x4b, 0xc2, 0xa3, 0x12, 0x65, 0x15, 0x3f, 0x07, 0xe7, 0x0e,
                                  0x0b, 0xab, 0x08, 0x72, 0x4e, 0x6b, 0x85, 0xe2, 0x17, 0xf8, 0xcd,
                                  0x62, 0x8c, 0xeb, 0x62, 0x97, 0x42, 0x47, 0xbb, 0x49, 0x33, 0x82,
                                  0xce, 0x28, 0xca, 0xb7, 0x9a, 0xd7, 0x11, 0x9e, 0xe1, 0xad, 0x3e,
                                  0xbc, 0xdb, 0x98, 0xa1, 0x68, 0x05, 0x21, 0x15, 0x30, 0xec, 0xc6,
                                  0xcf, 0xef, 0xa1, 0xb8, 0x8e, 0x6d, 0xff, 0x99, 0x23, 0x2a};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t r[32], s[32], out[AK_DER_SIG_MAX], digest[32] = {0};
    size_t len = 0;
    ak_sig sig;
    ak_err err;
    if (ak_der_sig_parse(r, s, data, size) != AK_OK)
        return 0;
    if (ak_der_sig_encode(out, sizeof out, &len, r, s) != AK_OK || len != size ||
        memcmp(out, data, size) != 0)
        abort();
    err = ak_sig_from_der(&sig, data, size, digest, k_pub);
    if (err != AK_OK && err != AK_ERR_RECOVER)
        abort();
    if (err == AK_OK && ak_sig_check(&sig) != AK_OK)
        abort();
    return 0;
}
