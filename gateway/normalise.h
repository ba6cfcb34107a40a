/* citygate — the normaliser: one city schema for names, units, tags, time and
 * quality (docs/normalise.md, docs/schema.md).
 *
 * Every point an adapter hands to cg_sink_emit() passes cg_norm_point() first:
 * rename/map to schema names, unit conversion to the canonical unit, type
 * coercion to the schema type, privacy rules, time policy, plausibility
 * (range, physical limits, stuck, jumps) with a quality mark, the cardinality
 * budget, and per-source edge reduction (deadband with heartbeat, or windowed
 * aggregation). Windows, the clock-state point and gap records are produced
 * by cg_norm_tick() / cg_norm_gap_*() through an emit callback.
 *
 * Library-like: never logs; counters say what happened. Thread-safe:
 * cg_norm_point() may run on many adapter threads at once: names, privacy
 * hashing, units and types run without a lock, then one short lock for the
 * cardinality sets and one for the per-series state; cg_norm_tick() runs on
 * one thread (the main loop).
 *
 * Lifetimes: conf outlives the sources parsed against it and the cg_norm made
 * from it; free in the order cg_norm_free, cg_norm_source_free, cg_norm_conf_free. */
#ifndef CG_NORMALISE_H
#define CG_NORMALISE_H

#include "drops.h"
#include "schema.h"
#include <cjson/cJSON.h>
#include <citygate/adapter.h>
#include <citygate/config.h>
#include <citygate/point.h>
#include <stdbool.h>
#include <stdint.h>

/* Fields with different quality marks leave as separate points (one per mark),
 * so cg_norm_point() writes at most this many. */
#define CG_NORM_OUT_MAX 6
#define CG_NORM_TEXT_MAX 8192 /* bytes of hashed/truncated values per point */
#define CG_NORM_KEY_MAX 4096  /* series key "measurement,k=v,..." */
#define CG_NORM_SERIES_FIELDS 64 /* fields tracked per series (stuck, jump, reduction) */

enum cg_norm_quality {
    CG_NORM_Q_OK = 0,
    CG_NORM_Q_UNSYNCED,     /* read while the system clock was not synchronised */
    CG_NORM_Q_JUMP,         /* changed more than max_step since the last reading */
    CG_NORM_Q_STUCK,        /* same value stuck_polls times in a row */
    CG_NORM_Q_OUT_OF_RANGE, /* outside the plausible range */
    CG_NORM_Q_IMPOSSIBLE,   /* outside the physical limits (kept only if configured) */
    CG_NORM_Q_N,
};
/* "ok", "unsynced_clock", "jump", "stuck", "out_of_range", "impossible" */
const char *cg_norm_quality_name(enum cg_norm_quality q);

/* ---- configuration ------------------------------------------------------ */

struct cg_norm_conf;   /* the top-level "normalise" section + the loaded schema */
struct cg_norm_source; /* one source's "normalise" rules */

extern const struct cg_opt cg_norm_options[];        /* top-level section */
extern const struct cg_opt cg_norm_source_options[]; /* sources[i].normalise */

/* Parses the top-level "normalise" object (obj may be NULL: defaults) and
 * loads the schema: "schema_file" if set, else <config_dir>/schema.json, else
 * /usr/share/citygate/schema.json, else the copy compiled into citygate.
 * Every problem goes to errs with its JSON path. 0 with *out set, or -EINVAL /
 * -ENOMEM (*out untouched). */
int cg_norm_conf_parse(const cJSON *obj, const char *path, const char *config_dir,
                       struct cg_norm_conf **out, struct cg_errs *errs);
void cg_norm_conf_free(struct cg_norm_conf *c); /* NULL-safe */
const struct cg_schema *cg_norm_conf_schema(const struct cg_norm_conf *c);
/* The most memory the normaliser's state can take under this config, in
 * bytes (docs/normalise.md, "Memory"), and one line saying how it adds up
 * (explain may be NULL). */
size_t cg_norm_conf_memory_ceiling(const struct cg_norm_conf *c, char *explain, size_t len);
/* normalise.enabled: false means points pass through untouched and the
 * normaliser writes nothing of its own (no clock, gap or window points). */
bool cg_norm_conf_enabled(const struct cg_norm_conf *c);

/* Clock probe, replaceable for tests. Returns 1 synchronised, 0 not, <0 unknown. */
struct cg_norm_clock {
    int synced;          /* 1 yes, 0 no, -1 unknown (never checked, or probe failed) */
    int64_t maxerror_us; /* adjtimex maxerror */
    int64_t esterror_us; /* adjtimex esterror */
    int64_t checked_ns;  /* when (tick's now_ns) */
};
typedef int (*cg_norm_clock_fn)(void *ctx, struct cg_norm_clock *out);
/* Default: adjtimex() read-only; unsynchronised when it returns TIME_ERROR or
 * status has STA_UNSYNC. */
int cg_norm_clock_adjtimex(void *ctx, struct cg_norm_clock *out);
void cg_norm_conf_set_clock_probe(struct cg_norm_conf *c, cg_norm_clock_fn fn, void *ctx);

/* Parses sources[i].normalise (obj may be NULL: no source rules) against conf:
 * renamed names and declared units are checked against the schema, privacy
 * "hash" needs the conf's salt. name is the source's name (counters, budget
 * reports); copied. 0 with *out set, or -EINVAL / -ENOMEM. */
int cg_norm_source_parse(const struct cg_norm_conf *conf, const cJSON *obj, const char *path,
                         const char *name, struct cg_norm_source **out, struct cg_errs *errs);
void cg_norm_source_free(struct cg_norm_source *s); /* NULL-safe */
const char *cg_norm_source_name(const struct cg_norm_source *s);
/* An opaque pointer for the caller (e.g. its cg_sink), handed back with the
 * source in emit callbacks. */
void cg_norm_source_set_user(struct cg_norm_source *s, void *user);
void *cg_norm_source_user(const struct cg_norm_source *s);

/* Config-time check an adapter can use for the unit of a field it will emit
 * (e.g. a Modbus profile's "unit"): 0, or -EINVAL with a message in msg. A
 * field or measurement outside the schema is not an error (returns 0). */
int cg_norm_check_unit(const struct cg_norm_conf *c, const char *measurement, const char *field,
                       const char *unit, char *msg, size_t msgsz);

/* Static tags on this source's points (sources[i].normalise.static_tags):
 * 0 keep under key, 1 renamed (*new_key), -1 removed (*new_key NULL). s may
 * be NULL (keep). */
int cg_norm_source_static_tag(const struct cg_norm_source *s, const char *key, const char **new_key);
/* The keys the source's static_tags rules name (for checking them against
 * the configured tags): i in 0..cg_norm_source_static_rules()-1. */
size_t cg_norm_source_static_rules(const struct cg_norm_source *s);
const char *cg_norm_source_static_rule(const struct cg_norm_source *s, size_t i);
/* payload_tags: override (true) lets a point's own tag replace a configured
 * static tag of the same key; protect (false, the default) does not. */
bool cg_norm_source_payload_tags_override(const struct cg_norm_source *s);
/* The key a point's tag is written under after the source's "tags" renames
 * (key itself when not renamed; s may be NULL). */
const char *cg_norm_source_tag_key(const struct cg_norm_source *s, const char *key);

/* Config-time check of a name an adapter will write (a profile's field, an
 * MQTT rule's measurement and fields), after the source's renames. Returns 0
 * when the schema knows it, else the cause it will meet at run time
 * (CG_DROP_UNMAPPED_* under schema_policy open, CG_DROP_SCHEMA_* under
 * strict) with *meas_out / *field_out the names after renaming and *hint the
 * closest schema name or NULL. field may be NULL (the measurement only). */
int cg_norm_check_name(const struct cg_norm_conf *c, const struct cg_norm_source *src, const char *measurement,
                       const char *field, const char **meas_out, const char **field_out, const char **hint);

/* ---- the hot path -------------------------------------------------------- */

struct cg_norm;

/* Per-thread working storage for one cg_norm_point() call; the output points
 * borrow from it until the next call with the same scratch. About 40 KiB: make
 * it static _Thread_local or allocate it once per thread. No field needs
 * initialising. */
/* What cg_norm_point() did not write as it came (and the names it wrote
 * although the schema does not know them), for the caller's ledger
 * (drops.h) and its once-per-key log line. field is NULL for the whole point;
 * it borrows from the input point or the schema. */
#define CG_NORM_EVENTS_MAX 32
struct cg_norm_event {
    enum cg_drop_cause cause;
    const char *field;
    uint32_t n;
};

struct cg_norm_scratch {
    struct cg_norm_event ev[CG_NORM_EVENTS_MAX];
    size_t n_ev;
    const char *ev_measurement; /* the measurement the events are about (after renaming) */
    struct cg_tag tags[CG_NORM_OUT_MAX][CG_POINT_MAX_TAGS + 1];
    struct cg_field fields[CG_POINT_MAX_FIELDS];
    struct cg_field grouped[CG_POINT_MAX_FIELDS];
    unsigned char quality[CG_POINT_MAX_FIELDS];
    const struct cg_schema_field *fsf[CG_POINT_MAX_FIELDS]; /* pass 1 -> 2: the field's schema entry */
    unsigned char priv[CG_POINT_MAX_FIELDS];                /* pass 1 -> 2: hashed/truncated, no state */
    char text[CG_NORM_TEXT_MAX];
    char key[CG_NORM_KEY_MAX];
    size_t text_used;
};

struct cg_norm *cg_norm_new(const struct cg_norm_conf *c); /* conf borrowed; NULL on ENOMEM */
const struct cg_schema *cg_norm_schema(const struct cg_norm *n); /* NULL-safe */
const struct cg_norm_conf *cg_norm_conf_of(const struct cg_norm *n); /* NULL-safe */
void cg_norm_free(struct cg_norm *n);                        /* NULL-safe */

/* Normalises one point. src may be NULL (no source rules). now_ns is the
 * gateway's wall clock (cg_time_now_ns()), passed in so tests control time.
 * Writes up to CG_NORM_OUT_MAX points to out[] (one per quality mark present;
 * they borrow from scratch, conf and in) and returns how many: >= 1 keep
 * (encode out[0..rc)), 0 dropped or held back (counted; *why says why, static
 * text), or -ENOMEM. in is borrowed and not modified. Whatever it did not
 * write as it came is listed in scratch->ev[0..n_ev) whatever it returns. */
int cg_norm_point(struct cg_norm *n, struct cg_norm_source *src, const struct cg_point *in,
                  int64_t now_ns, struct cg_norm_scratch *scratch, struct cg_point out[CG_NORM_OUT_MAX],
                  const char **why);

/* Points the normaliser makes on its own (window aggregates, clock state,
 * gaps). src is the source the points belong to, NULL for gateway-wide ones.
 * The points are borrowed for the call. They are already normalised: the
 * callee must encode them directly, NOT pass them through cg_norm_point(). */
typedef void (*cg_norm_emit_fn)(void *ctx, struct cg_norm_source *src, const struct cg_point *pts,
                                size_t n);

/* Call about once a second from one thread: probes the clock, writes the
 * citygate_clock point every clock_report_s, and closes windows whose end +
 * window_grace_s has passed. emit is called without any normaliser lock held
 * (it may block on back-pressure). */
void cg_norm_tick(struct cg_norm *n, int64_t now_ns, cg_norm_emit_fn emit, void *ctx);

/* ---- gaps ----------------------------------------------------------------- */

enum cg_norm_gap_scope {
    CG_NORM_GAP_DEVICE = 0, /* one device stopped answering */
    CG_NORM_GAP_BUS,        /* a serial bus / TCP gateway / MQTT broker link is down */
    CG_NORM_GAP_SOURCE,     /* a whole source stopped (adapter restart, reload) */
    CG_NORM_GAP_UPLINK,     /* an output could not deliver (device = output name) */
};

struct cg_norm_gap {
    enum cg_norm_gap_scope scope;
    const char *source; /* may be NULL for the uplink */
    const char *device; /* device, bus or output name; may be NULL */
    const char *cause;  /* short token: timeout, connection_refused, http_503...; NULL = "unknown" */
};

/* A gap opens: writes citygate_gap (open=true) timestamped start_ns. Returns 0,
 * -EALREADY if this (scope, source, device) gap is already open (nothing
 * written), -ENOSPC past 4096 open gaps, -ENOMEM. */
int cg_norm_gap_begin(struct cg_norm *n, const struct cg_norm_gap *g, int64_t start_ns,
                      cg_norm_emit_fn emit, void *ctx);
/* The gap closes: writes the same series and timestamp again with end_ns,
 * duration_s and open=false (InfluxDB keeps the last write of a point, so the
 * open record is replaced). 0, or -ENOENT if no such gap is open. */
int cg_norm_gap_end(struct cg_norm *n, const struct cg_norm_gap *g, int64_t end_ns, cg_norm_emit_fn emit,
                    void *ctx);

/* Builds the citygate_device point for one health item (adapter health()). The
 * point borrows from h, source and scratch. */
void cg_norm_device_point(const char *source, const struct cg_health_item *h, int64_t now_ns,
                          struct cg_norm_scratch *scratch, struct cg_point *out);

/* ---- counters ------------------------------------------------------------- */

struct cg_norm_counters {
    uint64_t points_in, points_out, points_dropped;
    uint64_t unknown_measurements; /* points of measurements outside the schema */
    uint64_t unknown_fields_dropped, unknown_fields_kept;
    uint64_t unknown_measurements_dropped; /* schema_policy strict */
    uint64_t empty_tags, tags_over_limit, fields_over_limit;
    uint64_t unit_converted, unit_errors; /* unit errors: unknown unit at run time, field dropped */
    uint64_t type_coerced, type_mismatch; /* mismatch: field dropped */
    uint64_t out_of_range, impossible, stuck, jump;
    uint64_t values_dropped; /* by out_of_range / impossible policies */
    uint64_t time_future, time_past, time_clamped, time_dropped, unsynced;
    uint64_t cardinality_held;
    uint64_t privacy_hashed, privacy_truncated, privacy_dropped;
    uint64_t deadband_suppressed, heartbeats;
    uint64_t window_values, window_points, window_late, window_overrun;
    uint64_t series_full; /* new series not tracked: max_series or max_state_mb reached */
    uint64_t state_full;  /* a field's state not kept: 64 fields in the series, or max_state_mb */
    uint64_t series_evicted; /* idle series forgotten (series_idle_s) */
    uint64_t text_overflow;
};
void cg_norm_counters(const struct cg_norm *n, struct cg_norm_counters *out);
void cg_norm_source_counters(const struct cg_norm_source *s, struct cg_norm_counters *out);

/* Per sensor (series = measurement + tags): only series with something to
 * report are listed. Called under the normaliser lock: cb must not call back. */
struct cg_norm_sensor {
    const char *series; /* "air_quality,sensor_id=aq-7,site=x" */
    const char *source;
    uint64_t out_of_range, impossible, stuck, jump, dropped;
};
size_t cg_norm_sensors(struct cg_norm *n, void (*cb)(void *ctx, const struct cg_norm_sensor *s), void *ctx);

/* Cardinality budget per (measurement, tag key); only keys that held points
 * back are listed, with the source that last hit the cap and an example value. */
struct cg_norm_budget {
    const char *measurement, *tag_key, *source, *example;
    uint64_t values, limit, held_back;
};
size_t cg_norm_budgets(struct cg_norm *n, void (*cb)(void *ctx, const struct cg_norm_budget *b), void *ctx);

void cg_norm_clock_state(const struct cg_norm *n, struct cg_norm_clock *out);

#endif
