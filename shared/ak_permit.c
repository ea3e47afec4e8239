/* ak_permit.c - value-moving EIP-712 structures decoded into grants (see ak_permit.h). */
#include "ak_permit.h"

#include <string.h>

#include "ak_addr.h"
#include "ak_eip712.h"

typedef struct {
    const char *name;
    const char *type;
} fdef;

typedef struct {
    const char *name;
    const fdef *fields;
    size_t n;
} sdef;

#define SDEF(nm, arr)                                                                              \
    {                                                                                              \
        (nm), (arr), sizeof(arr) / sizeof((arr)[0])                                                \
    }

/* ERC-2612 (EIP-2612 "Permit") and DAI's permit share the type name "Permit". */
static const fdef F_ERC2612[] = {{"owner", "address"},
                                 {"spender", "address"},
                                 {"value", "uint256"},
                                 {"nonce", "uint256"},
                                 {"deadline", "uint256"}};
static const fdef F_DAI[] = {{"holder", "address"},
                             {"spender", "address"},
                             {"nonce", "uint256"},
                             {"expiry", "uint256"},
                             {"allowed", "bool"}};
/* Permit2: AllowanceTransfer (PermitHash.sol) */
static const fdef F_DETAILS[] = {
    {"token", "address"}, {"amount", "uint160"}, {"expiration", "uint48"}, {"nonce", "uint48"}};
static const fdef F_SINGLE[] = {
    {"details", "PermitDetails"}, {"spender", "address"}, {"sigDeadline", "uint256"}};
static const fdef F_BATCH[] = {
    {"details", "PermitDetails[]"}, {"spender", "address"}, {"sigDeadline", "uint256"}};
/* Permit2: SignatureTransfer */
static const fdef F_TOKPERM[] = {{"token", "address"}, {"amount", "uint256"}};
static const fdef F_XFER[] = {{"permitted", "TokenPermissions"},
                              {"spender", "address"},
                              {"nonce", "uint256"},
                              {"deadline", "uint256"}};
static const fdef F_BXFER[] = {{"permitted", "TokenPermissions[]"},
                               {"spender", "address"},
                               {"nonce", "uint256"},
                               {"deadline", "uint256"}};

typedef struct {
    ak_permit_kind kind;
    sdef primary;
    sdef dep; /* the one struct the primary type references, or {NULL} */
} shape;

static const shape SHAPES[] = {
    {AK_PERMIT_ERC2612, SDEF("Permit", F_ERC2612), {NULL, NULL, 0}},
    {AK_PERMIT_DAI, SDEF("Permit", F_DAI), {NULL, NULL, 0}},
    {AK_PERMIT2_SINGLE, SDEF("PermitSingle", F_SINGLE), SDEF("PermitDetails", F_DETAILS)},
    {AK_PERMIT2_BATCH, SDEF("PermitBatch", F_BATCH), SDEF("PermitDetails", F_DETAILS)},
    {AK_PERMIT2_TRANSFER_FROM, SDEF("PermitTransferFrom", F_XFER),
     SDEF("TokenPermissions", F_TOKPERM)},
    {AK_PERMIT2_BATCH_TRANSFER_FROM, SDEF("PermitBatchTransferFrom", F_BXFER),
     SDEF("TokenPermissions", F_TOKPERM)},
};

const char *ak_permit_kind_name(ak_permit_kind k)
{
    switch (k) {
    case AK_PERMIT_ERC2612:
        return "erc2612_permit";
    case AK_PERMIT_DAI:
        return "dai_permit";
    case AK_PERMIT2_SINGLE:
        return "permit2_single";
    case AK_PERMIT2_BATCH:
        return "permit2_batch";
    case AK_PERMIT2_TRANSFER_FROM:
        return "permit2_transfer_from";
    case AK_PERMIT2_BATCH_TRANSFER_FROM:
        return "permit2_batch_transfer_from";
    default:
        return "none";
    }
}

/* The one member called key (NULL if absent or repeated: ak_eip712 refuses repeats too). */
static const cJSON *one(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL;
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        if (c->string == NULL || strcmp(c->string, key) != 0)
            continue;
        if (found != NULL)
            return NULL;
        found = c;
    }
    return found;
}

static int str_is(const cJSON *v, const char *s)
{
    return cJSON_IsString(v) && v->valuestring != NULL && strcmp(v->valuestring, s) == 0;
}

/* 1 if types[d->name] is exactly d's field list. */
static int same_struct(const cJSON *types, const sdef *d)
{
    const cJSON *arr = one(types, d->name), *f;
    size_t i = 0;
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != d->n)
        return 0;
    cJSON_ArrayForEach(f, arr)
    {
        if (!str_is(one(f, "name"), d->fields[i].name) ||
            !str_is(one(f, "type"), d->fields[i].type))
            return 0;
        i++;
    }
    return 1;
}

static ak_err read_addr(uint8_t out[20], const cJSON *v)
{
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return AK_ERR_EIP712;
    return ak_addr_parse(out, v->valuestring, strlen(v->valuestring)) == AK_OK ? AK_OK
                                                                               : AK_ERR_EIP712;
}

/* ERC-2612 / DAI: one grant, the token is the domain's verifyingContract. */
static ak_err decode_permit(ak_permit *out, const cJSON *domain, const cJSON *msg, int dai)
{
    ak_permit_grant *g = &out->grants[0];
    const cJSON *vc = one(domain, "verifyingContract");
    ak_err rc = read_addr(g->spender, one(msg, "spender"));
    if (rc != AK_OK)
        return rc;
    if (vc != NULL) {
        if ((rc = read_addr(g->token, vc)) != AK_OK)
            return rc;
        g->has_token = 1;
    }
    if (dai) {
        const cJSON *allowed = one(msg, "allowed");
        if (!cJSON_IsBool(allowed))
            return AK_ERR_EIP712;
        if (cJSON_IsTrue(allowed))
            memset(&g->amount, 0xff, sizeof g->amount); /* DAI: allowance = uint256 max */
        else
            ak_u256_from_u64(&g->amount, 0);
    } else if ((rc = ak_eip712_uint_value(&g->amount, one(msg, "value"))) != AK_OK) {
        return rc;
    }
    out->n = 1;
    return AK_OK;
}

/* One {token, amount} object (PermitDetails or TokenPermissions) with the given spender. */
static ak_err add_grant(ak_permit *out, const cJSON *item, const uint8_t spender[20])
{
    if (out->n >= AK_PERMIT_MAX_GRANTS)
        return AK_ERR_LIMIT;
    ak_permit_grant *g = &out->grants[out->n];
    ak_err rc = read_addr(g->token, one(item, "token"));
    if (rc == AK_OK)
        rc = ak_eip712_uint_value(&g->amount, one(item, "amount"));
    if (rc != AK_OK)
        return rc;
    g->has_token = 1;
    memcpy(g->spender, spender, 20);
    out->n++;
    return AK_OK;
}

/* Permit2: member holds one object or (batch) an array of them. */
static ak_err decode_permit2(ak_permit *out, const cJSON *msg, const char *member, int batch)
{
    uint8_t spender[20];
    const cJSON *v = one(msg, member), *it;
    ak_err rc = read_addr(spender, one(msg, "spender"));
    if (rc != AK_OK)
        return rc;
    if (!batch)
        return cJSON_IsObject(v) ? add_grant(out, v, spender) : AK_ERR_EIP712;
    if (!cJSON_IsArray(v))
        return AK_ERR_EIP712;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsObject(it))
            return AK_ERR_EIP712;
        if ((rc = add_grant(out, it, spender)) != AK_OK)
            return rc;
    }
    return AK_OK;
}

ak_err ak_permit_decode(ak_permit *out, const cJSON *typed_data)
{
    ak_err rc = AK_OK;
    if (out == NULL)
        return AK_ERR_ARG;
    memset(out, 0, sizeof *out);
    const cJSON *types = one(typed_data, "types");
    const cJSON *primary = one(typed_data, "primaryType");
    const cJSON *domain = one(typed_data, "domain");
    const cJSON *msg = one(typed_data, "message");
    if (!cJSON_IsObject(types) || !cJSON_IsString(primary) || primary->valuestring == NULL ||
        !cJSON_IsObject(msg))
        return AK_OK; /* not a shape we know (ak_eip712_hash says whether it is typed data) */
    const shape *s = NULL;
    for (size_t i = 0; s == NULL && i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        if (strcmp(primary->valuestring, SHAPES[i].primary.name) == 0 &&
            same_struct(types, &SHAPES[i].primary) &&
            (SHAPES[i].dep.name == NULL || same_struct(types, &SHAPES[i].dep)))
            s = &SHAPES[i];
    }
    if (s == NULL)
        return AK_OK;
    out->kind = s->kind;
    switch (s->kind) {
    case AK_PERMIT_ERC2612:
    case AK_PERMIT_DAI:
        rc = decode_permit(out, domain, msg, s->kind == AK_PERMIT_DAI);
        break;
    case AK_PERMIT2_SINGLE:
    case AK_PERMIT2_BATCH:
        rc = decode_permit2(out, msg, "details", s->kind == AK_PERMIT2_BATCH);
        break;
    default:
        rc = decode_permit2(out, msg, "permitted", s->kind == AK_PERMIT2_BATCH_TRANSFER_FROM);
        break;
    }
    if (rc != AK_OK)
        memset(out, 0, sizeof *out);
    return rc;
}
