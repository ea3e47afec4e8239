/*
 * test_cn_app_gen.c - configuration generations (app/cn_app_gen) without a node: real config
 * files on disk and real local signers, reloaded with cn_gens_reload while older generations are
 * still held as requests hold them. Checked: what is carried (the manager of an unchanged
 * account, the rate limit of an unchanged section) and who frees it (each generation holds the
 * next, so carried objects outlive every older holder: run under ASan this is a use-after-free
 * test), refused reloads (broken file, restart-only settings, an account that cannot be built)
 * leaving the generation in force untouched, and the generation numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ak_test.h"
#include "cn_app_accounts.h"
#include "cn_app_gen.h"
#include "cn_log.h"

static char g_dir[64];
static cn_options g_o;

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
    CHECK(chmod(path, mode) == 0);
}

/* The config file: accounts given as key file names, then any extra top-level members. */
static void write_config(const char *keys[], size_t n, const char *extra)
{
    char text[2048];
    size_t len = (size_t)snprintf(text, sizeof(text), "{\"accounts\": [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "%s{\"signer\": {\"type\": \"local\", \"key_file\": \"%s/%s\"}}",
                                i ? ", " : "", g_dir, keys[i]);
    snprintf(text + len, sizeof(text) - len, "]%s}", extra);
    write_file("connector.json", text, 0600);
}

static int signs(cn_signer *s)
{
    uint8_t digest[32];
    ak_sig sig;
    cn_sign_ctx ctx = {.method = "eth_sign"};
    memset(digest, 0x5a, sizeof(digest));
    return cn_signer_sign_eth(s, &sig, digest, &ctx) == AK_OK;
}

static void test_generations(void)
{
    const char *rate1 = ", \"signing_rate_limit\": {\"per_second\": 0.001, \"burst\": 1}";
    const char *rate2 = ", \"signing_rate_limit\": {\"per_second\": 0.001, \"burst\": 2}";
    const char *ab[] = {"a.hex", "b.hex"}, *ac[] = {"a.hex", "c.hex"};
    char err[256] = "";
    cJSON *doc = NULL;
    cn_gen *first = NULL;
    cn_gens *gs = NULL;
    cn_gen_env env = {.o = &g_o, .chain_id = 1}; /* no node: no router (as --check-config) */

    write_config(ab, 2, rate1);
    CHECK_EQ_INT(cn_gen_load(&doc, &g_o, err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(cn_gen_build(&first, doc, &env, NULL, err, sizeof(err)), AK_OK);
    cJSON_Delete(doc);
    if (first == NULL)
        return;
    CHECK_EQ_INT(cn_gens_new(&gs, first, &env), AK_OK);
    cn_gen *g1 = cn_gens_acquire(gs); /* a request on generation 1, held throughout */
    CHECK(g1->number == 1 && g1->acc.n == 2 && g1->rate != NULL);

    /* Reload: a keeps its manager, b goes, c comes; the rate limit is unchanged: carried. */
    write_config(ac, 2, rate1);
    CHECK_EQ_INT(cn_gens_reload(gs), AK_OK);
    cn_gen *g2 = cn_gens_acquire(gs);
    CHECK(g2 != g1 && g2->number == 2);
    CHECK(g2->acc.signers[0] == g1->acc.signers[0]);
    CHECK(g2->acc.signers[1] != g1->acc.signers[1]);
    CHECK(g2->rate == g1->rate && g2->own_rate && !g1->own_rate);
    CHECK(g1->acc.carried[0] && !g2->acc.carried[0]); /* generation 2 frees a's manager now */

    /* Reload: the rate limit changes (a new one), the accounts stay. */
    write_config(ac, 2, rate2);
    CHECK_EQ_INT(cn_gens_reload(gs), AK_OK);
    cn_gen *g3 = cn_gens_acquire(gs);
    CHECK(g3->number == 3 && g3->rate != g2->rate && g3->acc.signers[0] == g1->acc.signers[0]);

    /* Generation 2's last request ends, but generation 1 still holds it: its rate limit (which
     * generation 1 uses too) and generation 1's own signer b are still there. */
    cn_gens_release(gs, g2);
    CHECK(cn_rate_take(g1->rate, "client", 1) == 1);
    CHECK(cn_rate_take(g1->rate, "client", 1) == 0); /* burst 1: the same bucket */
    CHECK(signs(g1->acc.signers[1]));
    CHECK(signs(g1->acc.signers[0]));
    cn_gens_release(gs, g1); /* frees 1, then 2 */
    CHECK(signs(g3->acc.signers[0]));
    CHECK(cn_rate_take(g3->rate, "client", 2) == 1);

    /* Refused: broken file, restart-only settings, an account that cannot be built. The carried
     * manager of a stays usable after the failed build is freed. */
    write_file("connector.json", "{\"accounts\": [", 0600);
    CHECK_EQ_INT(cn_gens_reload(gs), AK_ERR_CONFIG);
    write_config(ac, 2, ", \"nonce_retries\": 5");
    CHECK_EQ_INT(cn_gens_reload(gs), AK_ERR_CONFIG);
    write_config(ac, 2, ", \"http\": {\"max_body_bytes\": 4096}");
    CHECK_EQ_INT(cn_gens_reload(gs), AK_ERR_CONFIG);
    const char *missing[] = {"a.hex", "nope.hex"};
    write_config(missing, 2, rate2);
    CHECK_EQ_INT(cn_gens_reload(gs), AK_ERR_CONFIG);
    cn_gen *now = cn_gens_acquire(gs);
    CHECK(now == g3 && now->number == 3);
    CHECK(signs(now->acc.signers[0]) && signs(now->acc.signers[1]));
    cn_gens_release(gs, now);
    cn_gens_release(gs, g3);
    cn_gens_free(gs);
}

int main(void)
{
    cn_log_setup(CN_LOG_ERROR, 1);
    snprintf(g_dir, sizeof(g_dir), "/tmp/ak-cn-gen-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    write_file("a.hex", "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n", 0600);
    write_file("b.hex", "8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f\n", 0600);
    write_file("c.hex", "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6\n", 0600);
    snprintf(g_o.config_path, sizeof(g_o.config_path), "%s/connector.json", g_dir);
    CHECK_EQ_INT(cn_app_publish_methods(), AK_OK);
    test_generations();
    const char *files[] = {"a.hex", "b.hex", "c.hex", "connector.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", g_dir, files[i]);
        unlink(path);
    }
    rmdir(g_dir);
    return ak_test_report("test_cn_app_gen");
}
