/* citygate — dropping root to the state directory's owner (see privdrop.h). */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cg_privdrop_to_owner(const char *state_dir, char *msg, size_t msglen)
{
    struct stat st;
    if (geteuid() != 0 || stat(state_dir, &st) < 0 || st.st_uid == 0) {
        return 0;
    }
    struct passwd *pw = getpwuid(st.st_uid);
    gid_t gid = pw ? pw->pw_gid : st.st_gid;
    char user[64], group[64];
    snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "?");
    struct group *gr = getgrgid(gid);
    snprintf(group, sizeof(group), "%s", gr ? gr->gr_name : "?");
    int rc = 0;
    /* the user's own supplementary groups (dialout for serial ports), no more */
    int groups = pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL);
    if (groups < 0 || setgid(gid) < 0 || setuid(st.st_uid) < 0) {
        rc = -errno;
    } else if (setuid(0) == 0) {
        rc = -EPERM; /* root could be regained: the switch did not hold */
    }
    if (rc < 0) {
        snprintf(msg, msglen,
                 "started as root on the state directory %s, which belongs to %s (uid %u), and cannot switch to "
                 "that user (%s): refusing to run as root and leave root-owned files there; start citygate as %s",
                 state_dir, user, (unsigned)st.st_uid, strerror(-rc), user);
        return rc;
    }
    snprintf(msg, msglen,
             "started as root on the state directory %s, which belongs to %s: running as %s:%s (uid %u, gid %u) "
             "from here on, so every file there stays theirs",
             state_dir, user, user, group, (unsigned)st.st_uid, (unsigned)gid);
    return 1;
}
