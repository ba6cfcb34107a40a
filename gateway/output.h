/* citygate — outputs: the generic delivery engine and the output-type interface.
 *
 * An output reads lines from its journal reader, batches them by size
 * (batch_lines / batch_bytes) and by age (flush_interval_ms since the first
 * unsent line), hands each batch to its type's send(), and commits the journal
 * only once the batch is delivered or dead-lettered. Everything around send()
 * lives here, once, for every type: batching, retry with exponential backoff +
 * full jitter (or the server's own delay), 413-style splitting, bisection of a
 * rejected batch down to the poison lines (those go to the dead-letter file,
 * up to its cap), drain on stop, statistics.
 *
 * A type (InfluxDB v1/v2 over HTTP, MQTT uplink, yours) is one const struct
 * cg_output_type: an options table and a const struct of operations. Its
 * send() answers each batch with a verdict (OK / RETRY / REJECT / SPLIT /
 * HOLD). docs/outputs.md describes the interface for a new type.
 *
 * The core (main.c) only talks to this header; it knows no output's name. */
#ifndef CG_OUTPUT_H
#define CG_OUTPUT_H

#include "journal.h"
#include <citygate/config.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_OUTPUT_API_VERSION 1

/* What send() says about one batch (or part of one). */
enum cg_output_verdict {
    CG_OUTPUT_OK = 0, /* delivered: commit */
    CG_OUTPUT_SPLIT,  /* too large for the server: split in halves, down to single lines */
    CG_OUTPUT_REJECT, /* the data is the problem: bisect, dead-letter the rejected lines */
    CG_OUTPUT_HOLD,   /* configuration problem (auth, wrong url): keep the data, log
                         loudly, retry at retry_max_ms */
    CG_OUTPUT_RETRY,  /* transient (server busy, down, unreachable): backoff with jitter */
};
const char *cg_output_verdict_name(enum cg_output_verdict v);

#define CG_OUTPUT_REASON_MAX 300 /* reason text kept in logs and the dead-letter file */

/* Filled by send(); the engine zeroes it before each call. */
struct cg_output_result {
    enum cg_output_verdict verdict;
    int status;             /* the protocol's status (HTTP code, MQTT return code); 0 = no answer */
    int64_t retry_after_ms; /* > 0: the server asked for this delay (capped by the engine) */
    uint64_t bytes_sent;    /* bytes that went over the wire for an OK batch (after gzip) */
    char reason[CG_OUTPUT_REASON_MAX + 1]; /* the server's words or the transport error; no secrets */
};

/* The settings every output has. A type's conf struct starts with this member
 * and its option table includes CG_OUTPUT_COMMON_OPTIONS. */
struct cg_output_common {
    char *name;
    int64_t batch_lines;
    int64_t batch_bytes;
    int64_t flush_interval_ms;
    int64_t retry_initial_ms;
    int64_t retry_max_ms;
    char *dead_letter_file;
    int64_t dead_letter_max_bytes;
    int64_t bisect_max_requests;
};

#define CG_OUTPUT_OFF(m) offsetof(struct cg_output_common, m)
/* Option rows for struct cg_output_common: the name (name_def is its default)
 * and the engine's settings, for the type's table. */
#define CG_OUTPUT_NAME_OPTION(name_def)                                                                         \
    {.name = "name", .type = CG_OPT_STRING, .offset = CG_OUTPUT_OFF(name), .def = name_def,                    \
     .doc = "output name (A-Z a-z 0-9 _ . -, up to 64); used in logs, stats and the dead-letter file name"}
#define CG_OUTPUT_COMMON_OPTIONS                                                                                \
        {.name = "batch_lines", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(batch_lines), .def = "5000",      \
         .min = 1, .max = 1000000, .doc = "a batch is sent when it holds this many lines"},                   \
        {.name = "batch_bytes", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(batch_bytes), .def = "4194304",   \
         .min = 1024, .max = 268435456,                                                                       \
         .doc = "... or this many bytes of line protocol (before gzip); a longer single line goes alone"},    \
        {.name = "flush_interval_ms", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(flush_interval_ms),         \
         .def = "1000", .min = 1, .max = 3600000, .doc = "... or when its first line has waited this long"},  \
        {.name = "retry_initial_ms", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(retry_initial_ms),           \
         .def = "500", .min = 1, .max = 3600000, .doc = "first retry waits up to this long"},                 \
        {.name = "retry_max_ms", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(retry_max_ms), .def = "60000",   \
         .min = 1, .max = 3600000,                                                                            \
         .doc = "longest backoff between retries; also the pace of retries after 401/403/404"},              \
        {.name = "dead_letter_file", .type = CG_OPT_STRING, .offset = CG_OUTPUT_OFF(dead_letter_file),        \
         .doc = "where rejected lines go (default <state_dir>/deadletter-<name>.lp)"},                        \
        {.name = "dead_letter_max_bytes", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(dead_letter_max_bytes), \
         .def = "104857600", .min = 0, .max = 1099511627776.0,                                                \
         .doc = "the dead-letter file stops growing here; further rejected lines are only counted"},          \
        {.name = "bisect_max_requests", .type = CG_OPT_INT, .offset = CG_OUTPUT_OFF(bisect_max_requests),     \
         .def = "200", .min = 1, .max = 100000,                                                               \
         .doc = "requests one batch may spend isolating rejected lines; the rest is dead-lettered whole"}

struct cg_output; /* the engine's handle of one running output */

/* A type's operations. The engine calls open/send/close from the output's own
 * thread only, one at a time. */
struct cg_output_ops {
    /* Parses obj (an outputs[i] object; its "type" names this type) with the
     * type's option table, plus the type's own checks; every error goes to
     * errs with its path. On success *conf is a new conf whose first member is
     * struct cg_output_common; on failure -EINVAL/-ENOMEM and *conf untouched.
     * No I/O beyond checking files named in the config (--check-config). */
    int (*conf_parse)(const cJSON *obj, const char *path, struct cg_output_common **conf, struct cg_errs *errs);
    void (*conf_free)(struct cg_output_common *conf); /* NULL-safe */
    /* Where the data goes, for logs and the status page; never credentials. */
    const char *(*target)(const struct cg_output_common *conf);
    /* Sets up the connection state (lazily: no blocking I/O needed here).
     * conf and engine outlive the state. 0 or -errno. */
    int (*open)(const struct cg_output_common *conf, struct cg_output *engine, void **state);
    /* Delivers lines[0..len) (nlines complete '\n'-terminated lines of line
     * protocol, nanosecond timestamps) and fills res. Returns 0 (res says how
     * it went) or -ECANCELED when cg_output_cancelled() turned true meanwhile
     * (then nothing counts as delivered). Must return within the type's own
     * timeout even when the server hangs. */
    int (*send)(void *state, const char *lines, size_t len, size_t nlines, struct cg_output_result *res);
    void (*close)(void *state); /* NULL-safe */
    /* Optional: a hint appended to the HOLD log line, e.g. " (check token)". */
    const char *(*hold_hint)(const struct cg_output_common *conf, int status);
    /* Optional: true = this output sends only the alarm lane (alarm.h); the
     * engine passes over its readings without calling send(). */
    bool (*events_only)(const struct cg_output_common *conf);
};

struct cg_output_type {
    unsigned api_version;             /* CG_OUTPUT_API_VERSION */
    const char *name;                 /* the "type" value in outputs[] */
    const char *summary;              /* one line for --print-options */
    const char *status_word;          /* how logs name the status: "HTTP", "MQTT rc" */
    const struct cg_opt *options;     /* keys of outputs[i]; NULL-terminated */
    const struct cg_output_ops *ops;
};

/* The compiled-in output types, NULL-terminated, static storage. */
const struct cg_output_type *const *cg_output_types(void);

/* ---- for the core ------------------------------------------------------- */

struct cg_output_conf; /* parsed outputs[i]: its type and the type's conf */

/* Parses an outputs[i] object: "type" picks the type from the registry, the
 * type parses its keys, the engine checks the common ones. Same contract as
 * cg_output_ops.conf_parse (caller frees *out with cg_output_conf_free). */
int cg_output_conf_parse(const cJSON *obj, const char *path, struct cg_output_conf **out, struct cg_errs *errs);
void cg_output_conf_free(struct cg_output_conf *c); /* NULL-safe */
const char *cg_output_conf_name(const struct cg_output_conf *c); /* NULL for NULL */
const char *cg_output_conf_target(const struct cg_output_conf *c);
const struct cg_output_type *cg_output_conf_type(const struct cg_output_conf *c);

/* Borrows conf and j (both must outlive the output). reader is this output's
 * journal reader. state_dir holds the default dead-letter file. NULL on
 * allocation failure or when the type cannot set up. */
struct cg_output *cg_output_new(const struct cg_output_conf *conf, struct cg_journal *j, unsigned reader,
                                const char *state_dir);
/* The alarm lane (alarm.h) and this output's reader in it: its lines go out
 * before anything from the main journal. Borrowed; call before start. */
void cg_output_set_lane(struct cg_output *o, struct cg_journal *lane, unsigned reader);
/* Starts the output's thread. 0 or -errno. */
int cg_output_start(struct cg_output *o);
/* Delivers what it can within drain_ms (no new waiting for the flush interval),
 * then stops the thread. Returns within about drain_ms + 1 s even if the
 * server hangs: a send in flight at the deadline is cancelled and its lines
 * stay uncommitted in the journal. Safe to call when not started; idempotent. */
void cg_output_stop(struct cg_output *o, int drain_ms);
void cg_output_free(struct cg_output *o); /* stops with drain 0 if running; NULL-safe */

struct cg_output_stats {
    uint64_t lines_sent;          /* accepted by the server, each line counted once */
    uint64_t batches_sent;        /* batches committed with at least one line accepted */
    uint64_t requests;            /* send attempts (all outcomes) */
    uint64_t retries;             /* sends repeating a failed one (backoff) */
    uint64_t lines_dead_lettered; /* rejected lines written to the dead-letter file */
    uint64_t lines_dropped;       /* rejected lines NOT written (file cap / I/O error) */
    uint64_t bytes_sent;          /* bytes accepted (as sent, after gzip) */
    uint64_t splits;              /* SPLIT answers that split a batch */
    uint64_t bisect_requests;     /* sends spent isolating rejected lines */
    uint64_t dead_letter_bytes;   /* size of the dead-letter file as we know it */
    uint64_t journal_unread_lines;  /* waiting for this output (not yet committed) */
    uint64_t journal_dropped_lines; /* lost to the journal budget before we took them */
    int last_status;              /* last status, 0 = transport error / none */
    char last_error[256];         /* last failure: status text or transport error; never secrets */
    int64_t last_ok_ns;           /* wall clock of the last OK, 0 = never */
    int64_t retry_at_ns;          /* wall clock of the next retry while backing off, else 0 */
    bool up;                      /* last send was OK */
};
void cg_output_get_stats(struct cg_output *o, struct cg_output_stats *st); /* thread-safe */

/* ---- for types ---------------------------------------------------------- */

/* True once a stop's drain deadline has passed: a send in progress should
 * give up and return -ECANCELED. Thread-safe. */
bool cg_output_cancelled(struct cg_output *o);
/* The engine's checks of the common settings (name characters, retry bounds,
 * dead_letter_file); a type's conf_parse calls it after cg_opt_parse. Adds
 * errors under path; 0 or -EINVAL. */
int cg_output_check_common(const struct cg_output_common *c, const char *path, struct cg_errs *errs);
/* "output.<name>", for a type's own (rate-limited) log lines. */
const char *cg_output_who(const struct cg_output *o);

/* Exponential backoff with full jitter: the ceiling is initial_ms * 2^attempt
 * (attempt 0 = first retry) capped at max_ms; the wait is uniform in
 * [initial_ms, ceiling] chosen with rnd (any 64-bit random number). */
int64_t cg_output_backoff_ms(int64_t initial_ms, int64_t max_ms, unsigned attempt, uint64_t rnd);

/* The longest delay a server may ask for (Retry-After); longer is clamped. */
#define CG_OUTPUT_RETRY_AFTER_MAX_MS (600 * 1000)

#endif
