/* Keccak-256 known answers: the Keccak team's / Ethereum's published digests. */
#include "ak_keccak.h"
#include "ak_test.h"

static void check_digest(const unsigned char *in, size_t len, const char *expect_hex)
{
    unsigned char expect[32], got[32];
    ak_test_unhex(expect, sizeof(expect), expect_hex);
    ak_keccak256(got, in, len);
    CHECK_MEM(got, expect, 32);
    /* The same through the streaming interface, one byte at a time. */
    ak_keccak_ctx ctx;
    ak_keccak256_init(&ctx);
    for (size_t i = 0; i < len; i++)
        ak_keccak256_update(&ctx, in + i, 1);
    ak_keccak256_final(&ctx, got);
    CHECK_MEM(got, expect, 32);
}

int main(void)
{
    check_digest((const unsigned char *)"", 0,
                 "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    check_digest((const unsigned char *)"abc", 3,
                 "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    check_digest((const unsigned char *)"The quick brown fox jumps over the lazy dog", 43,
                 "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
    /* Rate boundary: 135, 136 and 137 bytes, and two blocks. Digests from ethers v6 keccak256
     * (an independent implementation) over bytes of 'a'. */
    unsigned char a[300];
    memset(a, 'a', sizeof(a));
    check_digest(a, 135, "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446");
    check_digest(a, 136, "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e");
    check_digest(a, 137, "d869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39");
    check_digest(a, 272, "cf7fcd4f705ee749930d19ca84561a9bf62516bd90a471545fa2f49fdc7e63c8");
    return ak_test_report("keccak");
}
