/* citygate — the journal: where encoded readings wait for the outputs.
 *
 * Producers (the sink, on behalf of adapters) append chunks of complete
 * line-protocol lines; each output is a reader with its own position, so a slow
 * or dead output never holds back a healthy one. Readers read (copy) lines,
 * try to deliver them, and commit only after delivery.
 *
 * Budget (bytes): when an append does not fit, the oldest chunk is dropped if at
 * least one reader has already committed past it (only the laggards lose it,
 * counted per reader); if no reader has consumed it, the append waits up to
 * timeout_ms and then fails with -ETIMEDOUT (back-pressure to the sources).
 *
 * This version keeps chunks in memory; the store-and-forward issue puts the
 * same interface on disk segments. Thread-safe. */
#ifndef CG_JOURNAL_H
#define CG_JOURNAL_H

#include "buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CG_JOURNAL_MAX_READERS 16

struct cg_journal;

struct cg_journal_reader_stats {
    uint64_t unread_lines;   /* appended, not yet committed by this reader */
    uint64_t unread_bytes;
    uint64_t committed_lines;
    uint64_t dropped_lines;  /* dropped by the budget before this reader took them */
    int64_t oldest_unread_ns; /* append time of the oldest uncommitted chunk; 0 = none */
};

struct cg_journal_stats {
    uint64_t dropped_segments; /* disk: segments dropped by the size or age budget */
    uint64_t write_errors;     /* disk: writes or syncs that failed (disk full, I/O error) */
    uint64_t corrupt_records;  /* disk: damaged records (or segment tails) skipped while reading */
    bool write_failing;        /* disk: the last write or sync failed */
    char problem[256];         /* disk: why the buffer is unhealthy now ("" = it is not): a write
                                  failing, or damage seen in the last 10 minutes */
    bool disk;
    uint64_t bytes;        /* held now */
    uint64_t lines;        /* held now */
    uint64_t appended_lines;
    uint64_t refused;      /* appends that timed out */
    uint64_t max_bytes;
};

/* n_readers 1..CG_JOURNAL_MAX_READERS. NULL on allocation failure. Memory only. */
struct cg_journal *cg_journal_new(size_t max_bytes, unsigned n_readers);

/* ---- disk mode (store and forward) -------------------------------------
 * With a directory, the journal is a write-ahead log of append-only segment
 * files of checksummed records (gateway/wal.c), and each reader's commit
 * position is persisted by name, so every output resumes where it stopped
 * after a restart, a crash or a power cut. The budget then drops the oldest
 * segment (counted per reader, logged) instead of refusing appends. */
enum cg_journal_fsync {
    CG_JOURNAL_FSYNC_ALWAYS = 0, /* fdatasync before an append returns */
    CG_JOURNAL_FSYNC_INTERVAL,   /* at most fsync_interval_ms of appends unsynced */
    CG_JOURNAL_FSYNC_NEVER,      /* the kernel decides (survives kill -9, not power loss) */
};

struct cg_journal_opts {
    const char *dir;          /* NULL: memory only (as cg_journal_new) */
    size_t max_bytes;         /* budget (memory, or disk) */
    int64_t max_age_s;        /* disk: drop segments older than this; 0 = no limit */
    size_t segment_bytes;     /* disk: segment size (default 8 MiB) */
    enum cg_journal_fsync fsync;
    int64_t fsync_interval_ms;
    int64_t live_first_after_ms;    /* disk: an output this far behind sends live data first; 0 = off */
    int64_t replay_max_lines_per_s; /* disk: cap on the backlog's drain rate; 0 = none */
    int64_t replay_max_bytes_per_s;
    const char *const *reader_names; /* disk: one per reader, [A-Za-z0-9_.-] */
    unsigned n_readers;
};

struct cg_journal_recovery {
    uint64_t segments;       /* segment files found */
    uint64_t records;        /* valid records */
    uint64_t lines;          /* valid lines */
    uint64_t torn_bytes;     /* cut from the end of the last segment */
    uint64_t corrupt_bytes;  /* skipped in earlier segments (checksum or framing) */
    uint64_t corrupt_segments;
    uint64_t unsent_lines[CG_JOURNAL_MAX_READERS]; /* per reader: recovered lines it has not sent */
    uint64_t delivered_lines; /* recovered lines every reader had already sent (kept until freed) */
};

/* Opens (creating dir if needed) and recovers. NULL with err set on failure. */
struct cg_journal *cg_journal_open(const struct cg_journal_opts *o, struct cg_journal_recovery *rec,
                                   char *err, size_t errlen);

/* Periodic duties (main loop, ~every 200 ms): interval fsync, persisting
 * reader positions, age budget, freeing segments everybody has passed. */
void cg_journal_tick(struct cg_journal *j);
/* Syncs data and positions now (shutdown). */
void cg_journal_flush(struct cg_journal *j);
void cg_journal_free(struct cg_journal *j); /* NULL-safe; no thread may still use it */

/* Appends complete lines (each ending in '\n'). timeout_ms as in cg_sink_emit.
 * 0, -ETIMEDOUT, -ESHUTDOWN, -EMSGSIZE (bigger than the whole budget), -ENOMEM.
 * Disk mode: a write or (fsync always) sync that fails returns its -errno
 * (-ENOSPC, -EIO, ...) after retrying for up to timeout_ms; nothing was taken,
 * so the caller keeps the lines (see cg_sink_emit). */
int cg_journal_append(struct cg_journal *j, const char *lines, size_t len, uint32_t n_lines,
                      int timeout_ms);

/* Waits until reader has at least min_lines unread past its read position, the
 * timeout passes, or shutdown. Returns the number of unread lines (may be less
 * than min_lines), or -ESHUTDOWN once shut down AND nothing is unread. */
long cg_journal_wait(struct cg_journal *j, unsigned reader, size_t min_lines, int timeout_ms);

/* Copies whole lines past the read position into out (appending), at most
 * max_lines and max_bytes (at least one line is taken even if it is bigger than
 * max_bytes). Advances the read position, not the commit. Returns lines copied. */
long cg_journal_read(struct cg_journal *j, unsigned reader, struct cg_buf *out, size_t max_lines,
                     size_t max_bytes);
/* Everything read so far is delivered (or dead-lettered): commit it. */
void cg_journal_commit(struct cg_journal *j, unsigned reader);
/* Forget the uncommitted reads: the next read starts at the commit position. */
void cg_journal_rewind(struct cg_journal *j, unsigned reader);

/* Wakes all waiters; appends fail with -ESHUTDOWN from now on, reads still work. */
void cg_journal_shutdown(struct cg_journal *j);

void cg_journal_stats(struct cg_journal *j, struct cg_journal_stats *st);
void cg_journal_reader_stats(struct cg_journal *j, unsigned reader,
                             struct cg_journal_reader_stats *st);

#endif
