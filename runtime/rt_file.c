/* rt_file.c - bounded whole-file read (see rt_file.h). */
#include "rt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ak_secmem.h"

ak_err rt_file_read_into(char *buf, size_t cap, size_t *len, const char *path)
{
    ak_err rc = AK_ERR_IO;
    char more;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *len = 0;
    while (fd >= 0) {
        /* Until the buffer is full, then one byte more: a longer file is seen. */
        n = *len < cap - 1 ? read(fd, buf + *len, cap - 1 - *len) : read(fd, &more, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || *len == cap - 1)
            break;
        *len += (size_t)n;
    }
    if (fd >= 0 && n == 0)
        rc = AK_OK;
    else if (fd >= 0 && n > 0)
        rc = AK_ERR_LIMIT;
    if (fd >= 0)
        close(fd);
    if (rc == AK_OK) {
        buf[*len] = '\0';
    } else {
        ak_wipe(buf, cap);
        *len = 0;
    }
    return rc;
}

ak_err rt_file_read(char **out, size_t *len, const char *path, size_t max)
{
    char *buf = max < SIZE_MAX ? malloc(max + 1) : NULL;
    if (buf == NULL)
        return AK_ERR_NOMEM;
    ak_err rc = rt_file_read_into(buf, max + 1, len, path);
    if (rc == AK_OK)
        *out = buf;
    else
        free(buf); /* wiped by rt_file_read_into */
    return rc;
}
