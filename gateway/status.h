/* citygate — a snapshot of the gateway's state, for /healthz, /metrics, the
 * status page and sd_notify STATUS lines. main.c fills it (it owns the parts);
 * readers get a private copy, so rendering never holds a lock of the data path. */
#ifndef CG_STATUS_H
#define CG_STATUS_H

#include "alarm.h"
#include "drops.h"
#include "journal.h"
#include "output.h"
#include "sink.h"
#include <citygate/adapter.h>
#include <citygate/log.h>
#include <stdint.h>

/* One health item of a source: a device, or a link, subscription or rule
 * (kind). The name is kept for "device" as the JSON and C field name. */
struct cg_status_device {
    char name[128];
    enum cg_health_kind kind;
    bool up, quarantined;
    uint64_t ok, failed, consecutive_failures;
    uint64_t stray_frames, skipped;
    double latency_ms;
    int64_t last_ok_ns;
    char last_error[256];
};

struct cg_status_source {
    char name[128];
    char type[32];
    struct cg_sink_counters counters;
    char last_lines[4096]; /* the last few encoded lines of this source (status page) */
    struct cg_status_device *devices; /* owned */
    size_t n_devices;
};

struct cg_status_output {
    char name[128];
    char url[256]; /* without credentials */
    struct cg_output_stats st;
    int64_t oldest_unsent_ns; /* append time of the oldest reading not yet sent; 0 = none */
};

/* The system clock as the normaliser last probed it (normalise.clock_check).
 * Zero is "not checked", so a zeroed snapshot claims nothing. */
enum cg_status_clock {
    CG_STATUS_CLOCK_UNCHECKED = 0,
    CG_STATUS_CLOCK_SYNCED,
    CG_STATUS_CLOCK_UNSYNCED,
};

struct cg_status {
    char gateway_id[128];
    char version[32];
    int64_t now_ns, started_ns;
    struct cg_journal_stats journal;
    bool has_alarms; /* alarms configured */
    struct cg_alarms_stats alarms;
    struct cg_alarm_active active_alarms[20];
    size_t n_active_alarms;
    uint64_t fields_nonfinite, uint_clipped;
    enum cg_status_clock clock;
    bool clock_ignored; /* gateway.unsynced_clock: "ignore": an unsynced clock does not fail health */
    double cpu_user_s, cpu_system_s;
    uint64_t rss_bytes;
    struct cg_status_source *sources; /* owned */
    size_t n_sources;
    struct cg_status_output *outputs; /* owned */
    size_t n_outputs;
    /* the discard ledger (drops.h), largest count first: the top causes */
    struct cg_drops_row *drops; /* owned */
    size_t n_drops;
};

/* Fills st (zeroed by the callee first). 0 or -ENOMEM. Thread-safe. */
typedef int (*cg_status_collect_fn)(void *ctx, struct cg_status *st);

void cg_status_done(struct cg_status *st); /* frees the arrays; NULL-safe */

/* Adds the process' CPU time and RSS (from /proc/self). */
void cg_status_add_process(struct cg_status *st);

/* "ok" or "degraded"; reasons (one per line, static buffer of the caller)
 * name what is wrong: outputs down, devices down, buffer over 80 %, ... */
/* Age in seconds of the oldest reading this output has not sent (0: none). */
int64_t cg_status_oldest_unsent_s(const struct cg_status *st, const struct cg_status_output *o);
/* How long this output has been failing (0: up). */
int64_t cg_status_output_down_s(const struct cg_status *st, const struct cg_status_output *o);

bool cg_status_healthy(const struct cg_status *st, char *reasons, size_t reasons_len);

/* "device", "link", "subscription", "rule" (the kind label). */
const char *cg_status_kind_name(enum cg_health_kind kind);

/* What is worth saying but does not fail health (an unsynchronised clock with
 * gateway.unsynced_clock "ignore"): one per line, like the reasons. */
void cg_status_notes(const struct cg_status *st, char *notes, size_t notes_len);

/* For one log line on each change of the clock state: when now differs from
 * *last, updates *last and returns the line (static text) with its level in
 * *level; NULL when there is nothing to say (no change, or not checked). */
const char *cg_status_clock_transition(enum cg_status_clock *last, enum cg_status_clock now, bool ignored,
                                       enum cg_log_level *level);

#endif
