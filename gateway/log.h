/* citygate — logging setup (core only; adapters use include/citygate/log.h). */
#ifndef CG_LOG_INTERNAL_H
#define CG_LOG_INTERNAL_H
#include <citygate/log.h>
#include <stdbool.h>

/* Sets the threshold. Called from main before threads start. */
void cg_log_set_level(enum cg_log_level level);
/* "error", "warn", "info", "debug" -> level; -EINVAL otherwise. */
int cg_log_parse_level(const char *s, enum cg_log_level *out);
#endif
