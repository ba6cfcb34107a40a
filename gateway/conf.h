/* citygate — the whole configuration file: gateway settings, static tags,
 * outputs and sources. Loaded into a fresh struct so that a reload can be
 * validated completely before anything running is touched. */
#ifndef CG_CONF_H
#define CG_CONF_H

#include <cjson/cJSON.h>
#include <citygate/adapter.h>
#include <citygate/config.h>
#include <citygate/point.h>
#include <stdbool.h>
#include <stdint.h>

struct cg_output_conf;
struct cg_http_conf;
struct cg_norm_conf;
struct cg_norm_source;
struct cg_alarm_conf;

/* Enum options store these values (the tables' .values), named, so no code
 * compares positions. */
enum cg_secret_files { CG_SECRET_FILES_WARN = 0, CG_SECRET_FILES_REFUSE = 1 };
enum cg_unsynced_clock { CG_UNSYNCED_DEGRADE = 0, CG_UNSYNCED_IGNORE = 1 };
enum cg_buffer_mode { CG_BUFFER_DISK = 0, CG_BUFFER_MEMORY = 1 };

struct cg_gateway_conf {
    char *id;
    char *state_dir;
    int log_level; /* index into the level names: error, warn, info, debug */
    int64_t backpressure_wait_ms;
    int64_t drain_timeout_ms;
    int64_t self_metrics_interval_s;
    bool gap_records;
    bool write_uint;
    int secret_files;   /* enum cg_secret_files: a secret file others can read */
    int unsynced_clock; /* enum cg_unsynced_clock: whether an unsynchronised clock fails /healthz */
};

struct cg_buffer_conf {
    int mode;          /* enum cg_buffer_mode */
    char *dir;         /* default <state_dir>/buffer */
    int64_t max_bytes; /* 0 = default for the mode */
    int64_t max_age_s;
    int64_t segment_bytes;
    int fsync;         /* enum cg_journal_fsync */
    int64_t live_first_after_s;
    int64_t replay_max_lines_per_s;
    int64_t replay_max_bytes_per_s;
    int64_t fsync_interval_ms;
};

struct cg_source_conf {
    cJSON *json; /* owned copy of sources[i] without the core's "normalise" key */
    struct cg_norm_source *norm; /* sources[i].normalise rules; owned */
    char *name;
    const struct cg_adapter *adapter;
    char path[32]; /* "sources[3]" */
};

struct cg_config {
    char *file;
    char *dir; /* directory of file */
    cJSON *doc;
    struct cg_gateway_conf gw;
    struct cg_buffer_conf buffer;
    struct cg_tag *tags; /* static tags, owned strings; includes gateway=<id> */
    size_t n_tags;
    struct cg_output_conf **outputs;
    size_t n_outputs;
    struct cg_source_conf *sources;
    size_t n_sources;
    struct cg_http_conf *http;
    struct cg_norm_conf *norm;
    struct cg_alarm_conf *alarms; /* alarm rules (alarm.h); never NULL after a successful load */
};

extern const struct cg_opt cg_gateway_options[];
extern const struct cg_opt cg_buffer_options[];
extern const struct cg_opt cg_conf_top_options[]; /* the file's top level: its sections */
extern const char *const cg_log_level_names[];

/* The file's bytes as read, kept so that errors can say where their path is
 * (conf_locate.h): the text the user edits, before any ${ENV} expansion. */
struct cg_config_text {
    char *data; /* owned, NUL-terminated; NULL when the file could not be read */
    size_t len;
};
void cg_config_text_done(struct cg_config_text *t); /* frees data; NULL-safe, reusable */

/* Reads and validates file. On success *out is set and 0 returned; otherwise
 * every problem is in errs and -EINVAL (or -errno for I/O) is returned. The
 * sources' own sections are only checked for "type"/"name" here: the adapters'
 * create() validates the rest. raw (may be NULL; must start zeroed) receives
 * the file's text whenever it could be read, on success and failure alike;
 * the caller frees it with cg_config_text_done() once the errors are out. */
int cg_config_load(const char *file, struct cg_config **out, struct cg_config_text *raw, struct cg_errs *errs);
/* As cg_config_load, but when the file is JSON and only its content is wrong
 * (-EINVAL), *out still receives what could be read (sections with errors
 * hold defaults or are left out), so that the caller can create the sources
 * and list their errors too: one run lists every error in every section. The
 * caller frees *out whatever the return value. */
int cg_config_load_partial(const char *file, struct cg_config **out, struct cg_config_text *raw,
                           struct cg_errs *errs);
void cg_config_free(struct cg_config *c); /* NULL-safe */

/* Writes the top level of the config's JSON Schema into root (an object):
 * every section from the option tables; outputs[] and sources[] items are
 * plain objects, filled in by conf_schema.c. 0 or -ENOMEM. */
int cg_conf_top_schema(cJSON *root);
/* The JSON Schema (draft 2020-12) of the whole config file, as text (caller
 * frees), or NULL when out of memory. citygate --print-schema prints it. */
char *cg_conf_schema_text(void);

#endif
