/* citygate — started as root on a state directory that belongs to the service
 * user: become that user before anything is written there (issue 11: one run
 * as root left root-owned buffer segments the service could not open). */
#ifndef CG_PRIVDROP_H
#define CG_PRIVDROP_H

#include <stddef.h>

/* If the process runs as root and state_dir exists and belongs to another
 * user, switches to that user (its primary group and its own supplementary
 * groups, e.g. dialout) for good. Returns 1 when it switched, 0 when there was
 * nothing to do (not root, or the directory belongs to root), -errno when it
 * could not (then the caller must refuse to run). msg (when 1 or < 0) says which, for the log. */
int cg_privdrop_to_owner(const char *state_dir, char *msg, size_t msglen);

#endif
