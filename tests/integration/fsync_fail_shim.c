/* LD_PRELOAD shim for buffer_fsync_fail: fdatasync fails with EIO while the
 * file named by CG_FSYNC_FAIL_FILE exists (a disk that reports write-back
 * errors). Test-only: the gateway has no hook of its own. */

#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int fdatasync(int fd);

int fdatasync(int fd)
{
    const char *f = getenv("CG_FSYNC_FAIL_FILE");
    if (f != NULL && access(f, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}
