/* test_b64url.c - ak_b64url_decode: unpadded base64url (RFC 4648 section 5) as JWS uses it. */
#include <string.h>

#include "ak_b64.h"
#include "ak_test.h"

static void url_vector(const char *enc, const char *hex)
{
    uint8_t want[64], got[64];
    size_t wn = ak_test_unhex(want, sizeof want, hex);
    size_t n = 99;
    CHECK_EQ_INT(ak_b64url_decode(got, sizeof got, &n, enc, strlen(enc)), AK_OK);
    CHECK_EQ_INT((int)n, (int)wn);
    CHECK_MEM(got, want, wn);
}

static void url_reject(const char *enc, ak_err want)
{
    uint8_t out[64];
    size_t n = 99;
    CHECK_EQ_INT(ak_b64url_decode(out, sizeof out, &n, enc, strlen(enc)), want);
    CHECK_EQ_INT((int)n, 0);
}

int main(void)
{
    /* RFC 4648 section 10 test vectors, padding removed (RFC 7515 section 2). */
    url_vector("", "");
    url_vector("Zg", "66");
    url_vector("Zm8", "666f");
    url_vector("Zm9v", "666f6f");
    url_vector("Zm9vYg", "666f6f62");
    url_vector("Zm9vYmE", "666f6f6261");
    url_vector("Zm9vYmFy", "666f6f626172");
    /* The URL-safe characters; from node: Buffer.from(hex, "hex").toString("base64url"). */
    url_vector("-_8", "fbff");
    url_vector("-_-_", "fbffbf");
    url_vector("A-D_Pw", "03e0ff3f");

    /* Negative: padding, the standard alphabet's + and /, whitespace, 4k+1 lengths,
     * non-zero unused bits (Zh = 0x66 with a stray bit), NUL inside. */
    url_reject("Zg==", AK_ERR_BASE64);
    url_reject("+/8", AK_ERR_BASE64);
    url_reject("Zm9v Yg", AK_ERR_BASE64);
    url_reject("Zm9vY", AK_ERR_BASE64);
    url_reject("Z", AK_ERR_BASE64);
    url_reject("Zh", AK_ERR_BASE64);
    url_reject("Zm9", AK_ERR_BASE64);
    url_reject("Zm\x80v", AK_ERR_BASE64);
    {
        uint8_t out[2];
        size_t n = 99;
        CHECK_EQ_INT(ak_b64url_decode(out, sizeof out, &n, "Zm9v", 4), AK_ERR_LIMIT);
        CHECK_EQ_INT(ak_b64url_decode(out, sizeof out, &n, "Zm8", 3), AK_OK);
        CHECK_EQ_INT((int)n, 2);
        uint8_t big[8];
        const char nul[] = {'Z', 'm', '\0', 'v'};
        CHECK_EQ_INT(ak_b64url_decode(big, sizeof big, &n, nul, sizeof nul), AK_ERR_BASE64);
    }
    return ak_test_report("b64url");
}
