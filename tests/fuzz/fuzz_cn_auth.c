/*
 * fuzz_cn_auth.c - the connector's client-authentication parsers on hostile input: the
 * Cf-Access-Jwt-Assertion header (JWS compact form, base64url, header/claims JSON, kid lookup,
 * RS256 verification), the claims checks, JWKS entries (RSA n/e -> EVP_PKEY) and bearer headers.
 * cn_auth.c and cn_access.c are compiled into this target (rather than linked from cn_core) so
 * that their static functions can be driven one by one. The first input byte picks the parser.
 */
#include "../../connector/net/cn_access.c"
#include "../../connector/net/cn_auth.c"

#include <openssl/rsa.h>

static cn_auth *fz_auth;

static void fz_init(void)
{
    static const char *tok = "0123456789abcdef-fuzz-token";
    fz_auth = calloc(1, sizeof *fz_auth);
    fz_auth->tokens = ak_secure_alloc(CN_AUTH_MAX_TOKENS * sizeof *fz_auth->tokens);
    if (!sha256(fz_auth->tokens[0], tok, strlen(tok)))
        abort();
    fz_auth->n_tokens = 1;
    fz_auth->have_bearer = 1;
    cn_access *x = calloc(1, sizeof *x);
    x->keys[0].pkey = EVP_RSA_gen(2048);
    if (x->keys[0].pkey == NULL)
        abort();
    snprintf(x->keys[0].kid, sizeof x->keys[0].kid, "k");
    x->keys[0].sig_len = 256;
    x->n_keys = 1;
    snprintf(x->audience, sizeof x->audience, "aud");
    snprintf(x->issuer, sizeof x->issuer, "https://t.cloudflareaccess.com");
    x->leeway = 30;
    fz_auth->access = x;
    fz_auth->require_all = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_auth == NULL)
        fz_init();
    if (size < 1 || size > 2 * CN_AUTH_MAX_JWT)
        return 0;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0'; /* the headers arrive NUL-terminated from libmicrohttpd */
    const char *why = NULL;
    switch (data[0] % 5) {
    case 0:
        (void)cn_auth_check(fz_auth, NULL, s, 1800000000, &why);
        break;
    case 1: {
        cJSON *claims = cJSON_ParseWithLength(s, size - 1);
        if (claims != NULL)
            (void)check_claims(fz_auth->access, claims, 1800000000, &why);
        cJSON_Delete(claims);
        break;
    }
    case 2: {
        uint8_t out[2 * CN_AUTH_MAX_JWT];
        size_t n = 0;
        (void)ak_b64url_decode(out, sizeof out, &n, s, size - 1);
        break;
    }
    case 3: {
        cJSON *jwk = cJSON_ParseWithLength(s, size - 1);
        jwk_key k;
        char err[128];
        memset(&k, 0, sizeof k);
        if (jwk != NULL && jwk_to_pkey(&k, jwk, 0, err, sizeof err) == AK_OK)
            EVP_PKEY_free(k.pkey);
        cJSON_Delete(jwk);
        break;
    }
    default:
        (void)cn_auth_check(fz_auth, s, NULL, 0, &why);
        break;
    }
    free(s);
    return 0;
}
