/* cn_budget.c - request memory budget (see cn_budget.h). */
#include "cn_budget.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* Return freed memory to the system after this much has been released since the last time. */
#define CN_BUDGET_TRIM_BYTES (16u * 1024 * 1024)

struct cn_budget {
    size_t per_request, global;
    atomic_size_t used;
    atomic_size_t released; /* since the last malloc_trim */
};

ak_err cn_budget_new(cn_budget **out, size_t per_request, size_t global)
{
    *out = NULL;
    if (per_request == 0 || global == 0 || per_request > global)
        return AK_ERR_ARG;
    cn_budget *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return AK_ERR_NOMEM;
    b->per_request = per_request;
    b->global = global;
    atomic_init(&b->used, 0);
    atomic_init(&b->released, 0);
    *out = b;
    return AK_OK;
}

void cn_budget_free(cn_budget *b)
{
    free(b);
}

ak_err cn_budget_reserve(cn_budget *b, size_t *held, size_t n)
{
    if (n > b->per_request || *held > b->per_request - n)
        return AK_ERR_LIMIT;
    size_t cur = atomic_load(&b->used);
    do {
        if (n > b->global || cur > b->global - n)
            return AK_ERR_UNAVAILABLE;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    *held += n;
    return AK_OK;
}

void cn_budget_release(cn_budget *b, size_t *held)
{
    if (*held == 0)
        return;
    atomic_fetch_sub(&b->used, *held);
    size_t rel = atomic_fetch_add(&b->released, *held) + *held;
    *held = 0;
    /* glibc keeps freed chunks in its arenas; trimming hands whole free pages back (measured in
     * docs/connector.md). One thread trims at a time: whoever resets the counter. */
    if (rel >= CN_BUDGET_TRIM_BYTES && atomic_exchange(&b->released, 0) >= CN_BUDGET_TRIM_BYTES)
        (void)malloc_trim(0);
}

size_t cn_budget_json_cost(const char *body, size_t len)
{
    size_t values = 1;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = body[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"')
            in_str = 1;
        else if (ch == ',' || ch == '[' || ch == '{')
            values++;
    }
    if (values > (SIZE_MAX - len) / CN_BUDGET_NODE_COST)
        return SIZE_MAX;
    return values * CN_BUDGET_NODE_COST + len;
}

size_t cn_budget_per_request(const cn_budget *b)
{
    return b->per_request;
}

size_t cn_budget_global(const cn_budget *b)
{
    return b->global;
}
