/* citygate — the point: one normalised reading on its way to the database.
 *
 * Ownership: a struct cg_point and everything it points to are BORROWED by
 * whoever receives it (cg_sink_emit, the encoder). Receivers copy what they keep,
 * so an adapter can build points on its stack and reuse them after the call. */
#ifndef CITYGATE_POINT_H
#define CITYGATE_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits the core enforces on every point (checked in cg_sink_emit). */
#define CG_POINT_MAX_TAGS 64
#define CG_POINT_MAX_FIELDS 256
#define CG_POINT_MAX_NAME 256       /* measurement, tag key, field key, bytes */
#define CG_POINT_MAX_TAG_VALUE 1024 /* bytes */
#define CG_POINT_MAX_STRING 65536   /* string field value, bytes */

enum cg_field_type {
    CG_FIELD_FLOAT = 0, /* double; NaN and +-Inf are never written (counted) */
    CG_FIELD_INT,       /* int64, written with the `i` suffix */
    CG_FIELD_UINT,      /* uint64, written with the `u` suffix */
    CG_FIELD_BOOL,      /* written as t / f */
    CG_FIELD_STRING,    /* NUL-terminated UTF-8, quoted and escaped */
};

struct cg_tag {
    const char *key;
    const char *value; /* an empty value means "no such tag": omitted on output */
};

struct cg_field {
    const char *key;
    enum cg_field_type type;
    union {
        double f;
        int64_t i;
        uint64_t u;
        bool b;
        const char *s;
    } v;
    /* Unit the source reports this value in ("degF", "ppb", "kWh"...), or NULL
     * when it is already in the schema's canonical unit. The normaliser
     * converts to the canonical unit (docs/schema.md). */
    const char *unit;
};

struct cg_point {
    const char *measurement;
    const struct cg_tag *tags; /* any order; the encoder sorts them by key */
    size_t n_tags;
    const struct cg_field *fields; /* at least one must be writable */
    size_t n_fields;
    int64_t time_ns; /* Unix epoch nanoseconds, taken once when the reading was taken */
};

/* Convenience initialisers for adapter code. */
#define CG_FIELD_F(k, x) ((struct cg_field){.key = (k), .type = CG_FIELD_FLOAT, .v.f = (x)})
#define CG_FIELD_I(k, x) ((struct cg_field){.key = (k), .type = CG_FIELD_INT, .v.i = (x)})
#define CG_FIELD_U(k, x) ((struct cg_field){.key = (k), .type = CG_FIELD_UINT, .v.u = (x)})
#define CG_FIELD_B(k, x) ((struct cg_field){.key = (k), .type = CG_FIELD_BOOL, .v.b = (x)})
#define CG_FIELD_S(k, x) ((struct cg_field){.key = (k), .type = CG_FIELD_STRING, .v.s = (x)})

/* Current wall-clock time in Unix nanoseconds (CLOCK_REALTIME). */
int64_t cg_time_now_ns(void);
/* Monotonic time in milliseconds, for intervals and deadlines. */
int64_t cg_time_mono_ms(void);

#endif
