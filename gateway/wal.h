/* citygate — the journal's disk mode: a write-ahead log (see journal.h for
 * the semantics; journal.c dispatches here when a directory is configured). */
#ifndef CG_WAL_H
#define CG_WAL_H

#include "journal.h"

struct cg_wal;

struct cg_wal *cg_wal_open(const struct cg_journal_opts *o, struct cg_journal_recovery *rec, char *err,
                           size_t errlen);
void cg_wal_free(struct cg_wal *w);
int cg_wal_append(struct cg_wal *w, const char *lines, size_t len, uint32_t n_lines, int timeout_ms);
long cg_wal_wait(struct cg_wal *w, unsigned reader, size_t min_lines, int timeout_ms);
long cg_wal_read(struct cg_wal *w, unsigned reader, struct cg_buf *out, size_t max_lines, size_t max_bytes);
void cg_wal_commit(struct cg_wal *w, unsigned reader);
void cg_wal_rewind(struct cg_wal *w, unsigned reader);
void cg_wal_shutdown(struct cg_wal *w);
void cg_wal_stats(struct cg_wal *w, struct cg_journal_stats *st);
void cg_wal_reader_stats(struct cg_wal *w, unsigned reader, struct cg_journal_reader_stats *st);
void cg_wal_tick(struct cg_wal *w);
void cg_wal_flush(struct cg_wal *w);

/* On-disk record header (little-endian host order; the files never leave the box). */
#define CG_WAL_MAGIC 0x314a4743u /* "CGJ1" */
#define CG_WAL_HDR 32
#define CG_WAL_MAX_RECORD (64u * 1024 * 1024)

#endif
