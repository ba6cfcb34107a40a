/* citygate modbus — one master per serial line: the UUCP lock-file convention
 * (LCK..<name> holding the owner's pid, in /run/lock or /var/lock, as used by
 * minicom, picocom, ModemManager and lockdev) plus TIOCEXCL on the open port.
 * Library-like: no logging; errors say who holds the port. */
#ifndef CG_MODBUS_SERIALLOCK_H
#define CG_MODBUS_SERIALLOCK_H

#include <stdbool.h>
#include <sys/types.h>

struct cg_mb_lock {
    char file[512]; /* the lock file, when held */
    bool held;
};

/* Takes the lock of device (symlinks resolved, so two names of one port share
 * it). A lock whose pid no longer exists is stale and taken over.
 *   0        held now
 *   -EBUSY   held by *holder (another process, or this one for another source)
 *   -errno   cannot create it (*file says where it was tried) */
int cg_mb_lock_take(struct cg_mb_lock *l, const char *device, pid_t *holder);
void cg_mb_lock_release(struct cg_mb_lock *l); /* NULL-safe, idempotent */

/* A process that has device open, other than this one; 0 if none is found. */
pid_t cg_mb_lock_find_user(const char *device);

#endif
