/* base64 (RFC 4648 section 10 vectors) and EIP-191 personal-message digests (ethers v6
 * hashMessage as the independent judge). */
#include "ak_b64.h"
#include "ak_eip191.h"
#include "ak_test.h"

static void b64_vector(const char *plain, const char *enc)
{
    char out[64];
    uint8_t back[64];
    size_t n = 0;
    CHECK_EQ_INT(ak_b64_encode(out, sizeof(out), (const uint8_t *)plain, strlen(plain)), AK_OK);
    CHECK_STR(out, enc);
    CHECK_EQ_INT(ak_b64_decode(back, sizeof(back), &n, enc, strlen(enc)), AK_OK);
    CHECK_EQ_INT(n, strlen(plain));
    CHECK_MEM(back, plain, n);
}

static void b64_reject(const char *enc)
{
    uint8_t back[64];
    size_t n = 0;
    CHECK(ak_b64_decode(back, sizeof(back), &n, enc, strlen(enc)) != AK_OK);
}

static void eip191_vector(const char *msg, size_t len, const char *expect_hex)
{
    uint8_t got[32], expect[32];
    ak_test_unhex(expect, sizeof(expect), expect_hex);
    ak_eip191_hash(got, (const uint8_t *)msg, len);
    CHECK_MEM(got, expect, 32);
}

int main(void)
{
    b64_vector("", "");
    b64_vector("f", "Zg==");
    b64_vector("fo", "Zm8=");
    b64_vector("foo", "Zm9v");
    b64_vector("foob", "Zm9vYg==");
    b64_vector("fooba", "Zm9vYmE=");
    b64_vector("foobar", "Zm9vYmFy");
    b64_reject("Zg");     /* missing padding */
    b64_reject("Zg=");    /* short */
    b64_reject("Zh==");   /* non-zero pad bits */
    b64_reject("Zm9v\n"); /* whitespace */
    b64_reject("Zm9v====");
    b64_reject("Z===");
    b64_reject("Zm-v"); /* URL alphabet */
    b64_reject("=Zm9");
    uint8_t small[2];
    size_t n;
    CHECK_EQ_INT(ak_b64_decode(small, sizeof(small), &n, "Zm9v", 4), AK_ERR_LIMIT);
    char tiny[4];
    CHECK_EQ_INT(ak_b64_encode(tiny, sizeof(tiny), (const uint8_t *)"foo", 3), AK_ERR_BUFFER);

    eip191_vector("hello", 5, "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750");
    eip191_vector("", 0, "5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad");
    return ak_test_report("b64_eip191");
}
