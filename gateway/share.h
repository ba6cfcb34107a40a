/* citygate — data-sharing agreements: what one output receives.
 *
 * An output's "agreement" object (docs/outputs.md, "Data-sharing agreements")
 * selects measurements, fields, tags and quality marks, applies privacy rules
 * (drop, HMAC-hash, coarsen tags) and optionally aggregates each series into
 * fixed windows of the data's own time. The output engine (output.c) reads
 * raw journal lines through cg_share_fill() and commits through
 * cg_share_commit(), so the journal keeps every line an open window still
 * needs: after a restart or kill -9 the open windows are recomputed from the
 * same lines, and a small marks file (written before each commit) says which
 * windows were already sent, so none is sent from part of its lines. */
#ifndef CG_SHARE_H
#define CG_SHARE_H

#include "buf.h"
#include "journal.h"
#include <citygate/config.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cg_share_conf;
struct cg_share;

/* Parses obj (outputs[i].agreement) into *out; errors go to errs under path.
 * 0, -EINVAL or -ENOMEM (*out untouched). Reads the hash key file. */
int cg_share_conf_parse(const cJSON *obj, const char *path, struct cg_share_conf **out, struct cg_errs *errs);
void cg_share_conf_free(struct cg_share_conf *c); /* NULL-safe */
/* True when the agreement aggregates: its output must read the journal in
 * order (cg_journal_reader_in_order), never live first. */
bool cg_share_conf_in_order(const struct cg_share_conf *c);
/* The options of the agreement object, its "aggregate" object, for --print-options. */
extern const struct cg_opt cg_share_options[];
extern const struct cg_opt cg_share_aggregate_options[];

/* conf outlives the share. name: the output's name (marks file
 * <state_dir>/share-<name>.marks). NULL on failure with err filled. */
struct cg_share *cg_share_new(const struct cg_share_conf *conf, const char *name, const char *state_dir, char *err,
                              size_t errlen);
void cg_share_free(struct cg_share *s); /* NULL-safe */

/* Alarm events (the emergency lane, len bytes of lines) through the
 * agreement: its selection and privacy (tags excluded, hashed, coarsened,
 * renamed; fields excluded), never its aggregation. out is reset and gets the
 * lines to send; lines the agreement selects nothing from are counted as
 * filtered. Returns the number of lines in out, or -ENOMEM. */
long cg_share_events(struct cg_share *s, const char *in, size_t len, struct cg_buf *out);

/* Reads up to max_lines raw lines (and about max_bytes) from the journal and
 * appends what the agreement makes of them to batch; *batch_lines counts the
 * lines in batch. Returns the raw lines read (0: none waiting). */
long cg_share_fill(struct cg_share *s, struct cg_journal *j, unsigned reader, struct cg_buf *batch,
                   size_t *batch_lines, size_t max_lines, size_t max_bytes);
/* Emits the windows whose series has been quiet for window_grace_s (wall
 * clock) into batch. Returns the lines added. */
size_t cg_share_tick(struct cg_share *s, struct cg_buf *batch, size_t *batch_lines);
/* Everything emitted so far is delivered: record the sent windows (marks
 * file, synced) and commit the journal up to the first line an open window
 * still needs. 0 or -errno (then nothing is committed; the lines come again). */
int cg_share_commit(struct cg_share *s, struct cg_journal *j, unsigned reader);
/* The engine rewound the journal to its commit: forget open windows. */
void cg_share_rewound(struct cg_share *s);

struct cg_share_stats {
    uint64_t lines_filtered;  /* selected nothing for this output */
    uint64_t lines_refused;   /* not readable as line protocol: not sent to this output */
    uint64_t lines_late;      /* for a window already sent */
    uint64_t lines_no_series; /* aggregate.max_series reached */
    uint64_t windows_sent;    /* aggregate lines emitted */
    uint64_t lines_duplicate; /* same series and timestamp again in an open window */
};
void cg_share_get_stats(struct cg_share *s, struct cg_share_stats *st); /* thread-safe */
/* What was not sent to this output since the last call (unreadable, late,
 * past max_series; not the filtered lines, which the agreement asked for),
 * as one sentence for the output's log line. false when nothing. Output
 * thread only. */
bool cg_share_news(struct cg_share *s, char *out, size_t n);

#endif
