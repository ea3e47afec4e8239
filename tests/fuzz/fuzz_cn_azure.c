/*
 * fuzz_cn_azure.c - the azure_key_vault answer parsers on hostile input: the key bundle (JWK with
 * kty/crv/x/y/key_ops, kid, attributes), the sign answer (kid + base64url r||s) and the token
 * answers (token endpoint, IMDS with string expires_in, App Service with expires_on). No HTTP is
 * made. Corpus: tests/fuzz/corpus/cn_azure/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cn_oauth.h"
#include "cn_signer_azkv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char tok[CN_OAUTH_TOKEN_MAX + 1];
    char *text = malloc(size + 1);
    char version[CN_AZKV_VERSION_MAX + 1];
    uint8_t pub[65], rs[64];
    size_t tok_len = 0;
    long ttl = 0;
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cn_azkv_parse_key(pub, version, text, size, "eth-key") == AK_OK &&
        (pub[0] != 0x04 || version[0] == '\0' || strlen(version) > CN_AZKV_VERSION_MAX))
        abort();
    (void)cn_azkv_parse_sign(rs, text, size, "eth-key", "0123456789abcdef0123456789abcdef");
    if (cn_oauth_parse_token(tok, sizeof tok, &tok_len, &ttl, text, size, 1700000000) == AK_OK &&
        (tok_len == 0 || tok_len != strlen(tok) || ttl < 1 || ttl > CN_OAUTH_TTL_MAX))
        abort();
    free(text);
    return 0;
}
