/* citygate — the adapters compiled into this binary (generated registry.c). */
#ifndef CG_REGISTRY_H
#define CG_REGISTRY_H
#include <citygate/adapter.h>
/* NULL-terminated list, static storage. */
const struct cg_adapter *const *cg_registry_adapters(void);
/* The sub-command called name of a compiled-in adapter whose API version this
 * core accepts, or NULL. */
const struct cg_adapter_command *cg_registry_command(const char *name);
#endif
