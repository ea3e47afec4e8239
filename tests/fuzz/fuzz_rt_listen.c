/*
 * fuzz_rt_listen.c - libFuzzer target for rt_listen_parse_env, the parser of systemd's
 * LISTEN_PID / LISTEN_FDS (socket activation). The input is "PID\nFDS"; our pid is 4242.
 * Accepted values must be plain decimal numbers and the count in 1..1024 when the pid matches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_listen.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[64], err[128];
    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (strlen(buf) != size)
        return 0;
    char *nl = strchr(buf, '\n');
    const char *pid = buf, *fds = NULL;
    if (nl != NULL) {
        *nl = '\0';
        fds = nl + 1;
    }
    int n = -1;
    ak_err rc = rt_listen_parse_env(&n, pid, fds, 4242, err, sizeof(err));
    FUZZ_ASSERT(rc == AK_OK || rc == AK_ERR_CONFIG);
    FUZZ_ASSERT(n >= 0 && n <= 1024);
    if (rc == AK_OK && n > 0) {
        /* leading zeros are tolerated (as by sd_listen_fds): compare the values */
        FUZZ_ASSERT(strtol(pid, NULL, 10) == 4242 && strspn(pid, "0123456789") == strlen(pid));
        FUZZ_ASSERT(strtol(fds, NULL, 10) == n && strspn(fds, "0123456789") == strlen(fds));
    }
    if (rc != AK_OK)
        FUZZ_ASSERT(err[0] != '\0');
    return 0;
}
