/* citygate modbus — serial port locks (see seriallock.h). */
#include "seriallock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const lock_dirs[] = {"/run/lock", "/var/lock"};

/* LCK..ttyUSB0 for /dev/ttyUSB0, LCK..pts_3 for /dev/pts/3 */
static int lock_name(const char *device, char *out, size_t n)
{
    char real[PATH_MAX];
    if (!realpath(device, real)) {
        return -errno;
    }
    const char *name = strncmp(real, "/dev/", 5) == 0 ? real + 5 : real + 1;
    int w = snprintf(out, n, "LCK..%s", name);
    if (w < 0 || (size_t)w >= n) {
        return -ENAMETOOLONG;
    }
    for (char *p = out + 5; *p; p++) {
        if (*p == '/') {
            *p = '_';
        }
    }
    return 0;
}

/* The pid in a lock file (HDB format: ASCII, 10 wide), 0 if unreadable. */
static pid_t read_pid(const char *file)
{
    char buf[32] = "";
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

static bool alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int cg_mb_lock_take(struct cg_mb_lock *l, const char *device, pid_t *holder)
{
    char name[300], tmp[600];
    int rc = lock_name(device, name, sizeof name);
    *holder = 0;
    if (rc < 0) {
        return rc;
    }
    const char *dir = lock_dirs[0];
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        dir = lock_dirs[1];
    }
    snprintf(l->file, sizeof l->file, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/LTMP.%ld", dir, (long)getpid());
    /* write the pid to a private file, then link it into place: the lock file
     * never exists half-written, and link() fails if someone holds it */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return -errno;
    }
    char line[16];
    int len = snprintf(line, sizeof line, "%10ld\n", (long)getpid());
    if (write(fd, line, (size_t)len) != len) {
        rc = errno ? -errno : -EIO;
        close(fd);
        unlink(tmp);
        return rc;
    }
    close(fd);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (link(tmp, l->file) == 0) {
            unlink(tmp);
            l->held = true;
            return 0;
        }
        if (errno != EEXIST) {
            rc = -errno;
            break;
        }
        pid_t pid = read_pid(l->file);
        if (alive(pid)) {
            *holder = pid;
            rc = -EBUSY;
            break;
        }
        /* stale: its owner is gone (or it holds no pid at all) */
        unlink(l->file);
        rc = -EBUSY;
    }
    unlink(tmp);
    return rc;
}

void cg_mb_lock_release(struct cg_mb_lock *l)
{
    if (l && l->held) {
        if (read_pid(l->file) == getpid()) {
            unlink(l->file);
        }
        l->held = false;
    }
}

pid_t cg_mb_lock_find_user(const char *device)
{
    char real[PATH_MAX], link_path[300], target[PATH_MAX];
    if (!realpath(device, real)) {
        return 0;
    }
    DIR *proc = opendir("/proc");
    if (!proc) {
        return 0;
    }
    pid_t found = 0, self = getpid();
    struct dirent *pe;
    while (!found && (pe = readdir(proc)) != NULL) {
        long pid = strtol(pe->d_name, NULL, 10);
        if (pid <= 0 || pid == self) {
            continue;
        }
        char fds[64];
        snprintf(fds, sizeof fds, "/proc/%ld/fd", pid);
        DIR *fd_dir = opendir(fds);
        if (!fd_dir) {
            continue;
        }
        struct dirent *fe;
        while ((fe = readdir(fd_dir)) != NULL) {
            snprintf(link_path, sizeof link_path, "%s/%s", fds, fe->d_name);
            ssize_t n = readlink(link_path, target, sizeof target - 1);
            if (n > 0) {
                target[n] = '\0';
                if (strcmp(target, real) == 0) {
                    found = (pid_t)pid;
                    break;
                }
            }
        }
        closedir(fd_dir);
    }
    closedir(proc);
    return found;
}
