/* cn_jwt.c - RS256 compact JWS for OAuth 2.0 JWT assertions (see cn_jwt.h). */
#include "cn_jwt.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ak_b64.h"
#include "ak_secmem.h"

ak_err cn_jwt_b64url(char *out, size_t cap, const uint8_t *in, size_t len)
{
    if (cap < AK_B64_ENCODED_SIZE(len))
        return AK_ERR_BUFFER;
    ak_err rc = ak_b64_encode(out, cap, in, len);
    if (rc != AK_OK)
        return rc;
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return AK_OK;
}

ak_err cn_jwt_key_load(EVP_PKEY **out, const char *pem, size_t len)
{
    *out = NULL;
    if (len > INT32_MAX)
        return AK_ERR_LIMIT;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = NULL;
    ak_err rc = AK_ERR_PRIVKEY;
    if (b == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    /* An empty passphrase callback: an encrypted key is refused, never prompted for. */
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA || EVP_PKEY_get_bits(k) < 2048)
        goto out;
    *out = k;
    k = NULL;
    rc = AK_OK;
out:
    EVP_PKEY_free(k);
    BIO_free(b);
    return rc;
}

ak_err cn_jwt_rs256(char *out, size_t cap, EVP_PKEY *key, const char *header, const char *claims)
{
    uint8_t sig[1024];
    size_t sig_len = sizeof sig, used;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ak_err rc = AK_ERR_NOMEM;
    if (md == NULL)
        goto out;
    rc = cn_jwt_b64url(out, cap, (const uint8_t *)header, strlen(header));
    if (rc != AK_OK)
        goto out;
    used = strlen(out);
    rc = AK_ERR_BUFFER;
    if (used + 2 > cap)
        goto out;
    out[used++] = '.';
    rc = cn_jwt_b64url(out + used, cap - used, (const uint8_t *)claims, strlen(claims));
    if (rc != AK_OK)
        goto out;
    used += strlen(out + used);
    rc = AK_ERR_CRYPTO;
    if (EVP_PKEY_get_size(key) <= 0 || (size_t)EVP_PKEY_get_size(key) > sizeof sig ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)out, used) != 1)
        goto out;
    rc = AK_ERR_BUFFER;
    if (used + 2 > cap)
        goto out;
    out[used++] = '.';
    rc = cn_jwt_b64url(out + used, cap - used, sig, sig_len);
out:
    if (rc != AK_OK && cap > 0)
        out[0] = '\0';
    EVP_MD_CTX_free(md);
    return rc;
}

ak_err cn_jwt_cert_thumbprints(char x5t[64], char x5t256[64], const char *pem, size_t len,
                               EVP_PKEY *key)
{
    uint8_t d1[20], d2[32];
    unsigned n1 = sizeof d1, n2 = sizeof d2;
    ak_err rc = AK_ERR_CONFIG;
    BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    X509 *cert = b ? PEM_read_bio_X509(b, NULL, NULL, (void *)"") : NULL;
    x5t[0] = x5t256[0] = '\0';
    if (cert == NULL)
        goto out;
    rc = AK_ERR_KEY_TYPE;
    if (X509_check_private_key(cert, key) != 1)
        goto out;
    rc = AK_ERR_CRYPTO;
    if (X509_digest(cert, EVP_sha1(), d1, &n1) != 1 ||
        X509_digest(cert, EVP_sha256(), d2, &n2) != 1)
        goto out;
    if ((rc = cn_jwt_b64url(x5t, 64, d1, n1)) != AK_OK)
        goto out;
    rc = cn_jwt_b64url(x5t256, 64, d2, n2);
out:
    X509_free(cert);
    BIO_free(b);
    return rc;
}
