/* citygate — the daemon's private parts, shared by the files that used to be
 * main.c: cli.c (command line, usage, --print-options, --check-config, how
 * config errors are shown), daemon.c (generations, the journal, the main
 * loop), reload.c (SIGHUP), selfmetrics.c (counters across reloads, the
 * status snapshot, gap records, self-metric points, the status line).
 *
 * Everything a config builds (normaliser, sources, outputs) forms one
 * "generation". SIGHUP loads and validates a new config and builds the new
 * generation's sources before touching the running one; only then the old one
 * is stopped and the new one started. The journal (with everything not yet
 * sent) outlives generations. Not an API: nothing outside the daemon uses it. */
#ifndef CG_DAEMON_H
#define CG_DAEMON_H

#include "conf.h"
#include "conf_locate.h"
#include "http_status.h"
#include "journal.h"
#include "log.h"
#include "normalise.h"
#include "notify.h"
#include "output.h"
#include "privdrop.h"
#include "registry.h"
#include "sink.h"
#include "status.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct source {
    const struct cg_source_conf *conf;
    struct cg_sink *sink;
    void *state;
    int started;
};

/* What one config builds. */
struct gen {
    struct cg_config *conf;
    struct cg_pipeline pl;
    struct cg_norm *norm;
    struct source *sources;
    size_t n_sources;
    struct cg_output **outputs;
    size_t n_outputs;
};

/* An up/down state we follow to write gap records (device, uplink). */
struct tracked {
    char key[300];
    int up;
    int seen;
};

struct daemon {
    pthread_mutex_t lock; /* guards g and journal against the HTTP thread */
    struct gen *g;
    struct cg_journal *journal;
    struct cg_alarms *alarms; /* daemon lifetime: rules and lane from the config it started with */
    bool dry_run;
    bool test; /* --test (dry_run is set too) */
    pthread_t dry_thread;
    int dry_started;
    int64_t started_ns;
    struct cg_http *http;
    /* The HTTP server runs for the daemon's lifetime with the settings it
     * started with (generations come and go under it): the daemon owns them. */
    struct cg_http_conf *http_conf;
    cJSON *http_json; /* that section as written, to tell a reload it changed */
    struct tracked *tracked;
    size_t n_tracked;
    /* What earlier generations counted, by source and output name, so that
     * counters are cumulative across reloads (guarded by lock). */
    struct carried_src *carried_src;
    size_t n_carried_src;
    struct carried_out *carried_out;
    size_t n_carried_out;
    struct cg_norm_counters carried_norm;
    struct carried_dev *carried_dev;
    size_t n_carried_dev;
    uint64_t carried_nonfinite, carried_clipped;
    enum cg_status_clock clock_logged; /* the clock state last logged */
};

/* The command line, as cg_cli_parse read it. */
struct cg_cli {
    const char *config; /* --config */
    const char *check;  /* --check-config */
    const char *level;  /* --log-level */
    bool dry_run;
    bool test;
    long run_for_s;
    long test_wait_s;
};

/* ---- cli.c ----------------------------------------------------------------- */
int cg_cli_parse(int argc, char **argv, struct cg_cli *cli);
int cg_cli_check_config(const char *file);
void cg_cli_log_errs(const char *what, const struct cg_config_text *raw, struct cg_errs *errs);
void cg_cli_log_warnings(const struct cg_errs *errs);
void cg_cli_print_errs(const char *file, const struct cg_config_text *raw, struct cg_errs *errs);
int cg_cli_print_options(void);
int cg_cli_print_schema(void); /* citygate --print-schema: 0, or 1 when out of memory */
void cg_cli_usage(FILE *f);

/* ---- daemon.c -------------------------------------------------------------- */
struct gen *cg_daemon_gen_create(struct cg_config *conf, bool dry_run, bool test, bool check_only,
                              struct cg_errs *errs);
void cg_daemon_gen_free(struct gen *g);
int cg_daemon_gen_start(struct gen *g, struct cg_journal *j, bool dry_run);
void cg_daemon_gen_stop_outputs(struct gen *g, int drain_ms);
void cg_daemon_gen_stop_sources(struct gen *g);
int cg_daemon_load_conf(const char *file, struct cg_config **out, struct cg_config_text *raw, struct cg_errs *errs);
struct cg_journal *cg_daemon_open_journal(const struct cg_config *conf, bool dry_run);
int cg_daemon_run(const char *file, bool dry_run, bool test, long run_for_s, const char *level_override);

/* ---- reload.c -------------------------------------------------------------- */
void cg_reload(struct daemon *d, const char *file);

/* ---- selfmetrics.c --------------------------------------------------------- */
void cg_selfmetrics_carry(struct daemon *d, struct gen *g);
int cg_selfmetrics_collect(void *ctx, struct cg_status *st);
void cg_selfmetrics_log_summary(struct daemon *d, struct gen *g);
void cg_selfmetrics_second_tick(struct daemon *d);
void cg_selfmetrics_write(struct daemon *d);
void cg_selfmetrics_status_line(struct daemon *d, char *out, size_t n);

#endif
