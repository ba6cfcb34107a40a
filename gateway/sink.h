/* citygate — the pipeline entry: where a reading enters the core.
 *
 * cg_sink_emit (include/citygate/adapter.h) refuses reserved measurement
 * names, lets configured static tags win over a point's own (per source:
 * renamed or removed static tags, payload_tags), normalises each point,
 * encodes it as line protocol and appends the batch to the journal, from which
 * every output reads. Whatever is not stored as it came is counted in the
 * pipeline's discard ledger (drops.h) and logged once per key. One cg_sink per
 * configured source; all share one cg_pipeline. */
#ifndef CG_SINK_H
#define CG_SINK_H

#include "journal.h"
#include "lineproto.h"
#include <citygate/adapter.h>
#include <stdatomic.h>

struct cg_norm;
struct cg_norm_source;
struct cg_drops;
struct cg_alarms;

struct cg_pipeline {
    struct cg_journal *journal; /* borrowed */
    struct cg_norm *norm;       /* borrowed; NULL = no normalisation */
    struct cg_drops *drops;     /* borrowed; the discard ledger (drops.h); NULL = not kept */
    struct cg_alarms *alarms;   /* borrowed; alarm rules (alarm.h); NULL = none */
    struct cg_lp_opts lp;       /* static tags borrowed from the config */
    const char *config_dir;
    const char *state_dir;
    bool dry_run;
    bool test_mode;  /* citygate --test (implies dry_run): poll once, now */
    bool check_only; /* --check-config: sources are created, never started */
    atomic_uint_fast64_t fields_nonfinite;
    atomic_uint_fast64_t uint_clipped;
};

struct cg_sink_counters {
    uint64_t points_in;       /* accepted into the journal */
    uint64_t points_rejected; /* invalid points (bad names, no fields, ...) */
    uint64_t points_refused;  /* dropped because the buffer stayed full */
    uint64_t points_filtered; /* held back by the normaliser (policy, reduction, budget) */
    int64_t last_ns;          /* wall time of the last accepted batch */
};

/* norm_src: the source's normalisation rules (borrowed, may be NULL). */
struct cg_sink *cg_sink_new(struct cg_pipeline *pl, const char *source_name, struct cg_norm_source *norm_src);
void cg_sink_free(struct cg_sink *s);                                       /* NULL-safe */
void cg_sink_counters(const struct cg_sink *s, struct cg_sink_counters *out);

/* Points that are already normalised (the normaliser's own: windows, gaps,
 * clock; the gateway's self metrics): encoded and appended without passing
 * through the normaliser again. sink may be NULL (gateway-wide points). */
int cg_sink_emit_normalised(struct cg_pipeline *pl, struct cg_sink *sink, const struct cg_point *points, size_t n,
                            int timeout_ms);

/* The last few encoded lines of this source (for the status page). */
void cg_sink_last_lines(struct cg_sink *s, char *out, size_t outsz);

#endif
