/*
 * fdatasync_fail.c - LD_PRELOAD shim for test_ks_hsm.sh: fdatasync() (and fsync()) fail with
 * EIO while the file named by AK_FAIL_FSYNC_FILE exists, and behave normally otherwise, so a
 * test can let the key server start and then make its audit log's syncs fail, as a dying disk
 * would. Test-only; never part of the product.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void)
{
    const char *ctl = getenv("AK_FAIL_FSYNC_FILE");
    return ctl != NULL && access(ctl, F_OK) == 0;
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (failing() || real == NULL) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (failing() || real == NULL) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}
