/* citygate — the city schema (config/schema.json): measurements, their fields
 * with kind, canonical unit, type, plausible range, physical limits and
 * FIWARE names, and the common tag keys. Library-like: no logging; loading
 * errors go to cg_errs with their JSON path. docs/schema.md is rendered from
 * the loaded schema by cg_schema_render_md() (a unit test keeps it in sync). */
#ifndef CG_SCHEMA_H
#define CG_SCHEMA_H

#include "buf.h"
#include <citygate/config.h>
#include <citygate/point.h>
#include <stdbool.h>
#include <stddef.h>

#define CG_SCHEMA_MAX_BYTES (4 * 1024 * 1024) /* schema files larger than this are refused */
#define CG_SCHEMA_MAX_ALIASES 16              /* per field */

struct cg_schema_field {
    char *name;
    char *kind; /* units.h kind: "concentration", "temperature"... */
    char *unit; /* canonical unit ("" for text) */
    enum cg_field_type type;
    bool has_range, has_limits;
    double min, max; /* plausible range ("range": [min, max]) */
    double lo, hi;   /* physical limits ("limits": [lo, hi]); outside = impossible */
    double molar_mass_g_mol; /* gases: for ppb/ppm conversion; 0 = none */
    double max_step;         /* largest plausible change between two readings; 0 = none */
    bool private_data;       /* "private": identifiers that need a privacy rule */
    char *fiware;
    char *description;
    char *aliases[CG_SCHEMA_MAX_ALIASES];
    size_t n_aliases;
};

struct cg_schema_meas {
    char *name;
    char *description;
    char *fiware;
    char **tags; /* recommended tag keys */
    size_t n_tags;
    struct cg_schema_field *fields; /* in file order */
    size_t n_fields;
};

struct cg_schema_tag {
    char *key;
    char *description;
};

struct cg_schema {
    int version;
    char *source; /* file the schema came from, or "built-in" */
    struct cg_schema_meas *meas; /* in file order */
    size_t n_meas;
    struct cg_schema_tag *tags;
    size_t n_tags;
};

/* Parses schema text. file names the source in error paths ("schema.json:
 * measurements.air_quality.fields.no2.unit: ..."). Returns 0 with *out set, or
 * -EINVAL / -ENOMEM with every problem in errs. */
int cg_schema_parse(const char *text, size_t len, const char *file, struct cg_schema **out,
                    struct cg_errs *errs);
/* Reads and parses a file. -ENOENT when it does not exist (nothing added to
 * errs, so callers can try the next location), other -errno with an error. */
int cg_schema_load(const char *file, struct cg_schema **out, struct cg_errs *errs);
/* The copy of config/schema.json compiled into the binary. */
int cg_schema_load_builtin(struct cg_schema **out, struct cg_errs *errs);
void cg_schema_free(struct cg_schema *s); /* NULL-safe */

const struct cg_schema_meas *cg_schema_measurement(const struct cg_schema *s, const char *name);
/* By canonical name or alias. */
const struct cg_schema_field *cg_schema_field(const struct cg_schema_meas *m, const char *name);
bool cg_schema_tag_known(const struct cg_schema *s, const char *key);
/* "Did you mean": the schema name within two edits of name, the closest
 * (cg_conf_closest; aliases count, the canonical name is returned), or NULL.
 * m may be NULL (NULL returned). */
const char *cg_schema_closest_measurement(const struct cg_schema *s, const char *name);
const char *cg_schema_closest_field(const struct cg_schema_meas *m, const char *name);

/* Appends the Markdown tables of docs/schema.md (between its GENERATED
 * markers). 0 or a buffer error. */
int cg_schema_render_md(const struct cg_schema *s, struct cg_buf *out);

#endif
