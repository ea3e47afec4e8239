/*
 * fuzz_cn_budget.c - libFuzzer target for cn_budget_json_cost, the one-pass upper bound of a
 * body's cJSON tree that the connector reserves before parsing (cn_budget.h). Any bytes are
 * scanned; when cJSON parses the input, the tree's node count must stay within the bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cn_budget.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static size_t count_nodes(const cJSON *n, int depth)
{
    size_t c = 0;
    for (; n != NULL && depth < 2000; n = n->next)
        c += 1 + count_nodes(n->child, depth + 1);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t cost = cn_budget_json_cost(s, size);
    FUZZ_ASSERT(cost >= size + CN_BUDGET_NODE_COST);
    cJSON *doc = cJSON_ParseWithLengthOpts(s, size, NULL, 1);
    if (doc != NULL) {
        size_t nodes = count_nodes(doc, 0);
        FUZZ_ASSERT(nodes * CN_BUDGET_NODE_COST <= cost - size);
        cJSON_Delete(doc);
    }
    free(s);
    return 0;
}
