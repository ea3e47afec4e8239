/* test_rt_file.c - rt_file_read: a file of exactly the limit, one byte over (refused, not cut),
 * empty, missing, a directory; rt_file_read_into the same into the caller's buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ak_test.h"
#include "rt_file.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/test_rt_file.XXXXXX", path[64];
    char *buf = NULL;
    size_t len = 99;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/f", dir);

    write_file(path, "0123456789");
    CHECK_EQ_INT(rt_file_read(&buf, &len, path, 10), AK_OK);
    CHECK_EQ_INT(len, 10);
    CHECK_STR(buf, "0123456789");
    free(buf);
    buf = NULL;
    CHECK_EQ_INT(rt_file_read(&buf, &len, path, 9), AK_ERR_LIMIT);
    CHECK(buf == NULL);

    write_file(path, "");
    CHECK_EQ_INT(rt_file_read(&buf, &len, path, 10), AK_OK);
    CHECK_EQ_INT(len, 0);
    CHECK_STR(buf, "");
    free(buf);
    buf = NULL;

    /* Into the caller's buffer: cap - 1 bytes fit, one more is refused and the buffer wiped. */
    char small[11];
    write_file(path, "0123456789");
    CHECK_EQ_INT(rt_file_read_into(small, sizeof small, &len, path), AK_OK);
    CHECK(len == 10 && strcmp(small, "0123456789") == 0);
    CHECK_EQ_INT(rt_file_read_into(small, sizeof small - 1, &len, path), AK_ERR_LIMIT);
    CHECK(len == 0 && small[0] == '\0' && small[8] == '\0');
    CHECK_EQ_INT(rt_file_read_into(small, sizeof small, &len, dir), AK_ERR_IO);

    CHECK_EQ_INT(rt_file_read(&buf, &len, dir, 10), AK_ERR_IO); /* a directory */
    unlink(path);
    CHECK_EQ_INT(rt_file_read(&buf, &len, path, 10), AK_ERR_IO); /* gone */
    CHECK(buf == NULL);
    rmdir(dir);
    return ak_test_report("test_rt_file");
}
