/* citygate — InfluxDB output (HTTP line protocol, v1 /write and v2 /api/v2/write).
 *
 * One thread per output reads lines from its journal reader, batches them by
 * size (batch_lines / batch_bytes) and by age (flush_interval_ms since the first
 * unsent line), POSTs them over one persistent libcurl handle, and commits the
 * journal only once the batch is delivered or dead-lettered.
 *
 * Every HTTP status is classified explicitly (cg_influx_classify): 413 splits the
 * batch, 400/422 and other 4xx bisect it to isolate the poison lines (those go to
 * the dead-letter file), 401/403/404 keep the data and retry slowly and loudly,
 * 429/5xx/transport errors retry with exponential backoff + full jitter honouring
 * Retry-After. docs/outputs.md has the full table. */
#ifndef CG_OUTPUT_INFLUX_H
#define CG_OUTPUT_INFLUX_H

#include "buf.h"
#include "journal.h"
#include <citygate/config.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cg_influx_conf; /* parsed outputs[i] */
struct cg_influx;

/* The option table (also used to generate docs). Keys of outputs[i]. */
extern const struct cg_opt cg_influx_options[];

/* Parses obj (an outputs[i] object with type influxdb_v1 or influxdb_v2); every
 * error is added to errs with its path ("outputs[0].batch_lines: ..."). Secrets
 * never appear in messages. On success *out is a new conf (caller frees with
 * cg_influx_conf_free); on failure returns -EINVAL (or -ENOMEM) and *out is
 * untouched. */
int cg_influx_conf_parse(const cJSON *obj, const char *path, struct cg_influx_conf **out,
                         struct cg_errs *errs);
void cg_influx_conf_free(struct cg_influx_conf *c); /* NULL-safe */
const char *cg_influx_conf_name(const struct cg_influx_conf *c);
/* The server's base URL as configured (never holds credentials: they are refused in URLs). */
const char *cg_influx_conf_url(const struct cg_influx_conf *c);

/* Borrows conf and j (both must outlive the output). reader is this output's
 * journal reader. state_dir holds the default dead-letter file. NULL on
 * allocation or libcurl initialisation failure. */
struct cg_influx *cg_influx_new(const struct cg_influx_conf *conf, struct cg_journal *j,
                                unsigned reader, const char *state_dir);
/* Starts the output's thread. 0 or -errno. */
int cg_influx_start(struct cg_influx *o);
/* Delivers what it can within drain_ms (no new waiting for the flush interval),
 * then stops the thread. Returns within about drain_ms + 1 s even if the
 * server hangs: a request in flight at the deadline is aborted and its lines
 * stay uncommitted in the journal. Safe to call when not started; idempotent. */
void cg_influx_stop(struct cg_influx *o, int drain_ms);
void cg_influx_free(struct cg_influx *o); /* stops with drain 0 if running; NULL-safe */

struct cg_influx_stats {
    uint64_t lines_sent;          /* accepted by the server (2xx), each line counted once */
    uint64_t batches_sent;        /* batches committed with at least one line accepted */
    uint64_t requests;            /* HTTP requests attempted (all outcomes) */
    uint64_t retries;             /* requests repeating a failed one (backoff) */
    uint64_t lines_dead_lettered; /* rejected lines written to the dead-letter file */
    uint64_t lines_dropped;       /* rejected lines NOT written (file cap / I/O error) */
    uint64_t bytes_sent;          /* request bodies accepted (as sent, after gzip) */
    uint64_t splits;              /* 413 answers that split a batch */
    uint64_t bisect_requests;     /* requests spent isolating rejected lines */
    uint64_t dead_letter_bytes;   /* size of the dead-letter file as we know it */
    uint64_t journal_unread_lines;  /* waiting for this output (not yet committed) */
    uint64_t journal_dropped_lines; /* lost to the journal budget before we took them */
    int last_status;              /* last HTTP status, 0 = transport error / none */
    char last_error[256];         /* last failure: status text or curl error; never secrets */
    int64_t last_ok_ns;           /* wall clock of the last 2xx, 0 = never */
    int64_t retry_at_ns;          /* wall clock of the next retry while backing off, else 0 */
    bool up;                      /* last request got 2xx */
};
void cg_influx_get_stats(struct cg_influx *o, struct cg_influx_stats *st); /* thread-safe */

/* ---- pure helpers, exposed for unit tests -------------------------------- */

enum cg_influx_action {
    CG_INFLUX_OK = 0, /* 2xx: delivered */
    CG_INFLUX_SPLIT,  /* 413: split in halves and send each, down to single lines */
    CG_INFLUX_REJECT, /* 400, 422, other 4xx: bisect, dead-letter the rejected lines */
    CG_INFLUX_HOLD,   /* 401/403/404/407, 3xx: configuration problem; keep data,
                         log loudly, retry at retry_max_ms */
    CG_INFLUX_RETRY,  /* 408, 429, 5xx, 1xx, transport errors (status 0): backoff */
};
/* Status 0 means no HTTP answer (connection refused, timeout, TLS error). */
enum cg_influx_action cg_influx_classify(long status);
const char *cg_influx_action_name(enum cg_influx_action a);

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). now_s is the wall
 * clock in seconds. *delay_ms gets the wait, clamped to 0..CG_INFLUX_RETRY_AFTER_MAX_MS.
 * 0, or -EINVAL for anything else (then *delay_ms is untouched). */
#define CG_INFLUX_RETRY_AFTER_MAX_MS (600 * 1000)
int cg_influx_parse_retry_after(const char *value, int64_t now_s, int64_t *delay_ms);

/* Exponential backoff with full jitter: the ceiling is initial_ms * 2^attempt
 * (attempt 0 = first retry) capped at max_ms; the wait is uniform in
 * [initial_ms, ceiling] chosen with rnd (any 64-bit random number). */
int64_t cg_influx_backoff_ms(int64_t initial_ms, int64_t max_ms, unsigned attempt, uint64_t rnd);

/* gzip (RFC 1952) of in[0..len) appended to out at the given zlib level.
 * 0, -ENOBUFS / -ENOMEM from the buffer, or -EIO from zlib. */
int cg_influx_gzip(struct cg_buf *out, const void *in, size_t len, int level);

#endif
