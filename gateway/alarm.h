/* citygate — alarm rules on normalised readings and the emergency lane.
 *
 * The sink hands every normalised point to cg_alarms_observe(); rules
 * (threshold with hysteresis, rate of rise over a window, stale sensor, and
 * all/any combinations per site) are evaluated per series (rule + measurement
 * + field + tags). A transition (raised / cleared) becomes one citygate_event
 * line appended to the alarm lane: a second, small journal (its own WAL
 * directory, fsync always) that every output reads before its main backlog
 * (output.c). docs/alarms.md describes the rules, docs/reliability.md the
 * lane's guarantees.
 *
 * Never doubled: an event's identity is alarm + series + state + transition
 * time (its line protocol series and timestamp), and the raised set lives in
 * a state file written tmp -> fsync -> rename, in two phases around the lane
 * append (see alarm.c), so that after kill -9 an alarm is neither lost nor
 * raised twice. Thread-safe (one mutex; transitions are rare). */
#ifndef CG_ALARM_H
#define CG_ALARM_H

#include "journal.h"
#include <citygate/config.h>
#include <citygate/point.h>
#include <stdbool.h>
#include <stdint.h>

#define CG_ALARM_MEASUREMENT "citygate_event"
#define CG_ALARM_MAX_RULES 64
#define CG_ALARM_MAX_WHERE 8
#define CG_ALARM_MAX_OF 8
#define CG_ALARM_SAMPLES 32 /* rate of rise: samples kept per series (window / 31 apart) */

struct cg_alarm_conf;
struct cg_alarms;

extern const struct cg_opt cg_alarm_options[]; /* alarms[i] keys, for --print-options */

/* Parses the top-level "alarms" array (NULL: none). Errors go to errs with
 * their JSON path. 0 or -EINVAL/-ENOMEM; *out untouched on failure. */
int cg_alarm_conf_parse(const cJSON *arr, const char *path, struct cg_alarm_conf **out, struct cg_errs *errs);
void cg_alarm_conf_free(struct cg_alarm_conf *c); /* NULL-safe */
size_t cg_alarm_conf_count(const struct cg_alarm_conf *c);

struct cg_alarm_env {
    const char *state_dir;          /* the state file: <state_dir>/alarms.state */
    const char *lane_dir;           /* the lane's WAL; NULL: in memory */
    const char *const *reader_names; /* one per output, as the main journal's */
    unsigned n_readers;
    const struct cg_tag *static_tags; /* copied */
    size_t n_static_tags;
    bool write_uint;
    size_t max_series; /* 0: CG_ALARM_DEFAULT_MAX_SERIES */
};
#define CG_ALARM_DEFAULT_MAX_SERIES 4096

/* Opens the lane and the state file, re-appends events a crash left pending.
 * Takes ownership of conf (freed with the engine, or here on failure): the
 * engine lives as long as the daemon, longer than the config it came from.
 * NULL with err set. */
struct cg_alarms *cg_alarms_new(struct cg_alarm_conf *conf, const struct cg_alarm_env *env, char *err,
                                size_t errlen);
void cg_alarms_free(struct cg_alarms *a); /* NULL-safe; flushes the lane */

/* A normalised point as written (borrowed). now_ns: wall clock of arrival. */
void cg_alarms_observe(struct cg_alarms *a, const struct cg_point *p, int64_t now_ns);
/* Stale-sensor checks and the lane's periodic duties (main loop, ~200 ms). */
void cg_alarms_tick(struct cg_alarms *a, int64_t now_ns);

/* The lane and this output's reader in it (-1: the output is not a reader,
 * e.g. added by a reload; it then gets no events until a restart). */
struct cg_journal *cg_alarms_lane(struct cg_alarms *a);
int cg_alarms_lane_reader(const struct cg_alarms *a, const char *output_name);

struct cg_alarms_stats {
    uint64_t raised, cleared; /* transitions since start */
    uint64_t active;          /* raised now */
    uint64_t series;          /* series followed */
    uint64_t series_refused;  /* readings not followed: max_series reached */
    uint64_t lane_errors;     /* events whose lane append or state write failed */
};
void cg_alarms_stats(struct cg_alarms *a, struct cg_alarms_stats *st);

/* The raised series now (the first max of them), for the status page. */
struct cg_alarm_active {
    char alarm[72];
    char series[160]; /* "key=value,key=value" of the series' tags */
    int64_t since_ns;
};
size_t cg_alarms_active(struct cg_alarms *a, struct cg_alarm_active *out, size_t max);

#endif
