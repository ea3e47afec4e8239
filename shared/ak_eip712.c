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
 * - message/domain keys that the type does not declare are ignored (they are not signed);
 * - recursive types are rejected (ethers: "circular type reference"), as are "int"/"uint"
 *   without a width (viem rejects them; ethers silently rewrites them to 256 bits);
 * - integers: JSON number (integral, |v| <= 2^53-1), decimal string, or 0x hex string, an
 *   optional leading '-' (intN, decimal only: viem rejects "-0x.."), leading zeros allowed
 *   (as BigInt() does).
 * Stricter than ethers: a missing field is always an error (ethers hashes a missing bool as
 * false), bool must be JSON true/false, strings must be valid UTF-8, duplicate JSON keys and
 * non-identifier type/field names are errors, primaryType may not be EIP712Domain.
 *
 * Owns nothing past a call: the compiled table is heap-allocated and freed before returning;
 * names point into the caller's cJSON tree. cJSON truncates strings at an escaped NUL
 * (\u0000), so ak_eip712_hash_json rejects that escape; callers of ak_eip712_hash who parse the
 * JSON themselves should do the same.
 */
#include "ak_eip712.h"
#include "ak_json.h"

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
} table_t;

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
    if (!cJSON_IsObject(types))
        return AK_ERR_EIP712;
    for (c = types->child; c != NULL; c = c->next) {
        if (tb->n == AK_EIP712_MAX_TYPES)
            return AK_ERR_LIMIT;
        if (c->string == NULL || !cJSON_IsArray(c))
            return AK_ERR_EIP712;
        if ((err = check_ident(c->string, strlen(c->string))) != AK_OK)
            return err;
        if (reserved_name(c->string) || find_struct(tb, c->string, strlen(c->string)) >= 0)
            return AK_ERR_EIP712;
        tb->st[tb->n++].name = c->string;
    }
    for (size_t i = 0; i < tb->n; i++) {
        struct_t *s = &tb->st[i];
        const cJSON *def = NULL, *f;
        if ((err = member(&def, types, s->name)) != AK_OK)
            return err;
        if (def == NULL)
            return AK_ERR_INTERNAL;
        for (f = def->child; f != NULL; f = f->next) {
            const cJSON *fname = NULL, *ftype = NULL;
            field_t *fd;
            if (s->nfields == AK_EIP712_MAX_FIELDS)
                return AK_ERR_LIMIT;
            if (!cJSON_IsObject(f))
                return AK_ERR_EIP712;
            if ((err = member(&fname, f, "name")) != AK_OK ||
                (err = member(&ftype, f, "type")) != AK_OK)
                return err;
            if (!is_str(fname) || !is_str(ftype))
                return AK_ERR_EIP712;
            fd = &s->fields[s->nfields];
            fd->name = fname->valuestring;
            fd->type = ftype->valuestring;
            if ((err = check_ident(fd->name, strlen(fd->name))) != AK_OK)
                return err;
            for (size_t k = 0; k < s->nfields; k++)
                if (strcmp(s->fields[k].name, fd->name) == 0)
                    return AK_ERR_EIP712; /* duplicate field name */
            if ((err = parse_type(&fd->ty, tb, fd->type)) != AK_OK)
                return err;
            s->nfields++;
        }
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
            return AK_ERR_EIP712; /* circular type reference */
    }
    for (size_t i = 0; i < tb->n; i++) {
        size_t k = i;
        while (k > 0 && strcmp(tb->st[tb->order[k - 1]].name, tb->st[i].name) > 0) {
            tb->order[k] = tb->order[k - 1];
            k--;
        }
        tb->order[k] = (int)i;
    }
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

static int hex_nibble(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Magnitude and sign of an integer value (see the module comment for accepted forms). */
static AK_WUR ak_err parse_integer(ak_u256 *mag, int *neg, const cJSON *v)
{
    const char *s;
    size_t len, i = 0;
    *neg = 0;
    if (v == NULL)
        return AK_ERR_EIP712;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        const double max_safe = 9007199254740991.0; /* 2^53 - 1, Number.MAX_SAFE_INTEGER */
        int64_t iv;
        if (!(d >= -max_safe && d <= max_safe))
            return AK_ERR_EIP712;
        iv = (int64_t)d;
        if ((double)iv != d)
            return AK_ERR_EIP712; /* not integral */
        *neg = iv < 0;
        ak_u256_from_u64(mag, (uint64_t)(iv < 0 ? -iv : iv));
        return AK_OK;
    }
    if (!is_str(v))
        return AK_ERR_EIP712;
    s = v->valuestring;
    len = strlen(s);
    if (len > 0 && s[0] == '-') {
        *neg = 1;
        i = 1;
    }
    if (len - i >= 2 && s[i] == '0' && s[i + 1] == 'x') {
        char q[AK_U256_QUANTITY_MAX];
        size_t start = i + 2, n;
        if (start == len || *neg)
            return AK_ERR_EIP712; /* "-0x.." : ethers takes it, viem does not */
        for (size_t j = start; j < len; j++)
            if (hex_nibble(s[j]) < 0)
                return AK_ERR_EIP712;
        while (start < len - 1 && s[start] == '0')
            start++;
        n = len - start;
        if (n > 64)
            return AK_ERR_EIP712; /* more than 256 bits */
        q[0] = '0';
        q[1] = 'x';
        memcpy(q + 2, s + start, n);
        return ak_u256_parse_quantity(mag, q, n + 2) == AK_OK ? AK_OK : AK_ERR_EIP712;
    }
    if (i == len)
        return AK_ERR_EIP712;
    for (size_t j = i; j < len; j++)
        if (!is_digit(s[j]))
            return AK_ERR_EIP712;
    while (i < len - 1 && s[i] == '0')
        i++;
    if (len - i > 78)
        return AK_ERR_EIP712;
    return ak_u256_parse_decimal(mag, s + i, len - i) == AK_OK ? AK_OK : AK_ERR_EIP712;
}

ak_err ak_eip712_uint_value(ak_u256 *out, const cJSON *v)
{
    int neg = 0;
    ak_err rc = parse_integer(out, &neg, v);
    if (rc == AK_OK && neg && !ak_u256_is_zero(out))
        rc = AK_ERR_EIP712;
    return rc;
}

/* intN/uintN range check, then the 32-byte word (two's complement for negatives). */
static AK_WUR ak_err encode_integer(uint8_t out[32], const ty_t *t, const cJSON *v)
{
    ak_u256 mag;
    int neg;
    unsigned bits;
    ak_err err = parse_integer(&mag, &neg, v);
    if (err != AK_OK)
        return err;
    if (ak_u256_is_zero(&mag))
        neg = 0;
    bits = ak_u256_bits(&mag);
    if (t->kind == K_UINT) {
        if (neg || bits > t->width)
            return AK_ERR_EIP712;
    } else if ((!neg && bits > (unsigned)t->width - 1u) || (neg && bits > t->width)) {
        return AK_ERR_EIP712;
    } else if (neg && bits == t->width) {
        /* only -2^(N-1) itself: a single bit set */
        ak_u256 one, m1;
        ak_u256_from_u64(&one, 1);
        if (ak_u256_sub(&m1, &mag, &one) != AK_OK || ak_u256_bits(&m1) >= bits)
            return AK_ERR_EIP712;
    }
    ak_u256_to_be(out, &mag);
    if (neg) {
        unsigned carry = 1;
        for (int i = 31; i >= 0; i--) {
            unsigned b = (unsigned)(uint8_t)~out[i] + carry;
            out[i] = (uint8_t)b;
            carry = b >> 8;
        }
    }
    return AK_OK;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), as a JS string would round-trip. */
static int valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], n, cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* keccak256 of 0x DATA, decoded in chunks so that no copy of the whole value is made. */
static AK_WUR ak_err hash_bytes(uint8_t out[32], const char *s, size_t len)
{
    ak_keccak_ctx k;
    uint8_t chunk[128];
    size_t got = 0;
    if (len < 2 || s[0] != '0' || s[1] != 'x' || len % 2 != 0)
        return AK_ERR_EIP712;
    ak_keccak256_init(&k);
    for (size_t i = 2; i < len; i += 2 * sizeof(chunk)) {
        size_t n = len - i < 2 * sizeof(chunk) ? len - i : 2 * sizeof(chunk);
        if (ak_hex_decode_bare(chunk, sizeof(chunk), &got, s + i, n) != AK_OK)
            return AK_ERR_EIP712;
        ak_keccak256_update(&k, chunk, got);
    }
    ak_keccak256_final(&k, out);
    return AK_OK;
}

/* encodeData of an atomic value: its 32-byte word (bytes and string: their keccak256). */
static AK_WUR ak_err encode_atomic(uint8_t out[32], const ty_t *t, const cJSON *v)
{
    memset(out, 0, 32);
    switch (t->kind) {
    case K_UINT:
    case K_INT:
        return encode_integer(out, t, v);
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
        return hash_bytes(out, v->valuestring, strlen(v->valuestring));
    case K_STRING: {
        size_t len = strlen(v->valuestring);
        if (!valid_utf8((const unsigned char *)v->valuestring, len))
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
    if (level == 0)
        return encode_atomic(out, t, v);
    /* Array: keccak256 of the concatenated element words (EIP-712 "encodeData", arrays). */
    if (depth + 1 > AK_EIP712_MAX_DEPTH)
        return AK_ERR_LIMIT;
    if (!cJSON_IsArray(v))
        return AK_ERR_EIP712;
    for (e = v->child; e != NULL; e = e->next)
        if (++count > AK_EIP712_MAX_ARRAY)
            return AK_ERR_LIMIT;
    if (t->dims[level - 1] != 0 && count != t->dims[level - 1])
        return AK_ERR_EIP712;
    ak_keccak256_init(&k);
    for (e = v->child; e != NULL; e = e->next) {
        if ((err = encode_value(word, tb, t, level - 1, e, depth + 1)) != AK_OK)
            return err;
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
        return AK_ERR_LIMIT;
    if (!cJSON_IsObject(obj))
        return AK_ERR_EIP712;
    ak_keccak256_init(&k);
    ak_keccak256_update(&k, type_hash(tb, idx), 32);
    for (size_t i = 0; i < s->nfields; i++) {
        const cJSON *v = NULL;
        if ((err = member(&v, obj, s->fields[i].name)) != AK_OK)
            return err;
        if (v == NULL)
            return AK_ERR_EIP712; /* missing field */
        err = encode_value(word, tb, &s->fields[i].ty, s->fields[i].ty.ndims, v, depth);
        if (err != AK_OK)
            return err;
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
        if (k == 5 || (present & (1u << k)))
            return AK_ERR_EIP712; /* unknown or repeated domain key */
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
            if ((err = parse_integer(&out->chain_id, &neg, v)) != AK_OK)
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

ak_err ak_eip712_hash(ak_eip712_result *out, const cJSON *typed_data)
{
    const cJSON *types = NULL, *primary = NULL, *domain = NULL, *message = NULL;
    table_t *tb = NULL;
    ak_keccak_ctx k;
    int dom_idx, msg_idx;
    ak_err err = AK_OK;
    if (out == NULL || typed_data == NULL)
        return AK_ERR_ARG;
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(typed_data)) {
        err = AK_ERR_EIP712;
        goto out;
    }
    if ((err = member(&types, typed_data, "types")) != AK_OK ||
        (err = member(&primary, typed_data, "primaryType")) != AK_OK ||
        (err = member(&domain, typed_data, "domain")) != AK_OK ||
        (err = member(&message, typed_data, "message")) != AK_OK)
        goto out;
    if (!cJSON_IsObject(types) || !is_str(primary) || !cJSON_IsObject(domain) ||
        !cJSON_IsObject(message)) {
        err = AK_ERR_EIP712;
        goto out;
    }
    tb = calloc(1, sizeof(*tb));
    if (tb == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if ((err = compile_types(tb, types)) != AK_OK)
        goto out;
    msg_idx = find_struct(tb, primary->valuestring, strlen(primary->valuestring));
    dom_idx = find_struct(tb, "EIP712Domain", strlen("EIP712Domain"));
    if (msg_idx < 0 || msg_idx == dom_idx) {
        err = AK_ERR_EIP712;
        goto out;
    }
    if (dom_idx < 0) {
        if ((err = derive_domain(tb, domain)) != AK_OK)
            goto out;
        dom_idx = (int)tb->n;
    }
    if ((err = hash_struct(out->domain_hash, tb, dom_idx, domain, 1)) != AK_OK ||
        (err = hash_struct(out->message_hash, tb, msg_idx, message, 1)) != AK_OK ||
        (err = domain_facts(out, &tb->st[dom_idx], domain)) != AK_OK)
        goto out;
    ak_keccak256_init(&k);
    ak_keccak256_update(&k, (const uint8_t *)"\x19\x01", 2);
    ak_keccak256_update(&k, out->domain_hash, 32);
    ak_keccak256_update(&k, out->message_hash, 32);
    ak_keccak256_final(&k, out->digest);
out:
    free(tb);
    if (err != AK_OK)
        memset(out, 0, sizeof(*out));
    return err;
}

ak_err ak_eip712_hash_json(ak_eip712_result *out, const char *json, size_t len)
{
    cJSON *root = NULL;
    const char *end = NULL;
    ak_err err = AK_OK;
    if (out == NULL || (json == NULL && len != 0))
        return AK_ERR_ARG;
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
    err = ak_eip712_hash(out, root);
out:
    cJSON_Delete(root);
    return err;
}
