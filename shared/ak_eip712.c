/*
 * ak_eip712.c - EIP-712 typed structured data hashing (see ak_eip712.h).
 *
 * Two phases. First the `types` object is compiled into a table (one entry per struct, every
 * field's type parsed into base kind + array dimensions, struct references resolved, cycles
 * rejected with an iterative closure so nothing recurses over the type graph). Then the domain
 * and the message are walked with hash_struct/encode_value, which recurse only over the JSON
 * value and stop at AK_EIP712_MAX_DEPTH.
 *
 * Where EIP-712 leaves room, this follows ethers v6 TypedDataEncoder (and viem hashTypedData):
 * - no EIP712Domain in types: the domain type is derived from the domain object's non-null keys
 *   in the order name, version, chainId, verifyingContract, salt; other keys are an error;
 * - no EIP712Domain in types: a null domain member is left out of the derived type (ethers);
 * - recursive types are rejected (ethers: "circular type reference"), as are "int"/"uint"
 *   without a width (viem rejects them; ethers silently rewrites them to 256 bits);
 * - integers: JSON number (integral, |v| <= 2^53-1), decimal string, or 0x hex string, an
 *   optional leading '-' (intN, decimal only: viem rejects "-0x.."), leading zeros allowed
 *   (as BigInt() does).
 * Stricter than ethers: a missing field is always an error (ethers hashes a missing bool as
 * false), bool must be JSON true/false, strings must be valid UTF-8, duplicate JSON keys and
 * non-identifier type/field names are errors, primaryType may not be EIP712Domain, and a
 * domain or message (or nested struct) member its type does not declare is an error (ethers
 * and viem ignore it: it would not be signed although the client sent it), as is a top-level
 * member other than types, primaryType, domain and message.
 *
 * Errors name their place: the walk keeps the path of the value being encoded ("message.to
 * .wallet", "message.items[2]") in the table, and the first failure writes "<path>: <problem>"
 * into the caller's `why` (ak_eip712_hash_why). Names copied from the request are bounded and
 * have control characters, quotes and backslashes replaced by '?'; values are never copied.
 *
 * Owns nothing past a call: the compiled table is heap-allocated and freed before returning;
 * names point into the caller's cJSON tree. cJSON truncates strings at an escaped NUL
 * (\u0000), so ak_eip712_hash_json rejects that escape; callers of ak_eip712_hash who parse the
 * JSON themselves should do the same.
 */
#include "ak_eip712.h"
#include "ak_eip712_value.h"
#include "ak_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_keccak.h"

enum { K_UINT, K_INT, K_BYTESN, K_BYTES, K_STRING, K_ADDRESS, K_BOOL, K_STRUCT };

typedef struct {
    uint8_t kind;
    uint8_t ndims;                      /* array dimensions; dims[ndims - 1] is the outermost */
    uint16_t width;                     /* bits for (u)intN, bytes for bytesN */
    int16_t st;                         /* struct index for K_STRUCT */
    uint16_t dims[AK_EIP712_MAX_DEPTH]; /* fixed length, 0 = dynamic */
} ty_t;

typedef struct {
    const char *name;
    const char *type; /* the type string as written, for encodeType */
    ty_t ty;
} field_t;

typedef struct {
    const char *name;
    size_t nfields;
    field_t fields[AK_EIP712_MAX_FIELDS];
    uint64_t deps; /* bitset of struct types referenced directly or indirectly */
    int have_hash;
    uint8_t type_hash[32];
} struct_t;

typedef struct {
    size_t n; /* declared structs; a derived EIP712Domain goes at index n */
    struct_t st[AK_EIP712_MAX_TYPES + 1];
    int order[AK_EIP712_MAX_TYPES]; /* declared structs sorted by name */
    char *why;                      /* caller's buffer for the first failure, or NULL */
    size_t why_cap;
    size_t path_len;
    char path[AK_EIP712_WHY_MAX]; /* where the walk is: "message.to.wallet" */
} table_t;

/* name's character, or '?' for a control character, a quote or a backslash. */
static char safe_char(char ch)
{
    unsigned char c = (unsigned char)ch;
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
        return '?';
    return ch;
}

/* Append sep and name (sanitized, cut to what fits) to the path; returns the length to restore. */
static size_t path_push(table_t *tb, const char *sep, const char *name)
{
    size_t old = tb->path_len, n = tb->path_len;
    for (const char *p = sep; *p != '\0' && n + 1 < sizeof tb->path; p++)
        tb->path[n++] = *p;
    for (const char *p = name; *p != '\0' && n + 1 < sizeof tb->path; p++) {
        tb->path[n++] = safe_char(*p);
    }
    tb->path[n] = '\0';
    tb->path_len = n;
    return old;
}

static void path_pop(table_t *tb, size_t len)
{
    tb->path_len = len;
    tb->path[len] = '\0';
}

/* Record the first failure as "<path>: <what><arg>" and return err. */
static ak_err fail(table_t *tb, ak_err err, const char *what, const char *arg)
{
    char name[64];
    size_t n = 0;
    if (tb->why == NULL || tb->why_cap == 0 || tb->why[0] != '\0')
        return err;
    for (const char *p = arg != NULL ? arg : ""; *p != '\0' && n + 1 < sizeof name; p++) {
        name[n++] = safe_char(*p);
    }
    name[n] = '\0';
    snprintf(tb->why, tb->why_cap, "%s%s%s%s", tb->path, tb->path_len ? ": " : "", what, name);
    return err;
}

static const char *const domain_names[5] = {"name", "version", "chainId", "verifyingContract",
                                            "salt"};
static const char *const domain_types[5] = {"string", "string", "uint256", "address", "bytes32"};

/* The one member of obj called key: AK_OK with *out NULL if absent, AK_ERR_EIP712 if repeated. */
static AK_WUR ak_err member(const cJSON **out, const cJSON *obj, const char *key)
{
    const cJSON *c;
    *out = NULL;
    for (c = obj->child; c != NULL; c = c->next) {
        if (c->string == NULL || strcmp(c->string, key) != 0)
            continue;
        if (*out != NULL)
            return AK_ERR_EIP712;
        *out = c;
    }
    return AK_OK;
}

/* A string item with text (a caller-built tree may carry a NULL valuestring). */
static int is_str(const cJSON *v)
{
    return v != NULL && cJSON_IsString(v) && v->valuestring != NULL;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Solidity identifier: [A-Za-z_$][A-Za-z0-9_$]*; len 1..AK_EIP712_MAX_NAME (else LIMIT). */
static AK_WUR ak_err check_ident(const char *s, size_t len)
{
    if (len == 0)
        return AK_ERR_EIP712;
    if (len > AK_EIP712_MAX_NAME)
        return AK_ERR_LIMIT;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
                 (i > 0 && is_digit(c));
        if (!ok)
            return AK_ERR_EIP712;
    }
    return AK_OK;
}

/* Decimal without sign or leading zero, value 1..max. 0 on failure. */
static unsigned small_number(const char *s, size_t len, unsigned max)
{
    unsigned v = 0;
    if (len == 0 || len > 4 || s[0] == '0')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= max ? v : 0;
}

/* 1 if s[0..len) is "uint"/"int"/"bytes" followed only by digits: reserved for atomic types. */
static int numeric_family(const char *s, size_t len, size_t *prefix)
{
    static const char *const fam[3] = {"uint", "int", "bytes"};
    for (size_t f = 0; f < 3; f++) {
        size_t n = strlen(fam[f]);
        if (len < n || memcmp(s, fam[f], n) != 0)
            continue;
        for (size_t i = n; i < len; i++)
            if (!is_digit(s[i]))
                return 0;
        *prefix = n;
        return (int)f + 1;
    }
    return 0;
}

/* Atomic EIP-712 type -> kind/width; 0 if s is not one. */
static int parse_atomic(ty_t *t, const char *s, size_t len)
{
    static const struct {
        const char *name;
        uint8_t kind;
    } named[4] = {
        {"address", K_ADDRESS}, {"bool", K_BOOL}, {"string", K_STRING}, {"bytes", K_BYTES}};
    size_t prefix = 0;
    for (size_t i = 0; i < 4; i++) {
        if (strlen(named[i].name) == len && memcmp(s, named[i].name, len) == 0) {
            t->kind = named[i].kind;
            return 1;
        }
    }
    switch (numeric_family(s, len, &prefix)) {
    case 1:
    case 2: {
        unsigned w = small_number(s + prefix, len - prefix, 256);
        if (w == 0 || w % 8 != 0)
            return 0;
        t->kind = prefix == 4 ? K_UINT : K_INT;
        t->width = (uint16_t)w;
        return 1;
    }
    case 3: {
        unsigned w = small_number(s + prefix, len - prefix, 32);
        if (w == 0)
            return 0;
        t->kind = K_BYTESN;
        t->width = (uint16_t)w;
        return 1;
    }
    default:
        return 0;
    }
}

static int find_struct(const table_t *tb, const char *s, size_t len)
{
    for (size_t i = 0; i < tb->n; i++)
        if (strlen(tb->st[i].name) == len && memcmp(tb->st[i].name, s, len) == 0)
            return (int)i;
    return -1;
}

/* Field type string: identifier base then [] / [n] suffixes. Structs must already be named. */
static AK_WUR ak_err parse_type(ty_t *t, const table_t *tb, const char *s)
{
    size_t len = strlen(s), base = 0;
    ak_err err;
    memset(t, 0, sizeof(*t));
    while (base < len && s[base] != '[')
        base++;
    if ((err = check_ident(s, base)) != AK_OK)
        return err;
    for (size_t i = base; i < len;) {
        size_t j = i + 1;
        unsigned n = 0;
        while (j < len && is_digit(s[j]))
            j++;
        if (s[i] != '[' || j >= len || s[j] != ']')
            return AK_ERR_EIP712;
        if (t->ndims == AK_EIP712_MAX_DEPTH)
            return AK_ERR_LIMIT;
        if (j > i + 1) {
            if (j - i - 1 > 4 && s[i + 1] != '0')
                return AK_ERR_LIMIT;
            n = small_number(s + i + 1, j - i - 1, 9999);
            if (n == 0)
                return AK_ERR_EIP712; /* [0] or a leading zero */
            if (n > AK_EIP712_MAX_ARRAY)
                return AK_ERR_LIMIT;
        }
        t->dims[t->ndims++] = (uint16_t)n;
        i = j + 1;
    }
    if (parse_atomic(t, s, base))
        return AK_OK;
    t->kind = K_STRUCT;
    t->st = (int16_t)find_struct(tb, s, base);
    return t->st < 0 ? AK_ERR_EIP712 : AK_OK;
}

/* Reserved names cannot be struct names (they would shadow or alias atomic types). */
static int reserved_name(const char *s)
{
    size_t prefix, len = strlen(s);
    ty_t t;
    return numeric_family(s, len, &prefix) || parse_atomic(&t, s, len);
}

/* Compile `types`: names, fields, references, dependency closure, cycle check. */
static AK_WUR ak_err compile_types(table_t *tb, const cJSON *types)
{
    const cJSON *c;
    ak_err err = AK_OK;
    size_t done = 0;
    uint64_t processed = 0;
    path_push(tb, "", "types");
    if (!cJSON_IsObject(types))
        return fail(tb, AK_ERR_EIP712, "must be an object", NULL);
    for (c = types->child; c != NULL; c = c->next) {
        if (tb->n == AK_EIP712_MAX_TYPES)
            return fail(tb, AK_ERR_LIMIT, "more than 64 types", NULL);
        if (c->string == NULL || !cJSON_IsArray(c))
            return fail(tb, AK_ERR_EIP712, "each type must be an array of fields", NULL);
        if ((err = check_ident(c->string, strlen(c->string))) != AK_OK)
            return fail(tb, err, "type name is not an identifier: ", c->string);
        if (reserved_name(c->string) || find_struct(tb, c->string, strlen(c->string)) >= 0)
            return fail(tb, AK_ERR_EIP712, "reserved or repeated type name: ", c->string);
        tb->st[tb->n++].name = c->string;
    }
    for (size_t i = 0; i < tb->n; i++) {
        struct_t *s = &tb->st[i];
        const cJSON *def = NULL, *f;
        if ((err = member(&def, types, s->name)) != AK_OK)
            return err;
        if (def == NULL)
            return AK_ERR_INTERNAL;
        path_push(tb, ".", s->name);
        for (f = def->child; f != NULL; f = f->next) {
            const cJSON *fname = NULL, *ftype = NULL;
            field_t *fd;
            if (s->nfields == AK_EIP712_MAX_FIELDS)
                return fail(tb, AK_ERR_LIMIT, "more than 64 fields", NULL);
            if (!cJSON_IsObject(f) || cJSON_GetArraySize(f) != 2)
                return fail(tb, AK_ERR_EIP712, "each field must be {name, type}", NULL);
            if ((err = member(&fname, f, "name")) != AK_OK ||
                (err = member(&ftype, f, "type")) != AK_OK)
                return fail(tb, err, "each field must be {name, type}", NULL);
            if (!is_str(fname) || !is_str(ftype))
                return fail(tb, AK_ERR_EIP712, "each field must be {name, type}", NULL);
            fd = &s->fields[s->nfields];
            fd->name = fname->valuestring;
            fd->type = ftype->valuestring;
            if ((err = check_ident(fd->name, strlen(fd->name))) != AK_OK)
                return fail(tb, err, "field name is not an identifier: ", fd->name);
            for (size_t k = 0; k < s->nfields; k++)
                if (strcmp(s->fields[k].name, fd->name) == 0)
                    return fail(tb, AK_ERR_EIP712, "repeated field: ", fd->name);
            if ((err = parse_type(&fd->ty, tb, fd->type)) != AK_OK)
                return fail(tb, err, "unknown or malformed type: ", fd->type);
            s->nfields++;
        }
        path_pop(tb, strlen("types"));
    }
    /* Dependency closure, children before parents; a round without progress means a cycle. */
    while (done < tb->n) {
        size_t before = done;
        for (size_t i = 0; i < tb->n; i++) {
            struct_t *s = &tb->st[i];
            uint64_t deps = 0;
            int ready = 1;
            if (processed & (UINT64_C(1) << i))
                continue;
            for (size_t k = 0; k < s->nfields && ready; k++) {
                const ty_t *t = &s->fields[k].ty;
                if (t->kind != K_STRUCT)
                    continue;
                if (!(processed & (UINT64_C(1) << t->st)))
                    ready = 0;
                else
                    deps |= (UINT64_C(1) << t->st) | tb->st[t->st].deps;
            }
            if (!ready)
                continue;
            s->deps = deps;
            processed |= UINT64_C(1) << i;
            done++;
        }
        if (done == before)
            return fail(tb, AK_ERR_EIP712, "circular type reference", NULL);
    }
    for (size_t i = 0; i < tb->n; i++) {
        size_t k = i;
        while (k > 0 && strcmp(tb->st[tb->order[k - 1]].name, tb->st[i].name) > 0) {
            tb->order[k] = tb->order[k - 1];
            k--;
        }
        tb->order[k] = (int)i;
    }
    path_pop(tb, 0);
    return AK_OK;
}

static void update_str(ak_keccak_ctx *k, const char *s)
{
    ak_keccak256_update(k, (const uint8_t *)s, strlen(s));
}

/* "Name(type1 name1,type2 name2)" */
static void encode_one_type(ak_keccak_ctx *k, const struct_t *s)
{
    update_str(k, s->name);
    update_str(k, "(");
    for (size_t i = 0; i < s->nfields; i++) {
        if (i > 0)
            update_str(k, ",");
        update_str(k, s->fields[i].type);
        update_str(k, " ");
        update_str(k, s->fields[i].name);
    }
    update_str(k, ")");
}

/* typeHash = keccak256(encodeType): the type itself, then its dependencies sorted by name. */
static const uint8_t *type_hash(table_t *tb, int idx)
{
    struct_t *s = &tb->st[idx];
    if (!s->have_hash) {
        ak_keccak_ctx k;
        ak_keccak256_init(&k);
        encode_one_type(&k, s);
        for (size_t i = 0; i < tb->n; i++)
            if (s->deps & (UINT64_C(1) << tb->order[i]))
                encode_one_type(&k, &tb->st[tb->order[i]]);
        ak_keccak256_final(&k, s->type_hash);
        s->have_hash = 1;
    }
    return s->type_hash;
}

/* encodeData of an atomic value: its 32-byte word (bytes and string: their keccak256). */
static AK_WUR ak_err encode_atomic(uint8_t out[32], const ty_t *t, const cJSON *v)
{
    memset(out, 0, 32);
    switch (t->kind) {
    case K_UINT:
    case K_INT:
        return ak_eip712v_encode_integer(out, t->kind == K_INT, t->width, v);
    case K_BOOL:
        if (!cJSON_IsBool(v))
            return AK_ERR_EIP712;
        out[31] = cJSON_IsTrue(v) ? 1 : 0;
        return AK_OK;
    default:
        break;
    }
    if (!is_str(v))
        return AK_ERR_EIP712;
    switch (t->kind) {
    case K_ADDRESS:
        return ak_addr_parse(out + 12, v->valuestring, strlen(v->valuestring)) == AK_OK
                   ? AK_OK
                   : AK_ERR_EIP712;
    case K_BYTESN: /* right-padded with zeros */
        return ak_hex_decode_exact(out, t->width, v->valuestring, strlen(v->valuestring)) == AK_OK
                   ? AK_OK
                   : AK_ERR_EIP712;
    case K_BYTES:
        return ak_eip712v_hash_bytes(out, v->valuestring, strlen(v->valuestring));
    case K_STRING: {
        size_t len = strlen(v->valuestring);
        if (!ak_json_utf8_valid((const unsigned char *)v->valuestring, len))
            return AK_ERR_EIP712;
        ak_keccak256(out, (const uint8_t *)v->valuestring, len);
        return AK_OK;
    }
    default:
        return AK_ERR_INTERNAL;
    }
}

static AK_WUR ak_err hash_struct(uint8_t out[32], table_t *tb, int idx, const cJSON *obj,
                                 unsigned depth);

/* The 32-byte encodeData word of value v of type t with `level` array dimensions left. */
static AK_WUR ak_err encode_value(uint8_t out[32], table_t *tb, const ty_t *t, unsigned level,
                                  const cJSON *v, unsigned depth)
{
    ak_keccak_ctx k;
    const cJSON *e;
    uint8_t word[32];
    size_t count = 0;
    ak_err err = AK_OK;
    if (level == 0 && t->kind == K_STRUCT)
        return hash_struct(out, tb, t->st, v, depth + 1);
    if (level == 0) {
        if ((err = encode_atomic(out, t, v)) != AK_OK)
            return fail(tb, err, "not a valid value of its type", NULL);
        return AK_OK;
    }
    /* Array: keccak256 of the concatenated element words (EIP-712 "encodeData", arrays). */
    if (depth + 1 > AK_EIP712_MAX_DEPTH)
        return fail(tb, AK_ERR_LIMIT, "nested too deep", NULL);
    if (!cJSON_IsArray(v))
        return fail(tb, AK_ERR_EIP712, "must be an array", NULL);
    for (e = v->child; e != NULL; e = e->next)
        if (++count > AK_EIP712_MAX_ARRAY)
            return fail(tb, AK_ERR_LIMIT, "more than 1024 elements", NULL);
    if (t->dims[level - 1] != 0 && count != t->dims[level - 1])
        return fail(tb, AK_ERR_EIP712, "wrong number of elements for a fixed-size array", NULL);
    ak_keccak256_init(&k);
    count = 0;
    for (e = v->child; e != NULL; e = e->next) {
        char idx[24];
        size_t mark;
        snprintf(idx, sizeof idx, "[%zu]", count++);
        mark = path_push(tb, "", idx);
        if ((err = encode_value(word, tb, t, level - 1, e, depth + 1)) != AK_OK)
            return err;
        path_pop(tb, mark);
        ak_keccak256_update(&k, word, sizeof(word));
    }
    ak_keccak256_final(&k, out);
    return AK_OK;
}

/* hashStruct(s) = keccak256(typeHash || encodeData(field_1) || ... ). */
static AK_WUR ak_err hash_struct(uint8_t out[32], table_t *tb, int idx, const cJSON *obj,
                                 unsigned depth)
{
    ak_keccak_ctx k;
    uint8_t word[32];
    const struct_t *s = &tb->st[idx];
    ak_err err = AK_OK;
    if (depth > AK_EIP712_MAX_DEPTH)
        return fail(tb, AK_ERR_LIMIT, "nested too deep", NULL);
    if (!cJSON_IsObject(obj))
        return fail(tb, AK_ERR_EIP712, "must be an object of type ", s->name);
    /* Every member must be a declared field: an undeclared one would go unsigned. A derived
     * EIP712Domain (index n) was built from the domain's own keys, nulls left out. */
    for (const cJSON *c = obj->child; c != NULL && idx != (int)tb->n; c = c->next) {
        size_t i = 0;
        while (c->string != NULL && i < s->nfields && strcmp(s->fields[i].name, c->string) != 0)
            i++;
        if (c->string == NULL || i == s->nfields) {
            path_push(tb, ".", c->string != NULL ? c->string : "");
            return fail(tb, AK_ERR_EIP712, "not a member of ", s->name);
        }
    }
    ak_keccak256_init(&k);
    ak_keccak256_update(&k, type_hash(tb, idx), 32);
    for (size_t i = 0; i < s->nfields; i++) {
        const cJSON *v = NULL;
        size_t mark = path_push(tb, ".", s->fields[i].name);
        if ((err = member(&v, obj, s->fields[i].name)) != AK_OK)
            return fail(tb, err, "repeated", NULL);
        if (v == NULL)
            return fail(tb, AK_ERR_EIP712, "missing, a field of ", s->name);
        err = encode_value(word, tb, &s->fields[i].ty, s->fields[i].ty.ndims, v, depth);
        if (err != AK_OK)
            return err;
        path_pop(tb, mark);
        ak_keccak256_update(&k, word, sizeof(word));
    }
    ak_keccak256_final(&k, out);
    return AK_OK;
}

/* No EIP712Domain in types: derive it from the domain's non-null keys (ethers hashDomain). */
static AK_WUR ak_err derive_domain(table_t *tb, const cJSON *domain)
{
    struct_t *s = &tb->st[tb->n];
    const cJSON *c;
    unsigned present = 0;
    for (c = domain->child; c != NULL; c = c->next) {
        size_t k = 0;
        while (k < 5 && (c->string == NULL || strcmp(c->string, domain_names[k]) != 0))
            k++;
        if (k == 5 || (present & (1u << k))) {
            path_push(tb, ".", c->string != NULL ? c->string : "");
            return fail(tb, AK_ERR_EIP712,
                        "not an EIP712Domain member (name, version, chainId, verifyingContract, "
                        "salt) and types declare no EIP712Domain",
                        NULL);
        }
        if (!cJSON_IsNull(c))
            present |= 1u << k;
    }
    memset(s, 0, sizeof(*s));
    s->name = "EIP712Domain";
    for (size_t k = 0; k < 5; k++) {
        field_t *f = &s->fields[s->nfields];
        if (!(present & (1u << k)))
            continue;
        f->name = domain_names[k];
        f->type = domain_types[k];
        if (!parse_atomic(&f->ty, f->type, strlen(f->type)))
            return AK_ERR_INTERNAL;
        s->nfields++;
    }
    return AK_OK;
}

/* Copy the chain id and verifying contract out of a hashed (so already valid) domain. */
static AK_WUR ak_err domain_facts(ak_eip712_result *out, const struct_t *s, const cJSON *domain)
{
    ak_err err = AK_OK;
    for (size_t i = 0; i < s->nfields; i++) {
        const field_t *f = &s->fields[i];
        const cJSON *v = NULL;
        if ((err = member(&v, domain, f->name)) != AK_OK)
            return err;
        if (v == NULL)
            return AK_ERR_INTERNAL; /* hash_struct has required every field */
        if (f->ty.ndims == 0 && f->ty.kind == K_UINT && strcmp(f->name, "chainId") == 0) {
            int neg = 0;
            if ((err = ak_eip712v_parse_integer(&out->chain_id, &neg, v)) != AK_OK)
                return err;
            out->has_chain_id = 1;
        }
        if (f->ty.ndims == 0 && f->ty.kind == K_ADDRESS &&
            strcmp(f->name, "verifyingContract") == 0) {
            if (ak_addr_parse(out->verifying_contract, v->valuestring, strlen(v->valuestring)) !=
                AK_OK)
                return AK_ERR_EIP712;
            out->has_verifying_contract = 1;
        }
    }
    return AK_OK;
}

/* The top level holds exactly types, primaryType, domain and message (each an object, primaryType
 * a string): anything else is named and refused. */
static AK_WUR ak_err top_level(table_t *tb, const cJSON *td, const cJSON **types,
                               const cJSON **primary, const cJSON **domain, const cJSON **message)
{
    static const char *const names[4] = {"types", "primaryType", "domain", "message"};
    const cJSON **slots[4] = {types, primary, domain, message};
    if (!cJSON_IsObject(td))
        return fail(tb, AK_ERR_EIP712, "typed data must be a JSON object", NULL);
    for (const cJSON *c = td->child; c != NULL; c = c->next) {
        size_t k = 0;
        while (c->string != NULL && k < 4 && strcmp(c->string, names[k]) != 0)
            k++;
        path_push(tb, "", c->string != NULL ? c->string : "");
        if (k == 4)
            return fail(tb, AK_ERR_EIP712,
                        "unknown member (typed data has types, primaryType, domain, message)",
                        NULL);
        if (*slots[k] != NULL)
            return fail(tb, AK_ERR_EIP712, "repeated", NULL);
        if (k == 1 ? !is_str(c) : !cJSON_IsObject(c))
            return fail(tb, AK_ERR_EIP712, k == 1 ? "must be a string" : "must be an object", NULL);
        *slots[k] = c;
        path_pop(tb, 0);
    }
    for (size_t k = 0; k < 4; k++) {
        if (*slots[k] == NULL) {
            path_push(tb, "", names[k]);
            return fail(tb, AK_ERR_EIP712, "missing", NULL);
        }
    }
    return AK_OK;
}

/* Generic texts for failures that did not say where (API misuse, allocation). */
static void why_default(char *why, size_t why_cap, ak_err err)
{
    if (why != NULL && why_cap > 0 && why[0] == '\0' && err != AK_OK)
        snprintf(why, why_cap, "%s", ak_strerror(err));
}

ak_err ak_eip712_hash_why(ak_eip712_result *out, const cJSON *typed_data, char *why, size_t why_cap)
{
    const cJSON *types = NULL, *primary = NULL, *domain = NULL, *message = NULL;
    table_t *tb = NULL;
    ak_keccak_ctx k;
    int dom_idx, msg_idx;
    ak_err err = AK_OK;
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (out == NULL || typed_data == NULL) {
        why_default(why, why_cap, AK_ERR_ARG);
        return AK_ERR_ARG;
    }
    memset(out, 0, sizeof(*out));
    tb = calloc(1, sizeof(*tb));
    if (tb == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    tb->why = why;
    tb->why_cap = why_cap;
    if ((err = top_level(tb, typed_data, &types, &primary, &domain, &message)) != AK_OK)
        goto out;
    if (types == NULL || primary == NULL || domain == NULL || message == NULL) {
        err = AK_ERR_INTERNAL; /* top_level sets all four or fails */
        goto out;
    }
    if ((err = compile_types(tb, types)) != AK_OK)
        goto out;
    msg_idx = find_struct(tb, primary->valuestring, strlen(primary->valuestring));
    dom_idx = find_struct(tb, "EIP712Domain", strlen("EIP712Domain"));
    path_push(tb, "", "primaryType");
    if (msg_idx < 0 || msg_idx == dom_idx) {
        err =
            fail(tb, AK_ERR_EIP712, msg_idx < 0 ? "not a type declared in types: " : "may not be ",
                 primary->valuestring);
        goto out;
    }
    path_pop(tb, 0);
    path_push(tb, "", "domain");
    if (dom_idx < 0) {
        if ((err = derive_domain(tb, domain)) != AK_OK)
            goto out;
        dom_idx = (int)tb->n;
    }
    if ((err = hash_struct(out->domain_hash, tb, dom_idx, domain, 1)) != AK_OK)
        goto out;
    path_pop(tb, 0);
    path_push(tb, "", "message");
    if ((err = hash_struct(out->message_hash, tb, msg_idx, message, 1)) != AK_OK)
        goto out;
    path_pop(tb, 0);
    if ((err = domain_facts(out, &tb->st[dom_idx], domain)) != AK_OK)
        goto out;
    ak_keccak256_init(&k);
    ak_keccak256_update(&k, (const uint8_t *)"\x19\x01", 2);
    ak_keccak256_update(&k, out->domain_hash, 32);
    ak_keccak256_update(&k, out->message_hash, 32);
    ak_keccak256_final(&k, out->digest);
out:
    free(tb);
    if (err != AK_OK) {
        memset(out, 0, sizeof(*out));
        why_default(why, why_cap, err);
    }
    return err;
}

ak_err ak_eip712_hash(ak_eip712_result *out, const cJSON *typed_data)
{
    return ak_eip712_hash_why(out, typed_data, NULL, 0);
}

ak_err ak_eip712_hash_json_why(ak_eip712_result *out, const char *json, size_t len, char *why,
                               size_t why_cap)
{
    cJSON *root = NULL;
    const char *end = NULL;
    ak_err err = AK_OK;
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (out == NULL || (json == NULL && len != 0)) {
        why_default(why, why_cap, AK_ERR_ARG);
        return AK_ERR_ARG;
    }
    memset(out, 0, sizeof(*out));
    /* a raw NUL (not valid JSON, but cJSON keeps it) would cut a string just as \u0000 does */
    if (len == 0 || memchr(json, '\0', len) != NULL) {
        err = AK_ERR_JSON;
        goto out;
    }
    if (ak_json_has_nul(json, len)) {
        err = AK_ERR_EIP712;
        goto out;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        err = AK_ERR_JSON;
        goto out;
    }
    for (; end < json + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            err = AK_ERR_JSON; /* trailing bytes after the JSON value */
            goto out;
        }
    }
    if (ak_json_has_bad_utf8(json, len) || ak_json_check_keys(root) != AK_OK) {
        err = AK_ERR_EIP712; /* text other parsers would read differently */
        if (why != NULL && why_cap > 0)
            snprintf(why, why_cap, "invalid UTF-8, a lone surrogate or a duplicate key");
        goto out;
    }
    err = ak_eip712_hash_why(out, root, why, why_cap);
out:
    cJSON_Delete(root);
    why_default(why, why_cap, err);
    return err;
}

ak_err ak_eip712_hash_json(ak_eip712_result *out, const char *json, size_t len)
{
    return ak_eip712_hash_json_why(out, json, len, NULL, 0);
}
