/*
 * fuzz_cn_awscreds.c - the AWS credential document parser (container endpoint and instance
 * metadata answers: {"Code","AccessKeyId","SecretAccessKey","Token","Expiration"}) and its RFC
 * 3339 time parser, on hostile input. cn_awscreds.c is compiled into this target so that its
 * static parsers can be driven directly; no HTTP is made. Corpus: tests/fuzz/corpus/cn_awscreds/.
 */
#include "../../connector/signers/cn_awscreds.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char err[256];
    cn_awscreds c;
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (parse_doc(&c, text, "fuzz", err, sizeof err) == AK_OK) {
        /* what was accepted is bounded, NUL-terminated and printable */
        if (strlen(c.akid) == 0 || strlen(c.akid) > CN_AWSCREDS_AKID_MAX || strlen(c.secret) == 0 ||
            strlen(c.token) == 0)
            abort();
    } else if (c.akid[0] != '\0' || c.secret[0] != '\0' || c.token[0] != '\0') {
        abort(); /* a refused document leaves nothing behind */
    }
    (void)parse_time(text);
    ak_wipe(&c, sizeof c);
    free(text);
    return 0;
}
