/*
 * keytool.c - anode-keytool: key management next to anode-keyserver.
 *
 *   anode-keytool generate     --module M --token-label T PIN --label L --id HEX
 *   anode-keytool list         --module M --token-label T PIN
 *   anode-keytool address      --module M --token-label T PIN [--label L] [--id HEX]
 *   anode-keytool audit-verify FILE [--anchor ANCHOR_FILE]
 * where PIN is --pin-source FILE (first line of FILE) or --pin-env VAR. There is deliberately
 * no way to give the PIN on the command line (visible in ps and shell history).
 *
 * generate makes a secp256k1 key pair on the token (C_GenerateKeyPair, CKM_EC_KEY_PAIR_GEN):
 * the private key is a token object, private, sensitive, non-extractable, sign-only; it refuses
 * a label or id that a private key already has. address prints, per secp256k1 key, the
 * public key (04|X|Y) and the EIP-55 address. Exit status: 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_secmem.h"
#include "rt_audit.h"
#include "p11_module.h"
#include "p11_uri.h"

#define KT_MAX_KEYS 1024

typedef struct {
    const char *module, *token, *pin_source, *pin_env, *label, *id_hex;
    uint8_t id[P11_ID_MAX];
    size_t id_len;
} kt_opts;

static void usage(void)
{
    fprintf(stderr,
            "usage: anode-keytool generate --module M --token-label T PIN --label L --id HEX\n"
            "       anode-keytool list     --module M --token-label T PIN\n"
            "       anode-keytool address  --module M --token-label T PIN [--label L] [--id HEX]\n"
            "       anode-keytool audit-verify FILE [--anchor ANCHOR_FILE]\n"
            "       anode-keytool --help | -h\n"
            "PIN: --pin-source FILE (first line) or --pin-env VAR; never on the command line.\n");
}

/* Read the PIN into locked memory (cap P11_PIN_MAX + 1); returns its length, or 0 on error.
 * The file is read with read() straight into that memory (no stdio buffer holding a copy),
 * opened O_CLOEXEC; its first line is the PIN. */
static size_t read_pin(char *pin, const kt_opts *o)
{
    size_t n = 0;
    if (o->pin_env != NULL) {
        const char *v = getenv(o->pin_env);
        if (v == NULL || (n = strlen(v)) == 0 || n > P11_PIN_MAX) {
            fprintf(stderr, "anode-keytool: environment variable %s is unset, empty or too long\n",
                    o->pin_env);
            return 0;
        }
        memcpy(pin, v, n);
    } else {
        int fd = open(o->pin_source, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "anode-keytool: cannot read PIN file %s\n", o->pin_source);
            return 0;
        }
        size_t got = 0;
        int bad = 0;
        while (got < P11_PIN_MAX + 1 && memchr(pin, '\n', got) == NULL) {
            ssize_t r = read(fd, pin + got, P11_PIN_MAX + 1 - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                bad = 1;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
        for (n = 0; n < got && pin[n] != '\n' && pin[n] != '\r'; n++)
            ;
        if (bad || n > P11_PIN_MAX) {
            fprintf(stderr, "anode-keytool: PIN file %s: %s\n", o->pin_source,
                    bad ? "read failed" : "PIN too long");
            ak_wipe(pin, P11_PIN_MAX + 1);
            return 0;
        }
        ak_wipe(pin + n, P11_PIN_MAX + 1 - n); /* whatever followed the first line */
        if (n == 0) {
            fprintf(stderr, "anode-keytool: PIN file %s is empty\n", o->pin_source);
            return 0;
        }
    }
    pin[n] = '\0';
    return n;
}

static void print_hex(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

/* Public key of a private key object: from the public key object with the same label/id. */
static ak_err key_pubkey(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                         uint8_t pub[65])
{
    char label[P11_LABEL_MAX + 1];
    uint8_t id[P11_ID_MAX], buf[160];
    size_t llen = 0, ilen = 0, len = 0, n = 0;
    int has_label, has_id, more = 0;
    CK_OBJECT_HANDLE o[2];
    CK_RV rv;

    has_label = p11_get_attr(f, s, priv, CKA_LABEL, label, P11_LABEL_MAX, &llen, &rv) == AK_OK;
    has_id = p11_get_attr(f, s, priv, CKA_ID, id, sizeof(id), &ilen, &rv) == AK_OK && ilen > 0;
    if (has_label)
        label[llen] = '\0';
    if (p11_find_objects(f, s, CKO_PUBLIC_KEY, has_label && llen > 0 ? label : NULL,
                         has_id ? id : NULL, ilen, o, 2, &n, &more, &rv) == AK_OK &&
        n == 1 && p11_get_attr(f, s, o[0], CKA_EC_POINT, buf, sizeof(buf), &len, &rv) == AK_OK)
        return ak_pubkey_parse(pub, buf, len);
    if (p11_get_attr(f, s, priv, CKA_EC_POINT, buf, sizeof(buf), &len, &rv) == AK_OK)
        return ak_pubkey_parse(pub, buf, len);
    return AK_ERR_KEY_TYPE;
}

static int cmd_generate(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const kt_opts *o)
{
    CK_OBJECT_HANDLE found[2], pubh, privh;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    size_t n = 0, len = 0;
    int more = 0;
    CK_RV rv;
    uint8_t buf[160], pub[65], addr[20];
    char addr_s[AK_ADDR_STR_SIZE];
    CK_ATTRIBUTE pub_t[] = {
        {CKA_EC_PARAMS, (void *)(uintptr_t)P11_SECP256K1_PARAMS, sizeof(P11_SECP256K1_PARAMS)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)(uintptr_t)o->label, strlen(o->label)},
        {CKA_ID, (void *)(uintptr_t)o->id, o->id_len},
    };
    CK_ATTRIBUTE priv_t[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_LABEL, (void *)(uintptr_t)o->label, strlen(o->label)},
        {CKA_ID, (void *)(uintptr_t)o->id, o->id_len},
    };

    if (p11_find_objects(f, s, CKO_PRIVATE_KEY, o->label, NULL, 0, found, 2, &n, &more, &rv) !=
        AK_OK) {
        fprintf(stderr, "anode-keytool: searching keys failed: %s\n", p11_rv_name(rv));
        return 1;
    }
    if (n > 0) {
        fprintf(stderr, "anode-keytool: a private key labelled '%s' already exists\n", o->label);
        return 1;
    }
    if (p11_find_objects(f, s, CKO_PRIVATE_KEY, NULL, o->id, o->id_len, found, 2, &n, &more, &rv) !=
        AK_OK) {
        fprintf(stderr, "anode-keytool: searching keys failed: %s\n", p11_rv_name(rv));
        return 1;
    }
    if (n > 0) {
        fprintf(stderr, "anode-keytool: a private key with id %s already exists\n", o->id_hex);
        return 1;
    }
    rv = f->C_GenerateKeyPair(s, &mech, pub_t, sizeof(pub_t) / sizeof(pub_t[0]), priv_t,
                              sizeof(priv_t) / sizeof(priv_t[0]), &pubh, &privh);
    if (rv != CKR_OK) {
        fprintf(stderr, "anode-keytool: C_GenerateKeyPair failed: %s\n", p11_rv_name(rv));
        return 1;
    }
    if (p11_get_attr(f, s, pubh, CKA_EC_POINT, buf, sizeof(buf), &len, &rv) != AK_OK ||
        ak_pubkey_parse(pub, buf, len) != AK_OK) {
        fprintf(stderr, "anode-keytool: generated, but the public key is unreadable\n");
        return 1;
    }
    ak_addr_from_pubkey(addr, pub);
    ak_addr_to_checksum(addr_s, addr);
    printf("generated secp256k1 key label=%s id=%s\npublic_key 0x", o->label, o->id_hex);
    print_hex(pub, 65);
    printf("\naddress %s\n", addr_s);
    return 0;
}

/* list (show_address = 0) or address (1) */
static int cmd_keys(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, const kt_opts *o, int show_address)
{
    static CK_OBJECT_HANDLE objs[KT_MAX_KEYS];
    size_t n = 0;
    int more = 0, shown = 0;
    CK_RV rv;

    if (p11_find_objects(f, s, CKO_PRIVATE_KEY, o->label, o->id_len ? o->id : NULL, o->id_len, objs,
                         KT_MAX_KEYS, &n, &more, &rv) != AK_OK) {
        fprintf(stderr, "anode-keytool: listing keys failed: %s\n", p11_rv_name(rv));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char label[P11_LABEL_MAX + 1] = "";
        uint8_t id[P11_ID_MAX], params[64], pub[65], addr[20];
        size_t llen = 0, ilen = 0, plen = 0;
        CK_KEY_TYPE kt = 0;
        size_t ktlen = 0;
        int k1;
        if (p11_get_attr(f, s, objs[i], CKA_LABEL, label, P11_LABEL_MAX, &llen, &rv) == AK_OK)
            label[llen] = '\0';
        if (p11_get_attr(f, s, objs[i], CKA_ID, id, sizeof(id), &ilen, &rv) != AK_OK)
            ilen = 0;
        if (p11_get_attr(f, s, objs[i], CKA_KEY_TYPE, &kt, sizeof(kt), &ktlen, &rv) != AK_OK)
            kt = (CK_KEY_TYPE)-1;
        k1 = kt == CKK_EC &&
             p11_get_attr(f, s, objs[i], CKA_EC_PARAMS, params, sizeof(params), &plen, &rv) ==
                 AK_OK &&
             plen == sizeof(P11_SECP256K1_PARAMS) &&
             memcmp(params, P11_SECP256K1_PARAMS, plen) == 0;
        if (!show_address) {
            printf("label=%s id=", label);
            print_hex(id, ilen);
            printf(" type=%s%s\n",
                   kt == CKK_EC    ? "EC"
                   : kt == CKK_RSA ? "RSA"
                                   : "other",
                   kt != CKK_EC ? ""
                   : k1         ? " curve=secp256k1"
                                : " curve=other (not usable)");
            shown++;
            continue;
        }
        if (!k1)
            continue;
        if (key_pubkey(f, s, objs[i], pub) != AK_OK) {
            printf("label=%s public key unreadable\n", label);
            continue;
        }
        {
            char a[AK_ADDR_STR_SIZE];
            ak_addr_from_pubkey(addr, pub);
            ak_addr_to_checksum(a, addr);
            printf("label=%s id=", label);
            print_hex(id, ilen);
            printf(" public_key=0x");
            print_hex(pub, 65);
            printf(" address=%s\n", a);
            shown++;
        }
    }
    if (more)
        printf("(more than %d keys: list truncated)\n", KT_MAX_KEYS);
    if (shown == 0)
        fprintf(stderr, "anode-keytool: no %skeys found\n", show_address ? "secp256k1 " : "");
    return 0;
}

/* Both daemons' logs (rt_audit): the chain, and with an anchor that no record up to the
 * anchored one was deleted or rewritten. */
static int cmd_audit_verify(const char *path, const char *anchor)
{
    rt_audit_verdict v;
    char msg[320] = "", hex[65];
    ak_err e = rt_audit_verify(path, anchor, &v, msg, sizeof(msg));
    if (e != AK_OK) {
        fprintf(stderr, "anode-keytool: %s: audit chain INVALID: %s\n", path,
                msg[0] ? msg : ak_strerror(e));
        return 1;
    }
    /* Without an anchor, deleting trailing lines leaves a valid shorter chain: keep the last seq
     * and hash somewhere else and compare them with a later run. */
    rt_audit_hex32(hex, v.last);
    printf("%s: %llu records, chain OK\n", path, (unsigned long long)v.records);
    if (v.anchored)
        printf("anchor %s: seq %llu present with its hash (no record up to it removed)\n", anchor,
               (unsigned long long)v.anchor_seq);
    printf("last seq %llu sha256 %s\n", (unsigned long long)v.records, hex);
    return 0;
}

int main(int argc, char **argv)
{
    kt_opts o;
    p11_module *m = NULL;
    CK_FUNCTION_LIST *f;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_SLOT_ID slot = 0;
    CK_RV rv = CKR_OK;
    char msg[256], *pin = NULL;
    size_t pin_len;
    const char *cmd;
    int rc = 1;
    ak_err e;

    memset(&o, 0, sizeof(o));
    if (argc < 2) {
        usage();
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage();
        return 0;
    }
    if (strcmp(cmd, "audit-verify") == 0) {
        if (argc == 3)
            return cmd_audit_verify(argv[2], NULL);
        if (argc == 5 && strcmp(argv[3], "--anchor") == 0)
            return cmd_audit_verify(argv[2], argv[4]);
        usage();
        return 2;
    }
    /* Decided once: the analyzer (and a reader) can then see that generate always has a label. */
    const int generate = strcmp(cmd, "generate") == 0;
    if (!generate && strcmp(cmd, "list") != 0 && strcmp(cmd, "address") != 0) {
        fprintf(stderr, "anode-keytool: unknown command '%s'\n", cmd);
        usage();
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char **dst = NULL;
        if (strcmp(argv[i], "--module") == 0)
            dst = &o.module;
        else if (strcmp(argv[i], "--token-label") == 0)
            dst = &o.token;
        else if (strcmp(argv[i], "--pin-source") == 0)
            dst = &o.pin_source;
        else if (strcmp(argv[i], "--pin-env") == 0)
            dst = &o.pin_env;
        else if (strcmp(argv[i], "--label") == 0)
            dst = &o.label;
        else if (strcmp(argv[i], "--id") == 0)
            dst = &o.id_hex;
        if (dst == NULL || i + 1 >= argc) {
            fprintf(stderr, "anode-keytool: unknown option or missing value: %s\n", argv[i]);
            usage();
            return 2;
        }
        *dst = argv[++i];
    }
    if (o.module == NULL || o.token == NULL || (o.pin_source == NULL) == (o.pin_env == NULL)) {
        fprintf(stderr, "anode-keytool: --module, --token-label and exactly one of --pin-source "
                        "/ --pin-env are required\n");
        return 2;
    }
    if (generate && (o.label == NULL || o.id_hex == NULL)) {
        fprintf(stderr, "anode-keytool: generate needs --label and --id\n");
        return 2;
    }
    if (o.label != NULL && (o.label[0] == '\0' || strlen(o.label) > P11_LABEL_MAX)) {
        fprintf(stderr, "anode-keytool: --label must be 1..%d bytes\n", P11_LABEL_MAX);
        return 2;
    }
    if (o.id_hex != NULL &&
        (ak_hex_decode_bare(o.id, sizeof(o.id), &o.id_len, o.id_hex, strlen(o.id_hex)) != AK_OK ||
         o.id_len == 0)) {
        fprintf(stderr, "anode-keytool: --id must be 1..%d bytes of hex\n", P11_ID_MAX);
        return 2;
    }

    pin = ak_secure_alloc(P11_PIN_MAX + 1);
    if (pin == NULL)
        goto out;
    pin_len = read_pin(pin, &o);
    if (pin_len == 0)
        goto out;
    e = p11_module_load(&m, o.module, msg, sizeof(msg));
    if (e != AK_OK) {
        fprintf(stderr, "anode-keytool: %s\n", msg);
        goto out;
    }
    f = p11_module_functions(m);
    if (p11_find_slot_by_label(f, &slot, &rv, o.token) != AK_OK) {
        fprintf(stderr, "anode-keytool: no single token labelled '%s' (%s)\n", o.token,
                p11_rv_name(rv));
        goto out;
    }
    e = p11_open_login(f, &s, &rv, slot, generate, pin, pin_len);
    ak_wipe(pin, P11_PIN_MAX + 1);
    if (e != AK_OK) {
        fprintf(stderr, "anode-keytool: %s: %s\n",
                e == AK_ERR_PIN ? "login refused (PIN)" : "cannot open a session", p11_rv_name(rv));
        s = CK_INVALID_HANDLE;
        goto out;
    }
    if (generate)
        rc = cmd_generate(f, s, &o);
    else
        rc = cmd_keys(f, s, &o, strcmp(cmd, "address") == 0);
out:
    if (s != CK_INVALID_HANDLE)
        (void)p11_module_functions(m)->C_CloseSession(s);
    p11_module_release(m);
    if (pin != NULL)
        ak_secure_free(pin, P11_PIN_MAX + 1);
    return rc;
}
