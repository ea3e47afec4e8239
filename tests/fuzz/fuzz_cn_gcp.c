/*
 * fuzz_cn_gcp.c - the gcp_kms answer parsers on hostile input: getPublicKey (JSON + PEM
 * SubjectPublicKeyInfo + pemCrc32c), asymmetricSign (base64 DER + signatureCrc32c +
 * verifiedDigestCrc32c), the OAuth token answer (token_uri and metadata server) and the
 * service-account key file. No HTTP is made. Corpus: tests/fuzz/corpus/cn_gcp/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "cn_gcpcreds.h"
#include "cn_oauth.h"
#include "cn_signer_gcpkms.h"

#include <openssl/evp.h>

#define KV "projects/p1/locations/global/keyRings/r1/cryptoKeys/k1/cryptoKeyVersions/1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char tok[CN_OAUTH_TOKEN_MAX + 1];
    char *text = malloc(size + 1);
    uint8_t pub[65], der[72];
    size_t der_len = 0, tok_len = 0;
    long ttl = 0;
    char err[256];
    cn_gcp_sa sa;
    void *key = NULL;
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cn_gcpkms_parse_pubkey(pub, text, size, KV) == AK_OK && pub[0] != 0x04)
        abort();
    if (cn_gcpkms_parse_sign(der, &der_len, text, size, KV) == AK_OK &&
        (der_len == 0 || der_len > 72))
        abort();
    if (cn_oauth_parse_token(tok, sizeof tok, &tok_len, &ttl, text, size, 1700000000) == AK_OK &&
        (tok_len == 0 || tok_len != strlen(tok) || ttl < 1 || ttl > CN_OAUTH_TTL_MAX))
        abort();
    if (cn_gcpcreds_parse_file(&sa, &key, text, size, err, sizeof err) == AK_OK) {
        if (key == NULL || sa.client_email[0] == '\0' || strncmp(sa.token_uri, "https://", 8) != 0)
            abort();
        EVP_PKEY_free(key);
    } else if (key != NULL || sa.client_email[0] != '\0') {
        abort(); /* a refused file leaves nothing behind */
    }
    free(text);
    return 0;
}
