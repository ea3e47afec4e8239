/*
 * fuzz_cn_ksproto.c - the connector's checks of key server answers (cn_ksproto: a /sign result,
 * a failed batch item, a /pubkey answer) on hostile JSON. Invariants: an accepted signature fits
 * cn_raw_sig and is DER-tagged; an accepted public key hashes to the address given back; a
 * refused answer leaves an error message. Corpus: tests/fuzz/corpus/cn_ksproto/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ak_addr.h"
#include "cn_ksproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    cn_raw_sig sig;
    uint8_t pub[65], addr[20], again[20];
    char err[256] = "";
    int alone = 0;
    if (j == NULL)
        return 0;
    if (cn_ksproto_sig(&sig, j, "k1", "r1") == AK_OK &&
        (sig.len > sizeof sig.bytes || sig.form != CN_SIG_DER))
        abort();
    ak_err e = cn_ksproto_item_err(j, &alone);
    if (e == AK_OK || (alone && e != AK_ERR_UNAVAILABLE))
        abort();
    if (cn_ksproto_pubkey(pub, addr, j, "k1", err, sizeof err) == AK_OK) {
        ak_addr_from_pubkey(again, pub);
        if (memcmp(again, addr, 20) != 0)
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    cJSON_Delete(j);
    return 0;
}
