/*
 * fuzz_ks_audit_verify.c - the audit-chain verifier (ks_audit_verify_file) and the tail reader
 * that ks_audit_open() uses to continue a chain, on hostile file contents.
 *
 * The input is the whole audit file (an in-memory file, see fz_memfile.h). Checked: a file
 * that verifies has one record per line; if ks_audit_open() then accepts it, appending one
 * record through the real writer must give a file that still verifies, with one more record
 * (the writer and the verifier agree on seq and on the hash chain). A file that does not
 * verify must come with a message, and ks_audit_open() must refuse or continue it cleanly.
 */
#include <stdint.h>
#include <string.h>

#include "fz_memfile.h"
#include "ks_audit.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static fz_memfile fz_file;

static void append_and_reverify(uint64_t records)
{
    static const uint8_t digest[32] = {1, 2, 3};
    char msg[256];
    ks_audit *a = NULL;
    ks_audit_rec r;
    uint64_t after = 0;
    if (ks_audit_open(&a, fz_file.path, 0, msg, sizeof msg) != AK_OK)
        return; /* e.g. a last line too long for the tail reader: refused, fine */
    memset(&r, 0, sizeof r);
    r.client_cn = "fuzz";
    r.key_id = "k1";
    r.key_id_len = 2;
    r.digest = digest;
    r.digest_len = sizeof digest;
    r.outcome = "refused";
    FUZZ_ASSERT(ks_audit_append(a, &r) == AK_OK);
    ks_audit_close(a);
    FUZZ_ASSERT(ks_audit_verify_file(fz_file.path, &after, msg, sizeof msg) == AK_OK);
    FUZZ_ASSERT(after == records + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[256];
    uint64_t records = 0;
    if (fz_file.path[0] == '\0')
        fz_memfile_init(&fz_file, "fuzz_ks_audit_verify");
    if (size > 64 * 1024)
        return 0;
    fz_memfile_set(&fz_file, data, size);
    msg[0] = '\0';
    /* The same bytes as an anchor file (rt_audit_anchor_parse): refused or a seq and hash. */
    uint64_t a_seq = 0;
    uint8_t a_hash[32];
    if (rt_audit_anchor_parse((const char *)data, size, &a_seq, a_hash) == AK_OK)
        FUZZ_ASSERT(a_seq <= 9007199254740992ull);
    ak_err e = ks_audit_verify_file(fz_file.path, &records, msg, sizeof msg);
    if (e == AK_OK) {
        size_t lines = 0;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        FUZZ_ASSERT(records == lines);
        append_and_reverify(records);
    } else {
        FUZZ_ASSERT(records == 0 && msg[0] != '\0');
        /* The tail reader must cope with a broken log too (it refuses or continues it). */
        ks_audit *a = NULL;
        if (ks_audit_open(&a, fz_file.path, 0, msg, sizeof msg) == AK_OK)
            ks_audit_close(a);
    }
    return 0;
}
