/*
 * test_cn_nonce.c - per-sender nonce allocation (rpc/cn_nonce) with a fake clock: the trust
 * window of our own next nonce, the retry rule on a used nonce, and what eth_signTransaction
 * (nothing sent) leaves alone. No sleeping: the clock is advanced by hand.
 */
#include <stdio.h>
#include <string.h>

#include "ak_test.h"
#include "cn_log.h"
#include "cn_nonce.h"

typedef struct {
    int64_t now_ns;
} fake_clock;

static int64_t fake_mono(void *ctx)
{
    return ((fake_clock *)ctx)->now_ns;
}

/* A scripted node: its pending count, and how many of the next sends it refuses. */
typedef struct {
    uint64_t pending;
    int refuse;         /* next sends refused as "nonce too low" */
    int fail_pending;   /* eth_getTransactionCount fails */
    int send;           /* 1: eth_sendTransaction, 0: eth_signTransaction */
    uint64_t tried[16]; /* nonces tried, in order */
    size_t n_tried;
} node;

static ak_err pending(void *ctx, uint64_t *out, cn_rpc_err *e)
{
    node *n = ctx;
    if (n->fail_pending) {
        cn_err_set(e, CN_E_NETWORK, "node down");
        return AK_ERR_NETWORK;
    }
    *out = n->pending;
    return AK_OK;
}

static ak_err attempt(void *ctx, uint64_t nonce, int *sent, int *used, cn_rpc_err *e)
{
    node *n = ctx;
    if (n->n_tried < 16)
        n->tried[n->n_tried++] = nonce;
    if (!n->send)
        return AK_OK;
    if (n->refuse > 0) {
        n->refuse--;
        *used = cn_nonce_retryable("Nonce too low: next nonce 9, tx nonce 7");
        e->passthrough = cJSON_Parse("{\"code\":-32000,\"message\":\"nonce too low\"}");
        return AK_ERR_UPSTREAM;
    }
    *sent = 1;
    return AK_OK;
}

static const uint8_t A[20] = {0xaa}, B[20] = {0xbb}, C[20] = {0xcc};

static void test_window(void)
{
    fake_clock fc = {1000000000};
    rt_clock clk = {fake_mono, fake_mono, &fc};
    const uint8_t addrs[2][20] = {{0xaa}, {0xbb}};
    cn_nonce *n = NULL;
    cn_rpc_err e = {0};
    CHECK_EQ_INT(cn_nonce_new(&n, addrs, 2, 3, &clk), AK_OK);

    /* First send: the node's pending count. */
    node nd = {.pending = 5, .send = 1};
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 5);
    /* The node has not caught up (still 5): within the window our next one (6) wins. */
    fc.now_ns += (int64_t)(CN_NONCE_TRUST_MS - 1) * 1000000;
    nd.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 6);
    /* The window counts from the last send: 1 ms later we are still trusted (7). */
    fc.now_ns += 1000000;
    nd.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 7);
    /* Past the window the node is right again (a dropped transaction leaves no gap). */
    fc.now_ns += (int64_t)CN_NONCE_TRUST_MS * 1000000;
    nd.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 5);
    /* A node ahead of us wins even within the window. */
    nd.pending = 40;
    nd.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 40);
    /* Another sender has its own state. */
    node nb = {.pending = 3, .send = 1};
    CHECK_EQ_INT(cn_nonce_run(n, B, pending, attempt, &nb, &e), AK_OK);
    CHECK(nb.n_tried == 1 && nb.tried[0] == 3);

    /* eth_signTransaction: nothing sent, nothing recorded (the next send still gets 3). */
    nb.send = 0;
    nb.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, B, pending, attempt, &nb, &e), AK_OK);
    CHECK(nb.n_tried == 1 && nb.tried[0] == 4);
    nb.pending = 4;
    fc.now_ns += (int64_t)CN_NONCE_TRUST_MS * 1000000;
    nb.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, B, pending, attempt, &nb, &e), AK_OK);
    CHECK(nb.n_tried == 1 && nb.tried[0] == 4);

    /* Negative: a sender we do not know, a node that does not answer. */
    CHECK(cn_nonce_run(n, C, pending, attempt, &nb, &e) != AK_OK && e.code == CN_E_INTERNAL);
    cn_err_clear(&e);
    nd.fail_pending = 1;
    nd.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_ERR_NETWORK);
    CHECK(e.code == CN_E_NETWORK && nd.n_tried == 0);
    cn_err_clear(&e);
    cn_nonce_free(n);
}

static void test_retries(void)
{
    fake_clock fc = {5};
    rt_clock clk = {fake_mono, fake_mono, &fc};
    const uint8_t addrs[1][20] = {{0xaa}};
    cn_nonce *n = NULL;
    cn_rpc_err e = {0};
    CHECK_EQ_INT(cn_nonce_new(&n, addrs, 1, 2, &clk), AK_OK);
    /* Refused twice as used: 7, then 8, then 9 is taken (2 retries allowed). */
    node nd = {.pending = 7, .send = 1, .refuse = 2};
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 3 && nd.tried[0] == 7 && nd.tried[1] == 8 && nd.tried[2] == 9);
    CHECK(e.code == 0 && e.passthrough == NULL);
    /* Refused three times: the retries run out and the node's error is returned as is. */
    fc.now_ns += (int64_t)CN_NONCE_TRUST_MS * 1000000;
    nd = (node){.pending = 20, .send = 1, .refuse = 3};
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_ERR_UPSTREAM);
    CHECK(nd.n_tried == 3 && nd.tried[2] == 22 && e.passthrough != NULL);
    cn_err_clear(&e);
    cn_nonce_free(n);

    /* The retry rule's wording (geth, anvil, reth); anything else is not retried. */
    CHECK(cn_nonce_retryable("nonce too low"));
    CHECK(cn_nonce_retryable("ALREADY KNOWN"));
    CHECK(cn_nonce_retryable("replacement transaction underpriced"));
    CHECK(cn_nonce_retryable("transaction already imported"));
    CHECK(!cn_nonce_retryable("insufficient funds for gas * price + value"));
    CHECK(!cn_nonce_retryable(""));

    /* Construction limits. */
    CHECK_EQ_INT(cn_nonce_new(&n, addrs, 0, 0, NULL), AK_ERR_ARG);
    CHECK_EQ_INT(cn_nonce_new(&n, addrs, 1, CN_NONCE_MAX_RETRIES + 1, NULL), AK_ERR_ARG);
    CHECK(n == NULL);
}

/* Hot reload: one table for every generation; senders added as accounts appear, never reused. */
static void test_shared(void)
{
    fake_clock fc = {1000000000};
    rt_clock clk = {fake_mono, fake_mono, &fc};
    const uint8_t first[2][20] = {{0xaa}, {0xbb}}, later[2][20] = {{0xbb}, {0xcc}};
    cn_nonce *n = NULL;
    cn_rpc_err e = {0};
    CHECK_EQ_INT(cn_nonce_new_shared(&n, 3, 3, &clk), AK_OK);
    /* Empty at first: nobody is known. */
    node nd = {.pending = 5, .send = 1};
    CHECK(cn_nonce_run(n, A, pending, attempt, &nd, &e) != AK_OK && e.code == CN_E_INTERNAL);
    cn_err_clear(&e);
    CHECK_EQ_INT(cn_nonce_add(n, first, 2), AK_OK);
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 5);
    /* A later generation adds C and keeps B; A's state is still there (its next nonce, 6). */
    CHECK_EQ_INT(cn_nonce_add(n, later, 2), AK_OK);
    nd.n_tried = 0;
    CHECK_EQ_INT(cn_nonce_run(n, A, pending, attempt, &nd, &e), AK_OK);
    CHECK(nd.n_tried == 1 && nd.tried[0] == 6);
    node nc = {.pending = 9, .send = 1};
    CHECK_EQ_INT(cn_nonce_run(n, C, pending, attempt, &nc, &e), AK_OK);
    CHECK(nc.n_tried == 1 && nc.tried[0] == 9);
    /* Full (3 senders): a fourth is refused, the known ones still go in. */
    const uint8_t fourth[1][20] = {{0xdd}};
    CHECK_EQ_INT(cn_nonce_add(n, fourth, 1), AK_ERR_RANGE);
    CHECK_EQ_INT(cn_nonce_add(n, first, 2), AK_OK);
    cn_nonce_free(n);

    /* Limits. */
    CHECK_EQ_INT(cn_nonce_new_shared(&n, 0, 0, NULL), AK_ERR_ARG);
    CHECK_EQ_INT(cn_nonce_new_shared(&n, CN_NONCE_SHARED_MAX + 1, 0, NULL), AK_ERR_ARG);
    CHECK_EQ_INT(cn_nonce_new_shared(&n, 4, CN_NONCE_MAX_RETRIES + 1, NULL), AK_ERR_ARG);
    CHECK(n == NULL);
}

int main(void)
{
    cn_log_setup(CN_LOG_ERROR, 1);
    test_window();
    test_retries();
    test_shared();
    return ak_test_report("test_cn_nonce");
}
