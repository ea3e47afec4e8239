/* test_rt_file.c - rt_file_read: a file of exactly the limit, one byte over (refused, not cut),
 * empty, missing, a directory. */
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

    CHECK_EQ_INT(rt_file_read(&buf, &len, dir, 10), AK_ERR_IO); /* a directory */
    unlink(path);
    CHECK_EQ_INT(rt_file_read(&buf, &len, path, 10), AK_ERR_IO); /* gone */
    CHECK(buf == NULL);
    rmdir(dir);
    return ak_test_report("test_rt_file");
}
