/* rt_file.c - bounded whole-file read (see rt_file.h). */
#include "rt_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ak_secmem.h"

ak_err rt_file_read(char **out, size_t *len, const char *path, size_t max)
{
    ak_err rc = AK_ERR_IO;
    size_t n = 0;
    char *buf = NULL;
    FILE *f = max < SIZE_MAX ? fopen(path, "rb") : NULL;
    if (f == NULL)
        goto out;
    buf = malloc(max + 1);
    if (buf == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    n = fread(buf, 1, max + 1, f); /* one byte more than allowed: a longer file is seen */
    if (ferror(f))
        goto out;
    if (n > max) {
        rc = AK_ERR_LIMIT;
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = AK_OK;
out:
    if (buf != NULL) {
        ak_wipe(buf, max + 1);
        free(buf);
    }
    if (f != NULL)
        fclose(f);
    return rc;
}
