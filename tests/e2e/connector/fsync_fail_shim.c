/*
 * fsync_fail_shim.c - LD_PRELOAD fault injection for the audit tests: while the file named by
 * $AK_FSYNC_FAIL_FLAG exists, fdatasync() and fsync() fail with EIO (as a dying disk's would);
 * otherwise they are the real calls. Test-only; never part of the product.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void)
{
    const char *flag = getenv("AK_FSYNC_FAIL_FLAG");
    return flag != NULL && access(flag, F_OK) == 0;
}

int fdatasync(int fd)
{
    if (failing()) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real != NULL ? real(fd) : -1;
}

int fsync(int fd)
{
    if (failing()) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real != NULL ? real(fd) : -1;
}
