/* citygate — the discard ledger: every reading, field or tag the core does not
 * store as it came is counted here by cause, with bounded source / measurement
 * / field labels, so that nothing is lost silently (docs/reliability.md,
 * "Nothing silent"). Also the names written unchanged because the schema does
 * not know them ("unmapped").
 *
 * Library-like: never logs. cg_drops_add() says when a key is new so that the
 * caller logs it once; a token bucket limits how many new keys are announced
 * per second (a key not announced is announced the next time it is counted
 * with a token free). Thread-safe (one short mutex). */
#ifndef CG_DROPS_H
#define CG_DROPS_H

#include "buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cg_drop_cause {
    /* written, but reported: names the schema does not know (schema_policy open) */
    CG_DROP_UNMAPPED_MEASUREMENT = 0,
    CG_DROP_UNMAPPED_FIELD,
    /* discarded */
    CG_DROP_SCHEMA_MEASUREMENT, /* schema_policy strict: point dropped */
    CG_DROP_SCHEMA_FIELD,       /* schema_policy strict: field dropped */
    CG_DROP_RESERVED_MEASUREMENT, /* a payload used one of citygate's own measurement names */
    CG_DROP_PROTECTED_TAG,      /* a payload tag gave way to a configured static tag */
    CG_DROP_CARDINALITY,        /* point held back by the cardinality budget */
    CG_DROP_PRIVACY_TAG,        /* privacy rule "drop" on a tag */
    CG_DROP_PRIVACY_FIELD,      /* privacy rule "drop", or a private schema field without a rule */
    CG_DROP_PRIVACY_OVERFLOW,   /* hashed/truncated text did not fit the point's text space */
    CG_DROP_UNIT,               /* unit unknown or not convertible at run time */
    CG_DROP_TYPE,               /* value type does not fit the schema type */
    CG_DROP_IMPOSSIBLE,         /* outside the physical limits, policy drop */
    CG_DROP_OUT_OF_RANGE,       /* outside the plausible range, policy drop */
    CG_DROP_TIME_FUTURE,        /* timestamp too far ahead, future_policy drop */
    CG_DROP_TIME_PAST,          /* timestamp too old, past_policy drop */
    CG_DROP_WINDOW_LATE,        /* value arrived after its aggregation window was written */
    CG_DROP_EMPTY_TAG,          /* tag with an empty value (line protocol cannot carry it) */
    CG_DROP_TAG_LIMIT,          /* tags past CG_POINT_MAX_TAGS */
    CG_DROP_FIELD_LIMIT,        /* fields past CG_POINT_MAX_FIELDS */
    CG_DROP_NONFINITE,          /* NaN / Inf field (line protocol cannot carry it) */
    CG_DROP_INVALID,            /* point refused by validation (names, duplicates, no fields...) */
    CG_DROP_PAYLOAD_SKIPPED,    /* a payload value the codec cannot store (JSON array or null) */
    CG_DROP_CAUSE_N,
};

/* "unmapped_measurement", "schema_field", ... (the cause label) */
const char *cg_drops_cause_name(enum cg_drop_cause c);
/* One line of what happens, for logs and docs ("not in the schema: written unchanged"). */
const char *cg_drops_cause_text(enum cg_drop_cause c);
/* Unmapped causes are reports, not losses (the values are written). */
bool cg_drops_cause_kept(enum cg_drop_cause c);

#define CG_DROPS_MAX_KEYS 512 /* distinct (cause, source, measurement, field); then label "other" */
#define CG_DROPS_LABEL_MAX 64 /* label bytes kept (longer names are cut, marked with "...") */
#define CG_DROPS_OTHER "other"

struct cg_drops;

struct cg_drops *cg_drops_new(void); /* NULL on ENOMEM */
void cg_drops_free(struct cg_drops *d); /* NULL-safe */

/* Counts n of cause for (source, measurement, field); any of them may be NULL
 * or "" (label ""). Past CG_DROPS_MAX_KEYS distinct keys, new keys count under
 * source/measurement/field "other". Returns true when the caller should log
 * this key now (first time seen, and the rate limit allows). now_ms: a
 * monotonic clock for the rate limit. */
bool cg_drops_add(struct cg_drops *d, enum cg_drop_cause c, const char *source, const char *measurement,
                  const char *field, uint64_t n, int64_t now_ms);

struct cg_drops_row {
    enum cg_drop_cause cause;
    char source[CG_DROPS_LABEL_MAX], measurement[CG_DROPS_LABEL_MAX], field[CG_DROPS_LABEL_MAX];
    uint64_t count;
};

/* A private copy of every row, largest count first (the top causes). *out is
 * malloc'd (caller frees; NULL when empty). 0 or -ENOMEM. */
int cg_drops_snapshot(const struct cg_drops *d, struct cg_drops_row **out, size_t *n);
/* Total per cause (out[CG_DROP_CAUSE_N]). */
void cg_drops_totals(const struct cg_drops *d, uint64_t out[CG_DROP_CAUSE_N]);

/* Prometheus text of the rows: citygate_discarded_total{cause,source,
 * measurement,field} and citygate_unmapped_total{kind,source,measurement,
 * field}, each family present (HELP/TYPE) even when empty. 0 or a buffer
 * error. */
int cg_drops_render_metrics(const struct cg_drops_row *rows, size_t n, struct cg_buf *out);

#endif
